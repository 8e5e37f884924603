"""Every metric against a value computed by hand (the arithmetic is in the comments)."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from kurrant_core import columns as C, metrics as M
from kurrant_core.errors import KurrantError

LOG2_3, LOG2_5, LOG2_6 = np.log2(3), np.log2(5), np.log2(6)


def frame(rows: list[tuple], cols: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=cols)


# user 1 ranks foods 1, 2, 3, 4 and really ordered 2, 4, 5 (5 twice: counts once)
# user 2 ranks 11, 12 and ordered 11
# user 3 ordered 21 but got no recommendations -> counts 0
# user 4 got recommendations but ordered nothing in the test window -> ignored
RECS = frame([(1, 1, 1, 0.9), (1, 2, 2, 0.8), (1, 3, 3, 0.7), (1, 4, 4, 0.6),
              (2, 11, 1, 0.5), (2, 12, 2, 0.4),
              (4, 31, 1, 0.9), (4, 32, 2, 0.8)], [C.USER_ID, C.FOOD_ID, C.RANK, C.SCORE])
TRUTH = frame([(1, 2), (1, 4), (1, 5), (1, 5), (2, 11), (3, 21)], [C.USER_ID, C.FOOD_ID])


# ---------------------------------------------------------------- ranking, k = 3
# top-3 hits: user 1 -> food 2 at position 2 (|rel| = 3); user 2 -> food 11 at 1 (|rel| = 1)

def test_precision_at_3():
    # (1/3 + 1/3 + 0) / 3 users = 2/9
    assert M.precision_at_k(RECS, TRUTH, 3) == pytest.approx(2 / 9)


def test_recall_at_3():
    # (1/3 + 1/1 + 0) / 3 = 4/9
    assert M.recall_at_k(RECS, TRUTH, 3) == pytest.approx(4 / 9)


def test_hit_rate_at_3():
    # users 1 and 2 hit, user 3 does not: 2/3
    assert M.hit_rate_at_k(RECS, TRUTH, 3) == pytest.approx(2 / 3)


def test_ndcg_at_3():
    # user 1: DCG = 1/log2(3) = 0.6309; IDCG (3 relevant) = 1 + 1/log2(3) + 1/log2(4) = 2.1309
    #   -> 0.2961; user 2: 1/1 = 1; user 3: 0 -> (0.2961 + 1) / 3 = 0.4320
    user1 = (1 / LOG2_3) / (1 + 1 / LOG2_3 + 0.5)
    assert M.ndcg_at_k(RECS, TRUTH, 3) == pytest.approx((user1 + 1) / 3)
    assert M.ndcg_at_k(RECS, TRUTH, 3) == pytest.approx(0.43203, abs=1e-5)


def test_map_at_3():
    # user 1: precision at the hit (position 2) = 1/2, / min(3, 3) = 1/6; user 2: 1/1 / 1 = 1
    # -> (1/6 + 1 + 0) / 3 = 0.3889
    assert M.map_at_k(RECS, TRUTH, 3) == pytest.approx((1 / 6 + 1) / 3)


def test_mrr():
    # first hits: user 1 at 2 -> 1/2, user 2 at 1 -> 1, user 3 none -> 0: 1.5 / 3 = 0.5
    assert M.mrr(RECS, TRUTH) == pytest.approx(0.5)
    # within the top 1 only user 2 hits: 1/3
    assert M.mrr(RECS, TRUTH, k=1) == pytest.approx(1 / 3)


# ---------------------------------------------------------------- ranking, k larger than the lists
# top-10: user 1 hits food 2 at 2 and food 4 at 4; user 2 hits 11 at 1

def test_k_larger_than_the_lists():
    # precision divides by k: (2/10 + 1/10 + 0) / 3 = 0.1
    assert M.precision_at_k(RECS, TRUTH, 10) == pytest.approx(0.1)
    # recall: (2/3 + 1 + 0) / 3 = 5/9
    assert M.recall_at_k(RECS, TRUTH, 10) == pytest.approx(5 / 9)
    # ndcg user 1: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3 + 1/2) = 1.0616 / 2.1309 = 0.4982
    user1 = (1 / LOG2_3 + 1 / LOG2_5) / (1 + 1 / LOG2_3 + 0.5)
    assert M.ndcg_at_k(RECS, TRUTH, 10) == pytest.approx((user1 + 1) / 3)
    # map user 1: (1/2 + 2/4) / min(10, 3) = 1/3; user 2: 1 -> (1/3 + 1) / 3 = 4/9
    assert M.map_at_k(RECS, TRUTH, 10) == pytest.approx(4 / 9)
    assert M.hit_rate_at_k(RECS, TRUTH, 10) == pytest.approx(2 / 3)


def test_map_and_ndcg_use_k_when_fewer_slots_than_relevant():
    # user 1 at k = 1: no hit at position 1 -> 0; k = 2: 1/2 / min(2, 3) = 1/4
    one = TRUTH[TRUTH[C.USER_ID] == 1]
    assert M.map_at_k(RECS, one, 1) == pytest.approx(0.0)
    assert M.map_at_k(RECS, one, 2) == pytest.approx(0.25)
    # ndcg@2 likewise: ideal DCG of 2 slots = 1 + 1/log2 3; DCG = 1/log2 3 -> 0.3869
    assert M.ndcg_at_k(RECS, one, 2) == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))


# ---------------------------------------------------------------- ties, duplicates, empties

def test_score_ties_and_contradictions_follow_rank():
    # same score, rank decides: food 6 (rank 1) is the top-1, food 5 (rank 2) is not
    tied = frame([(1, 5, 2, 0.5), (1, 6, 1, 0.5)], [C.USER_ID, C.FOOD_ID, C.RANK, C.SCORE])
    truth = frame([(1, 5)], [C.USER_ID, C.FOOD_ID])
    assert M.hit_rate_at_k(tied, truth, 1) == 0.0
    assert M.mrr(tied, truth) == pytest.approx(0.5)
    # a higher score at a worse rank does not reorder
    contra = frame([(1, 5, 2, 0.9), (1, 6, 1, 0.1)], [C.USER_ID, C.FOOD_ID, C.RANK, C.SCORE])
    assert M.mrr(contra, truth) == pytest.approx(0.5)


def test_shared_rank_goes_to_the_higher_score_then_smaller_food_id():
    truth = frame([(1, 5)], [C.USER_ID, C.FOOD_ID])
    by_score = frame([(1, 6, 1, 0.2), (1, 5, 1, 0.3)], [C.USER_ID, C.FOOD_ID, C.RANK, C.SCORE])
    assert M.hit_rate_at_k(by_score, truth, 1) == 1.0
    no_score = frame([(1, 6, 1), (1, 5, 1)], [C.USER_ID, C.FOOD_ID, C.RANK])
    assert M.hit_rate_at_k(no_score, truth, 1) == 1.0  # 5 < 6


def test_a_food_listed_twice_counts_once_at_its_better_rank():
    # rows: 7@1, 7@2, 8@3 -> list 7, 8: food 8 sits at position 2 -> mrr 1/2
    dup = frame([(1, 7, 1), (1, 7, 2), (1, 8, 3)], [C.USER_ID, C.FOOD_ID, C.RANK])
    truth = frame([(1, 8)], [C.USER_ID, C.FOOD_ID])
    assert M.mrr(dup, truth) == pytest.approx(0.5)
    assert M.precision_at_k(dup, truth, 2) == pytest.approx(0.5)


def test_empty_recs_score_zero_and_no_truth_is_undefined():
    empty = RECS.iloc[0:0]
    for metric in (M.precision_at_k, M.recall_at_k, M.ndcg_at_k, M.hit_rate_at_k, M.map_at_k):
        assert metric(empty, TRUTH, 5) == 0.0
        assert np.isnan(metric(RECS, TRUTH.iloc[0:0], 5))
    assert M.mrr(empty, TRUTH) == 0.0


def test_users_without_test_orders_do_not_change_the_mean():
    # adding recommendations for a user with no truth rows leaves every metric as it was
    extra = pd.concat([RECS, frame([(9, 2, 1, 1.0), (9, 4, 2, 0.9)], list(RECS.columns))])
    for metric in (M.precision_at_k, M.recall_at_k, M.ndcg_at_k, M.map_at_k):
        assert metric(extra, TRUTH, 3) == pytest.approx(metric(RECS, TRUTH, 3))


def test_bad_k_says_what_to_fix():
    with pytest.raises(KurrantError):
        M.recall_at_k(RECS, TRUTH, 0)


# ---------------------------------------------------------------- daily-menu protocol

def test_daily_menu_metrics_hand_case():
    # ranks (1, 2, 5) on menus of (4, 4, 5) foods
    out = M.daily_menu_metrics(np.array([1, 2, 5]), np.array([4, 4, 5]))
    assert out["hr@1"] == pytest.approx(1 / 3)
    assert out["hr@3"] == pytest.approx(2 / 3)
    assert out["mrr"] == pytest.approx((1 + 0.5 + 0.2) / 3)                 # 0.5667
    assert out["ndcg"] == pytest.approx((1 + 1 / LOG2_3 + 1 / LOG2_6) / 3)  # 0.6726
    # random: hr@1 = (1/4 + 1/4 + 1/5) / 3 = 0.2333; hr@3 = (3/4 + 3/4 + 3/5) / 3 = 0.7
    assert out["random_hr@1"] == pytest.approx(0.7 / 3)
    assert out["random_hr@3"] == pytest.approx(0.7)
    # mrr: H4/4 = 2.0833/4 = 0.5208 (twice), H5/5 = 2.2833/5 = 0.4567 -> 0.4994
    h4, h5 = 1 + 1 / 2 + 1 / 3 + 1 / 4, 1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5
    assert out["random_mrr"] == pytest.approx((2 * h4 / 4 + h5 / 5) / 3)
    # ndcg: size 4 -> (1 + 0.6309 + 0.5 + 0.4307)/4 = 0.6404; size 5 adds 1/log2 6 -> 0.5897
    d4 = 1 + 1 / LOG2_3 + 0.5 + 1 / LOG2_5
    assert out["random_ndcg"] == pytest.approx((2 * d4 / 4 + (d4 + 1 / LOG2_6) / 5) / 3)
    assert out["random_ndcg"] == pytest.approx(0.62350, abs=1e-5)
    assert out["n_events"] == 3


def test_daily_menu_metrics_empty_and_invalid():
    out = M.daily_menu_metrics(np.array([]), np.array([]))
    assert out["n_events"] == 0 and np.isnan(out["hr@1"]) and np.isnan(out["random_mrr"])
    with pytest.raises(ValueError):
        M.daily_menu_metrics(np.array([6]), np.array([5]))


# ---------------------------------------------------------------- beyond accuracy

def test_catalog_coverage():
    # distinct foods 1, 2, 3, 4, 11, 12, 31, 32 = 8 of 20
    assert M.catalog_coverage(RECS, 20) == pytest.approx(0.4)
    assert M.catalog_coverage(RECS.iloc[0:0], 20) == 0.0
    with pytest.raises(KurrantError):
        M.catalog_coverage(RECS, 0)


ILD_RECS = frame([(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 1), (3, 2, 1), (3, 3, 2)],
                 [C.USER_ID, C.FOOD_ID, C.RANK])
ILD_FEATURES = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # food 3 at 45 degrees
ILD_INDEX = {1: 0, 2: 1, 3: 2}


@pytest.mark.parametrize("as_sparse", [False, True])
def test_intra_list_diversity(as_sparse):
    # user 1 pairs: (1,2) 1 - 0 = 1; (1,3) and (2,3) 1 - 0.7071 = 0.2929 -> mean 0.5286
    # user 2 has one food -> skipped; user 3: (2,3) 0.2929 -> (0.5286 + 0.2929) / 2 = 0.4107
    features = sp.csr_matrix(ILD_FEATURES) if as_sparse else ILD_FEATURES
    c = 1 - np.sqrt(0.5)
    assert M.intra_list_diversity(ILD_RECS, features, ILD_INDEX) == pytest.approx(
        ((1 + 2 * c) / 3 + c) / 2)


def test_intra_list_diversity_separates_dated_lists():
    # the same user on two dates has two lists (1, 2) and (1, 3): 1 and 0.2929 -> 0.6464
    dated = frame([(1, 1, date(2024, 3, 4), 2), (1, 2, date(2024, 3, 4), 2),
                   (1, 1, date(2024, 3, 5), 2), (1, 3, date(2024, 3, 5), 2)],
                  [C.USER_ID, C.FOOD_ID, C.SERVICE_DATE, C.DINING_TYPE])
    assert M.intra_list_diversity(dated, ILD_FEATURES, ILD_INDEX) == pytest.approx(
        (1 + 1 - np.sqrt(0.5)) / 2)
    assert np.isnan(M.intra_list_diversity(ILD_RECS.iloc[0:0], ILD_FEATURES, ILD_INDEX))


def test_novelty():
    # counts (3, 1, 0, 0), total 4, 4 foods: shares (c + 1) / 8 = (1/2, 1/4, 1/8, 1/8)
    # -log2 = (1, 2, 3, 3); recommended rows 1, 2, 3, 1 -> (1 + 2 + 3 + 1) / 4 = 1.75
    popularity = pd.Series([3, 1, 0, 0], index=[1, 2, 3, 4])
    recs = frame([(1, 1, 1), (1, 2, 2), (2, 3, 1), (2, 1, 2)], [C.USER_ID, C.FOOD_ID, C.RANK])
    assert M.novelty(recs, popularity) == pytest.approx(1.75)
    # a food unknown to popularity joins the catalog with count 0:
    # counts {1: 6, 2: 0, 9: 0} -> shares (7/9, 1/9, 1/9); rows 1, 9 -> (0.3626 + 3.1699) / 2
    unknown = frame([(1, 1, 1), (1, 9, 2)], [C.USER_ID, C.FOOD_ID, C.RANK])
    assert M.novelty(unknown, pd.Series([6, 0], index=[1, 2])) == pytest.approx(
        (-np.log2(7 / 9) - np.log2(1 / 9)) / 2)
    assert np.isnan(M.novelty(recs.iloc[0:0], popularity))


def test_exposure_gini():
    # counts: food 1 three times, food 2 once, 2 catalog foods never -> x = (0, 0, 1, 3), n = 4
    # sum (2i - n - 1) x_i = (2*3-5)*1 + (2*4-5)*3 = 1 + 9 = 10; / (4 * 4) = 0.625
    recs = frame([(1, 1, 1), (2, 1, 1), (3, 1, 1), (3, 2, 2)], [C.USER_ID, C.FOOD_ID, C.RANK])
    assert M.exposure_gini(recs, 4) == pytest.approx(0.625)
    # every food once -> 0
    even = frame([(1, f, f) for f in range(1, 5)], [C.USER_ID, C.FOOD_ID, C.RANK])
    assert M.exposure_gini(even, 4) == pytest.approx(0.0)
    # one food only among 4: (2*4-5)*1 / (4*1) = 0.75
    assert M.exposure_gini(recs.iloc[:1], 4) == pytest.approx(0.75)
    with pytest.raises(KurrantError):
        M.exposure_gini(recs, 1)


def test_personalisation():
    # lists {1,2,3}, {2,3,4}, {5,6}: J = 2/4, 0, 0 -> mean 1/6 -> 1 - 1/6 = 0.8333
    recs = frame([(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 2, 1), (2, 3, 2), (2, 4, 3),
                  (3, 5, 1), (3, 6, 2)], [C.USER_ID, C.FOOD_ID, C.RANK])
    assert M.personalisation(recs) == pytest.approx(5 / 6)
    same = frame([(u, f, f) for u in (1, 2, 3) for f in (1, 2)], [C.USER_ID, C.FOOD_ID, C.RANK])
    assert M.personalisation(same) == pytest.approx(0.0)
    assert np.isnan(M.personalisation(recs[recs[C.USER_ID] == 1]))


def test_personalisation_compares_within_a_date():
    # 3/4: both users get (1, 2) -> J = 1; 3/5: (1) vs (2) -> J = 0; mean 0.5 -> 0.5
    # (pooling the dates would see {1, 2} twice and say 0)
    d1, d2 = date(2024, 3, 4), date(2024, 3, 5)
    recs = frame([(1, 1, d1, 2), (1, 2, d1, 2), (2, 1, d1, 2), (2, 2, d1, 2),
                  (1, 1, d2, 2), (2, 2, d2, 2)],
                 [C.USER_ID, C.FOOD_ID, C.SERVICE_DATE, C.DINING_TYPE])
    assert M.personalisation(recs) == pytest.approx(0.5)


def test_personalisation_samples_pairs_repeatably():
    rng = np.random.default_rng(0)
    rows = [(u, int(f), r) for u in range(200)
            for r, f in enumerate(rng.choice(30, size=5, replace=False), start=1)]
    recs = frame(rows, [C.USER_ID, C.FOOD_ID, C.RANK])
    exact = M.personalisation(recs)  # 19,900 pairs, all of them
    sampled = M.personalisation(recs, max_pairs=2000, seed=1)
    assert sampled == M.personalisation(recs, max_pairs=2000, seed=1)
    assert sampled != M.personalisation(recs, max_pairs=2000, seed=2)
    assert sampled == pytest.approx(exact, abs=0.02)


def test_calibration_error():
    # user 1 mix (0.5, 0.5) over categories 1, 2; user 2 (1.0, 0); user 3 has no mix -> skipped
    mix = pd.DataFrame({1: [0.5, 1.0], 2: [0.5, 0.0]}, index=[1, 2])
    food_category = pd.Series([1, 1, 2], index=[1, 2, 3])
    recs = frame([(1, 1, 1), (1, 3, 2), (2, 1, 1), (2, 3, 2), (3, 1, 1)],
                 [C.USER_ID, C.FOOD_ID, C.RANK])
    # user 1: list (0.5, 0.5) = p -> 0
    # user 2: list (0.5, 0.5); q~(1) = 0.99*0.5 + 0.01*1 = 0.505 -> KL = ln(1/0.505) = 0.6832
    assert M.calibration_error(recs, mix, food_category) == pytest.approx(np.log(1 / 0.505) / 2)
    # user 1 with foods 1, 2 (all category 1): q~ = (0.995, 0.005)
    # KL = 0.5 ln(0.5/0.995) + 0.5 ln(0.5/0.005) = 1.9585
    one = frame([(1, 1, 1), (1, 2, 2)], [C.USER_ID, C.FOOD_ID, C.RANK])
    assert M.calibration_error(one, mix, food_category) == pytest.approx(
        0.5 * np.log(0.5 / 0.995) + 0.5 * np.log(100))
    assert np.isnan(M.calibration_error(recs[recs[C.USER_ID] == 3], mix, food_category))


HISTORY = frame([(1, 1, date(2024, 3, 5)), (1, 2, date(2024, 2, 20)), (1, 3, date(2024, 3, 7)),
                 (2, 1, date(2024, 3, 7)), (2, 5, date(2024, 3, 1)), (2, 6, date(2024, 3, 8))],
                [C.USER_ID, C.FOOD_ID, C.SERVICE_DATE])


def test_repeat_rate():
    # as_of 3/8, 7 days: window 3/1 .. 3/7
    # user 1: food 1 (3/5) yes, food 2 (2/20) no, food 3 (3/7) yes;
    # user 2: food 1 (3/7) yes, food 5 (3/1, the window's first day) yes,
    #         food 6 (3/8 = as_of itself) no  -> 4 / 6
    recs = frame([(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 1), (2, 5, 2), (2, 6, 3)],
                 [C.USER_ID, C.FOOD_ID, C.RANK])
    assert M.repeat_rate(recs, HISTORY, date(2024, 3, 8), days=7) == pytest.approx(4 / 6)
    # 1 day: only yesterday (3/7) counts -> user 1 food 3, user 2 food 1 -> 2 / 6
    assert M.repeat_rate(recs, HISTORY, date(2024, 3, 8), days=1) == pytest.approx(2 / 6)
    assert np.isnan(M.repeat_rate(recs.iloc[0:0], HISTORY, date(2024, 3, 8)))


def test_repeat_rate_uses_each_rows_service_date():
    # user 1 food 1 eaten 3/5: on 3/6 a repeat, on 3/20 (15 days later) not -> 1/2
    recs = frame([(1, 1, date(2024, 3, 6), 2, 1), (1, 1, date(2024, 3, 20), 2, 1)],
                 [C.USER_ID, C.FOOD_ID, C.SERVICE_DATE, C.DINING_TYPE, C.RANK])
    assert M.repeat_rate(recs, HISTORY, days=7) == pytest.approx(0.5)
    with pytest.raises(KurrantError):
        M.repeat_rate(recs.drop(columns=C.SERVICE_DATE), HISTORY)


def test_smoothed_kl_is_zero_for_equal_mixes_and_positive_otherwise():
    assert M.smoothed_kl(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == pytest.approx(0.0)
    # p = (1, 0), q = (0, 1): q~ = (0.01, 0.99) -> ln(1/0.01) = 4.6052
    assert M.smoothed_kl(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(
        np.log(100))


# ---------------------------------------------------------------- the two recall conventions

def test_recall_divides_by_min_of_relevant_and_k_recall_full_by_relevant():
    # k = 2: user 1 hits food 2 at position 2 (|rel| = 3): recall 1/min(3, 2) = 1/2, full 1/3;
    # user 2: 1/1 both; user 3: 0 both -> recall (1/2 + 1) / 3 = 1/2, full (1/3 + 1) / 3 = 4/9
    assert M.recall_at_k(RECS, TRUTH, 2) == pytest.approx(1 / 2)
    assert M.recall_full_at_k(RECS, TRUTH, 2) == pytest.approx(4 / 9)
    # per-user values average to the metric, users without recommendations count 0
    assert M.recall_per_user(RECS, TRUTH, 2).to_dict() == pytest.approx({1: 0.5, 2: 1.0, 3: 0.0})


def test_per_user_metrics_average_to_the_metric():
    for per_user, metric in ((M.ndcg_per_user, M.ndcg_at_k), (M.map_per_user, M.map_at_k),
                             (M.hit_rate_per_user, M.hit_rate_at_k),
                             (M.precision_per_user, M.precision_at_k)):
        values = per_user(RECS, TRUTH, 3)
        assert sorted(values.index) == [1, 2, 3]
        assert values.mean() == pytest.approx(metric(RECS, TRUTH, 3))


# ---------------------------------------------------------------- the random ranking's expectation

def test_random_expectation_by_hand():
    # 6 candidates, 2 of them relevant, 3 relevant foods in truth (one not among the candidates), k = 3:
    # HR = 1 - C(4, 3) / C(6, 3) = 1 - 4/20 = 0.8; E[hits] = 3 x 2/6 = 1 -> precision 1/3,
    # recall 1/min(3, 3) = 1/3; MRR = P(first at 1)/1 + P(at 2)/2 + P(at 3)/3
    #   = 2/6 + (4/6)(2/5)/2 + (4/6)(3/5)(2/4)/3 = 1/3 + 2/15 + 1/15 = 8/15
    e = M.random_ranking_expectation(np.array([6]), np.array([2]), np.array([3]), 3)
    assert e["hr"][0] == pytest.approx(0.8)
    assert e["precision"][0] == pytest.approx(1 / 3)
    assert e["recall"][0] == pytest.approx(1 / 3)
    assert e["mrr"][0] == pytest.approx(8 / 15)


@pytest.mark.parametrize("n, h, t, k", [(5, 2, 3, 3), (4, 1, 1, 2), (4, 4, 4, 3), (4, 2, 2, 10)])
def test_random_expectation_equals_the_mean_over_every_permutation(n, h, t, k):
    from itertools import permutations
    truth = pd.DataFrame({C.USER_ID: 1, C.FOOD_ID: list(range(h)) + [100 + j for j in range(t - h)]})
    metrics = {"precision": M.precision_at_k, "recall": M.recall_at_k, "recall_full": M.recall_full_at_k,
               "ndcg": M.ndcg_at_k, "hr": M.hit_rate_at_k, "map": M.map_at_k, "mrr": M.mrr}
    sums = dict.fromkeys(metrics, 0.0)
    perms = list(permutations(range(n)))
    for perm in perms:
        recs = pd.DataFrame({C.USER_ID: 1, C.FOOD_ID: list(perm), C.RANK: range(1, n + 1)})
        for key, metric in metrics.items():
            sums[key] += metric(recs, truth, k)
    expected = M.random_ranking_expectation(np.array([n]), np.array([h]), np.array([t]), k)
    for key in metrics:
        assert expected[key][0] == pytest.approx(sums[key] / len(perms)), key


def test_category_coverage_by_hand():
    # user 1's list: categories 1, 1, 2 -> 2 / min(3, 4) = 2/3; user 2's: 3 alone -> 1 / min(1, 4) = 1
    recs = pd.DataFrame({C.USER_ID: [1, 1, 1, 2], C.FOOD_ID: [10, 11, 12, 13], C.RANK: [1, 2, 3, 1]})
    category = pd.Series({10: 1, 11: 1, 12: 2, 13: 3})
    assert M.category_coverage(recs, category, 4) == pytest.approx((2 / 3 + 1) / 2)
    # only 2 categories exist: user 1's list is as varied as it can be
    assert M.category_coverage(recs.iloc[:3], category, 2) == pytest.approx(1.0)
    assert np.isnan(M.category_coverage(recs.iloc[:0], category, 4))


def test_top_category_share_by_hand():
    # user 1: categories 1, 1, 2 -> 2/3; user 2: 3 alone -> 1; user 3: 1, 2, 3, 4 -> 1/4; median 2/3
    recs = pd.DataFrame({C.USER_ID: [1, 1, 1, 2, 3, 3, 3, 3], C.FOOD_ID: [10, 11, 12, 13, 10, 12, 13, 14],
                         C.RANK: [1, 2, 3, 1, 1, 2, 3, 4]})
    category = pd.Series({10: 1, 11: 1, 12: 2, 13: 3, 14: 4})
    assert M.top_category_share(recs, category) == pytest.approx(2 / 3)
    assert M.top_category_share(recs[recs[C.USER_ID] == 3], category) == pytest.approx(0.25)
    assert np.isnan(M.top_category_share(recs.iloc[:0], category))


def test_category_spread_counts_and_weighs_a_list_and_a_history_alike():
    frame = pd.DataFrame({C.USER_ID: [1, 1, 1, 2, 2], C.CUISINE_CODE: [1, 1, 2, 3, 4], C.COUNT: [1, 1, 1, 1, 3]})
    rows = M.category_spread(frame, [C.USER_ID], C.CUISINE_CODE)
    assert rows.loc[1].tolist() == [2, pytest.approx(2 / 3)] and rows.loc[2].tolist() == [2, 0.5]
    weighed = M.category_spread(frame, [C.USER_ID], C.CUISINE_CODE, weight=C.COUNT)
    assert weighed.loc[2, M.TOP_SHARE] == pytest.approx(0.75)          # 3 of user 2's 4 items
    from kurrant_core.evaluation.variety import TOP_CUISINE_SHARE, cuisine_spread
    with_unknown = pd.concat([frame, pd.DataFrame({C.USER_ID: [1], C.CUISINE_CODE: [None], C.COUNT: [9]})])
    assert cuisine_spread(with_unknown, weight=C.COUNT)[TOP_CUISINE_SHARE].tolist() == pytest.approx([2 / 3, 0.75])
