"""Every model trains, recommends and is evaluated on catalogues unlike the demo world.

Two small worlds, each the tiny demo world with its raw mirror bent before ``preprocess``, on
SQLite and on MariaDB:

- *bare catalogue*: no food carries a tag, every food comes from one maker, every user and menu
  belongs to one group, the lunch menus of the last service days carry 2,000 extra foods, one
  training day's and one test day's lunch menus were withdrawn after users had ordered, and a few
  orders are served on a Sunday, when no group has a menu;
- *one order each*: every user has exactly one paid order item before the cutoff.

A model that lacks what it needs (content without tags, sequential without a second order) falls
back to the popularity baseline and says so in one line, which the run records.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import BACKENDS, TINY_SEED, drop_database, new_database_url

from kurrant_core import codes, columns as C, runs, schema as S
from kurrant_core.data import MENU_WITHDRAWN_STATUSES, USER_IDX, build_training_data
from kurrant_core.db import init_db, make_engine
from kurrant_core.demo import generate_demo_world
from kurrant_core.evaluation import evaluate, names as N
from kurrant_core.evaluation.split import default_split, split_data
from kurrant_core.models import MODEL_NAMES, Recommender, get_model_class, make_model, model_available
from kurrant_core.preprocess import preprocess

HORIZON_DAYS = 7
K = 5
EXTRA_FOODS = 2_000
EXTRA_MENU_DAYS = 8
"""Last lunch service days whose menus get the extra foods: the test window and the days before."""
SMALL_PARAMS = {"factors": 8, "iterations": 4, "epochs": 2, "n_epochs": 2, "max_iter": 30,
                "embedding_dim": 8, "hidden": 8, "max_len": 20}
"""Small values for whichever hyper-parameters a model has: robustness, not quality."""
MODELS = [name for name in MODEL_NAMES if model_available(name)]
WITHDRAWN = min(MENU_WITHDRAWN_STATUSES)
"""Daily-food status 판매중지: the menu row stays in the mirror but no user saw it."""


def small_params(name: str) -> dict:
    names = get_model_class(name)._param_names()
    return {k: v for k, v in SMALL_PARAMS.items() if k in names}


# ================================================================================ bending the mirror
def _lunch_days(conn: sa.Connection) -> list[date]:
    df = S.daily_food.c
    days = conn.execute(sa.select(df.service_date).where(df.e_dining_type == codes.LUNCH)
                        .distinct().order_by(df.service_date)).scalars()
    return [pd.Timestamp(d).date() for d in days]


def _order_days(conn: sa.Connection) -> list[date]:
    g = S.order_item_dailyfood_group.c
    days = conn.execute(sa.select(g.service_date).distinct().order_by(g.service_date)).scalars()
    return [pd.Timestamp(d).date() for d in days]


def strip_catalogue(conn: sa.Connection) -> None:
    """No tags (allergies included), one maker, one group: what a new client's first sync may hold."""
    maker = conn.execute(sa.select(sa.func.min(S.makers.c.id))).scalar_one()
    group = conn.execute(sa.select(sa.func.min(S.client_group.c.id))).scalar_one()
    conn.execute(S.food.update().values({S.food.c.e_food_tags: "", S.food.c.makers_id: maker}))
    conn.execute(S.user_group.update().values({S.user_group.c.group_id: group}))
    conn.execute(S.daily_food.update().values({S.daily_food.c.group_id: group}))
    conn.execute(S.client_spot.update().values({S.client_spot.c.client_group_id: group}))
    conn.execute(S.client_group.delete().where(S.client_group.c.id != group))


def add_extra_foods(conn: sa.Connection, n: int, days: list[date]) -> None:
    """``n`` untagged foods of the one maker, without nutrition, on the lunch menu of ``days``."""
    f, df = S.food.c, S.daily_food.c
    first = conn.execute(sa.select(sa.func.max(f.id))).scalar_one() + 1
    maker = conn.execute(sa.select(sa.func.min(f.makers_id))).scalar_one()
    group = conn.execute(sa.select(sa.func.min(df.group_id))).scalar_one()
    first_menu = conn.execute(sa.select(sa.func.max(df.id))).scalar_one() + 1
    stamp = datetime.combine(days[0] - timedelta(days=30), datetime.min.time())
    ids = list(range(first, first + n))
    prices = [6_000 + 500 * (k % 9) for k in range(n)]
    conn.execute(S.food.insert(), [
        {f.id.name: food_id, f.name.name: f"extra {food_id}", f.makers_id.name: maker,
         f.e_status.name: codes.FOOD_ON_SALE, f.price.name: price, f.supply_price.name: price // 2,
         f.e_food_tags.name: "", f.created_date_time.name: stamp, f.updated_date_time.name: stamp}
        for food_id, price in zip(ids, prices)])
    menu = [(day, food_id, price) for day in days for food_id, price in zip(ids, prices)]
    conn.execute(S.daily_food.insert(), [
        {df.id.name: first_menu + k, df.e_dining_type.name: codes.LUNCH, df.service_date.name: day,
         df.food_id.name: food_id, df.group_id.name: group, df.e_status.name: codes.DAILY_FOOD_ON_SALE,
         df.default_price.name: price, df.updated_date_time.name: stamp}
        for k, (day, food_id, price) in enumerate(menu)])


def withdraw_lunch(conn: sa.Connection, day: date) -> None:
    """The day's lunch menu withdrawn after users ordered from it: orders stay, the menu goes."""
    df = S.daily_food.c
    conn.execute(S.daily_food.update().where(df.service_date == day, df.e_dining_type == codes.LUNCH)
                 .values({df.e_status: WITHDRAWN}))


def serve_on_sunday(conn: sa.Connection, day: date, n: int = 5) -> None:
    """Move ``n`` order slots of ``day`` to the next Sunday, a day without any menu."""
    g = S.order_item_dailyfood_group.c
    sunday = day + timedelta(days=6 - day.weekday())
    slots = conn.execute(sa.select(g.id).where(g.service_date == day).order_by(g.id).limit(n)).scalars().all()
    conn.execute(S.order_item_dailyfood_group.update().where(g.id.in_(slots))
                 .values({g.service_date: sunday}))


def keep_one_paid_item_per_user(conn: sa.Connection, cutoff: date) -> None:
    """Before ``cutoff`` each user keeps only their first paid order item (later ones stay)."""
    oidf, oi, o, g = S.order_item_dailyfood, S.order_item, S.order, S.order_item_dailyfood_group
    columns = [C.ORDER_ITEM_ID, C.USER_ID, C.SERVICE_DATE, C.ORDER_STATUS]
    items = pd.DataFrame(conn.execute(
        sa.select(oidf.c.id, o.c.user_id, g.c.service_date, oi.c.e_order_status)
        .select_from(oidf.join(oi, oi.c.id == oidf.c.id).join(o, o.c.id == oi.c.order_id)
                     .join(g, g.c.id == oidf.c.order_item_daily_food_group_id))).all(), columns=columns)
    items[C.SERVICE_DATE] = pd.to_datetime(items[C.SERVICE_DATE])
    before = items[items[C.SERVICE_DATE] < pd.Timestamp(cutoff)]
    paid = before[before[C.ORDER_STATUS].isin(codes.PAID_STATUSES)]
    paid = paid.sort_values([C.SERVICE_DATE, C.ORDER_ITEM_ID])
    keep = set(paid.drop_duplicates(C.USER_ID)[C.ORDER_ITEM_ID])
    drop = [int(i) for i in before[C.ORDER_ITEM_ID] if i not in keep]
    for start in range(0, len(drop), 500):
        conn.execute(oidf.delete().where(oidf.c.id.in_(drop[start:start + 500])))


# ================================================================================ the worlds
@dataclass
class World:
    name: str
    engine: sa.Engine
    withdrawn_test_day: date | None
    """A test-window day whose lunch menu was withdrawn (bare catalogue only)."""


def _bare_catalogue(conn: sa.Connection) -> date:
    strip_catalogue(conn)
    orders = _order_days(conn)
    cutoff = orders[-1] + timedelta(days=1) - timedelta(days=HORIZON_DAYS)
    lunch = [d for d in _lunch_days(conn) if d <= orders[-1]]
    add_extra_foods(conn, EXTRA_FOODS, lunch[-EXTRA_MENU_DAYS:])
    test_day = next(d for d in lunch if d >= cutoff)
    train_day = max(d for d in lunch if d < cutoff)
    withdraw_lunch(conn, test_day)
    withdraw_lunch(conn, train_day)
    serve_on_sunday(conn, train_day - timedelta(days=7))
    return test_day


def _one_order_each(conn: sa.Connection) -> None:
    last = _order_days(conn)[-1]
    keep_one_paid_item_per_user(conn, last + timedelta(days=1) - timedelta(days=HORIZON_DAYS))


WORLDS = {"bare_catalogue": _bare_catalogue, "one_order_each": _one_order_each}


@pytest.fixture(scope="module", params=[(w, b) for w in WORLDS for b in BACKENDS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def world(request, tmp_path_factory) -> Iterator[World]:
    name, backend = request.param
    url = new_database_url(backend, tmp_path_factory.mktemp(name))
    engine = make_engine(url)
    init_db(engine)
    generate_demo_world(engine, scale="tiny", seed=TINY_SEED)
    with engine.begin() as conn:
        test_day = WORLDS[name](conn)
    preprocess(engine)
    yield World(name, engine, test_day)
    engine.dispose()
    drop_database(url)


@pytest.fixture(autouse=True)
def _artifacts(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))


# ================================================================================ tests
def test_the_worlds_are_what_they_claim(world):
    data, test = split_data(world.engine, default_split(world.engine, HORIZON_DAYS))
    if world.name == "bare_catalogue":
        assert not data.tag_feature_index and data.food_allergens.nnz == 0
        assert data.foods[C.MAKERS_ID].nunique() == 1 and data.users[C.GROUP_ID].nunique() == 1
        sizes = data.menus.groupby([C.SERVICE_DATE, C.DINING_TYPE]).size()
        assert sizes.max() > EXTRA_FOODS
        norms = np.sqrt(np.asarray(data.food_features.multiply(data.food_features).sum(axis=1)))
        np.testing.assert_allclose(norms, 1.0)               # features still unit rows, no tag columns
        served = data.menus[[C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]].drop_duplicates()
        orphans = data.orders.merge(served, how="left", indicator=True)["_merge"] == "left_only"
        assert orphans.sum() > 5                              # withdrawn lunch and the Sunday
        assert (test[C.SERVICE_DATE] == pd.Timestamp(world.withdrawn_test_day)).any()
    else:
        per_user = data.orders.groupby(USER_IDX).size()
        assert (per_user == 1).all() and len(per_user) > 20
        assert not data.cold[data.user_indices(test[C.USER_ID].unique())].all()


def test_every_model_trains_and_is_evaluated(world):
    evaluations = evaluate(world.engine, MODELS, horizon_days=HORIZON_DAYS, k=K, with_tradeoff=False,
                           params={name: small_params(name) for name in MODELS})
    assert sorted(e.model for e in evaluations) == sorted(MODELS)
    data, _ = split_data(world.engine, evaluations[0].split)
    active = set(runs.active_user_ids(data).tolist())
    for e in evaluations:
        run = runs.get_run(world.engine, e.run_id)
        assert run.is_done, (e.model, run.error)
        daily, catalog = e.scores.daily_menu, e.scores.catalog
        assert daily[N.N_EVENTS] > 0 and catalog[N.N_USERS] > 0
        for key in (N.at_k(N.HR, 1), N.MRR, N.NDCG):
            assert 0.0 <= daily[key] <= 1.0, (e.model, key, daily[key])
        for key in (N.at_k(N.RECALL, K), N.at_k(N.NDCG, K), N.COVERAGE, N.PERSONALISATION):
            assert 0.0 <= catalog[key] <= 1.0, (e.model, key, catalog[key])
        if world.withdrawn_test_day is not None:
            assert daily[N.N_UNRANKED] > 0            # the withdrawn day's orders had no menu to rank
        lists = runs.read_recommendations(world.engine, e.run_id)
        assert (lists.groupby(C.USER_ID).size() == K).all()
        assert set(lists[C.USER_ID]) == active
        expected = FALLBACKS[world.name].get(e.model, [])       # the run says what fell back
        assert len(run.warnings) == len(expected), (e.model, run.warnings)
        assert all(line.startswith(start) for line, start in zip(run.warnings, expected))


FALLBACKS = {
    "bare_catalogue": {
        "content": ["content fell back to popularity: no food carries a taste tag"],
        "hybrid": ["hybrid: inner content fell back to popularity: no food carries a taste tag"]},
    "one_order_each": {"sequential": ["sequential fell back to popularity: nobody has two paid orders"]},
}
"""World -> model -> the start of each warning line the model must report (the others: none)."""
STOOD_IN = {"bare_catalogue": "content", "one_order_each": "sequential"}
"""The model each world leaves without what it needs (hybrid only loses its inner content)."""


@pytest.mark.parametrize("name", ["content", "hybrid", "sequential", "als"])
def test_a_model_lacking_what_it_needs_falls_back_and_its_run_says_so(world, name):
    expected = FALLBACKS[world.name].get(name, [])
    data, _ = split_data(world.engine, default_split(world.engine, HORIZON_DAYS))
    model = make_model(name, **small_params(name)).fit(data)
    warnings = model.fit_warnings()
    assert len(warnings) == len(expected)
    assert all(line.startswith(start) and "\n" not in line for line, start in zip(warnings, expected))
    warm = data.user_ids[~data.cold]
    surveyed_cold = data.user_ids[data.cold & data.users[C.HAS_SURVEY].to_numpy(dtype=bool)]
    cold = model.recommend(surveyed_cold, K)        # without tags the survey matches nothing
    assert len(surveyed_cold) and cold[C.IS_COLD_START].all()
    assert (cold.groupby(C.USER_ID).size() == K).all() and np.isfinite(cold[C.SCORE]).all()
    stood_in = STOOD_IN[world.name] == name
    assert hasattr(model, "stand_in_") == stood_in
    if stood_in:                                  # the stand-in answers: popularity's scores
        popularity = make_model("popularity").fit(data)
        np.testing.assert_allclose(model.score(warm), popularity.score(warm))
        assert "unavailable" in model.explain(int(warm[0]), data.food_ids[:2])[0]

    run_id = runs.train_and_write(world.engine, name, small_params(name), data=data, k=K)
    run = runs.get_run(world.engine, run_id)
    assert run.is_done and run.warnings == warnings
    lists = runs.read_recommendations(world.engine, run_id)
    assert lists[C.SERVICE_DATE].isna().any() and lists[C.SERVICE_DATE].notna().any()  # catalog, menus
    back = Recommender.load(run.artifact_path)
    assert back.fit_warnings() == warnings
    np.testing.assert_allclose(back.score(warm), model.score(warm), rtol=1e-6, atol=1e-7)

    if stood_in and world.name == "one_order_each":   # after the cutoff users ordered again
        everything = build_training_data(world.engine)
        assert not model.fit(everything).fit_warnings()
        assert not hasattr(model, "stand_in_") and not hasattr(model, "fallback_reason_")
        assert np.isfinite(model.score(everything.user_ids[~everything.cold])).all()
