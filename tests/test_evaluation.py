"""The evaluation harness: a leak-free global split, hand-checked protocol arithmetic, and the
``evaluate`` command end to end on both backends (JSON on stdout, metrics stored in rec_run)."""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import cli, columns as C, runs, schema as S
from kurrant_core.candidates import candidate_set
from kurrant_core.data import ITEM_IDX, USER_IDX
from kurrant_core.db import make_engine
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import (
    ModelScores,
    TimeSplit,
    backtest_splits,
    default_split,
    leaderboard,
    leaderboard_frame,
    names as N,
    resolve_models,
    split_data,
    tradeoff_curves,
)
from kurrant_core.evaluation.harness import mean_scores
from kurrant_core.evaluation.protocols import daily_menu_accuracy, rank_daily_menus
from kurrant_core.evaluation.tradeoff import mmr_tradeoff
from kurrant_core.models import make_model
from kurrant_core.models.base import Recommender
from kurrant_core.policies import default_policy_name

HORIZON = 14


def paid_items(engine: sa.Engine) -> pd.DataFrame:
    oi = S.mart_order_item.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(oi[C.USER_ID], oi[C.FOOD_ID], oi[C.SERVICE_DATE])
                            .where(oi[C.IS_PAID] == sa.true())).all()
    items = pd.DataFrame([tuple(r) for r in rows], columns=[C.USER_ID, C.FOOD_ID, C.SERVICE_DATE])
    items[C.SERVICE_DATE] = pd.to_datetime(items[C.SERVICE_DATE])
    return items


# ------------------------------------------------------------------------------ the split
def test_split_leaks_nothing_and_loses_nothing(tiny_engine):
    items = paid_items(tiny_engine)
    split = default_split(tiny_engine, HORIZON)
    # the default test window is the last HORIZON days that carry orders
    assert split.test_end == items[C.SERVICE_DATE].max().date() + timedelta(days=1)
    data, test = split_data(tiny_engine, split)
    cutoff, end = pd.Timestamp(split.cutoff), pd.Timestamp(split.test_end)
    assert data.cutoff == split.cutoff
    assert data.orders[C.SERVICE_DATE].max() < cutoff                 # no training row at/after T
    assert data.exposures[C.SERVICE_DATE].max() < cutoff
    assert data.interactions.sum() > 0 and len(test) > 0
    assert test[C.SERVICE_DATE].min() >= cutoff                       # no test row before T
    assert test[C.SERVICE_DATE].max() < end
    # a partition: every paid item before the window's end is in exactly one part
    assert len(data.orders) == (items[C.SERVICE_DATE] < cutoff).sum()
    in_window = (items[C.SERVICE_DATE] >= cutoff) & (items[C.SERVICE_DATE] < end)
    assert len(test) == in_window.sum()


def test_backtest_cutoffs_step_back_one_horizon():
    latest = TimeSplit(date(2026, 10, 17), 14)
    assert [s.cutoff for s in backtest_splits(latest, 3)] == [
        date(2026, 9, 19), date(2026, 10, 3), date(2026, 10, 17)]
    assert backtest_splits(latest, 2)[0].test_end == latest.cutoff    # windows follow each other
    with pytest.raises(KurrantError, match="at least 1"):
        backtest_splits(latest, 0)
    with pytest.raises(KurrantError, match="horizon"):
        TimeSplit(date(2026, 10, 17), 0)


def test_a_window_without_orders_says_what_to_do(tiny_engine):
    last = paid_items(tiny_engine)[C.SERVICE_DATE].max().date()
    with pytest.raises(KurrantError, match="earlier --cutoff"):
        split_data(tiny_engine, TimeSplit(last + timedelta(days=30), HORIZON))


# ------------------------------------------------------------------------------ daily menu
class LowestIdFirst(Recommender):
    """A constructed model: the smaller the food id, the better (for hand-computed ranks)."""

    name: ClassVar[str] = "lowest_id_first"

    def _fit(self, data) -> None:
        pass

    def _score(self, u, i, as_of):
        return np.tile(-self.data_.food_ids[i].astype(float), (len(u), 1))


@pytest.fixture(scope="module")
def tiny_data(tiny_sqlite_url):
    engine = make_engine(tiny_sqlite_url)
    split = default_split(engine, HORIZON)
    data, test = split_data(engine, split)
    engine.dispose()
    return data, test


def test_daily_menu_ranking_of_a_constructed_case(tiny_data, caplog):
    data, _ = tiny_data
    model = LowestIdFirst().fit(data)
    # three warm users without allergies who share a group that has a lunch menu after the cutoff
    no_allergy = np.asarray(data.user_allergens.sum(axis=1)).ravel() == 0
    warm = ~data.cold & no_allergy
    menus = data.menus[(data.menus[C.SERVICE_DATE] >= pd.Timestamp(data.cutoff))
                       & (data.menus[C.DINING_TYPE] == 2)]
    for (group, day), menu in menus.groupby([C.GROUP_ID, C.SERVICE_DATE]):
        users = data.user_ids[warm & (data.user_group == group)]
        if len(users) >= 3 and menu[C.FOOD_ID].nunique() >= 4:
            break
    else:
        pytest.fail("the tiny world should have a group with three warm users and a menu")
    foods = np.sort(menu[C.FOOD_ID].unique())       # the model's ranking: 1 = smallest id
    not_on_menu = int(np.setdiff1d(data.food_ids, foods)[0])
    test = pd.DataFrame({C.USER_ID: [users[0], users[1], users[2], users[2]],
                         C.FOOD_ID: [foods[0], foods[2], foods[1], not_on_menu],
                         C.GROUP_ID: group, C.SERVICE_DATE: day, C.DINING_TYPE: 2})
    with caplog.at_level("INFO", logger="kurrant_core.evaluation.protocols"):
        ranked = rank_daily_menus(model, data, test)
    assert [r.getMessage() for r in caplog.records] == [      # a line per meal: a long evaluation shows progress
        f"daily menu {pd.Timestamp(day).date()}, dining type 2: ranking 4 orders"]
    assert ranked[C.RANK].tolist()[:3] == [1, 3, 2] and pd.isna(ranked[C.RANK].iloc[3])
    assert (ranked[C.MENU_SIZE].iloc[:3] == len(foods)).all()
    scores = daily_menu_accuracy(ranked)
    # ranks 1, 3, 2: HR@1 = 1/3, HR@3 = 3/3, MRR = (1 + 1/3 + 1/2) / 3 = 11/18
    assert scores["hr@1"] == pytest.approx(1 / 3)
    assert scores["hr@3"] == pytest.approx(1.0)
    assert scores["mrr"] == pytest.approx(11 / 18)
    assert scores["n_events"] == 3 and scores["n_unranked"] == 1
    assert scores["cold_n_events"] == 0 and np.isnan(scores["cold_mrr"])


def test_daily_menu_accuracy_splits_out_cold_users():
    ranked = pd.DataFrame({C.RANK: pd.array([1, 2, 4, None], dtype="Int64"),
                           C.MENU_SIZE: pd.array([4, 4, 4, 4], dtype="Int64"),
                           C.IS_COLD_START: [False, True, True, True]})
    scores = daily_menu_accuracy(ranked)
    # all ranked: 1, 2, 4 -> MRR = (1 + 1/2 + 1/4) / 3 = 7/12; cold only: 2, 4 -> (1/2 + 1/4) / 2
    assert scores["mrr"] == pytest.approx(7 / 12)
    assert scores["cold_mrr"] == pytest.approx(3 / 8)
    assert scores["cold_hr@1"] == 0.0 and scores["cold_hr@3"] == pytest.approx(0.5)
    assert scores["cold_n_events"] == 2 and scores["n_unranked"] == 1
    # random ranking of a 4-food menu: MRR = H_4 / 4 = (1 + 1/2 + 1/3 + 1/4) / 4
    assert scores["random_mrr"] == pytest.approx((25 / 12) / 4)


# ------------------------------------------------------------------------------ candidates, trade-off
def test_candidate_set_carries_the_users_history(tiny_data):
    data, _ = tiny_data
    model = make_model("popularity").fit(data)
    u = int(np.flatnonzero(~data.cold)[0])
    user_id = int(data.user_ids[u])
    cands = candidate_set(data, model, user_id, n=len(data.catalog))
    orders = data.orders[data.orders[USER_IDX] == u]
    last = orders.groupby(C.FOOD_ID)[C.SERVICE_DATE].max()
    eaten = np.isin(cands.food_ids, last.index)
    expected = (pd.Timestamp(data.cutoff) - last.loc[cands.food_ids[eaten]]).dt.days.to_numpy()
    np.testing.assert_array_equal(cands.days_since_eaten[eaten], expected)
    assert np.isinf(cands.days_since_eaten[~eaten]).all()
    mix = pd.Series(data.food_category[orders[ITEM_IDX]]).value_counts(normalize=True)
    assert cands.user_category_mix == pytest.approx(mix.to_dict())
    assert list(cands.food_ids) == list(model.recommend([user_id], len(data.catalog))[C.FOOD_ID])


def test_mmr_tradeoff_buys_diversity_with_accuracy(tiny_data):
    data, test = tiny_data
    model = make_model("content").fit(data)
    truth = test[[C.USER_ID, C.FOOD_ID]].drop_duplicates()
    points = pd.DataFrame(mmr_tradeoff(model, data, truth, k=5, lambdas=(1.0, 0.0)))
    at_one, at_zero = points.iloc[0], points.iloc[1]
    assert at_zero[N.ILD] > at_one[N.ILD]
    # lambda = 1 is the model's own order: its NDCG is the model's catalog NDCG@5
    from kurrant_core.metrics import ndcg_at_k
    own = ndcg_at_k(model.recommend(truth[C.USER_ID].unique(), 5), truth, 5)
    assert at_one[N.NDCG] == pytest.approx(own)


def test_leaderboard_frame_orders_best_first():
    stored = {N.EVALUATION: {C.DATA_CUTOFF: "2026-10-17", C.HORIZON_DAYS: 14, N.K: 10}}
    runs = [{C.MODEL: "a", C.RUN_ID: 1, N.METRICS: {**stored, N.DAILY_MENU: {"mrr": 0.4, "hr@1": 0.2}}},
            {C.MODEL: "b", C.RUN_ID: 2, N.METRICS: {**stored, N.DAILY_MENU: {"mrr": 0.6, "hr@1": 0.1}}}]
    board = leaderboard_frame(runs, N.DAILY_MENU)
    assert board[C.MODEL].tolist() == ["b", "a"]
    assert board.columns.tolist()[:5] == [C.MODEL, N.BASELINE, C.RUN_ID, "mrr", "hr@1"]
    assert not board[N.BASELINE].any()
    with pytest.raises(KurrantError, match="protocol"):
        leaderboard_frame(runs, "weekly")


def test_backtest_averages_every_metric_and_curve_point():
    folds = [ModelScores({"mrr": 0.5, "cold_mrr": float("nan")}, {"ndcg@10": 0.2},
                         [{C.MMR_LAMBDA: 1.0, N.NDCG: 0.2, N.ILD: 0.6}]),
             ModelScores({"mrr": 0.7, "cold_mrr": 0.4}, {"ndcg@10": 0.3},
                         [{C.MMR_LAMBDA: 1.0, N.NDCG: 0.4, N.ILD: 0.8}])]
    mean = mean_scores(folds)
    assert mean.daily_menu["mrr"] == pytest.approx(0.6)
    assert mean.daily_menu["cold_mrr"] == pytest.approx(0.4)        # a fold without cold users
    assert mean.catalog["ndcg@10"] == pytest.approx(0.25)
    assert mean.tradeoff == [pytest.approx({C.MMR_LAMBDA: 1.0, N.NDCG: 0.3, N.ILD: 0.7})]


def test_model_names_are_checked_before_anything_runs():
    assert resolve_models("als, content") == ["als", "content"]
    assert resolve_models("als, history", with_baselines=True) == ["popularity", "history", "als"]
    with pytest.raises(KurrantError, match="Unknown model weather"):
        resolve_models("popularity,weather")


def test_a_malformed_param_says_how_to_write_it(tiny_sqlite_url, capsys):
    code = cli.main(["--url", tiny_sqlite_url, "evaluate", "--models", "als", "--param", "factors=8"])
    assert code == 2
    assert "MODEL:KEY=VALUE" in capsys.readouterr().err


# ------------------------------------------------------------------------------ end to end
def test_evaluate_command_end_to_end(writable_tiny_url, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    code = cli.main(["--url", writable_tiny_url, "evaluate", "--models", "popularity,content",
                     "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0
    rows = json.loads(out)                                  # stdout is one JSON list, nothing else
    shipped = [r for r in rows if r["policy"] != "off"]     # each model also as its policy ships it
    rows = [r for r in rows if r["policy"] == "off"]
    assert {(r["model"], r["protocol"], r["policy"]) for r in shipped} == {
        (m, p, default_policy_name(None, m)) for m in ("popularity", "history", "content")
        for p in ("daily_menu", "catalog")}
    assert default_policy_name(None, "popularity") == "varied"      # its own evaluated default
    for row in shipped:
        twin = next(r for r in rows if (r["model"], r["protocol"]) == (row["model"], row["protocol"]))
        assert row["run_id"] == twin["run_id"]
        if row["protocol"] == "catalog":
            assert 0 < row["metrics"]["category_coverage"] <= 1
            assert row["metrics"] != twin["metrics"]           # the policy changed the lists
    # the baselines come first and always: popularity, history, then the models, then random
    assert [(r["model"], r["protocol"]) for r in rows] == [
        ("popularity", "daily_menu"), ("popularity", "catalog"),
        ("history", "daily_menu"), ("history", "catalog"),
        ("content", "daily_menu"), ("content", "catalog"),
        ("random", "daily_menu"), ("random", "catalog")]
    assert {r["model"]: r["baseline"] for r in rows} == {
        "popularity": True, "history": True, "content": False, "random": True}
    random_rows = [r for r in rows if r["model"] == "random"]
    assert all(r["run_id"] is None for r in random_rows)
    menu_random = next(r for r in random_rows if r["protocol"] == "daily_menu")["metrics"]
    menu_content = next(r for r in rows if r["model"] == "content" and r["protocol"] == "daily_menu")
    assert menu_random["mrr"] == pytest.approx(menu_content["metrics"]["random_mrr"], abs=1e-6)
    for row in rows:
        if row["model"] == "random":
            continue
        interval = row["versus_best_baseline"]["mrr"]
        assert interval["low"] <= interval["diff"] <= interval["high"]
        assert interval["reference"] in ("popularity", "history", "random")
        assert interval["beats_baselines"] == (interval["low"] > 0)
    rows = [r for r in rows if r["model"] != "random"]
    for row in rows:
        metrics = row["metrics"]
        assert all(key == key.lower() for key in metrics)
        wanted = ["hr@1", "hr@3", "mrr", "ndcg"] if row["protocol"] == "daily_menu" else \
            ["recall@10", "precision@10", "ndcg@10", "hr@10", "map@10", "mrr", "coverage", "ild",
             "novelty", "exposure_gini", "personalisation", "calibration_error", "repeat_rate"]
        assert set(wanted) <= set(metrics)
        for key in wanted:                                  # shares in [0, 1]; bits and KL >= 0
            upper = np.inf if key in ("novelty", "calibration_error") else 1.0
            assert 0.0 <= metrics[key] <= upper, key
        assert row["fit_seconds"] >= 0 and row["score_seconds"] >= 0
    menu = {r["model"]: r["metrics"] for r in rows if r["protocol"] == "daily_menu"}
    assert menu["content"]["mrr"] > menu["content"]["random_mrr"]

    engine = make_engine(writable_tiny_url)
    for row in rows:                                        # the metrics live in the run
        run = runs.get_run(engine, row["run_id"])
        assert run.is_done and run.model == row["model"]
        assert run.metrics[row["protocol"]] == row["metrics"]
        assert run.params["policy"]["name"] == default_policy_name(None, run.model)
        shipped_row = next(r for r in shipped if (r["model"], r["protocol"]) == (row["model"], row["protocol"]))
        assert run.metrics["with_policy"][row["protocol"]] == shipped_row["metrics"]
        assert set(run.metrics["convergence"]) >= {"distinct_first_picks", "majority_pick_days"}
        assert run.params[N.EVALUATION][C.HORIZON_DAYS] == HORIZON
        assert run.data_cutoff.isoformat() == run.params[N.EVALUATION][C.DATA_CUTOFF]
        lists = runs.read_recommendations(engine, run.run_id, catalog_only=True)
        assert lists.groupby(C.USER_ID).size().max() == 10
        stored = run.metrics[N.VERSUS_BASELINE][row["protocol"]]     # intervals live in the run
        assert stored == row["versus_best_baseline"]
    board = leaderboard(engine, N.DAILY_MENU)
    assert set(board[C.MODEL]) == {"popularity", "history", "content", "random"}
    assert board["mrr"].is_monotonic_decreasing
    assert board.set_index(C.MODEL)[N.BASELINE].to_dict() == {
        "popularity": True, "history": True, "content": False, "random": True}
    best = board[board[N.BASELINE]].sort_values("mrr").iloc[-1][C.MODEL]
    assert (board.loc[board[C.RUN_ID].notna(), "mrr vs"] == best).all()
    curves = tradeoff_curves(engine)
    assert curves.groupby(C.MODEL).size().to_dict() == {"content": 6, "history": 6, "popularity": 6}
    engine.dispose()


# ------------------------------------------------------------------------------ exclude seen
def test_exclude_seen_leaves_past_foods_out_of_lists_and_truth(tiny_engine):
    from kurrant_core.evaluation import score_fitted
    from kurrant_core.evaluation.protocols import seen_foods, truth_of
    data, test = split_data(tiny_engine, default_split(tiny_engine, HORIZON))
    truth_all = truth_of(test)
    truth = truth_of(test, data, exclude_seen=True)
    eaten = set(zip(data.orders[C.USER_ID], data.orders[C.FOOD_ID]))
    assert not set(zip(truth[C.USER_ID], truth[C.FOOD_ID])) & eaten
    assert len(truth) < len(truth_all)                       # the tiny world has repeats
    model = make_model("history").fit(data)
    users = truth[C.USER_ID].unique()
    recs = model.recommend(users, 10, exclude=seen_foods(data, users))
    assert not set(zip(recs[C.USER_ID], recs[C.FOOD_ID])) & eaten
    # history puts eaten foods first, so with them excluded its catalog recall changes
    with_seen = score_fitted(model, data, test, with_tradeoff=False)
    without = score_fitted(model, data, test, with_tradeoff=False, exclude_seen=True)
    assert without.catalog[N.N_USERS] == truth[C.USER_ID].nunique()
    assert without.catalog["ndcg@10"] != pytest.approx(with_seen.catalog["ndcg@10"])


# ------------------------------------------------------------------------------ tuning
def _tuning_scores(engine: sa.Engine, split: TimeSplit, names: list[str]) -> dict[str, list]:
    from kurrant_core.evaluation import tuning
    validation = tuning.build_validation(engine, split)
    return {name: [t["values"] for t in tuning.tune_model(name, validation, max_trials=3).trials]
            for name in names}


class PeekingModel(Recommender):
    """A cheat: ranks by what users order on or after the test cutoff, read from the database."""

    name: ClassVar[str] = "history"
    engine: ClassVar[sa.Engine | None] = None
    cutoff: ClassVar[date | None] = None

    def __init__(self, *, random_state: int | None = 0, **ignored):
        self.random_state = random_state

    def _fit(self, data):
        oi = S.mart_order_item.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(oi[C.USER_ID], oi[C.FOOD_ID])
                                .where(oi[C.SERVICE_DATE] >= self.cutoff)).all()
        known = [(data.user_index[u], data.food_index[f]) for u, f in rows
                 if u in data.user_index and f in data.food_index]
        self.future_ = np.zeros((data.n_users, data.n_foods))
        for u, i in known:
            self.future_[u, i] += 1

    def _score(self, u, i, as_of):
        return self.future_[u][:, i]


def test_tuning_never_reads_the_test_window(writable_tiny_url, monkeypatch):
    """Tuning twice, with the test window's orders wiped in between, must give the same
    validation scores; the same check catches a model that reads the test window."""
    from kurrant_core.evaluation import tuning
    engine = make_engine(writable_tiny_url)
    split = default_split(engine, 7)
    reads = []
    real_split_data = tuning.split_data
    monkeypatch.setattr(tuning, "split_data",
                        lambda e, window: reads.append(window) or real_split_data(e, window))
    before = _tuning_scores(engine, split, ["history", "popularity"])
    assert reads and all(w.test_end <= split.cutoff for w in reads)     # windows end before T
    PeekingModel.engine, PeekingModel.cutoff = engine, split.cutoff
    monkeypatch.setattr(tuning, "make_model", lambda name, **params: PeekingModel(**params))
    cheat_before = _tuning_scores(engine, split, ["history"])["history"]
    monkeypatch.setattr(tuning, "make_model", make_model)

    oi = S.mart_order_item.c
    with engine.begin() as conn:                  # the test window disappears
        gone = conn.execute(sa.delete(S.mart_order_item).where(oi[C.SERVICE_DATE] >= split.cutoff))
    assert gone.rowcount > 0
    after = _tuning_scores(engine, split, ["history", "popularity"])
    assert after == before
    monkeypatch.setattr(tuning, "make_model", lambda name, **params: PeekingModel(**params))
    cheat_after = _tuning_scores(engine, split, ["history"])["history"]
    assert cheat_after != cheat_before            # the check would have caught a peeking model
    engine.dispose()


def test_tuning_tries_the_defaults_first_and_keeps_the_best(tiny_engine):
    from kurrant_core.evaluation import tuning
    validation = tuning.build_validation(tiny_engine, default_split(tiny_engine, 7))
    result = tuning.tune_model("history", validation, max_trials=4, metric="daily_menu:mrr")
    assert result.trials[0]["params"] == {}
    scores = [t[N.METRICS] for t in result.trials]
    assert len(scores) == 4
    best = result.trials[int(np.argmax(scores))]["params"]
    assert result.chosen == best
    fixed = tuning.tune_model("history", validation, max_trials=3, base_params={"variety_days": 0})
    assert all(t["params"]["variety_days"] == 0 for t in fixed.trials)
    with pytest.raises(KurrantError, match="PROTOCOL:METRIC"):
        tuning.validation_score("history", {}, validation, "weekly:mrr", 10, False)
    # two metrics: each trial scores the mean of its ratios to the defaults' (the first trial)
    both = tuning.tune_model("history", validation, max_trials=3,
                             metric="daily_menu:mrr,catalog:ndcg@10")
    first = both.trials[0]["values"]
    assert both.trials[0][N.METRICS] == pytest.approx(1.0)
    for trial in both.trials[1:]:
        ratios = [v / f for v, f in zip(trial["values"], first)]
        assert trial[N.METRICS] == pytest.approx(sum(ratios) / 2)


def test_evaluate_tune_stores_the_choice_and_retrain_reuses_it(writable_tiny_url, monkeypatch, tmp_path):
    from kurrant_core.evaluation import evaluate, tuning
    from kurrant_core.jobs import main_params
    from kurrant_core.runs import TUNED, run_history
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    engine = make_engine(writable_tiny_url)
    evaluations = evaluate(engine, ["popularity"], horizon_days=7, with_tradeoff=False, tune=True,
                           tune_trials=3)
    by_model = {e.model: e for e in evaluations}
    assert set(by_model) == {"popularity", "history"}
    for e in evaluations:
        run = runs.get_run(engine, e.run_id)
        record = run.params[N.TUNING]
        assert record[tuning.CHOSEN] == {k: run.params[k] for k in record[tuning.CHOSEN]}
        assert date.fromisoformat(record[tuning.VALIDATION_TO]) < run.data_cutoff   # before T
        assert record["trials"] == 3
    chosen = runs.get_run(engine, by_model["history"].run_id).params[N.TUNING][tuning.CHOSEN]
    assert tuning.last_tuned_params(engine, "history") == chosen
    offered = main_params("history", engine)
    assert all(offered[k][1] == v for k, v in chosen.items() if k in offered)
    history = run_history(engine, "history")
    assert history[TUNED].iloc[0].startswith(", ".join(f"{k}={v}" for k, v in chosen.items()) or "defaults")
    engine.dispose()
