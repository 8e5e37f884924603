"""kurrant_core.compare: users, menus, runs and the side-by-side lists of the comparison page.

Database parts run on the tiny world on both backends; the list assembly is checked on hand-made
candidate pools whose answers (ranks, marks, overlap, category mix, metric changes) are computed
by hand; the model parts use two runs trained on a private tiny world per backend.
"""
from __future__ import annotations

import dataclasses
import math
import shutil
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import build_tiny_world, drop_database, new_database_url, team_person

from kurrant_core import codes, columns as C, compare, runs, schema as S
from kurrant_core.candidates import candidate_set
from kurrant_core.data import build_training_data
from kurrant_core.db import make_engine
from kurrant_core.errors import KurrantError
from kurrant_core.models import make_model
from kurrant_core.rerank import CandidateSet, ListReport, RerankSettings


def read(engine: sa.Engine, table: sa.Table) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame([dict(r) for r in conn.execute(sa.select(table)).mappings()])


@pytest.fixture(scope="module")
def users(tiny_engine) -> pd.DataFrame:
    frame = read(tiny_engine, S.mart_user)
    for name in (C.FIRST_ORDER_DATE, C.JOINED_ON, C.LEFT_ON):
        frame[name] = [None if pd.isna(d) else pd.Timestamp(d).date() for d in frame[name]]
    return frame


# ------------------------------------------------------------------------------------ users
def test_profile_shows_codes_as_labels(tiny_engine, users):
    row = users[(users[C.ALLERGY_TAGS] != "") & (users[C.FAVORITE_TAGS] != "")].iloc[0]
    profile = compare.user_profile(tiny_engine, int(row[C.USER_ID]))
    allergies = [codes.FOOD_TAG[c] for c in codes.parse_codes(row[C.ALLERGY_TAGS])]
    favourites = [codes.FOOD_TAG[c] for c in codes.parse_codes(row[C.FAVORITE_TAGS])]
    assert list(profile.allergy_labels) == allergies and allergies
    assert list(profile.favorite_labels) == favourites and favourites
    assert profile.group_name == row[C.GROUP_NAME] and profile.spot_name == row[C.SPOT_NAME]
    assert profile.n_items == row[C.N_ITEMS] and profile.has_orders
    assert profile.status_label == codes.USER_STATUS[row[C.USER_STATUS]]


def test_an_unknown_user_says_what_to_do(tiny_engine, users):
    with pytest.raises(KurrantError, match="not in the DE database"):
        compare.user_profile(tiny_engine, int(users[C.USER_ID].max()) + 1000)


def test_heavy_and_light_picks_are_the_extremes_of_active_users(tiny_engine, users):
    active = users[users[C.LEFT_ON].isna() & (users[C.N_ITEMS] > 0)]
    heavy = active.sort_values([C.N_ITEMS, C.USER_ID], ascending=[False, True]).iloc[0]
    light = active.sort_values([C.N_ITEMS, C.USER_ID]).iloc[0]
    assert compare.pick_user(tiny_engine, compare.HEAVY) == heavy[C.USER_ID]
    assert compare.pick_user(tiny_engine, compare.LIGHT) == light[C.USER_ID]
    group = int(light[C.GROUP_ID])
    in_group = active[active[C.GROUP_ID] == group]
    assert compare.pick_user(tiny_engine, compare.HEAVY, group_id=group) == in_group[C.USER_ID][
        in_group[C.N_ITEMS] == in_group[C.N_ITEMS].max()].min()


def test_a_light_pick_with_a_cutoff_is_known_to_the_models(tiny_engine, users):
    firsts = sorted(users[C.FIRST_ORDER_DATE].dropna().unique())
    cutoff = firsts[len(firsts) // 2]
    picked = users.set_index(C.USER_ID).loc[compare.pick_user(tiny_engine, compare.LIGHT, cutoff=cutoff)]
    assert picked[C.FIRST_ORDER_DATE] < cutoff


def test_random_pick_is_repeatable_per_seed_and_stays_in_the_group(tiny_engine, users):
    group = int(users[C.GROUP_ID].iloc[0])
    members = set(users[(users[C.GROUP_ID] == group) & users[C.LEFT_ON].isna()][C.USER_ID])
    picks = [compare.pick_user(tiny_engine, compare.RANDOM, group_id=group, seed=s) for s in range(8)]
    assert set(picks) <= members and len(set(picks)) > 1
    assert picks == [compare.pick_user(tiny_engine, compare.RANDOM, group_id=group, seed=s) for s in range(8)]


def test_cold_pick_is_the_latest_joiner_without_orders_before_the_cutoff(tiny_engine, users):
    cutoff = sorted(users[C.FIRST_ORDER_DATE].dropna().unique())[-3]
    cold = users[users[C.FIRST_ORDER_DATE].isna() | (users[C.FIRST_ORDER_DATE] >= cutoff)]
    expected = cold.sort_values([C.JOINED_ON, C.USER_ID], ascending=False).iloc[0][C.USER_ID]
    assert compare.pick_user(tiny_engine, compare.COLD, cutoff=cutoff) == expected
    never = users[users[C.N_ITEMS] == 0].sort_values([C.JOINED_ON, C.USER_ID], ascending=False)
    if never.empty:                                   # without a cutoff, cold = no paid item at all
        with pytest.raises(KurrantError, match="No cold-start user"):
            compare.pick_user(tiny_engine, compare.COLD)
    else:
        assert compare.pick_user(tiny_engine, compare.COLD) == never.iloc[0][C.USER_ID]
    with pytest.raises(KurrantError, match="No cold-start user to pick: every user of this group"):
        compare.pick_user(tiny_engine, compare.COLD, group_id=int(users[C.GROUP_ID].max()) + 1,
                          cutoff=cutoff)
    with pytest.raises(KurrantError, match="Unknown quick pick"):
        compare.pick_user(tiny_engine, "hungry")


def test_history_is_the_users_paid_items_before_the_day(tiny_engine, users):
    items = read(tiny_engine, S.mart_order_item)
    user = int(users.sort_values(C.N_ITEMS).iloc[-1][C.USER_ID])
    paid = items[(items[C.USER_ID] == user) & items[C.IS_PAID].astype(bool)]
    history = compare.user_history(tiny_engine, user)
    assert len(history) == len(paid) == users.set_index(C.USER_ID).loc[user, C.N_ITEMS]
    assert history[C.SERVICE_DATE].is_monotonic_increasing
    assert set(history[C.DINING_LABEL]) <= set(codes.DINING_TYPE.values())
    day = sorted(pd.to_datetime(paid[C.SERVICE_DATE]).dt.date.unique())[3]
    before = compare.user_history(tiny_engine, user, before=day)
    assert len(before) == int((pd.to_datetime(paid[C.SERVICE_DATE]).dt.date < day).sum()) > 0
    first = compare.user_history(tiny_engine, user, before=min(pd.to_datetime(paid[C.SERVICE_DATE]).dt.date))
    assert first.empty and list(first.columns) == list(history.columns)


# ------------------------------------------------------------------------------------ menus
def test_menu_days_count_each_groups_foods_and_missing_days_name_the_nearest(tiny_engine):
    menus = read(tiny_engine, S.mart_daily_menu)
    menus = menus[menus[C.DAILY_FOOD_STATUS] != 4]
    group = int(menus[C.GROUP_ID].iloc[0])
    days = compare.menu_days(tiny_engine, group)
    mine = menus[menus[C.GROUP_ID] == group]
    assert len(days) == mine.groupby([C.SERVICE_DATE, C.DINING_TYPE]).ngroups
    day = days[days[C.DINING_TYPE] == codes.LUNCH].iloc[0]
    expected = mine[(pd.to_datetime(mine[C.SERVICE_DATE]).dt.date == day[C.SERVICE_DATE])
                    & (mine[C.DINING_TYPE] == codes.LUNCH)][C.FOOD_ID].nunique()
    assert compare.require_menu(days, day[C.SERVICE_DATE], codes.LUNCH, "g") == expected
    served = set(days[days[C.DINING_TYPE] == codes.LUNCH][C.SERVICE_DATE])
    saturday = next(d for d in (day[C.SERVICE_DATE] + timedelta(n) for n in range(7)) if d.weekday() == 5)
    with pytest.raises(KurrantError, match=f"no 점심 menu on {saturday.isoformat()}") as err:
        compare.require_menu(days, saturday, codes.LUNCH, "g")
    nearest = min(served, key=lambda d: (abs((d - saturday).days), d))
    assert "Nearest days with one:" in str(err.value) and nearest.isoformat() in str(err.value)


def test_default_menu_day_is_the_first_on_or_after_the_cutoff(tiny_engine):
    days = compare.menu_days(tiny_engine)
    lunch = sorted(days[days[C.DINING_TYPE] == codes.LUNCH][C.SERVICE_DATE])
    assert compare.default_menu_day(days, codes.LUNCH, lunch[4] + timedelta(1)) == lunch[5]
    assert compare.default_menu_day(days, codes.LUNCH, lunch[-1] + timedelta(30)) == lunch[-1]
    assert compare.default_menu_day(days, codes.LUNCH) == lunch[-1]
    assert compare.default_menu_day(days.iloc[0:0], codes.LUNCH) is None
    assert compare.menu_date_range(days) == (min(days[C.SERVICE_DATE]), max(days[C.SERVICE_DATE]))
    assert compare.menu_date_range(days.iloc[0:0]) == (None, None)


# ------------------------------------------------------------------ hand-made pools, no database
def pool(run_id: int, food_ids, relevance, features, category, *, allergen=None, days=None,
         mix=None, label: str | None = None) -> compare.ScoredCandidates:
    n = len(food_ids)
    foods = pd.DataFrame({C.FOOD_ID: food_ids, C.FOOD_NAME: [f"food {f}" for f in food_ids],
                          C.MAKERS_NAME: "maker", C.CUISINE_LABEL: [codes.FOOD_TAG[c] for c in category],
                          C.SPICINESS_LABEL: "맵지 않음", C.PRICE: 8000, C.SCORE: relevance,
                          C.MODEL_RANK: np.argsort(np.argsort(-np.asarray(relevance))) + 1,
                          C.WHY: [f"why {f}" for f in food_ids]})
    candidates = CandidateSet(food_ids=np.array(food_ids), relevance=np.array(relevance, float),
                              features=np.array(features, float), category=np.array(category),
                              maker=np.arange(n), popularity=np.arange(n, 0, -1) * 10.0,
                              days_since_eaten=days, user_category_mix=mix, allergen=allergen, user_id=1)
    return compare.ScoredCandidates(run_id, label or f"model #{run_id}", foods, candidates)


KOREAN, CHINESE = 1, 3
A = pool(1, [11, 12, 13], [1.0, 0.9, 0.0], [[1, 0], [1, 0], [0, 1]], [KOREAN, KOREAN, CHINESE],
         mix={KOREAN: 0.5, CHINESE: 0.5})
B = pool(2, [12, 11, 14], [0.8, 0.5, 0.1], [[1, 0], [1, 0], [0, 1]], [KOREAN, KOREAN, CHINESE])


def test_neutral_knobs_switch_every_step_off():
    assert compare.Policy.from_knobs(name="off") == RerankSettings(k=10)
    assert not compare.Policy.from_knobs().reranks
    moved = compare.Policy.from_knobs(name="off", k=5, mmr_lambda=0.7, dpp_theta=0.4, calibration_lambda=0.3,
                                      max_per_category=2, max_per_maker=1, repeat_window_days=7,
                                      popularity_penalty=0.2, explore_temperature=0.1, seed=3)
    assert moved == RerankSettings(k=5, mmr_lambda=0.7, dpp_theta=0.4, calibration_lambda=0.3,
                                   max_per_category=2, max_per_maker=1, repeat_window_days=7,
                                   popularity_penalty=0.2, explore_temperature=0.1, seed=3)
    assert moved.reranks and compare.Policy.from_knobs(**moved.knobs()) == moved.__class__(
        **{**moved.to_dict(), "name": "custom"})


def test_side_by_side_ranks_marks_and_overlap_by_hand():
    history = pd.DataFrame({C.SERVICE_DATE: pd.to_datetime(["2026-10-01", "2026-10-20", "2026-10-05"]),
                            C.FOOD_ID: [11, 11, 14], C.CUISINE_LABEL: ["한식", "한식", "중식"]})
    view = compare.side_by_side([A, B], compare.Policy.from_knobs(k=2), history)
    a, b = view.columns
    assert a.food_ids == [11, 12] and b.food_ids == [12, 11]
    assert list(a.items[C.RANK]) == [1, 2] and list(a.items[C.N_LISTS]) == [2, 2]
    assert list(a.items[C.LAST_EATEN]) == [date(2026, 10, 20), None]
    assert a.items[C.MARKS].iloc[0] == "◆ in 2 of 2 lists · ↺ ate 2026-10-20"
    assert list(a.items[C.WHY]) == ["why 11", "why 12"] and list(b.items[C.SCORE]) == [0.8, 0.5]
    overlap = view.overlap.iloc[0]
    assert (overlap[C.LIST_LABEL], overlap[C.OTHER_LIST]) == ("model #1", "model #2")
    # same two foods in swapped order: X_1 = 0, X_2 = 2 -> (1-p)/p * (2/2) p^2 + (2/2) p^2 = 0.09 + 0.81
    assert overlap[C.JACCARD] == 1.0 and overlap[C.RBO] == pytest.approx(0.9)
    mix = view.category_mix.set_index([C.LIST_LABEL, C.CUISINE_LABEL])[C.SHARE]
    assert mix[(compare.HISTORY_LABEL, "한식")] == pytest.approx(2 / 3)
    assert mix[(compare.HISTORY_LABEL, "중식")] == pytest.approx(1 / 3)
    assert mix[("model #1", "한식")] == 1.0 and ("model #1", "중식") not in mix.index


def test_a_knob_changes_the_list_and_reports_what_it_cost():
    """MMR at lambda 0.3 on A (w = 1, 0.9, 0): after 11, food 12 gains 0.3*0.9 - 0.7*1 = -0.43 and
    food 13 gains 0, so 13 replaces the near-duplicate 12."""
    base = compare.side_by_side([A], compare.Policy.from_knobs(k=2)).columns[0]
    moved = compare.side_by_side([A], compare.Policy.from_knobs(k=2, mmr_lambda=0.3)).columns[0]
    assert base.food_ids == [11, 12] and moved.food_ids == [11, 13]
    assert list(moved.items[C.MODEL_RANK]) == [1, 3]
    assert base.report.intra_list_diversity == pytest.approx(0.0)
    assert moved.report.intra_list_diversity == pytest.approx(1.0)
    assert moved.report.relevance_change == pytest.approx(0.0 - 0.9 / 2)
    diversity = compare.REPORT_METRICS[0]
    assert diversity.display(moved.report, moved.baseline) == ("1.00", "+1.00")
    assert diversity.display(base.report, base.baseline) == ("0.00", None)


def test_the_allergy_filter_holds_whatever_the_knobs_say():
    risky = pool(3, [21, 22, 23, 24], [1.0, 0.9, 0.5, 0.1], np.eye(4), [KOREAN, CHINESE, KOREAN, CHINESE],
                 allergen=np.array([True, False, False, True]), mix={CHINESE: 1.0})
    for knobs in (compare.Policy.from_knobs(), compare.Policy.from_knobs(mmr_lambda=0.0),
                  compare.Policy.from_knobs(calibration_lambda=1.0),
                  compare.Policy.from_knobs(popularity_penalty=1.0, explore_temperature=1.0, seed=4)):
        column = compare.side_by_side([risky], knobs).columns[0]
        assert set(column.food_ids) == {22, 23} and column.n_allergen_removed == 2


def test_a_short_pool_is_not_reported_as_a_shortfall_but_the_repeat_window_is():
    recent = pool(4, [31, 32, 33], [0.9, 0.5, 0.1], np.eye(3), [KOREAN] * 3, days=np.array([2, np.inf, 40]))
    column = compare.side_by_side([recent], compare.Policy.from_knobs(k=10)).columns[0]
    assert column.food_ids == [31, 32, 33] and column.note == ""
    windowed = compare.side_by_side([recent], compare.Policy.from_knobs(k=10, repeat_window_days=7)).columns[0]
    assert windowed.food_ids == [32, 33] and windowed.n_recent_removed == 1 and "2 of the 3" in windowed.note


def test_a_stored_list_keeps_its_order_and_ignores_the_knobs():
    stored = compare.ScoredCandidates(5, "als #5", A.foods.iloc[[2, 0]].reset_index(drop=True),
                                      note="model gone")
    column = compare.side_by_side([stored, A], compare.Policy.from_knobs(k=2, mmr_lambda=0.0)).columns[0]
    assert column.food_ids == [13, 11] and column.report is None and not column.is_live
    assert column.note == "model gone"
    assert compare.REPORT_METRICS[0].display(column.report, column.baseline) == ("–", None)


LUNCH_DAY = date(2026, 10, 20)
HISTORY = pd.DataFrame({
    C.SERVICE_DATE: [date(2026, 10, 1), date(2026, 10, 8), LUNCH_DAY, date(2026, 10, 25)],
    C.DINING_TYPE: [codes.LUNCH, codes.LUNCH, codes.LUNCH, codes.LUNCH],
    C.FOOD_ID: [11, 13, 14, 12], C.FOOD_NAME: ["비빔밥", "짜장면", "짬뽕", "불고기"],
    C.CUISINE_LABEL: ["한식", "중식", "중식", "한식"]})


def loader_of(*pools: compare.ScoredCandidates):
    """A pool loader over hand-made pools (the same pool every day) that records what it was asked."""
    asked = []

    def load(run_id: int, day, meal):
        asked.append((run_id, day, meal))
        return next(p for p in pools if p.run_id == run_id)
    return load, asked


def test_compare_lists_is_side_by_side_on_the_history_before_the_day():
    load, asked = loader_of(A, B)
    knobs = compare.Policy.from_knobs(k=2)
    compared = compare.compare_lists(load, [1, 2], HISTORY, knobs, service_date=LUNCH_DAY, dining_type=codes.LUNCH)
    assert asked == [(1, LUNCH_DAY, codes.LUNCH), (2, LUNCH_DAY, codes.LUNCH)]
    assert compared.history[C.FOOD_ID].tolist() == [11, 13], "only what was eaten before the day"
    assert compared.ordered == [14]
    expected = compare.side_by_side([A, B], knobs, HISTORY.iloc[:2], ordered=[14])
    assert [c.food_ids for c in compared.view.columns] == [c.food_ids for c in expected.columns]
    a = compared.view.columns[0].items.set_index(C.FOOD_ID)
    assert a.loc[11, C.LAST_EATEN] == date(2026, 10, 1) and a.loc[12, C.LAST_EATEN] is None, "12: eaten later"
    assert compared.food_names == {11: "food 11", 12: "food 12", 13: "짜장면", 14: "짬뽕"}, "lists first, then history"
    catalog = compare.compare_lists(load, [2], HISTORY, knobs)
    assert asked[-1] == (2, None, None) and catalog.ordered == [] and len(catalog.history) == len(HISTORY)


def test_replay_runs_asks_each_run_for_each_replayed_day():
    load, asked = loader_of(A, B)
    knobs = compare.Policy.from_knobs(k=2)
    strip = compare.replay_runs(load, [1, 2], HISTORY, knobs, codes.LUNCH, LUNCH_DAY, 2)
    days = [date(2026, 10, 8), LUNCH_DAY]
    assert strip.days == days
    assert asked == [(run, day, codes.LUNCH) for day in days for run in (1, 2)]
    expected = compare.replay([[A, B]] * 2, days, knobs, HISTORY, codes.LUNCH)
    assert strip.table.equals(expected.table) and strip.hit_rates == expected.hit_rates
    assert compare.replay_runs(load, [1], HISTORY, knobs, codes.DINNER, LUNCH_DAY, 5).days == []


def test_knob_values_are_one_key_per_policy_whatever_the_number_types():
    knobs = compare.Policy.from_knobs(k=5, mmr_lambda=0.5, max_per_category=2, cap_by_history=True)
    same = compare.Policy.from_knobs(k=5.0, mmr_lambda=0.50, max_per_category=2.0, cap_by_history=True)
    key = compare.knob_values(knobs)
    assert key == compare.knob_values(same) and hash(key) == hash(compare.knob_values(same))
    assert [name for name, _ in key] == list(compare.KNOB_NAMES)
    assert compare.Policy.from_knobs(**dict(key)) == knobs, "the key rebuilds the policy"
    assert compare.knob_values(compare.Policy.from_knobs(k=5, mmr_lambda=0.5, max_per_category=1,
                                                         cap_by_history=True)) != key
    assert compare.knob_values(compare.Policy.from_knobs(mmr_lambda=1)) == compare.knob_values(
        compare.Policy.from_knobs()), "a knob at its neutral value is the knob off"


def test_report_metrics_name_list_report_fields():
    fields = {f.name for f in dataclasses.fields(ListReport)}
    assert {m.field for m in compare.REPORT_METRICS} <= fields
    nan = ListReport(*[math.nan] * len(fields))
    assert all(m.display(nan, nan) == ("–", None) for m in compare.REPORT_METRICS)


def test_default_runs_prefer_active_runs_of_distinct_models():
    runs = pd.DataFrame({C.RUN_ID: [5, 4, 3, 2], C.MODEL: ["als", "als", "content", "popularity"],
                         S.rec_run.c.is_active.name: [False, True, False, False]})
    assert compare.default_run_ids(runs) == [4, 3]
    assert compare.default_run_ids(runs, n=4) == [4, 3, 2]
    runs[C.DATA_CUTOFF] = [date(2026, 10, d) for d in (9, 5, 7, 1)]
    assert compare.latest_cutoff(runs, [3, 2, 4]) == date(2026, 10, 7)
    assert compare.latest_cutoff(runs, []) is None


# ------------------------------------------------------------------------- runs of real models
@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def world(request, tmp_path_factory):
    """A private tiny world with a popularity and a content run (artifacts in a temp folder)."""
    folder = tmp_path_factory.mktemp("compare_world")
    url = new_database_url(request.param, folder)
    build_tiny_world(url)
    engine = make_engine(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KURRANT_ARTIFACT_DIR", str(folder / "artifacts"))
        run_ids = [runs.train_and_write(engine, name, {}, k=10, triggered_by="test") for name in
                   ("popularity", "content")]
    yield engine, run_ids
    engine.dispose()
    drop_database(url)


def test_comparable_runs_are_the_done_ones(world):
    engine, run_ids = world
    failed = runs.start_run(engine, "als", {}, data_cutoff=date(2026, 10, 1), train_start=None,
                            train_end=None, triggered_by="test")
    runs.fail_run(engine, failed, "boom")
    comparable = compare.comparable_runs(engine)
    assert sorted(comparable[C.RUN_ID]) == sorted(run_ids)
    assert set(comparable[C.LIST_LABEL]) == {f"popularity #{run_ids[0]}", f"content #{run_ids[1]}"}


@pytest.mark.parametrize("dated", [False, True], ids=["catalog", "menu"])
def test_live_lists_with_the_runs_policy_are_the_runs_stored_lists(world, dated):
    """The knobs set to a run's policy give exactly the lists the run shipped (the pipeline and
    the Compare page re-rank alike); the stored raw score is the model's own."""
    from dataclasses import replace

    from kurrant_core.policies import DEFAULT, run_policy
    engine, run_ids = world
    policy = run_policy(runs.get_run(engine, run_ids[1]).params)
    assert policy.name == DEFAULT and policy.reranks
    user = compare.pick_user(engine, compare.HEAVY)
    stored = runs.read_recommendations(engine, run_ids[1], user, with_raw_score=True)
    first = stored[stored[C.SERVICE_DATE].notna()].iloc[0] if dated else None
    day, meal = (first[C.SERVICE_DATE], int(first[C.DINING_TYPE])) if dated else (None, None)
    expected = (stored[(stored[C.SERVICE_DATE] == day) & (stored[C.DINING_TYPE] == meal)] if dated
                else stored[stored[C.SERVICE_DATE].isna()])
    assert len(expected) > 1
    scored = compare.candidates_for_run(engine, run_ids[1], user, service_date=day, dining_type=meal)
    assert scored.is_live and not scored.is_cold_start, scored.note
    column = compare.side_by_side([scored], replace(policy, k=10)).columns[0]
    assert column.food_ids == expected[C.FOOD_ID].tolist()
    assert column.items[C.SCORE].to_numpy() == pytest.approx(expected[C.RAW_SCORE].to_numpy(), rel=1e-5)
    off = compare.side_by_side([scored], compare.Policy.from_knobs(k=10)).columns[0]
    assert off.food_ids != column.food_ids or dated       # the policy changed the catalog list
    model = compare.load_run_model(engine, run_ids[1])
    assert column.items[C.WHY].tolist() == model.explain(user, column.food_ids)


def test_no_listed_food_carries_the_users_allergy(world):
    engine, run_ids = world
    users = read(engine, S.mart_user)
    foods = read(engine, S.mart_food).set_index(C.FOOD_ID)[C.ALLERGY_TAGS].map(codes.parse_codes)
    allergic = users[users[C.ALLERGY_TAGS] != ""][C.USER_ID].head(3).tolist()
    assert allergic, "the tiny world has users with allergies"
    for user in allergic:
        tags = set(codes.parse_codes(users.set_index(C.USER_ID).loc[user, C.ALLERGY_TAGS]))
        scored = [compare.candidates_for_run(engine, r, user) for r in run_ids]
        for knobs in (compare.Policy.from_knobs(k=20),
                      compare.Policy.from_knobs(k=20, mmr_lambda=0.0, explore_temperature=1.0)):
            for column in compare.side_by_side(scored, knobs).columns:
                assert column.food_ids and not any(tags & set(foods[f]) for f in column.food_ids)


def test_a_run_that_cannot_load_shows_its_stored_list(world):
    engine, run_ids = world
    user = compare.pick_user(engine, compare.LIGHT)

    def gone(run_id: int):
        raise KurrantError(f"Run {run_id}'s saved model is missing")

    scored = compare.candidates_for_run(engine, run_ids[0], user, load_model=gone)
    expected = runs.read_recommendations(engine, run_ids[0], user, catalog_only=True)
    assert not scored.is_live and "saved model is missing" in scored.note and "knobs do not apply" in scored.note
    column = compare.side_by_side([scored], compare.Policy.from_knobs(k=10, mmr_lambda=0.0)).columns[0]
    assert column.food_ids == expected[C.FOOD_ID].tolist()
    unseen = compare.candidates_for_run(engine, run_ids[0], user, service_date=date(2030, 1, 7),
                                        dining_type=codes.LUNCH, load_model=gone)
    assert unseen.foods.empty and "stored no list" in unseen.note


def test_load_run_model_says_when_the_artifacts_are_gone(world):
    engine, run_ids = world
    model = compare.load_run_model(engine, run_ids[0])
    assert model.name == "popularity"
    folder = runs.get_run(engine, run_ids[0]).artifact_path
    moved = folder + "_moved"
    shutil.move(folder, moved)
    try:
        with pytest.raises(KurrantError, match="missing"):
            compare.load_run_model(engine, run_ids[0])
    finally:
        shutil.move(moved, folder)


def test_a_cold_user_gets_the_fallback_and_an_unknown_one_a_note(world):
    engine, _ = world
    users = read(engine, S.mart_user)
    cutoff = sorted(pd.to_datetime(users[C.FIRST_ORDER_DATE]).dropna().dt.date.unique())[-3]
    data = build_training_data(engine, cutoff)
    model = make_model("content").fit(data)
    cold = compare.pick_user(engine, compare.COLD, cutoff=cutoff)
    scored = compare.score_candidates(model, cold, run_id=0, label="content #0")
    assert scored.is_cold_start and all(w.startswith("new user") for w in scored.foods[C.WHY])
    expected = candidate_set(data, model, cold)
    assert scored.foods[C.FOOD_ID].tolist() == expected.food_ids.tolist()
    stranger = compare.score_candidates(model, 10**7, run_id=0, label="content #0")
    assert stranger.foods.empty and "not in content #0's training data" in stranger.note
    column = compare.side_by_side([stranger, scored], compare.Policy.from_knobs()).columns[0]
    assert column.food_ids == [] and column.report is None


def test_the_fast_retrain_is_a_job_and_a_second_one_is_refused(world):
    from kurrant_core import jobs
    engine, _ = world
    job_id = compare.submit_fast_retrain(engine, by=team_person(), launch=False)
    assert jobs.get_job(engine, job_id).spec.models == compare.FAST_MODELS
    with pytest.raises(KurrantError, match=f"job {job_id}"):
        compare.submit_fast_retrain(engine, by=team_person(), launch=False)
