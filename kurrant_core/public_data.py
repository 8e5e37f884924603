"""A public ratings data set (MovieLens-100K) as a Kurrant world in the raw mirror tables.

The benchmark ``bench/bench_public_data.py`` runs the project's own evaluation on real, public
data. This module is its loader: it reads RecBole's atomic files (``.inter``: user_id, item_id,
rating, timestamp; ``.item``: item_id, movie_title, release_year, class) and writes them through
the DE schema, so ``preprocess`` and every model see them exactly as they see a synced Kurrant.
It never imports recbole; :func:`recbole_movielens_folder` only finds the files its wheel ships.

The mapping (one company lunch service where the movies are the foods):

- one group (기업), one spot, one maker (기타); every rating's user is a member of the group;
- every movie is a food on sale (판매중) of that maker at one price; its genres become food tags,
  ML's 19 genres in their ``u.genre`` order onto the 메뉴성격 codes 7001-7019 (``GENRE_TAGS``:
  unknown 7001, Action 7002, ..., Western 7019; the Korean labels of those codes mean nothing
  here, the codes only keep the genres apart); no cuisine, ingredient, spiciness or allergy tag;
- each rating is one paid lunch order of one item, served on the rating's date (the UTC
  calendar day of its timestamp), ordered and reviewed at the timestamp: order item status 14
  (리뷰 작성 완료, paid), the rating as the review's satisfaction (1-5);
- the daily lunch menu of every service day (a day with at least one rating) is every movie.
  That keeps the menu honest (a choice among the whole catalog, as in a rating data set) and
  cheap enough: days x movies menu rows (358k for ML-100K) and, for the choice models, meals x
  movies exposures (2.5k user-days x 1,682 = 4.2M rows). Days without ratings get no menu, so
  the daily-menu protocol ranks nothing extra.
- users joined at their first rating; nobody leaves; no taste survey, no allergies.
"""
from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, schema as S
from kurrant_core.db import init_db
from kurrant_core.demo.writer import Columns, clear_tables, replace_tables, table_columns
from kurrant_core.errors import KurrantError

MOVIELENS_100K = "ml-100k"
RECBOLE_INSTALL = ".venv/bin/python -m pip install --no-deps recbole==1.2.1"
"""How to get the files: the recbole wheel ships MovieLens-100K in its atomic format."""

# RecBole's atomic file columns (the part of each header before ``:type``)
USER, ITEM, RATING, TIMESTAMP = "user_id", "item_id", "rating", "timestamp"
TITLE, RELEASE_YEAR, GENRES = "movie_title", "release_year", "class"

MOVIELENS_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                    "Romance", "Sci-Fi", "Thriller", "War", "Western"]
"""ML-100K's 19 genres in the order of its ``u.genre`` file."""
GENRE_TAGS: dict[str, int] = {genre: codes.TAG_CATEGORY_CODES[codes.MENU_CHARACTER][k]
                              for k, genre in enumerate(MOVIELENS_GENRES)}
"""Genre -> the FoodTag code it becomes (7001 + its position in ``MOVIELENS_GENRES``)."""

GROUP_ID, SPOT_ID, MAKERS_ID = 1, 1, 1
PRICE, SUPPLY_PRICE = 8_000, 5_600
CAPACITY = 1_000_000
MENU_CLOSING = np.timedelta64(-7 * 3600, "s")
"""Menus close (주문마감) at 17:00 the day before service, as in the demo world."""


@dataclass(frozen=True)
class Ratings:
    """A ratings data set in RecBole's columns: ``ratings`` (user, item, rating, timestamp in
    Unix seconds) and ``items`` (item, title, release year or <NA>, list of genres)."""

    ratings: pd.DataFrame
    items: pd.DataFrame


# ---------------------------------------------------------------------------------------- reading
def recbole_movielens_folder(name: str = MOVIELENS_100K) -> Path | None:
    """The folder of the MovieLens files inside the installed recbole wheel, or None when recbole
    is not installed. Finds the package without importing it (recbole pulls in torch and more)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / "dataset_example" / name
        if (folder / f"{name}.inter").is_file():
            return folder
    return None


def read_atomic(path: Path) -> pd.DataFrame:
    """One RecBole atomic file: tab-separated, a ``name:type`` header, text kept as written."""
    frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False,
                        encoding="utf-8", encoding_errors="replace")
    frame.columns = [c.split(":", 1)[0] for c in frame.columns]
    return frame


def read_movielens(folder: Path, name: str = MOVIELENS_100K) -> Ratings:
    """``{name}.inter`` and ``{name}.item`` of ``folder`` (RecBole's format) as :class:`Ratings`."""
    folder = Path(folder)
    inter_path, item_path = folder / f"{name}.inter", folder / f"{name}.item"
    if not inter_path.is_file():
        raise KurrantError(f"{inter_path} is missing. MovieLens-100K ships with recbole: {RECBOLE_INSTALL}")
    inter = read_atomic(inter_path)
    ratings = pd.DataFrame({
        USER: inter[USER].astype(np.int64), ITEM: inter[ITEM].astype(np.int64),
        RATING: inter[RATING].astype(float).round().clip(1, 5).astype(np.int64),
        TIMESTAMP: inter[TIMESTAMP].astype(float).astype(np.int64)})
    items = _bare_items(np.empty(0, dtype=np.int64))
    if item_path.is_file():
        raw = read_atomic(item_path)
        items = pd.DataFrame({
            ITEM: raw[ITEM].astype(np.int64), TITLE: raw[TITLE],
            RELEASE_YEAR: pd.to_numeric(raw[RELEASE_YEAR], errors="coerce").astype("Int64"),
            GENRES: raw[GENRES].str.split()})
    unknown = np.unique(ratings.loc[~ratings[ITEM].isin(items[ITEM]), ITEM])
    if len(unknown):      # a rated item the item file lacks still becomes a food
        items = pd.concat([items, _bare_items(unknown)], ignore_index=True)
    return Ratings(ratings, items.sort_values(ITEM).reset_index(drop=True))


def _bare_items(ids: np.ndarray) -> pd.DataFrame:
    """Items with no title, year or genre."""
    return pd.DataFrame({ITEM: ids, TITLE: "", RELEASE_YEAR: pd.array([pd.NA] * len(ids), dtype="Int64"),
                         GENRES: [[] for _ in ids]})


# ---------------------------------------------------------------------------------------- the split
def service_dates(ratings: pd.DataFrame) -> np.ndarray:
    """Each rating's service date: the UTC calendar day of its timestamp (``datetime64[D]``)."""
    return ratings[TIMESTAMP].to_numpy(dtype=np.int64).astype("datetime64[s]").astype("datetime64[D]")


def tail_split(ratings: pd.DataFrame, share: float = 0.125) -> tuple[date, int]:
    """(cutoff, horizon in days) whose test window is the last ``share`` of the timeline's span.

    The timeline runs from the first to the last service date, both included (``span`` days); the
    test window is its last ``round(share * span)`` days (at least 1), up to and including the
    last service date, and the cutoff is the window's first day.
    """
    days = service_dates(ratings)
    if days.size == 0:
        raise KurrantError("No ratings: nothing to split.")
    first, last = pd.Timestamp(days.min()).date(), pd.Timestamp(days.max()).date()
    span = (last - first).days + 1
    horizon = max(1, int(round(share * span)))
    return last + timedelta(days=1) - timedelta(days=horizon), horizon


# ---------------------------------------------------------------------------------------- writing
def load_ratings(engine: sa.Engine, data: Ratings) -> dict[str, int]:
    """Empty the raw mirror (and the demo's ground truth) and write ``data`` into it as a Kurrant
    world (see the module docstring); returns the rows per table. Run ``preprocess`` after."""
    init_db(engine)
    clear_tables(engine, [S.demo_user_taste])
    return replace_tables(engine, ratings_tables(data))


def ratings_tables(data: Ratings) -> dict[sa.Table, Columns]:
    """Columns of every raw mirror table for ``data``, without touching a database."""
    ratings, items = data.ratings, data.items
    if ratings.empty:
        raise KurrantError("No ratings to load.")
    # one order (and order item) per rating, numbered in time order
    ratings = ratings.sort_values([TIMESTAMP, USER, ITEM], kind="stable").reset_index(drop=True)
    at = ratings[TIMESTAMP].to_numpy(dtype=np.int64).astype("datetime64[s]")
    day = at.astype("datetime64[D]")
    days, day_pos = np.unique(day, return_inverse=True)
    item_ids = items[ITEM].to_numpy(dtype=np.int64)
    item_pos = np.searchsorted(item_ids, ratings[ITEM].to_numpy(dtype=np.int64))
    n, n_items = len(ratings), len(item_ids)
    ids = np.arange(1, n + 1)
    return {
        **_organisation_tables(),
        **_user_tables(ratings, at),
        **_catalog_tables(items, ratings, at),
        S.daily_food: _menu_columns(days, item_ids),
        S.order: table_columns(
            S.order, id=ids, user_id=ratings[USER].to_numpy(dtype=np.int64),
            e_order_type=np.full(n, codes.ORDER_TYPE_DAILY), total_price=np.full(n, PRICE),
            created_date_time=at),
        S.order_daily_food: table_columns(S.order_daily_food, id=ids, spot_id=np.full(n, SPOT_ID)),
        S.order_item: table_columns(
            S.order_item, id=ids, order_id=ids, e_order_status=np.full(n, codes.ORDER_REVIEWED),
            created_date_time=at, updated_date_time=at),
        S.order_item_dailyfood: table_columns(
            S.order_item_dailyfood, id=ids, daily_food_id=day_pos * n_items + item_pos + 1,
            order_item_daily_food_group_id=ids, count=np.ones(n, dtype=np.int64),
            price=np.full(n, PRICE), discounted_price=np.full(n, PRICE)),
        S.order_item_dailyfood_group: table_columns(
            S.order_item_dailyfood_group, id=ids, e_order_status=np.full(n, codes.ORDER_RECEIVED),
            service_date=day, e_dining_type=np.full(n, codes.LUNCH)),
        S.review: table_columns(
            S.review, id=ids, user_id=ratings[USER].to_numpy(dtype=np.int64),
            food_id=ratings[ITEM].to_numpy(dtype=np.int64), order_item_id=ids,
            satisfaction=ratings[RATING].to_numpy(dtype=np.int64), is_delete=np.zeros(n, dtype=bool),
            created_date_time=at, updated_date_time=at),
    }


def _organisation_tables() -> dict[sa.Table, Columns]:
    lunch = str(codes.LUNCH)
    return {
        S.client_group: table_columns(S.client_group, id=[GROUP_ID], dtype=[codes.CORPORATION],
                                      name=["MovieLens"], dining_types=[lunch], is_active=[True]),
        S.client_spot: table_columns(S.client_spot, id=[SPOT_ID], name=["MovieLens"],
                                     client_group_id=[GROUP_ID], dining_types=[lunch], status=[1]),
        S.makers: table_columns(S.makers, id=[MAKERS_ID], name=["MovieLens"], e_service_type=[6],
                                e_service_form=[0], is_active=[True]),
        S.makers_capacity: table_columns(S.makers_capacity, id=[1], makers_id=[MAKERS_ID],
                                         dining_type=[codes.LUNCH], capacity=[CAPACITY]),
    }


def _user_tables(ratings: pd.DataFrame, at: np.ndarray) -> dict[sa.Table, Columns]:
    by_user = pd.DataFrame({USER: ratings[USER].to_numpy(), "at": at}).groupby(USER)["at"]
    first, last = by_user.min(), by_user.max()
    user_ids = first.index.to_numpy(dtype=np.int64)
    joined = first.to_numpy().astype("datetime64[s]")
    n = len(user_ids)
    empty = np.empty(0, dtype=np.int64)
    return {
        S.user_user: table_columns(
            S.user_user, id=user_ids, e_role=np.zeros(n, dtype=np.int64),
            e_user_status=np.full(n, codes.USER_ACTIVE), is_membership=np.zeros(n, dtype=bool),
            created_date_time=joined, recent_login_date_time=last.to_numpy().astype("datetime64[s]"),
            updated_date_time=joined),
        S.user_group: table_columns(
            S.user_group, id=user_ids, user_id=user_ids, group_id=np.full(n, GROUP_ID),
            client_status=np.full(n, codes.CLIENT_BELONG), created_date_time=joined,
            updated_date_time=joined),
        S.user_spot: table_columns(S.user_spot, id=user_ids, user_id=user_ids, spot_id=np.full(n, SPOT_ID),
                                   is_default=np.ones(n, dtype=bool)),
        S.user_preference: table_columns(
            S.user_preference, id=empty, user_id=empty, is_vegan=np.empty(0, dtype=bool),
            updated_date_time=np.empty(0, dtype="datetime64[s]")),
    }


def food_tags(genres: list[str]) -> str:
    """The ``e_food_tags`` string of a movie's genres (unknown names are dropped)."""
    return codes.join_codes(sorted({GENRE_TAGS[g] for g in genres if g in GENRE_TAGS}))


def _catalog_tables(items: pd.DataFrame, ratings: pd.DataFrame, at: np.ndarray) -> dict[sa.Table, Columns]:
    item_ids = items[ITEM].to_numpy(dtype=np.int64)
    n = len(item_ids)
    # created: 1 January of the release year, or the first rating if that came earlier
    first_rated = (pd.Series(at).groupby(ratings[ITEM].to_numpy()).min().reindex(item_ids)
                   .to_numpy().astype("datetime64[s]"))
    year = items[RELEASE_YEAR].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    released = np.where(np.isnan(year), np.datetime64("NaT"),
                        (np.nan_to_num(year, nan=1970).astype(np.int64) - 1970).astype("datetime64[Y]")
                        ).astype("datetime64[s]")
    created = np.fmin(released, first_rated)
    created = np.where(np.isnat(created), at.min(), created).astype("datetime64[s]")
    names = [str(t)[:100] or f"item {i}" for t, i in zip(items[TITLE], item_ids)]
    descriptions = [" / ".join(filter(None, ["" if pd.isna(y) else str(int(y)), " ".join(g)]))[:500] or None
                    for y, g in zip(items[RELEASE_YEAR], items[GENRES])]
    nothing = np.full(n, np.nan)
    return {
        S.food: table_columns(
            S.food, id=item_ids, name=names, description=descriptions, makers_id=np.full(n, MAKERS_ID),
            e_status=np.full(n, codes.FOOD_ON_SALE), price=np.full(n, PRICE),
            supply_price=np.full(n, SUPPLY_PRICE), e_food_tags=[food_tags(g) for g in items[GENRES]],
            calorie=nothing, carbohydrate=nothing, fat=nothing, protein=nothing,
            created_date_time=created, updated_date_time=created),
        S.food_capacity: table_columns(S.food_capacity, id=np.arange(1, n + 1), food_id=item_ids,
                                       dining_type=np.full(n, codes.LUNCH), capacity=np.full(n, CAPACITY)),
    }


def _menu_columns(days: np.ndarray, item_ids: np.ndarray) -> Columns:
    """Every movie on the lunch menu of every service day; id = day position x movies + movie
    position + 1, so an order item finds its menu row without a lookup."""
    n_days, n_items = len(days), len(item_ids)
    service_date = np.repeat(days, n_items)
    closed = service_date.astype("datetime64[s]") + MENU_CLOSING
    return table_columns(
        S.daily_food, id=np.arange(1, n_days * n_items + 1), e_dining_type=np.full(n_days * n_items, codes.LUNCH),
        service_date=service_date, food_id=np.tile(item_ids, n_days), group_id=np.full(n_days * n_items, GROUP_ID),
        e_status=np.full(n_days * n_items, codes.DAILY_FOOD_CLOSED), default_price=np.full(n_days * n_items, PRICE),
        updated_date_time=closed)
