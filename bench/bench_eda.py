"""Order EDA page: seconds per query in SQL (as the page runs them) vs the naive way (load rows, group
in pandas), on the large and the demo world, on MariaDB and on SQLite.

The SQL side runs exactly the queries one uncached render of the page makes with its default view
(the last 28 days, paid items, no other filter), each timed on its own. The naive side loads the rows
those figures need once (order items of the range plus the previous period and the repeat look-back,
the range's menus, users, foods) and computes the same figures with pandas; its total is that load
plus every computation. Worlds are built once (demo generator + preprocess) and reused:
SQLite files under data/bench/, MariaDB databases kurrant_bench_eda_<scale> (marts copied from SQLite).

    .venv/bin/python bench/bench_eda.py                          # large and demo, MariaDB and SQLite
    .venv/bin/python bench/bench_eda.py --scales demo --backends sqlite
    .venv/bin/python bench/bench_eda.py --url mysql+pymysql://root@127.0.0.1:3306/kurrant_de
    .venv/bin/python bench/bench_eda.py --scales large --view "group=12&maker=40"   # a filtered view

``--view`` takes the page's own URL query string, so any view a user shares can be measured; the
naive side applies the same filter to the rows it loaded.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kurrant_core import columns as C, eda, schema as S  # noqa: E402
from kurrant_core.db import check_ready, init_db, make_engine  # noqa: E402
from kurrant_core.eda.filters import DEFAULT_DAYS, OrderFilter  # noqa: E402
from kurrant_core.eda.repeats import LOOKBACK_DAYS  # noqa: E402

MYSQL_SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306"
SEED = 7
TARGET_S = 1.0


# ------------------------------------------------------------------------------ worlds
def world_url(scale: str, backend: str) -> str:
    """URL of a preprocessed ``scale`` world on ``backend``, built the first time.

    MariaDB gets the marts copied from the SQLite world of the same scale and seed (the same rows:
    the generator is deterministic) - preprocessing the large world inside a default-sized InnoDB
    buffer pool takes far longer than copying its marts.
    """
    if backend == "sqlite":
        path = ROOT / "data" / "bench" / f"eda_{scale}_seed{SEED}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    else:
        name = f"kurrant_bench_eda_{scale}"
        admin = sa.create_engine(MYSQL_SERVER_URL + "/")
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 "
                                 "COLLATE utf8mb4_unicode_ci")
        admin.dispose()
        url = f"{MYSQL_SERVER_URL}/{name}"
    engine = make_engine(url)
    init_db(engine)
    if not eda.data_version(engine):
        t0 = time.perf_counter()
        if backend == "sqlite":
            from kurrant_core.demo import generate_demo_world
            from kurrant_core.preprocess import preprocess
            print(f"building the {scale} world on SQLite (once; the large one takes minutes) ...", flush=True)
            generate_demo_world(engine, scale=scale, seed=SEED)
            preprocess(engine)
        else:
            print(f"copying the {scale} world's marts to MariaDB (once) ...", flush=True)
            copy_marts(make_engine(world_url(scale, "sqlite")), engine)
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    engine.dispose()
    return url


def copy_marts(source: sa.Engine, target: sa.Engine, chunk: int = 20_000) -> None:
    """Copy every mart and the data version from ``source`` to ``target`` (chunked INSERTs)."""
    with source.connect() as src, target.begin() as dst:
        for table in [*S.MART_TABLES, S.de_meta]:
            dst.execute(table.delete())
            result = src.execute(sa.select(table)).yield_per(chunk)
            for rows in result.partitions():
                dst.execute(table.insert(), [row._asdict() for row in rows])


# ------------------------------------------------------------------------------ the page's queries
EVERY_RENDER = "every render"


def page_queries(filt: OrderFilter, food_id: int) -> dict[str, list[tuple[str, Callable]]]:
    """What an uncached render runs: the queries of every render, then those of each tab (only the
    open tab runs), with the tab's default choices."""
    top_foods = ("top_foods (500; Top tab + picker)", lambda e: eda.top_foods(e, filt, n=500))
    return {
        EVERY_RENDER: [
            ("check_ready + data_version", lambda e: (check_ready(e), eda.data_version(e))),
            ("filter_options", eda.filter_options),
            ("kpi_table (2 periods)", lambda e: eda.kpi_table(e, filt))],
        "추이": [("daily_orders", lambda e: eda.daily_orders(e, filt)),
                ("weekly_orders", lambda e: eda.weekly_orders(e, filt))],
        "요일 × 식사": [("weekday_heatmap", lambda e: eda.weekday_heatmap(e, filt))],
        "Top": [top_foods],
        "집중도": [("lorenz_curve (+ Gini, top 10 %)", lambda e: eda.curve_summary(eda.lorenz_curve(e, filt))),
                ("weekly_concentration", lambda e: eda.weekly_concentration(e, filt))],
        "메뉴 선택률": [("menu_take_rate", lambda e: eda.menu_take_rate(e, filt))],
        "재주문": [("repeat_gaps", lambda e: eda.repeat_gaps(e, filt))],
        "사용자": [("items_per_user", lambda e: eda.items_per_user(e, filt)),
                ("weekly_user_counts (new/returning + cohorts)", lambda e: eda.weekly_user_counts(e, filt))],
        "만족도 · 가격": [("satisfaction_by_category", lambda e: eda.satisfaction_by_category(e, filt)),
                     ("satisfaction_by_maker", lambda e: eda.satisfaction_by_maker(e, filt)),
                     ("price_distribution", lambda e: eda.price_distribution(e, filt))],
        "고객사 비교": [("group_comparison", lambda e: eda.group_comparison(e, filt))],
        "음식 상세": [top_foods,
                  ("food_weekly_trend", lambda e: eda.food_weekly_trend(e, filt, food_id)),
                  ("food_groups", lambda e: eda.food_groups(e, filt, food_id)),
                  ("food_satisfaction", lambda e: eda.food_satisfaction(e, filt, food_id))],
    }


# ------------------------------------------------------------------------------ the naive way
class Naive:
    """The same figures from rows loaded into pandas (what a dashboard without SQL aggregates does)."""

    def __init__(self, engine: sa.Engine, filt: OrderFilter):
        self.filt = filt
        first = min(filt.previous_period().start, filt.start - timedelta(days=LOOKBACK_DAYS))
        oi, menu = S.mart_order_item, S.mart_daily_menu
        with engine.connect() as conn:
            self.rows = pd.read_sql(sa.select(oi).where(oi.c[C.SERVICE_DATE].between(first, filt.end)), conn)
            self.menu = pd.read_sql(sa.select(menu).where(menu.c[C.SERVICE_DATE].between(filt.start, filt.end)),
                                    conn)
            self.users = pd.read_sql(sa.select(S.mart_user), conn)
            self.foods = pd.read_sql(sa.select(S.mart_food), conn)
        self.rows, self.menu = _only(self.rows, filt), _only(self.menu, filt)
        for frame in (self.rows, self.menu):
            frame[C.SERVICE_DATE] = pd.to_datetime(frame[C.SERVICE_DATE])
        self.users[C.FIRST_ORDER_DATE] = pd.to_datetime(self.users[C.FIRST_ORDER_DATE])
        self.rows[C.IS_PAID] = self.rows[C.IS_PAID].astype(bool)
        self.rows[C.IS_CANCELLED] = self.rows[C.IS_CANCELLED].astype(bool)
        self.rows[C.WEEK] = self.rows[C.SERVICE_DATE] - pd.to_timedelta(self.rows[C.SERVICE_DATE].dt.day_of_week, "D")

    def select(self, start=None, end=None) -> pd.DataFrame:
        r = self.rows
        keep = r[C.SERVICE_DATE].between(pd.Timestamp(start or self.filt.start), pd.Timestamp(end or self.filt.end))
        return r[keep & r[C.IS_PAID]] if self.filt.paid_only else r[keep]

    def figures(self, food_id: int) -> list[tuple[str, Callable]]:
        cur, previous = self.select, self.filt.previous_period()
        return [
            ("kpi_table (2 periods)", lambda: [_activity(self.select(previous.start, previous.end)), _activity(cur())]),
            ("daily_orders", lambda: cur().groupby([C.SERVICE_DATE, C.DINING_TYPE])
             .agg(n_orders=(C.ORDER_ID, "nunique"), n_items=(C.COUNT, "sum"))
             .unstack(fill_value=0).rolling(7, min_periods=1).mean()),
            ("weekly_orders", lambda: cur().groupby([C.WEEK, C.DINING_TYPE])
             .agg(n_orders=(C.ORDER_ID, "nunique"), n_items=(C.COUNT, "sum"))),
            ("weekday_heatmap", lambda: cur().groupby([cur()[C.SERVICE_DATE].dt.day_of_week, C.DINING_TYPE])
             [C.COUNT].sum()),
            ("top_foods (500; Top tab + picker)", lambda: cur().groupby(C.FOOD_ID)[C.COUNT].sum().nlargest(500)),
            ("lorenz_curve (+ Gini, top 10 %)", lambda: _lorenz(cur().groupby(C.FOOD_ID)[C.COUNT].sum().to_numpy())),
            ("weekly_concentration", lambda: cur().groupby([C.WEEK, C.FOOD_ID])[C.COUNT].sum()
             .groupby(level=0).apply(lambda s: _gini(s.to_numpy()))),
            ("menu_take_rate", self._take_rate),
            ("repeat_gaps", self._repeats),
            ("items_per_user", lambda: cur().groupby(C.USER_ID)[C.COUNT].sum().value_counts()),
            ("weekly_user_counts (new/returning + cohorts)", lambda: (self._new_vs_returning(), self._cohorts())),
            ("satisfaction_by_category", lambda: cur().groupby(C.CUISINE_CODE)[C.SATISFACTION].agg(["mean", "count"])),
            ("satisfaction_by_maker", lambda: cur().groupby(C.MAKERS_ID)[C.SATISFACTION].agg(["mean", "count"])),
            ("price_distribution", lambda: cur().groupby(cur()[C.PRICE] // cur()[C.COUNT] // 1000)[C.COUNT].sum()),
            ("group_comparison", lambda: cur().groupby(C.GROUP_ID).agg(
                n_orders=(C.ORDER_ID, "nunique"), n_items=(C.COUNT, "sum"), n_users=(C.USER_ID, "nunique"),
                n_foods=(C.FOOD_ID, "nunique"), sat=(C.SATISFACTION, "mean"))),
            ("food_weekly_trend", lambda: cur()[cur()[C.FOOD_ID] == food_id].groupby(C.WEEK)
             .agg(n_items=(C.COUNT, "sum"), n_users=(C.USER_ID, "nunique"))),
            ("food_groups", lambda: cur()[cur()[C.FOOD_ID] == food_id].groupby(C.GROUP_ID)[C.COUNT].sum()),
            ("food_satisfaction", lambda: cur()[cur()[C.FOOD_ID] == food_id][C.SATISFACTION].value_counts()),
        ]

    def _take_rate(self) -> pd.DataFrame:
        rows, slot = self.select(), [C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]
        m = (self.menu.join(rows.groupby(C.DAILY_FOOD_ID)[C.COUNT].sum().rename("chosen"), on=C.DAILY_FOOD_ID)
             .join(rows.groupby(slot)[C.COUNT].sum().rename("slot"), on=slot).fillna(0))
        return m.groupby(C.FOOD_ID).agg(offered=("chosen", "size"), chosen=("chosen", "sum"), slot=("slot", "sum"))

    def _repeats(self) -> pd.Series:
        hist = self.select(self.filt.start - timedelta(days=LOOKBACK_DAYS)).sort_values(
            [C.USER_ID, C.FOOD_ID, C.SERVICE_DATE, C.ORDER_ITEM_ID])
        gap = hist.groupby([C.USER_ID, C.FOOD_ID])[C.SERVICE_DATE].diff().dt.days
        inside = hist[C.SERVICE_DATE] >= pd.Timestamp(self.filt.start)
        return hist.loc[inside, C.COUNT].groupby(gap[inside].where(gap[inside] <= LOOKBACK_DAYS)).sum()

    def _active(self) -> pd.DataFrame:
        active = self.select()[[C.USER_ID, C.WEEK]].drop_duplicates()
        return active.merge(self.users[[C.USER_ID, C.FIRST_ORDER_DATE]], on=C.USER_ID, how="left")

    def _new_vs_returning(self) -> pd.DataFrame:
        active = self._active()
        return (active[C.FIRST_ORDER_DATE] < active[C.WEEK]).groupby(active[C.WEEK]).agg(["sum", "size"])

    def _cohorts(self) -> pd.Series:
        active = self._active()
        first_week = active[C.FIRST_ORDER_DATE] - pd.to_timedelta(active[C.FIRST_ORDER_DATE].dt.day_of_week, "D")
        cohort = active[first_week == active[C.WEEK]][[C.USER_ID, C.WEEK]].rename(columns={C.WEEK: "cohort"})
        joined = cohort.merge(active, on=C.USER_ID)
        joined = joined[joined[C.WEEK] >= joined["cohort"]]
        return joined.groupby(["cohort", (joined[C.WEEK] - joined["cohort"]).dt.days // 7]).size()


_FILTERED_COLUMNS = {"group_ids": C.GROUP_ID, "spot_ids": C.SPOT_ID, "dining_types": C.DINING_TYPE,
                     "makers_ids": C.MAKERS_ID, "cuisine_codes": C.CUISINE_CODE}


def _only(frame: pd.DataFrame, filt: OrderFilter) -> pd.DataFrame:
    """The rows the filter's id lists keep (a list whose column the frame lacks is skipped, as in SQL)."""
    keep = pd.Series(True, index=frame.index)
    for field, column in _FILTERED_COLUMNS.items():
        if getattr(filt, field) and column in frame:
            keep &= frame[column].isin(getattr(filt, field))
    return frame[keep].reset_index(drop=True)


def _activity(rows: pd.DataFrame) -> dict:
    return {"orders": rows[C.ORDER_ID].nunique(), "items": rows[C.COUNT].sum(), "users": rows[C.USER_ID].nunique(),
            "revenue": rows.loc[rows[C.IS_PAID], C.PRICE].sum(), "sat": rows[C.SATISFACTION].mean()}


def _lorenz(x: np.ndarray) -> tuple[np.ndarray, float]:
    x = np.sort(x)
    return np.cumsum(x) / x.sum(), _gini(x)


def _gini(x: np.ndarray) -> float:
    x = np.sort(x.astype(float))
    n = len(x)
    return 2 * (np.arange(1, n + 1) * x).sum() / (n * x.sum()) - (n + 1) / n if n else math.nan


# ------------------------------------------------------------------------------ measuring
def timed(fn: Callable, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def bench(url: str, label: str, repeat: int, days: int, view: str = "") -> None:
    engine = make_engine(url)
    options = eda.filter_options(engine)
    filt = OrderFilter.from_query_params(dict(parse_qsl(view)))
    filt = options.sanitize(filt if filt.start else filt.replace(start=options.last_date - timedelta(days=days - 1)))
    food_id = int(eda.top_foods(engine, filt, n=1)[C.FOOD_ID].iloc[0])
    with engine.connect() as conn:
        n_rows = conn.execute(sa.select(sa.func.count()).select_from(S.mart_order_item)).scalar_one()
    what = "paid items" if filt.paid_only else "all items"
    print(f"\n== {label}: {n_rows:,} order items; view {filt.start} .. {filt.end} ({filt.n_days} days, {what})"
          + (f"; filter {view}" if view else ""))

    sections = page_queries(filt, food_id)
    queries = {name: fn for part in sections.values() for name, fn in part}
    for fn in queries.values():                                           # warm the database's caches
        fn(engine)
    sql = {name: min(timed(fn, engine) for _ in range(repeat)) for name, fn in queries.items()}
    t0 = time.perf_counter()
    naive = Naive(engine, filt)
    load_s = time.perf_counter() - t0
    naive_s = {name: min(timed(fn) for _ in range(repeat)) for name, fn in naive.figures(food_id)}
    engine.dispose()
    for name in sections[EVERY_RENDER][:2]:          # readiness and filter choices: the same small lookups
        naive_s[name[0]] = sql[name[0]]

    print(f"{'query':<40}{'SQL s':>9}{'naive s':>10}")
    print(f"{'naive: load the rows once':<40}{'':>9}{load_s:>10.3f}   ({len(naive.rows):,} item rows)")
    for section, part in sections.items():
        print(f"[{section}]")
        for name, _ in part:
            print(f"  {name:<38}{sql[name]:>9.3f}{naive_s[name]:>10.3f}")

    def render(section: str) -> tuple[float, float]:
        names = {name for name, _ in sections[EVERY_RENDER] + sections[section]}
        return sum(sql[n] for n in names), load_s + sum(naive_s[n] for n in names)

    renders = {section: render(section) for section in sections if section != EVERY_RENDER}
    default = next(iter(renders))
    slowest = max(renders, key=lambda section: renders[section][0])
    every = (sum(sql.values()), load_s + sum(naive_s.values()))
    for title, (q_s, n_s) in [(f"render, default tab ({default})", renders[default]),
                              (f"render, slowest tab ({slowest})", renders[slowest]),
                              ("all queries (every tab opened)", every)]:
        verdict = "under" if q_s < TARGET_S else "OVER"
        print(f"{title:<40}{q_s:>9.3f}{n_s:>10.3f}   naive / SQL = {n_s / q_s:5.1f}x; SQL {verdict} {TARGET_S:.0f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", nargs="+", default=["large", "demo"])
    ap.add_argument("--backends", nargs="+", default=["mysql", "sqlite"], choices=["mysql", "sqlite"])
    ap.add_argument("--url", help="bench this DE database instead of the generated worlds")
    ap.add_argument("--repeat", type=int, default=3, help="runs per query; the best is reported")
    ap.add_argument("--days", type=int, default=DEFAULT_DAYS, help="length of the viewed date range")
    ap.add_argument("--view", default="", help="the page's URL query string, e.g. 'group=12&maker=40'")
    args = ap.parse_args()
    if args.url:
        bench(args.url, args.url, args.repeat, args.days, args.view)
        return 0
    for scale in args.scales:
        for backend in args.backends:
            bench(world_url(scale, backend), f"{scale} world, {backend}", args.repeat, args.days, args.view)
    return 0


if __name__ == "__main__":
    sys.exit(main())
