"""Diversity re-rankers against known answers: hand-computed small cases and seeded properties."""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from kurrant_core.errors import KurrantError
from kurrant_core.rerank import (
    CandidateSet,
    RerankSettings,
    history_cap,
    jaccard,
    list_report,
    normalise_relevance,
    rbo,
    rerank,
    rerank_many,
)

# Four foods for the hand-computed cases. Cosines (rows are unit vectors):
#   cos(0,1) = 0.8, cos(0,2) = 0, cos(0,3) = 0, cos(1,2) = 0.36, cos(1,3) = 0, cos(2,3) = 0.8
HAND_FEATURES = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.6, 0.8], [0.0, 0.0, 1.0]])
HAND_RELEVANCE = np.array([1.0, 0.8, 0.6, 0.0])  # already min-max normalised


def hand_set(**overrides) -> CandidateSet:
    fields = dict(food_ids=np.array([10, 11, 12, 13]), relevance=HAND_RELEVANCE,
                  features=HAND_FEATURES, category=np.array([1, 1, 2, 2]),
                  maker=np.array([7, 8, 9, 9]))
    fields.update(overrides)
    return CandidateSet(**fields)


def random_set(rng: np.random.Generator, n: int = 50, d: int = 16, *,
               with_mix: bool = True) -> CandidateSet:
    return CandidateSet(
        food_ids=np.arange(1000, 1000 + n),
        relevance=rng.normal(size=n),
        features=np.abs(rng.normal(size=(n, d))) * (rng.random((n, d)) < 0.3),
        category=rng.integers(0, 6, n),
        maker=rng.integers(0, 10, n),
        popularity=rng.integers(0, 200, n),
        days_since_eaten=np.where(rng.random(n) < 0.3, rng.integers(0, 30, n), np.inf),
        user_category_mix={0: 0.4, 1: 0.3, 4: 0.3} if with_mix else None,
        allergen=rng.random(n) < 0.15,
        user_id=int(rng.integers(1, 100)),
    )


ALL_ON = RerankSettings(k=10, mmr_lambda=0.7, dpp_theta=0.6, calibration_lambda=0.3,
                        max_per_category=3, max_per_maker=2, repeat_window_days=7,
                        popularity_penalty=0.2, explore_temperature=0.1, seed=3)

SETTINGS_GRID = [
    RerankSettings(k=10),
    RerankSettings(k=10, mmr_lambda=0.3, max_per_category=2),
    RerankSettings(k=12, dpp_theta=0.8, max_per_maker=1),
    RerankSettings(k=8, calibration_lambda=0.9, repeat_window_days=3),
    RerankSettings(k=10, explore_temperature=2.0, seed=None, popularity_penalty=1.0),
    RerankSettings(k=50, max_per_category=1, max_per_maker=1, normalisation="zscore"),
    ALL_ON,
]


# ---------------------------------------------------------------- MMR

@pytest.mark.parametrize("seed", range(5))
def test_mmr_lambda_one_keeps_relevance_order(seed):
    cands = random_set(np.random.default_rng(seed), with_mix=False)
    result = rerank(cands, RerankSettings(k=20, mmr_lambda=1.0))
    clean = np.flatnonzero(~cands.allergen)
    expected = clean[np.argsort(-cands.relevance[clean], kind="stable")[:20]]
    np.testing.assert_array_equal(result.positions, expected)


def test_mmr_half_lambda_picks_the_hand_computed_order():
    # relevance (1.0, 0.8, 0.35, 0.0); gain = 0.5 rel - 0.5 max sim to the picked foods
    # step 1: nothing picked -> 0.5 rel -> food 10 (rel 1.0)
    # step 2: 11: 0.4 - 0.5*0.8 = 0.0;  12: 0.175 - 0.5*0 = 0.175;  13: 0 - 0 = 0.0   -> 12
    # step 3: 11: 0.4 - 0.5*max(0.8, 0.36) = 0.0;  13: 0 - 0.5*max(0, 0.8) = -0.4     -> 11
    cands = hand_set(relevance=np.array([1.0, 0.8, 0.35, 0.0]))
    assert rerank(cands, RerankSettings(k=4, mmr_lambda=0.5)).food_ids.tolist() == [10, 12, 11, 13]
    assert rerank(cands, RerankSettings(k=4)).food_ids.tolist() == [10, 11, 12, 13]


def test_equal_gains_go_to_the_more_relevant_food():
    # min-max relevance (1, 0.25, 0.625, 0); lambda 0.5; after food 0 is picked:
    #   food 1 (orthogonal to 0):  0.5*0.25 - 0.5*0.0 = 0.125
    #   food 2 (cos 0.375 with 0): 0.5*0.625 - 0.5*0.375 = 0.125  -> a tie; food 2 is the
    #   more relevant, so it goes first although food 1 comes earlier in the list
    s = 0.375
    cands = CandidateSet(food_ids=np.arange(4), relevance=np.array([1.0, 0.25, 0.625, 0.0]),
                         features=np.array([[1, 0, 0], [0, 1, 0], [s, 0, np.sqrt(1 - s * s)],
                                            [0, 0, 1]]),
                         category=np.zeros(4, int), maker=np.arange(4))
    assert rerank(cands, RerankSettings(k=2, mmr_lambda=0.5)).food_ids.tolist() == [0, 2]


# ---------------------------------------------------------------- DPP

@pytest.mark.parametrize("seed,theta", [(0, 0.2), (1, 0.5), (2, 0.9), (3, 0.99)])
def test_dpp_first_pick_is_the_most_relevant(seed, theta):
    cands = random_set(np.random.default_rng(seed))
    result = rerank(cands, RerankSettings(k=5, dpp_theta=theta))
    clean = np.flatnonzero(~cands.allergen)
    assert result.positions[0] == clean[np.argmax(cands.relevance[clean])]


def test_dpp_skips_a_near_duplicate():
    # food 11 is a near-copy of food 10 (cos 0.99); 12 and 13 are orthogonal to both.
    # gain = 0.5 w + 0.5 log d^2 (theta = 0.5); after picking 10, d^2(11) = 1 - 0.99^2 = 0.0199:
    #   11: 0.5*0.9 + 0.5*ln 0.0199 = 0.45 - 1.958 = -1.508;  12: 0.25 + 0;  13: 0 + 0
    # so 12, then 13, and the duplicate comes last although it is the second most relevant.
    sin = np.sqrt(1 - 0.99 ** 2)
    cands = hand_set(relevance=np.array([1.0, 0.9, 0.5, 0.0]),
                     features=np.array([[1, 0, 0], [0.99, sin, 0], [0, 0, 1], [0, 1, 0]]))
    result = rerank(cands, RerankSettings(k=4, dpp_theta=0.5))
    assert result.food_ids.tolist() == [10, 12, 13, 11]


@pytest.mark.parametrize("theta", [0.3, 0.7, 0.9])
def test_dpp_matches_brute_force_log_det_of_the_papers_kernel(theta):
    # Chen et al.: L = diag(q) S diag(q), q = exp(alpha w), alpha = theta / (2 (1 - theta));
    # greedy MAP adds argmax_i log det L[S + i]. Check the fast Cholesky version against it.
    rng = np.random.default_rng(7)
    n = 12
    cands = CandidateSet(food_ids=np.arange(n), relevance=rng.random(n),
                         features=rng.normal(size=(n, 6)), category=np.zeros(n, int),
                         maker=np.arange(n))
    w = normalise_relevance(cands.relevance)
    q = np.exp(theta / (2 * (1 - theta)) * w)
    kernel = q[:, None] * (cands.features @ cands.features.T + 1e-6 * np.eye(n)) * q[None, :]
    picked: list[int] = []
    for _ in range(5):
        rest = [i for i in range(n) if i not in picked]
        picked.append(max(rest, key=lambda i: np.linalg.slogdet(
            kernel[np.ix_(picked + [i], picked + [i])])[1]))
    assert rerank(cands, RerankSettings(k=5, dpp_theta=theta)).positions.tolist() == picked


# ---------------------------------------------------------------- calibration

KL_ALL_ONE_CATEGORY = 0.5 * np.log(0.5 / 0.995) + 0.5 * np.log(0.5 / 0.005)  # = 1.9585


def test_calibration_picks_the_hand_computed_list_and_lowers_kl():
    # user mix p = (0.5, 0.5) over categories 1, 2; foods 10-12 are category 1, food 13 is 2.
    # A list of one category: q~ = 0.99 (1, 0) + 0.01 (0.5, 0.5) = (0.995, 0.005),
    #   KL = 0.5 ln(0.5/0.995) + 0.5 ln(0.5/0.005) = 1.9585 (same for category 2 alone).
    # lambda 0.5, gain = 0.5 w - 0.5 KL(list + i):
    # step 1: every food gives KL 1.9585 -> highest w -> 10
    # step 2: 11: 0.45 - 0.979 = -0.529;  13: 0.0 - 0.5 * KL(0.5, 0.5) = 0.0  -> 13
    cands = hand_set(relevance=np.array([1.0, 0.9, 0.8, 0.0]), category=np.array([1, 1, 1, 2]),
                     user_category_mix={1: 0.5, 2: 0.5})
    calibrated = rerank(cands, RerankSettings(k=2, calibration_lambda=0.5))
    plain = rerank(cands, RerankSettings(k=2))
    assert calibrated.food_ids.tolist() == [10, 13]
    assert plain.food_ids.tolist() == [10, 11]
    assert list_report(cands, plain.positions).calibration_error == pytest.approx(
        KL_ALL_ONE_CATEGORY)
    assert list_report(cands, calibrated.positions).calibration_error == pytest.approx(0.0)


@pytest.mark.parametrize("seed", range(30))
def test_calibration_matches_steck_objective_computed_directly(seed):
    # each step adds argmax_i (1 - lam) sum_{S+i} w - lam KL(p || (1-a) q(S+i) + a p), a = 0.01
    rng = np.random.default_rng(seed)
    lam = float(rng.random())
    n, cats = 15, np.array([0, 1, 2, 3])
    cands = CandidateSet(food_ids=np.arange(n), relevance=rng.random(n),
                         features=np.eye(n), category=rng.choice(cats, n), maker=np.arange(n),
                         user_category_mix={0: 0.1, 1: 0.2, 2: 0.3, 3: 0.4})
    w = normalise_relevance(cands.relevance)
    p = np.array([0.1, 0.2, 0.3, 0.4])

    def objective(chosen: list[int]) -> float:
        q = np.array([np.mean(cands.category[chosen] == c) for c in cats])
        smoothed = 0.99 * q + 0.01 * p
        return (1 - lam) * w[chosen].sum() - lam * np.sum(p * np.log(p / smoothed))

    picked: list[int] = []
    for _ in range(6):
        picked.append(max((i for i in range(n) if i not in picked),
                          key=lambda i: objective(picked + [i])))
    result = rerank(cands, RerankSettings(k=6, calibration_lambda=lam))
    assert result.positions.tolist() == picked


@pytest.mark.parametrize("seed", range(5))
def test_calibration_moves_the_mix_toward_the_users(seed):
    cands = random_set(np.random.default_rng(seed))
    plain = rerank(cands, RerankSettings(k=10))
    calibrated = rerank(cands, RerankSettings(k=10, calibration_lambda=0.7))
    assert (list_report(cands, calibrated.positions).calibration_error
            < list_report(cands, plain.positions).calibration_error)


# ---------------------------------------------------------------- caps, repeat window, allergens

@pytest.mark.parametrize("seed", range(20))
def test_caps_are_never_exceeded(seed):
    rng = np.random.default_rng(seed)
    cands = random_set(rng, n=int(rng.integers(5, 80)))
    settings = RerankSettings(k=int(rng.integers(1, 30)),
                              max_per_category=int(rng.integers(1, 4)),
                              max_per_maker=int(rng.integers(1, 4)),
                              mmr_lambda=float(rng.random()), dpp_theta=float(rng.random()),
                              explore_temperature=float(rng.random()), seed=seed)
    result = rerank(cands, settings)
    assert np.bincount(cands.category[result.positions]).max(initial=0) <= settings.max_per_category
    assert np.bincount(cands.maker[result.positions]).max(initial=0) <= settings.max_per_maker
    assert len(set(result.food_ids)) == len(result.food_ids)
    assert result.shortfall == settings.k - len(result.positions)
    assert (result.note != "") == (result.shortfall > 0)


def test_a_single_cap_fills_every_slot_the_cap_allows():
    # categories: 1 x3, 2 x1, 3 x2; cap 2 -> at most 2 + 1 + 2 = 5 foods although k = 6
    n = 6
    cands = CandidateSet(food_ids=np.arange(n), relevance=np.arange(n, 0, -1.0),
                         features=np.eye(n), category=np.array([1, 1, 1, 2, 3, 3]),
                         maker=np.arange(n))
    result = rerank(cands, RerankSettings(k=6, max_per_category=2))
    assert result.food_ids.tolist() == [0, 1, 3, 4, 5]
    assert result.shortfall == 1 and "caps" in result.note


def test_history_cap_is_the_users_top_share_of_the_list_rounded_down():
    assert history_cap({1: 0.46, 2: 0.54}, 10) == 5       # 5.4 -> 5
    assert history_cap({1: 4.6, 2: 2.0, 3: 3.4}, 10) == 4  # shares need not sum to 1
    assert history_cap({1: 0.05, 2: 0.05} | {c: 0.05 for c in range(3, 21)}, 10) == 1
    assert history_cap({}, 10) is None and history_cap(None, 10) is None


def test_cap_by_history_moves_the_users_top_category_down_by_hand():
    # relevance order 0..5; categories 1 1 1 1 2 3; the user's history is half category 1 -> at
    # most 2 of a 4-list from category 1: the two best, then 2 and 3, then category 1 again
    cands = CandidateSet(food_ids=np.arange(6), relevance=np.arange(6, 0, -1.0), features=np.eye(6),
                         category=np.array([1, 1, 1, 1, 2, 3]), maker=np.arange(6),
                         user_category_mix={1: 0.5, 2: 0.3, 3: 0.2})
    assert rerank(cands, RerankSettings(k=4, cap_by_history=True)).food_ids.tolist() == [0, 1, 4, 5]
    # the cap only reorders: with nothing else left, category 1 fills the rest of a 6-list
    six = rerank(cands, RerankSettings(k=6, cap_by_history=True))
    assert six.food_ids.tolist() == [0, 1, 2, 4, 5, 3] and six.shortfall == 0
    # a cold user (no history mix) keeps the model's order
    cold = dataclasses.replace(cands, user_category_mix=None)
    assert rerank(cold, RerankSettings(k=4, cap_by_history=True)).food_ids.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", range(10))
def test_cap_by_history_never_gives_a_category_more_than_the_history_share(seed):
    rng = np.random.default_rng(seed)
    cands = random_set(rng, n=80)
    settings = RerankSettings(k=10, cap_by_history=True, calibration_lambda=float(rng.random()))
    result = rerank(cands, settings)
    cap = history_cap(cands.user_category_mix, 10)
    assert result.shortfall == 0
    assert np.bincount(cands.category[result.positions]).max() <= cap


def test_cap_by_history_must_be_a_boolean():
    with pytest.raises(KurrantError, match="cap_by_history"):
        RerankSettings(cap_by_history="yes")
    with pytest.raises(KurrantError, match="cap_by_history"):
        RerankSettings.from_dict({"name": "x", "cap_by_history": "yes"})
    assert RerankSettings.from_dict({"name": "x", "cap_by_history": True}).cap_by_history is True


def test_repeat_window_removes_exactly_the_recent_foods():
    # window 7 = the 7 days before the service date: 1, 3 and 7 days ago are recent;
    # 0 (the service date itself), 8, 30 days ago and never are not
    days = np.array([1, 3, 7, 0, 8, 30, np.inf])
    n = days.size
    cands = CandidateSet(food_ids=np.arange(100, 100 + n), relevance=np.linspace(1, 0, n),
                         features=np.eye(n), category=np.zeros(n, int), maker=np.arange(n),
                         days_since_eaten=days)
    result = rerank(cands, RerankSettings(k=n, repeat_window_days=7))
    assert result.food_ids.tolist() == [103, 104, 105, 106]
    assert result.n_recent_removed == 3
    assert "repeat window" in result.note
    assert len(rerank(cands, RerankSettings(k=n)).food_ids) == n  # off: nothing removed


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("settings", SETTINGS_GRID)
def test_allergens_never_appear(seed, settings):
    cands = random_set(np.random.default_rng(seed))
    # make the allergen foods the most relevant, so any leak would surely surface
    boosted = dataclasses.replace(cands, relevance=cands.relevance + 10.0 * cands.allergen)
    result = rerank(boosted, settings)
    assert not boosted.allergen[result.positions].any()
    assert result.n_allergen_removed == int(cands.allergen.sum())


# ---------------------------------------------------------------- popularity and exploration

def test_popularity_penalty_hand_case():
    # relevance (1.0, 0.9, 0.0) is already min-max; minmax(log(1 + pop)) = (1, 0, 0)
    # beta 0.05 -> w = (0.95, 0.9, 0.0): order kept; beta 0.2 -> (0.8, 0.9, 0.0): 2 moves up
    cands = CandidateSet(food_ids=np.array([1, 2, 3]), relevance=np.array([1.0, 0.9, 0.0]),
                         features=np.eye(3), category=np.zeros(3, int), maker=np.arange(3),
                         popularity=np.array([100, 0, 0]))
    kept = rerank(cands, RerankSettings(k=3, popularity_penalty=0.05))
    flipped = rerank(cands, RerankSettings(k=3, popularity_penalty=0.2))
    assert kept.food_ids.tolist() == [1, 2, 3]
    assert flipped.food_ids.tolist() == [2, 1, 3]
    np.testing.assert_allclose(flipped.scores, [0.9, 0.8, 0.0])


def test_exploration_is_repeatable_per_seed_and_off_at_zero_temperature():
    cands = random_set(np.random.default_rng(0), with_mix=False)
    hot = dict(k=10, explore_temperature=1.0)
    first = rerank(cands, RerankSettings(**hot, seed=5)).food_ids
    again = rerank(cands, RerankSettings(**hot, seed=5)).food_ids
    other = rerank(cands, RerankSettings(**hot, seed=6)).food_ids
    np.testing.assert_array_equal(first, again)
    assert first.tolist() != other.tolist()
    plain = rerank(cands, RerankSettings(k=10)).food_ids
    for seed in (None, 1, 2):
        cold = rerank(cands, RerankSettings(k=10, explore_temperature=0.0, seed=seed)).food_ids
        np.testing.assert_array_equal(cold, plain)


def test_exploration_samples_plackett_luce_first_picks():
    # w = (1, 0.5, 0), tau = 0.5: P(first = i) = exp(w_i / tau) / sum = (e^2, e^1, e^0) / 11.107
    #   = (0.665, 0.245, 0.090)
    cands = CandidateSet(food_ids=np.array([0, 1, 2]), relevance=np.array([1.0, 0.5, 0.0]),
                         features=np.eye(3), category=np.zeros(3, int), maker=np.arange(3))
    firsts = [rerank(cands, RerankSettings(k=1, explore_temperature=0.5, seed=s)).food_ids[0]
              for s in range(3000)]
    freq = np.bincount(firsts, minlength=3) / 3000
    np.testing.assert_allclose(freq, [0.665, 0.245, 0.090], atol=0.03)


# ---------------------------------------------------------------- composition and settings

def test_all_knobs_together_give_a_valid_list():
    cands = random_set(np.random.default_rng(11))
    result = rerank(cands, ALL_ON)
    picked = result.positions
    assert 0 < len(picked) <= ALL_ON.k
    assert not cands.allergen[picked].any()
    days = cands.days_since_eaten[picked]
    assert not ((days >= 1) & (days <= 7)).any()
    assert np.bincount(cands.maker[picked]).max() <= 2
    assert rerank(cands, ALL_ON).food_ids.tolist() == result.food_ids.tolist()


@pytest.mark.parametrize("bad", [dict(k=0), dict(mmr_lambda=1.5), dict(dpp_theta=-0.1),
                                 dict(max_per_maker=0), dict(repeat_window_days=-1),
                                 dict(popularity_penalty=-1), dict(normalisation="rank")])
def test_bad_settings_say_what_to_fix(bad):
    with pytest.raises(KurrantError):
        RerankSettings(**bad)


def test_zscore_normalisation_hand_case():
    # (1, 2, 3): mean 2, population std sqrt(2/3) = 0.8165 -> (-1.2247, 0, 1.2247)
    np.testing.assert_allclose(normalise_relevance(np.array([1.0, 2.0, 3.0]), "zscore"),
                               [-1.2247449, 0.0, 1.2247449])
    np.testing.assert_allclose(normalise_relevance(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(normalise_relevance(np.array([5.0, 5.0])), [0.0, 0.0])


def test_nothing_admissible_gives_an_empty_list_with_a_note():
    cands = hand_set(allergen=np.ones(4, bool))
    result = rerank(cands, RerankSettings(k=3, mmr_lambda=0.5))
    assert result.food_ids.size == 0 and result.shortfall == 3 and "allergy" in result.note


# ---------------------------------------------------------------- list report

def test_list_report_hand_case():
    cands = hand_set(popularity=np.array([3, 1, 0, 0]), user_category_mix={1: 0.5, 2: 0.5})
    report = list_report(cands, np.array([0, 2]))
    # ILD: 1 - cos(10, 12) = 1 - 0 = 1
    assert report.intra_list_diversity == pytest.approx(1.0)
    # categories {1, 2} / min(2 foods, 2 categories on offer) = 1
    assert report.category_coverage == pytest.approx(1.0)
    # shares (c + 1) / (4 + 4) = (4/8, 2/8, 1/8, 1/8); -log2 = (1, 2, 3, 3); foods 0, 2 -> 2
    assert report.novelty == pytest.approx(2.0)
    # list mix (0.5, 0.5) equals the user's -> KL 0
    assert report.calibration_error == pytest.approx(0.0)
    # model's own top-2 = foods 0, 1: mean 0.9; list mean (1.0 + 0.6) / 2 = 0.8
    assert report.relevance_change == pytest.approx(-0.1)
    assert report.relevance_ratio == pytest.approx(0.8 / 0.9)

    same_category = list_report(cands, np.array([0, 1]))
    assert same_category.intra_list_diversity == pytest.approx(0.2)  # 1 - 0.8
    assert same_category.category_coverage == pytest.approx(0.5)     # 1 / 2
    assert same_category.calibration_error == pytest.approx(KL_ALL_ONE_CATEGORY)
    assert same_category.relevance_change == pytest.approx(0.0)
    assert same_category.relevance_ratio == pytest.approx(1.0)


def test_list_report_of_an_empty_list_is_undefined():
    report = list_report(hand_set(), np.array([], dtype=int))
    assert all(np.isnan(v) for v in report.as_dict().values())


# ---------------------------------------------------------------- overlap helpers

def test_rbo_identical_disjoint_and_hand_cases():
    assert rbo([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert rbo([1, 2, 3], [4, 5, 6]) == pytest.approx(0.0)
    # [1,2,3] vs [1,3,2], p = 0.9: X = (1, 1, 3), A_d = X_d / d = (1, 0.5, 1)
    # sum A_d p^d = 0.9 + 0.5*0.81 + 0.729 = 2.034; (1-p)/p * 2.034 = 0.226; + A_3 p^3 = 0.729
    assert rbo([1, 2, 3], [1, 3, 2]) == pytest.approx(0.955)
    # uneven: S = [1,2], L = [1,2,3]: X = (1, 2, 2), s = 2, l = 3
    # sum X_d/d p^d = 0.9 + 0.81 + (2/3)*0.729 = 2.196; tail d=3: 2*(3-2)/(2*3)*0.729 = 0.243
    # (1-p)/p * 2.439 = 0.271; + [(2-2)/3 + 2/2] * 0.729 = 1.0
    assert rbo([1, 2, 3], [1, 2]) == pytest.approx(1.0)
    # [1,2] vs [2,3], p = 0.5: X = (0, 1), sum = 0 + 0.5*0.25 = 0.125; (1-p)/p = 1
    # -> 0.125 + (1/2) * 0.25 = 0.25
    assert rbo([1, 2], [2, 3], p=0.5) == pytest.approx(0.25)
    assert rbo([], []) == 1.0 and rbo([1], []) == 0.0


def test_rbo_is_symmetric_and_top_weighted():
    a, b = list(range(10)), [0, 1, 2, 3, 4, 9, 8, 7, 6, 5]
    c = [5, 6, 7, 8, 9, 0, 1, 2, 3, 4]
    assert rbo(a, b) == pytest.approx(rbo(b, a))
    assert rbo(a, b) > rbo(a, c)  # same sets, but b agrees at the top
    for x, y in itertools.combinations([a, b, c], 2):
        assert 0.0 <= rbo(x, y) <= 1.0


def test_jaccard_hand_case():
    assert jaccard([1, 2, 3], [2, 3, 4, 5]) == pytest.approx(2 / 5)
    assert jaccard([], []) == 1.0


# ------------------------------------------------------------------------------ many lists at once
def _random_pools(seed: int, n_pools: int = 60) -> list[CandidateSet]:
    """Pools of a few lengths, with ties, allergens, recent foods, shared makers and mixes of
    different sizes (and some cold users with none): what a run's batch of users looks like."""
    rng = np.random.default_rng(seed)
    pools = []
    for user in range(n_pools):
        n = int(rng.choice([1, 3, 8, 12]))
        relevance = rng.choice([0.0, 0.5, 1.0, 2.0], size=n) + (rng.random(n) if user % 3 else 0.0)
        mix = {int(c): float(s) for c, s in zip(rng.choice(9, size=3, replace=False), rng.random(3))}
        pools.append(CandidateSet(
            food_ids=np.arange(n) + 100 * user, relevance=relevance,
            features=rng.random((n, 5)), category=rng.integers(-1, 8, n), maker=rng.integers(0, 4, n),
            popularity=rng.integers(0, 50, n),
            days_since_eaten=np.where(rng.random(n) < 0.3, rng.integers(1, 10, n), np.inf),
            user_category_mix=mix if user % 4 else None, allergen=rng.random(n) < 0.1, user_id=user))
    return pools


@pytest.mark.parametrize("settings", [
    RerankSettings(), RerankSettings(calibration_lambda=0.1, max_per_maker=3),
    RerankSettings(calibration_lambda=1.0, max_per_category=1, repeat_window_days=5),
    RerankSettings(max_per_maker=1, popularity_penalty=0.5, explore_temperature=0.3, seed=4),
    RerankSettings(calibration_lambda=0.4, normalisation="zscore", max_per_maker=2, max_per_category=2),
    RerankSettings(mmr_lambda=0.6, calibration_lambda=0.2),
    RerankSettings(calibration_lambda=0.1, cap_by_history=True, max_per_maker=2),
    RerankSettings(cap_by_history=True, max_per_category=2)])
def test_many_lists_at_once_are_the_lists_one_at_a_time(settings):
    pools = _random_pools(7)
    ks = [max(1, min(len(p), 2 + i % 9)) for i, p in enumerate(pools)]
    together = rerank_many(pools, settings, ks)
    for pool, k, got in zip(pools, ks, together):
        alone = rerank(pool, dataclasses.replace(settings, k=k))
        assert got.positions.tolist() == alone.positions.tolist()
        assert np.array_equal(got.scores, alone.scores)
        assert (got.shortfall, got.note, got.n_recent_removed) == (alone.shortfall, alone.note,
                                                                  alone.n_recent_removed)
    assert any(len(r.positions) > 1 for r in together)      # the batch did real re-ranking
