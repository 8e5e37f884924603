"""The torch recommenders: NeuMF (``ncf``) and SASRec (``sequential``).

A synthetic world where every user alternates between two foods exercises the networks and
training loops on index arrays, then the ``Recommender`` API (fit, score, save/load, explain) on
the same world as TrainingData; the tiny demo world checks what they learn from realistic data.
The shared contract suite (test_model_contract.py) covers the rest of the API.
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from kurrant_core import codes, columns as C
from kurrant_core.data import (
    ITEM_IDX,
    USER_IDX,
    TrainingData,
    allergen_matrix,
    build_training_data,
    food_feature_matrix,
)
from kurrant_core.db import make_engine
from kurrant_core.errors import KurrantError
from kurrant_core.models import get_model_class, make_model
from kurrant_core.models.ncf import MenuNegatives, NeuMF, fit_neumf, menu_negatives, sample_negatives
from kurrant_core.models.sasrec import fit_sasrec, gap_buckets, menu_mask, training_windows
from kurrant_core.models.torch_support import (
    TORCH_THREADS,
    VALIDATION_DAYS,
    EarlyStopping,
    candidate_matrix,
    candidate_mrr,
    effective_batch_size,
    torch_session,
    validation_orders,
)


# ------------------------------------------------------------------ a synthetic alternation world
def alternating_world(n_users: int = 120, n_items: int = 30, seed: int = 0):
    """Each user alternates between two foods of their own, A B A B …, ending on either one."""
    rng = np.random.default_rng(seed)
    pairs, sequences = [], []
    for _ in range(n_users):
        a, b = rng.choice(n_items, 2, replace=False)
        length = int(rng.integers(8, 20))
        sequences.append(np.array([a if t % 2 == 0 else b for t in range(length)]))
        pairs.append((a, b))
    return pairs, sequences, n_items


def positives_of(sequences):
    users = np.concatenate([np.full(len(s), u) for u, s in enumerate(sequences)])
    return users, np.concatenate(sequences)


def next_day_log_probs(net, sequences) -> np.ndarray:
    """SASRec scores for the day after each sequence (its foods were eaten on days 0, 1, 2, ...)."""
    days = [np.arange(len(s)) for s in sequences]
    return net.next_item_log_probs(sequences, days, np.array([len(s) for s in sequences]))


def other_food_first_rate(scores: np.ndarray, pairs, sequences) -> float:
    """Share of users whose score for the food they did *not* eat last beats the one they did."""
    hits = []
    for u, (a, b) in enumerate(pairs):
        last = sequences[u][-1]
        other = b if last == a else a
        hits.append(scores[u, other] > scores[u, last])
    return float(np.mean(hits))


SASREC_SMALL = dict(max_len=12, hidden=32, layers=1, heads=1, dropout=0.1, epochs=15, lr=0.01)
NEUMF_SMALL = dict(factors=8, mlp_layers=(16, 8), epochs=15, lr=0.01, batch_size=512)


@pytest.fixture(scope="module")
def alternation():
    pairs, sequences, n_items = alternating_world()
    seq_net, seq_losses = fit_sasrec(sequences, n_items, seed=3, **SASREC_SMALL)
    users, items = positives_of(sequences)
    ncf_net, ncf_losses = fit_neumf(len(sequences), n_items, users, items, seed=3, **NEUMF_SMALL)
    return pairs, sequences, n_items, seq_net, seq_losses, ncf_net, ncf_losses


def test_training_loss_decreases(alternation):
    *_, seq_losses, _, ncf_losses = alternation
    assert seq_losses[-1] < 0.5 * seq_losses[0]
    assert ncf_losses[-1] < 0.5 * ncf_losses[0]


def test_an_epoch_sample_trains_on_that_many_examples_a_fresh_draw_each_epoch(monkeypatch):
    """``epoch_examples`` bounds what one epoch sees (the fit's time at scale), drawing anew each
    epoch so every example is still used; 0 (the small-world default) trains on everything."""
    import kurrant_core.models.ncf as ncf_module
    import kurrant_core.models.sasrec as sasrec_module
    pairs, sequences, n_items = alternating_world(n_users=60)
    users, items = positives_of(sequences)
    seen: list[np.ndarray] = []
    real = ncf_module.sample_negatives
    monkeypatch.setattr(ncf_module, "sample_negatives", lambda u, *a: seen.append(u.copy()) or real(u, *a))
    fit_neumf(len(sequences), n_items, users, items, seed=3, **{**NEUMF_SMALL, "epochs": 3}, epoch_examples=50)
    assert [len(u) for u in seen] == [50, 50, 50] and not np.array_equal(seen[0], seen[1])
    seen.clear()
    fit_neumf(len(sequences), n_items, users, items, seed=3, **{**NEUMF_SMALL, "epochs": 2})
    assert [len(u) for u in seen] == [len(users)] * 2
    batches: list[int] = []
    real_batches = sasrec_module.length_batches
    monkeypatch.setattr(sasrec_module, "length_batches",
                        lambda lengths, *a: batches.append(len(lengths)) or real_batches(lengths, *a))
    fit_sasrec(sequences, n_items, seed=3, **{**SASREC_SMALL, "epochs": 2}, epoch_examples=7)
    windows = len(training_windows(sequences, None, SASREC_SMALL.get("max_len", 30)).tokens)
    assert batches == [7, 7] and windows > 7


def test_every_epoch_logs_a_line_so_a_long_fit_shows_progress(caplog):
    pairs, sequences, n_items = alternating_world(n_users=40)
    users, items = positives_of(sequences)
    with caplog.at_level("INFO", logger="kurrant_core.models.training"):
        fit_neumf(len(sequences), n_items, users, items, seed=3, **{**NEUMF_SMALL, "epochs": 2})
        fit_sasrec(sequences, n_items, seed=3, **{**SASREC_SMALL, "epochs": 3})
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[0] for line in lines] == ["ncf epoch 1/2", "ncf epoch 2/2", "sequential epoch 1/3",
                                                      "sequential epoch 2/3", "sequential epoch 3/3"]


def test_a_large_world_gets_the_large_defaults_an_epoch_sample_and_no_refit(monkeypatch, tiny_fitted):
    import kurrant_core.models.ncf as ncf_module
    import kurrant_core.models.sequential as sequential_module
    import kurrant_core.models.torch_support as support
    data, _ = tiny_fitted
    monkeypatch.setattr(support, "LARGE_WORLD_ORDERS", 10)       # the tiny world counts as large ...
    monkeypatch.setattr(support, "MIN_VALIDATION_ORDERS", 1)     # ... and holds out a validation window
    monkeypatch.setattr(support, "MAX_VALIDATION_SHARE", 1.0)
    calls = []
    real = ncf_module.fit_neumf
    monkeypatch.setattr(ncf_module, "fit_neumf", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    model = make_model("ncf", epochs=2, random_state=1).fit(data)
    large = {k: v for k, v in ncf_module.LARGE_DEFAULTS.items() if k not in ("refit", "epochs")}
    assert {k: model.fit_params_[k] for k in large} == large
    assert len(calls) == 1 and calls[0]["epoch_examples"] == ncf_module.LARGE_DEFAULTS["epoch_examples"]
    model = make_model("sequential", epochs=1, random_state=1).fit(data)
    assert model.fit_params_["epoch_examples"] == sequential_module.LARGE_DEFAULTS["epoch_examples"]
    monkeypatch.setattr(support, "LARGE_WORLD_ORDERS", 10**9)
    calls.clear()
    make_model("ncf", epochs=2, random_state=1).fit(data)
    assert len(calls) == 2 and calls[0]["epoch_examples"] == 0          # small: every order, then the refit


def test_sequential_learns_alternation_that_ncf_cannot_see(alternation):
    pairs, sequences, n_items, seq_net, _, ncf_net, _ = alternation
    seq_scores = next_day_log_probs(seq_net, sequences)
    ncf_scores = ncf_net.score_matrix(np.arange(len(sequences)), np.arange(n_items))
    assert other_food_first_rate(seq_scores, pairs, sequences) >= 0.95
    # NCF does learn each user's two foods, but not which one comes next: about a coin flip
    top_two = [set(np.argsort(-ncf_scores[u])[:2]) == set(p) for u, p in enumerate(pairs)]
    assert np.mean(top_two) >= 0.9
    assert 0.25 <= other_food_first_rate(ncf_scores, pairs, sequences) <= 0.75


def test_same_seed_gives_identical_scores_and_another_seed_does_not():
    pairs, sequences, n_items = alternating_world(n_users=30)
    users, items = positives_of(sequences)
    quick_seq = {**SASREC_SMALL, "epochs": 2}
    quick_ncf = {**NEUMF_SMALL, "epochs": 2}
    runs = [next_day_log_probs(fit_sasrec(sequences, n_items, seed=s, **quick_seq)[0], sequences)
            for s in (7, 7, 8)]
    assert np.array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])
    grid = np.arange(len(sequences)), np.arange(n_items)
    runs = [fit_neumf(len(sequences), n_items, users, items, seed=s, **quick_ncf)[0].score_matrix(*grid)
            for s in (7, 7, 8)]
    assert np.array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


@pytest.mark.parametrize("mlp_layers", [(16, 8, 4), (16,)])
def test_neumf_score_matrix_equals_the_forward_pass_on_every_pair(mlp_layers):
    with torch_session(seed=0):
        net = NeuMF(n_users=7, n_items=5, factors=4, mlp_layers=mlp_layers)
        for p in net.parameters():                   # away from the near-zero initialisation
            torch.nn.init.normal_(p)
        users, items = np.array([6, 0, 3]), np.array([4, 1, 2, 0])
        pairs = net(torch.tensor(users).repeat_interleave(len(items)), torch.tensor(items).repeat(len(users)))
        expected = pairs.detach().numpy().reshape(len(users), len(items))
        np.testing.assert_allclose(net.score_matrix(users, items), expected, rtol=1e-5, atol=1e-5)


def test_torch_session_restores_threads_and_global_rng():
    before_threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with torch_session(seed=5):
        assert torch.get_num_threads() == TORCH_THREADS
        torch.rand(10)
    assert torch.get_num_threads() == before_threads
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------ the pieces, by hand
def test_menu_negatives_come_from_the_positive_menu_else_the_catalog():
    # positive 0 saw foods {5, 6} unchosen; positive 1's menu had nothing else
    menu = MenuNegatives(start=np.array([0, 2]), count=np.array([2, 0]), pool=np.array([5, 6]))
    pos_u = np.array([10, 11])
    users, items = sample_negatives(pos_u, menu, n_items=5, n_negatives=4, menu_share=0.5,
                                    rng=np.random.default_rng(0))
    assert users.tolist() == [10] * 4 + [11] * 4
    # foods 5 and 6 lie outside the 5-food catalog range, so only menu slots can hold them
    assert set(items[:2]) <= {5, 6}
    assert (items[2:] < 5).all()


def test_all_negatives_from_menu_when_share_is_one():
    menu = MenuNegatives(start=np.array([0]), count=np.array([1]), pool=np.array([42]))
    _, items = sample_negatives(np.array([0]), menu, n_items=3, n_negatives=3, menu_share=1.0,
                                rng=np.random.default_rng(1))
    assert items.tolist() == [42, 42, 42]


def test_effective_batch_size_keeps_enough_updates_per_epoch():
    assert effective_batch_size(1_000_000, 8192, 50) == 8192     # big data: the batch as asked
    assert effective_batch_size(1_000, 8192, 50) == 20           # small data: 50 steps of 20
    assert effective_batch_size(10, 8192, 50) == 1


def test_gap_buckets_by_hand():
    days = np.array([-2, 0, 1, 2, 3, 4, 6, 7, 13, 14, 29, 30, 400])
    assert gap_buckets(days).tolist() == [0, 0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 7, 7]


def test_training_windows_by_hand():
    # foods 3 1 4 1 5 on days 0 1 1 3 10; windows of 2 cut from the end
    seq, days = np.array([3, 1, 4, 1, 5]), np.array([0, 1, 1, 3, 10])
    w = training_windows([seq], [days], max_len=2, meals=[np.array([10, 11, 12, 13, 14])])
    # window 1: inputs 4 1 -> targets 1 5 (gaps 2 and 7 days); window 2: 3 1 -> 1 4 (gaps 1, 0)
    # tokens are food index + 1 (0 pads); a 7-day gap falls in bucket 5 (7-13 days)
    assert w.tokens.tolist() == [[5, 2], [4, 2]]
    assert w.targets.tolist() == [[1, 5], [1, 4]]
    assert w.gaps.tolist() == [[2, 5], [1, 0]]
    assert w.meals.tolist() == [[13, 14], [11, 12]]


def test_training_windows_stretch_the_earliest_window_without_repeating_targets():
    # 6 2 8 9 with windows of 2: the last window teaches 8 and 9; the first would hold only 6 -> 2,
    # so it takes 6 2 as inputs and blanks the target 8 that the last window already teaches
    w = training_windows([np.array([6, 2, 8, 9])], None, max_len=2)
    assert w.tokens.tolist() == [[3, 9], [7, 3]]
    assert w.targets.tolist() == [[8, 9], [2, -100]]


def test_training_windows_pad_short_sequences_and_skip_single_orders():
    w = training_windows([np.array([7]), np.array([2, 9])], None, max_len=3)
    assert w.tokens.tolist() == [[0, 0, 3]]
    assert w.targets.tolist() == [[-100, -100, 9]]
    assert w.gaps.tolist() == [[0, 0, 1]]
    assert w.meals.tolist() == [[-1, -1, -1]]


def test_menu_mask_allows_the_menu_and_the_target_only():
    menus = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool))
    allowed = menu_mask(menus, meals=np.array([1, 0, -1]), targets=np.array([2, 3, 0]))
    assert allowed.tolist() == [[False, False, True, True],     # meal 1's menu
                                [True, True, False, True],      # meal 0's menu + the target 3
                                [True, True, True, True]]       # menu unknown: the whole catalog


# ------------------------------------------------------------------ through the Recommender API
SYNTH_CUTOFF = date(2026, 3, 2)
SYNTH_GROUP = 1


def alternation_training_data(sequences, n_items: int) -> TrainingData:
    """The alternation world as TrainingData: one group whose lunch menu offers every food each
    day; each user ate one food a day on the days just before the cutoff."""
    food_ids = np.arange(101, 101 + n_items)
    foods = pd.DataFrame({C.FOOD_ID: food_ids, C.FOOD_NAME: [f"food {f}" for f in food_ids],
                          C.MAKERS_ID: 1 + np.arange(n_items) % 3, C.MAKERS_NAME: "maker",
                          C.FOOD_STATUS: codes.FOOD_ON_SALE, C.PRICE: 8000 + 100 * np.arange(n_items),
                          C.FOOD_TAGS: "1", C.CUISINE_CODE: 1, C.SPICINESS_CODE: 10001,
                          C.ALLERGY_TAGS: "", C.CALORIE: 600.0, C.CARBOHYDRATE: 80.0, C.FAT: 20.0,
                          C.PROTEIN: 30.0})
    user_ids = np.arange(1, len(sequences) + 1)
    users = pd.DataFrame({C.USER_ID: user_ids, C.GROUP_ID: SYNTH_GROUP, C.FAVORITE_TAGS: "",
                          C.ALLERGY_TAGS: ""})
    rows = [(user_ids[u], food_ids[i], SYNTH_GROUP, pd.Timestamp(SYNTH_CUTOFF - timedelta(days=len(seq) - t)),
             codes.LUNCH, 1, 1, u, i)
            for u, seq in enumerate(sequences) for t, i in enumerate(seq)]
    orders = pd.DataFrame(rows, columns=[C.USER_ID, C.FOOD_ID, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE,
                                         C.MAKERS_ID, C.CUISINE_CODE, USER_IDX, ITEM_IDX])
    days = pd.date_range(SYNTH_CUTOFF - timedelta(days=max(map(len, sequences))),
                         SYNTH_CUTOFF + timedelta(days=5))
    menus = pd.DataFrame([(len(days) * i + d, day, codes.LUNCH, SYNTH_GROUP, food_ids[i], 1,
                           codes.DAILY_FOOD_ON_SALE, 8000, i)
                          for d, day in enumerate(days) for i in range(n_items)],
                         columns=[C.DAILY_FOOD_ID, C.SERVICE_DATE, C.DINING_TYPE, C.GROUP_ID, C.FOOD_ID,
                                  C.MAKERS_ID, C.DAILY_FOOD_STATUS, C.PRICE, ITEM_IDX])
    features, names, feature_codes = food_feature_matrix(foods)
    return TrainingData(cutoff=SYNTH_CUTOFF, half_life_days=30.0, user_ids=user_ids, food_ids=food_ids,
                        orders=orders, foods=foods, food_features=features, feature_names=names,
                        feature_codes=feature_codes, food_allergens=allergen_matrix(foods[C.ALLERGY_TAGS]),
                        users=users, user_allergens=allergen_matrix(users[C.ALLERGY_TAGS]), menus=menus)


API_PARAMS = {"ncf": {**NEUMF_SMALL, "history_weight": 0.0}, "sequential": SASREC_SMALL}
"""The ncf network alone (no history term, whose variety rule would see the alternation: see
tests/test_repeat_aware.py)."""


@pytest.fixture(scope="module")
def alternation_api():
    pairs, sequences, n_items = alternating_world()
    data = alternation_training_data(sequences, n_items)
    models = {name: make_model(name, random_state=11, **params).fit(data)
              for name, params in API_PARAMS.items()}
    return pairs, sequences, data, models


def test_api_sequential_picks_the_other_food_for_the_next_day(alternation_api):
    pairs, sequences, data, models = alternation_api
    seq_scores = models["sequential"].score(data.user_ids, as_of=SYNTH_CUTOFF)
    assert other_food_first_rate(seq_scores, pairs, sequences) >= 0.95
    ncf_scores = models["ncf"].score(data.user_ids, as_of=SYNTH_CUTOFF)
    assert 0.25 <= other_food_first_rate(ncf_scores, pairs, sequences) <= 0.75
    # the AI pick of tomorrow's menu is the food the user did not have today
    picks = models["sequential"].recommend(data.user_ids, k=1, service_date=SYNTH_CUTOFF)
    expected = [data.food_ids[b if s[-1] == a else a] for (a, b), s in zip(pairs, sequences)]
    assert np.mean(picks[C.FOOD_ID].to_numpy() == np.array(expected)) >= 0.95


@pytest.mark.parametrize("name", list(API_PARAMS))
def test_api_save_load_gives_identical_scores(alternation_api, tmp_path, name):
    *_, data, models = alternation_api
    model = models[name]
    loaded = get_model_class(name).load(model.save(tmp_path / name))
    assert type(loaded) is type(model)
    assert json.dumps(loaded.get_params()) == json.dumps(model.get_params())  # tuples come back as lists
    for as_of in (None, SYNTH_CUTOFF + timedelta(days=3)):
        assert np.array_equal(loaded.score(data.user_ids, as_of=as_of),
                              model.score(data.user_ids, as_of=as_of))


@pytest.mark.parametrize("name", list(API_PARAMS))
def test_api_same_random_state_gives_identical_scores(alternation_api, name):
    *_, data, models = alternation_api
    params = {**API_PARAMS[name], "epochs": 2}
    first, second, other = (make_model(name, random_state=r, **params).fit(data).score(data.user_ids)
                            for r in (5, 5, 6))
    assert np.array_equal(first, second)
    assert not np.allclose(first, other)


def test_api_sequential_catalog_objective_and_a_bad_objective(alternation_api):
    pairs, sequences, data, _ = alternation_api
    model = make_model("sequential", objective="catalog", **SASREC_SMALL).fit(data)
    assert other_food_first_rate(model.score(data.user_ids), pairs, sequences) >= 0.95
    with pytest.raises(KurrantError, match="objective must be one of menu, catalog"):
        make_model("sequential", objective="softmax").fit(data)


def test_api_ncf_menu_negatives_are_the_unchosen_foods_of_that_meal(alternation_api):
    _, sequences, data, _ = alternation_api
    menu = menu_negatives(data)
    # every order's meal offered all foods and the user chose one: the others are its negatives
    n_items = data.n_foods
    assert (menu.count == n_items - 1).all()
    first = data.orders.iloc[0]
    pool = menu.pool[menu.start[0]:menu.start[0] + menu.count[0]]
    assert sorted(pool) == sorted(set(range(n_items)) - {first[ITEM_IDX]})


def test_api_explanations_name_recent_foods_and_similar_users(alternation_api):
    pairs, sequences, data, models = alternation_api
    a, b = pairs[0]
    last, other = sequences[0][-1], (b if sequences[0][-1] == a else a)
    ids = data.food_ids[[last, other]]
    seq_lines = models["sequential"].explain(int(data.user_ids[0]), ids)
    assert len(seq_lines) == 2
    assert seq_lines[0].startswith("you had it 1 day ago")      # eaten the day before the cutoff
    assert seq_lines[1].startswith("you had it 2 days ago")
    ncf_lines = models["ncf"].explain(int(data.user_ids[0]), ids)
    times = int(np.sum(sequences[0] == last))
    assert f"you ordered it {times}x" in ncf_lines[0]
    assert "users most like you ordered it" in ncf_lines[1]


# ------------------------------------------------------------------ the tiny demo world
@pytest.fixture(scope="module")
def tiny_fitted(tiny_sqlite_url):
    engine = make_engine(tiny_sqlite_url)
    data = build_training_data(engine)
    engine.dispose()
    return data, {name: make_model(name).fit(data) for name in API_PARAMS}


def test_tiny_world_sequential_learns_variety_and_recency(tiny_fitted):
    data, models = tiny_fitted
    model = models["sequential"]
    bias = model.net_.repeat_bias.detach().numpy()
    yesterday, week_or_two = gap_buckets(np.array([1, 10]))
    assert bias[yesterday] < bias[week_or_two]   # the demo world's users avoid yesterday's food
    # users who ate the day before the cutoff: their last food ranks lower that day than 40 days on
    last_day = pd.Timestamp(data.cutoff) - pd.Timedelta(days=1)
    recent = data.orders[data.orders[C.SERVICE_DATE] == last_day]
    u = recent[USER_IDX].to_numpy()
    eaten = recent[ITEM_IDX].to_numpy()
    assert len(u) >= 10

    def share_ranked_above(as_of):
        scores = model._score(u, np.arange(data.n_foods), as_of)
        return np.mean(scores > scores[np.arange(len(u)), eaten][:, None])

    assert share_ranked_above(data.cutoff) > share_ranked_above(data.cutoff + timedelta(days=40))


def test_tiny_world_ncf_menu_negatives_match_the_daily_menu(tiny_fitted):
    data, _ = tiny_fitted
    menu = menu_negatives(data)
    orders = data.orders
    for row in (0, len(orders) // 2, len(orders) - 1):
        o = orders.iloc[row]
        same_meal = orders[(orders[USER_IDX] == o[USER_IDX]) & (orders[C.SERVICE_DATE] == o[C.SERVICE_DATE])
                           & (orders[C.DINING_TYPE] == o[C.DINING_TYPE])]
        expected = set(data.menu_items(o[C.GROUP_ID], o[C.SERVICE_DATE], o[C.DINING_TYPE]).tolist())
        expected -= set(same_meal[ITEM_IDX].tolist())
        pool = menu.pool[menu.start[row]:menu.start[row] + menu.count[row]]
        assert set(pool.tolist()) == expected


def test_tiny_world_explanations_state_true_facts(tiny_fitted):
    data, models = tiny_fitted
    u = int(np.argmax(np.diff(data.counts.indptr)))              # the user with most orders
    history = data.orders[data.orders[USER_IDX] == u]
    last = history.iloc[-1]
    days_ago = (pd.Timestamp(data.cutoff) - last[C.SERVICE_DATE]).days
    food_id = int(data.food_ids[last[ITEM_IDX]])
    line = models["sequential"].explain(int(data.user_ids[u]), [food_id])[0]
    assert line.startswith(f"you had it {days_ago} day")
    times = int((history[ITEM_IDX] == last[ITEM_IDX]).sum())
    assert f"you ordered it {times}x" in models["ncf"].explain(int(data.user_ids[u]), [food_id])[0]


def test_package_import_does_not_load_torch():
    code = ("import sys, kurrant_core, kurrant_core.models; "
            "from kurrant_core.models import MODEL_NAMES; "
            "assert 'torch' not in sys.modules, 'torch loaded at import'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ early stopping
def long_alternation_data(length: int = 70) -> TrainingData:
    """The alternation world with ``length`` days per user: the validation window (the last
    ``VALIDATION_DAYS``) is a small enough share of it to be held out."""
    pairs, _, n_items = alternating_world(n_users=40)
    sequences = [np.array([a if t % 2 == 0 else b for t in range(length)]) for a, b in pairs]
    return alternation_training_data(sequences, n_items)


def test_validation_window_is_the_last_days_and_only_when_history_allows():
    data = long_alternation_data()
    held = validation_orders(data)
    assert held is not None
    first = pd.Timestamp(SYNTH_CUTOFF - timedelta(days=VALIDATION_DAYS))
    assert (data.orders.loc[held, C.SERVICE_DATE] >= first).all()
    assert (data.orders.loc[~held, C.SERVICE_DATE] < first).all()
    # 16 days of history: the window would be most of it, so nothing is held out
    assert validation_orders(long_alternation_data(length=16)) is None


@pytest.mark.parametrize("name", ["ncf", "sequential"])
def test_a_model_that_cannot_improve_stops_after_its_patience(name):
    """lr 0: the network never changes, so the validation MRR never beats the first epoch's."""
    data = long_alternation_data()
    params = {**API_PARAMS[name], "epochs": 12, "lr": 0.0}
    for patience in (1, 3):
        model = make_model(name, patience=patience, random_state=1, **params).fit(data)
        assert model.best_epoch_ == 0
        assert len(model.validation_history_) == 1 + patience
        # ncf then refits on every order for the best number of epochs (1); sequential keeps its run
        assert len(model.loss_history_) == (1 if getattr(model, "refit_", False) else 1 + patience)


@pytest.mark.parametrize("name", ["ncf", "sequential"])
def test_early_stopping_keeps_the_best_epoch_of_a_learning_model(name):
    data = long_alternation_data()
    model = make_model(name, patience=2, random_state=1, **{**API_PARAMS[name], "epochs": 6}).fit(data)
    history = model.validation_history_
    assert 1 <= len(history) <= 6
    assert history[model.best_epoch_] == max(history)
    assert max(history) > history[0]                 # it learnt something on the held-out days


def test_early_stopping_counts_epochs_without_improvement():
    net = torch.nn.Linear(1, 1)
    stopping = EarlyStopping(patience=2)
    decisions = [stopping.should_stop(score, net) for score in (0.5, 0.6, 0.6, 0.55, 0.7)]
    assert decisions == [False, False, False, True, False]
    assert stopping.best_epoch == 4
    with pytest.raises(KurrantError, match="patience"):
        EarlyStopping(patience=0)


def test_candidate_matrix_puts_the_target_first_then_its_menu():
    menus = sp.csr_matrix(np.array([[1, 1, 0, 1], [0, 1, 1, 0]], dtype=bool))
    rng = np.random.default_rng(0)
    out = candidate_matrix(np.array([3, 2, 0]), menus, np.array([0, 1, -1]), n_items=4, n_sampled=2, rng=rng)
    assert out[0].tolist() == [3, 0, 1, -1, -1]                # menu 0 without the target
    assert out[1].tolist() == [2, 1, -1, -1, -1]
    assert out[2].tolist() == [0, -1, 1, 2, 3]                 # unknown menu: the whole catalog
    assert candidate_mrr(np.array([[1.0, 2.0, 0.0], [3.0, 1.0, -np.inf]])) == pytest.approx(0.75)
