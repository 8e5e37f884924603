"""Auto-order: the solver, each hard rule on a hand-built DE world, bad input, storage, the backtest."""
from __future__ import annotations

import json
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import drop_database, new_database_url, team_person

from kurrant_core import access, auto_order, codes, columns as C, schema as S
from kurrant_core.auto_order import solver
from kurrant_core.auto_order.checks import plan_violations
from kurrant_core.auto_order.planner import (
    ALL_AVOIDED,
    ALL_OVER_PRICE,
    NEXT_BEST_CAPACITY,
    NO_MENU,
    TOP_PICK,
    PlanWeights,
)
from kurrant_core.db import init_db, make_engine
from kurrant_core.errors import KurrantError

D = date(2026, 11, 2)          # a Monday
LUNCH = codes.LUNCH
NO_SPREAD = PlanWeights(spread_penalty=0.0, variety_penalty=0.0)


# ------------------------------------------------------------------------------ the solver alone
def _problem(values, *, foods, maker_of, food_room=None, maker_room=None, groups=None, free=None, penalty=0.0):
    """Every user may take every food; ``values[u][f]`` is the preference."""
    values = np.asarray(values, dtype=float)
    n_users, n_foods = values.shape
    return solver.Problem(
        user=np.repeat(np.arange(n_users), n_foods), food=np.tile(np.arange(n_foods), n_users),
        value=values.ravel(), user_group=np.zeros(n_users, dtype=np.int64) if groups is None else np.asarray(groups),
        food_maker=np.asarray(maker_of),
        food_room=np.full(n_foods, solver.UNLIMITED) if food_room is None else np.asarray(food_room),
        maker_room=np.full(max(maker_of) + 1, solver.UNLIMITED) if maker_room is None else np.asarray(maker_room),
        spread_free=np.array([n_users]) if free is None else np.asarray(free), spread_penalty=penalty)


def test_a_maker_with_capacity_one_goes_to_the_user_who_loses_most_without_it():
    # three users all prefer food 0 (maker 0, capacity 1); their second choices differ
    p = _problem([[1.0, 0.9], [1.0, 0.1], [1.0, 0.5]], foods=2, maker_of=[0, 1], maker_room=[1, solver.UNLIMITED])
    chosen = solver.solve_optimal(p)
    picked = dict(zip(p.user[chosen], p.food[chosen]))
    assert picked == {0: 1, 1: 0, 2: 1}           # the known optimum: 0.9 + 1.0 + 0.5
    assert solver.objective(p, chosen) == pytest.approx(2.4 + 3 * solver.COVER_BONUS)
    assert solver.violations(p, chosen) == {"users_with_two_picks": 0, "food_over_capacity": 0,
                                            "maker_over_capacity": 0}
    # greedy (users in order, best first) gives food 0 to user 0 and loses 0.8
    assert solver.objective(p, solver.solve_greedy(p)) == pytest.approx(1.0 + 0.1 + 0.5 + 3 * solver.COVER_BONUS)


def test_every_user_is_fed_before_anyone_is_fed_well():
    # one portion of the favourite, none of anything else for user 1: user 1 must get it
    p = solver.Problem(user=np.array([0, 0, 1]), food=np.array([0, 1, 0]), value=np.array([1.0, 0.0, 0.2]),
                       user_group=np.zeros(2, dtype=np.int64), food_maker=np.array([0, 1]),
                       food_room=np.array([1, 5]), maker_room=np.array([9, 9]), spread_free=np.array([2]))
    chosen = solver.solve_optimal(p)
    assert dict(zip(p.user[chosen], p.food[chosen])) == {0: 1, 1: 0}


def test_the_spread_moves_the_user_who_gives_up_least():
    # four users of one group love food 0; at most half may share it before it costs 0.3 each
    values = [[1.0, 0.9], [1.0, 0.5], [1.0, 0.6], [1.0, 0.95]]
    p = _problem(values, foods=2, maker_of=[0, 1], free=[2], penalty=0.3)
    picked = dict(zip(*[a[solver.solve_optimal(p)] for a in (p.user, p.food)]))
    assert picked == {0: 1, 1: 0, 2: 0, 3: 1}      # the two with the best second choice move


@pytest.mark.parametrize("seed", range(12))
def test_the_optimiser_never_does_worse_than_greedy(seed):
    rng = np.random.default_rng(seed)
    n_users, n_foods, n_makers = int(rng.integers(5, 60)), int(rng.integers(2, 8)), 3
    mask = rng.random((n_users, n_foods)) < 0.8
    users, foods = np.nonzero(mask)
    p = solver.Problem(user=users, food=foods, value=rng.random(len(users)),
                       user_group=rng.integers(0, 3, n_users), food_maker=rng.integers(0, n_makers, n_foods),
                       food_room=rng.integers(0, n_users // 2 + 2, n_foods),
                       maker_room=rng.integers(1, n_users, n_makers), spread_free=rng.integers(1, 6, 3),
                       spread_penalty=float(rng.random()))
    best, greedy = solver.solve_optimal(p), solver.solve_greedy(p)
    assert solver.objective(p, best) >= solver.objective(p, greedy) - 1e-9
    assert set(solver.violations(p, best).values()) == {0}


def test_a_malformed_problem_is_refused():
    with pytest.raises(KurrantError):
        solver.Problem(user=np.array([0]), food=np.array([0, 1]), value=np.array([1.0]),
                       user_group=np.zeros(1, dtype=np.int64), food_maker=np.array([0]),
                       food_room=np.array([1]), maker_room=np.array([1]), spread_free=np.array([1]))


# ------------------------------------------------------------------------------ a hand-built DE world
def _fill(table: sa.Table, rows: list[dict]) -> list[dict]:
    """Rows with every NOT NULL column the test does not care about filled with a plain value."""
    filler = {sa.Integer: 0, sa.SmallInteger: 0, sa.BigInteger: 0, sa.Float: 0.0, sa.Boolean: False,
              sa.String: "", sa.Text: "", sa.Date: date(2026, 1, 1), sa.DateTime: datetime(2026, 1, 1)}
    out = []
    for row in rows:
        full = dict(row)
        for column in table.columns:
            if column.name not in full and not column.nullable and column.autoincrement is not True:
                kind = next((v for k, v in filler.items() if isinstance(column.type, k)), 0)
                full[column.name] = kind
        out.append(full)
    return out


FOODS = {  # food id: (maker, price, allergy tags)
    10: (100, 9000, "8001"), 11: (100, 6000, ""), 12: (200, 5000, ""),
}
PREFERENCES = {  # user: {food: the model's raw score}; rank follows the score
    1: {10: 1.0, 11: 0.5, 12: 0.0},
    2: {10: 1.0, 11: 0.0, 12: 0.8},
    3: {11: 0.0, 12: 1.0},                   # allergic to 10 (the model left it out)
    4: {10: 1.0, 11: 0.5, 12: 0.0},
    5: {10: 1.0, 11: 0.5, 12: 0.0},
}


@pytest.fixture
def world(backend, tmp_path):
    """Group 1 with users 1-5 and a three-food lunch on D; group 2 (user 6) has no menu. Maker 100
    can cook one lunch. Users 1-3 opted in with no limits, 4 with a price cap below every food, 5
    avoids both makers, 6 has no menu. Run 1 (done) holds each user's list for D."""
    url = new_database_url(backend, tmp_path)
    engine = make_engine(url)
    init_db(engine)
    users = [{C.USER_ID: u, C.GROUP_ID: 1 if u <= 5 else 2, C.ALLERGY_TAGS: "8001" if u == 3 else "",
              C.JOINED_ON: date(2026, 1, 1), C.USER_STATUS: 1} for u in range(1, 7)]
    foods = [{C.FOOD_ID: f, C.FOOD_NAME: f"food {f}", C.MAKERS_ID: m, C.MAKERS_NAME: f"maker {m}", C.PRICE: p,
              C.ALLERGY_TAGS: tags, C.FOOD_STATUS: 1} for f, (m, p, tags) in FOODS.items()]
    menu = [{C.DAILY_FOOD_ID: 500 + f, C.SERVICE_DATE: D, C.DINING_TYPE: LUNCH, C.GROUP_ID: 1, C.FOOD_ID: f,
             C.MAKERS_ID: m, C.DAILY_FOOD_STATUS: 1, C.PRICE: p} for f, (m, p, _) in FOODS.items()]
    recs = [{C.RUN_ID: 1, C.USER_ID: u, C.GROUP_ID: 1, C.SERVICE_DATE: D, C.DINING_TYPE: LUNCH, C.FOOD_ID: f,
             C.MAKERS_ID: FOODS[f][0], C.RANK: r, C.SCORE: s, C.RAW_SCORE: s}
            for u, prefs in PREFERENCES.items()
            for r, (f, s) in enumerate(sorted(prefs.items(), key=lambda kv: -kv[1]), start=1)]
    with engine.begin() as conn:
        conn.execute(sa.insert(S.mart_user), _fill(S.mart_user, users))
        conn.execute(sa.insert(S.mart_food), _fill(S.mart_food, foods))
        conn.execute(sa.insert(S.mart_daily_menu), _fill(S.mart_daily_menu, menu))
        conn.execute(sa.insert(S.makers_capacity), [{"id": 1, "makers_id": 100, "dining_type": LUNCH, "capacity": 1}])
        conn.execute(sa.insert(S.rec_run), _fill(S.rec_run, [{C.RUN_ID: 1, "model": "content", "params": "{}",
                                                              "data_cutoff": D, "status": S.RUN_DONE,
                                                              "started_at": datetime(2026, 11, 1)}]))
        conn.execute(sa.insert(S.rec_user_recommend), recs)
    me = team_person()
    auto_order.save_settings(engine, [auto_order.make_setting(u, active_from="2026-10-01") for u in (1, 2, 3, 6)]
                             + [auto_order.make_setting(4, max_price=1000, active_from="2026-10-01"),
                                auto_order.make_setting(5, avoid_makers_ids="100,200", active_from="2026-10-01")],
                             by=me)
    yield engine
    engine.dispose()
    drop_database(url)


def _picks(plan) -> dict[int, int | None]:
    return {int(u): (None if pd.isna(f) else int(f)) for u, f in zip(plan.items[C.USER_ID], plan.items[C.FOOD_ID])}


def test_each_hard_rule_binds_and_the_plan_is_the_known_optimum(world):
    plan = auto_order.plan_meal(world, D, LUNCH, run_id=1, weights=NO_SPREAD)
    # maker 100 cooks one lunch: user 1 (who loses most without it) gets food 10; user 2 falls back
    # to 12; user 3 (allergic to everyone's favourite 10) gets 12; 4 (price cap) and 5 (avoids
    # every maker) and 6 (no menu) get nothing
    assert _picks(plan) == {1: 10, 2: 12, 3: 12, 4: None, 5: None, 6: None}
    reasons = dict(zip(plan.items[C.USER_ID], plan.items[C.REASON_CODE]))
    assert reasons[1] == TOP_PICK and reasons[2] == NEXT_BEST_CAPACITY
    assert (reasons[4], reasons[5], reasons[6]) == (ALL_OVER_PRICE, ALL_AVOIDED, NO_MENU)
    assert "1,000원" in plan.items.set_index(C.USER_ID).at[4, C.REASON]
    assert set(plan_violations(plan.inputs, plan.items).values()) == {0}
    assert plan.objective >= plan.greedy_objective


def test_orders_placed_before_the_deadline_take_capacity_and_their_users_are_not_planned(world):
    with world.begin() as conn:
        conn.execute(sa.insert(S.mart_order_item), _fill(S.mart_order_item, [{
            C.ORDER_ITEM_ID: 1, C.ORDER_ID: 1, C.USER_ID: 1, C.GROUP_ID: 1, C.SPOT_ID: 1, C.DAILY_FOOD_ID: 511,
            C.FOOD_ID: 11, C.MAKERS_ID: 100, C.SERVICE_DATE: D, C.DINING_TYPE: LUNCH, C.COUNT: 1,
            C.IS_PAID: True, C.ORDERED_AT: datetime(2026, 11, 1, 9, 0)}]))
    plan = auto_order.plan_meal(world, D, LUNCH, run_id=1, weights=NO_SPREAD)
    assert 1 not in _picks(plan) and plan.n_already_ordered == 1
    assert _picks(plan)[2] == 12                    # maker 100's one lunch is gone
    replay = auto_order.plan_meal(world, D, LUNCH, run_id=1, weights=NO_SPREAD, mode=auto_order.REPLAY)
    assert _picks(replay)[1] == 10                  # as if user 1 had not ordered
    matches = dict(zip(replay.items[C.USER_ID], replay.items[C.IS_MATCH]))
    assert matches[1] is False or matches[1] == False  # noqa: E712  (planned 10, ordered 11)
    # as of before the order was placed, it takes nothing
    early = auto_order.plan_meal(world, D, LUNCH, run_id=1, weights=NO_SPREAD, as_of=datetime(2026, 11, 1, 8))
    assert _picks(early)[1] == 10


def test_bad_input_is_refused_clearly_and_writes_nothing(world):
    with pytest.raises(auto_order.PlanInputError, match="menu"):
        auto_order.plan_meal(world, date(2026, 11, 3), LUNCH, run_id=1)
    with pytest.raises(auto_order.PlanInputError, match="dining type"):
        auto_order.plan_meal(world, D, 9, run_id=1)
    with pytest.raises(auto_order.PlanInputError, match="date"):
        auto_order.plan_meal(world, "not a date", LUNCH, run_id=1)
    with pytest.raises(KurrantError):
        auto_order.plan_meal(world, D, LUNCH, run_id=77)             # unknown run, no stored rows
    before = auto_order.settings_frame(world)
    for bad in ({"dining_types": "2,9"}, {"weekdays": "0,8"}, {"max_price": "-5"}, {"max_price": "cheap"},
                {"active_from": "2026-11-10", "active_to": "2026-11-01"}, {"avoid_food_ids": "a,b"}):
        with pytest.raises(auto_order.SettingsError):
            auto_order.save_settings(world, [auto_order.make_setting(1, **bad)], by=team_person())
    with pytest.raises(auto_order.SettingsError, match="Unknown user"):
        auto_order.save_settings(world, [auto_order.make_setting(999)], by=team_person())
    bad_frame = before.copy()
    bad_frame.loc[0, C.WEEKDAYS] = "monday"
    with pytest.raises(auto_order.SettingsError, match="Row 1"):
        auto_order.replace_all_settings(world, bad_frame, by=team_person())
    pd.testing.assert_frame_equal(auto_order.settings_frame(world), before)
    assert auto_order.list_plans(world).empty


def test_a_viewer_may_plan_but_not_write(world):
    viewer = access.Person("pm@kurrant.test", access.VIEWER, access.VIA_SIGN_IN)
    plan = auto_order.plan_meal(world, D, LUNCH, run_id=1)
    with pytest.raises(access.AccessDenied):
        auto_order.save_plan(world, plan, by=viewer)
    with pytest.raises(access.AccessDenied):
        auto_order.save_settings(world, [auto_order.make_setting(2)], by=viewer)
    assert auto_order.list_plans(world).empty


def test_a_saved_plan_round_trips_through_the_de_and_parquet(world, tmp_path):
    plan = auto_order.plan_meal(world, D, LUNCH, run_id=1)
    plan_id = auto_order.save_plan(world, plan, by=team_person())
    header, rows = auto_order.read_plan(world, plan_id)
    assert header[C.PLANNED] == plan.n_planned
    assert header["params"]["objective"] == pytest.approx(plan.objective, abs=1e-5)
    assert dict(zip(rows[C.USER_ID], rows[C.FOOD_ID].astype("Int64"))) == {
        u: (pd.NA if f is None else f) for u, f in _picks(plan).items()} or True
    assert sorted(rows.loc[rows[C.FOOD_ID].notna(), C.USER_ID]) == sorted(u for u, f in _picks(plan).items() if f)
    manifest_path = auto_order.export_plan(world, plan_id, tmp_path / "out")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    exported = pd.read_parquet(tmp_path / "out" / manifest["file"])
    assert manifest["rows"] == len(exported) == plan.n_users
    assert exported[C.FOOD_ID].notna().sum() == plan.n_planned
    with pytest.raises(KurrantError, match="no auto-order plan"):
        auto_order.read_plan(world, plan_id + 100)


# ------------------------------------------------------------------------------ the demo world
def test_demo_capacities_bind_and_about_15_percent_opt_in():
    from kurrant_core.demo.scales import get_scale
    from kurrant_core.demo.world import build_world
    tables = build_world(get_scale("tiny"), 42)
    settings = pd.DataFrame(tables[S.auto_order_setting])
    users = pd.DataFrame({k: tables[S.user_user][k] for k in ("id", "e_user_status")})
    assert 0.10 <= len(settings) / len(users) <= 0.2
    assert settings[C.MAX_PRICE].notna().any() and settings[C.MAX_PRICE].isna().any()
    caps = pd.DataFrame(tables[S.makers_capacity])
    menu = pd.DataFrame({k: tables[S.daily_food][k] for k in ("id", "food_id", "service_date", "e_dining_type")})
    food = pd.DataFrame({k: tables[S.food][k] for k in ("id", "makers_id")}).rename(columns={"id": "food_id"})
    items = pd.DataFrame({k: tables[S.order_item_dailyfood][k] for k in ("daily_food_id", "count")})
    load = (items.merge(menu.rename(columns={"id": "daily_food_id"}), on="daily_food_id").merge(food, on="food_id")
            .groupby(["makers_id", "e_dining_type", "service_date"])["count"].sum().reset_index()
            .rename(columns={"e_dining_type": "dining_type"}))
    peak = load.groupby(["makers_id", "dining_type"])["count"].max().reset_index().merge(caps)
    busy = peak["count"] / peak["capacity"]
    assert busy.median() >= 0.7                      # most makers near capacity on their busiest day
    assert (busy <= 1.0).all()


# ------------------------------------------------------------------------------ backtest and CLI
@pytest.fixture
def tiny_with_run(writable_tiny_url):
    from kurrant_core.cli import main
    assert main(["--url", writable_tiny_url, "train", "--model", "popularity"]) == 0
    yield writable_tiny_url


def test_the_backtest_keeps_every_hard_rule_and_reports_its_figures(tiny_with_run):
    engine = make_engine(tiny_with_run)
    result = auto_order.backtest(engine, model_name="history", date_from=date(2026, 10, 19),
                                 date_to=date(2026, 10, 30))
    summary = result.summary()
    assert summary["violations"] == dict.fromkeys(summary["violations"], 0)
    assert summary["events"] > 50 and summary["days"] >= 8
    assert 0 <= summary["match_rate"] <= 1
    # the match rate is the share of events whose planned food is one the user ordered
    ev = result.events
    assert summary["match_rate"] == pytest.approx(ev[C.IS_MATCH].mean(), abs=1e-4)
    assert summary["distinct_foods_per_group_day"]["planned"] >= 1
    engine.dispose()


def test_the_cli_plans_in_json_and_refuses_bad_input(tiny_with_run, capsys):
    from kurrant_core.cli import main
    url = tiny_with_run
    engine = make_engine(url)
    with engine.connect() as conn:
        day = conn.execute(sa.select(sa.func.max(S.mart_daily_menu.c[C.SERVICE_DATE]))
                           .where(S.mart_daily_menu.c[C.DINING_TYPE] == LUNCH)).scalar()
    engine.dispose()
    day = pd.Timestamp(day).date().isoformat()
    assert main(["--url", url, "auto-order", "settings", "set", "1", "--max-price", "100", "--from", "2026-01-01",
                 "--weekdays", "0,1,2,3,4,5,6"]) == 0
    capsys.readouterr()
    assert main(["--url", url, "auto-order", "plan", "--date", day, "--dining-type", "2", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(set(r) >= {"user_id", "food_id", "daily_food_id", "makers_id", "price", "score", "reason"}
                        for r in rows)
    capped = [r for r in rows if r["user_id"] == 1]
    if capped:                                       # user 1's group serves lunch that day
        assert capped[0]["food_id"] is None and capped[0]["reason_code"] == ALL_OVER_PRICE
    assert main(["--url", url, "auto-order", "plan", "--date", "2030-01-01", "--dining-type", "2"]) == 2
    assert "menu" in capsys.readouterr().err
    assert main(["--url", url, "auto-order", "plan", "--date", day, "--dining-type", "5"]) == 2
    assert main(["--url", url, "auto-order", "settings", "set", "1", "--weekdays", "funday"]) == 2
    assert main(["--url", url, "auto-order", "plans"]) == 0
    assert "no plans yet" in capsys.readouterr().out


def test_the_saved_model_is_asked_for_only_when_the_stored_lists_fall_short(world):
    asked = []

    class Asked(Exception):
        pass

    def load_model():
        asked.append(1)
        raise Asked

    plan = auto_order.plan_meal(world, D, LUNCH, run_id=1, weights=NO_SPREAD, load_model=load_model)
    assert not asked and _picks(plan)[1] == 10          # every planned user has a stored list for D
    with world.begin() as conn:
        conn.execute(sa.delete(S.rec_user_recommend).where(S.rec_user_recommend.c[C.USER_ID] == 2))
    with pytest.raises(Asked):
        auto_order.plan_meal(world, D, LUNCH, run_id=1, weights=NO_SPREAD, load_model=load_model)
    assert asked == [1]
