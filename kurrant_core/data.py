"""Training data for every recommender: id maps, sparse interaction matrices, food features,
allergy matrices, order sequences, daily menus and menu exposures, all read from the marts.

One global time cutoff splits the past from the future: only PAID items served before the cutoff
teach the models, while the daily menus (known in advance) are kept for every date so that a model
can rank a future day's menu. Models work on contiguous indices (``USER_IDX``/``ITEM_IDX``); the
raw DE ids live in ``user_ids``/``food_ids``.

Service dates in the frames are ``datetime64`` (midnight), not ``datetime.date``: compare them with
``pd.Timestamp(day)``.
"""
from __future__ import annotations

import itertools
import json
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sqlalchemy as sa
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.preprocessing import KBinsDiscretizer, MinMaxScaler, MultiLabelBinarizer, OneHotEncoder, normalize

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.errors import KurrantError
from kurrant_core.sql_dates import day_number

USER_IDX = "u"
ITEM_IDX = "i"
CHOSEN = "chosen"

ALLERGY_CODES: list[int] = codes.TAG_CATEGORY_CODES[codes.ALLERGY]
SPICINESS_CODES: list[int] = codes.TAG_CATEGORY_CODES[codes.SPICINESS]
NUTRITION_COLUMNS = [C.CALORIE, C.CARBOHYDRATE, C.FAT, C.PROTEIN]
MENU_WITHDRAWN_STATUSES = frozenset({4})
"""Daily-menu statuses users never saw (판매중지): left out of menus, candidates and exposures."""
FEATURE_BLOCK_WEIGHTS = {"tag": 1.0, "maker": 0.5, "price": 0.35, "nutrition": 0.35, "spiciness": 0.35}
"""Relative weight of each food-feature block: tags describe taste best, the rest refine it."""
PRICE_BANDS = 5
MAX_EXPOSED_PER_MENU = 200
"""Foods of one menu that become exposures (negatives) for the users who ordered from it; a
menu longer than this (a public catalogue offered whole every day) is sampled, seeded."""

_ORDER_COLUMNS = [C.ORDER_ITEM_ID, C.USER_ID, C.FOOD_ID, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]
"""What is read per order item. Its maker and cuisine are the food's (preprocess copies them from
mart_food): a model reads them by food index (``food_makers``, ``food_category``), not from 3.8 M
order rows (two int64 columns, 59 MB on a large world)."""
_MENU_COLUMNS = [C.DAILY_FOOD_ID, C.SERVICE_DATE, C.DINING_TYPE, C.GROUP_ID, C.FOOD_ID, C.MAKERS_ID,
                 C.DAILY_FOOD_STATUS, C.PRICE]
READ_CHUNK_ROWS = 100_000
"""Rows per fetch of a bulk read: the driver's per-row tuples never exceed one chunk."""
_DATE_DTYPE = "datetime64[s]"
_SAVED_FRAMES = ("orders", "foods", "users", "menus")
_SAVED_MATRICES = ("food_features", "food_allergens", "user_allergens")


@dataclass(frozen=True, eq=False)
class TrainingData:
    """Everything a model learns from, built once per cutoff by :func:`build_training_data`."""

    cutoff: date
    half_life_days: float
    user_ids: np.ndarray
    food_ids: np.ndarray
    orders: pd.DataFrame
    foods: pd.DataFrame
    food_features: sp.csr_matrix
    feature_names: list[str]
    feature_codes: list[str]
    food_allergens: sp.csr_matrix
    users: pd.DataFrame
    user_allergens: sp.csr_matrix
    menus: pd.DataFrame
    user_index: dict[int, int] = field(init=False)
    food_index: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_index", {int(x): k for k, x in enumerate(self.user_ids)})
        object.__setattr__(self, "food_index", {int(x): k for k, x in enumerate(self.food_ids)})

    # ------------------------------------------------------------------------------ shapes
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_foods(self) -> int:
        return len(self.food_ids)

    @property
    def last_day(self) -> pd.Timestamp:
        """The last service date that may carry training orders (the day before the cutoff)."""
        return pd.Timestamp(self.cutoff) - pd.Timedelta(days=1)

    # ------------------------------------------------------------------------------ interactions
    def decay_weights(self, half_life_days: float | None = None) -> np.ndarray:
        """Weight of each ``orders`` row: 0.5 ** (days before the last training day / half-life).

        An item served on the last day before the cutoff weighs 1; one served ``half_life_days``
        earlier weighs 0.5. Models with their own half-life pass it here.
        """
        h = self.half_life_days if half_life_days is None else float(half_life_days)
        if h <= 0:
            raise KurrantError(f"half_life_days must be positive, not {h}.")
        age = (self.last_day - self.orders[C.SERVICE_DATE]).dt.days.to_numpy(dtype=np.float64)
        return np.power(0.5, age / h)

    def user_food_matrix(self, weights: np.ndarray) -> sp.csr_matrix:
        """users x foods matrix summing ``weights`` (one per ``orders`` row) per cell."""
        m = sp.csr_matrix((np.asarray(weights, dtype=np.float64),
                           (self.orders[USER_IDX].to_numpy(), self.orders[ITEM_IDX].to_numpy())),
                          shape=(self.n_users, self.n_foods))
        m.sum_duplicates()
        return m

    @cached_property
    def interactions(self) -> sp.csr_matrix:
        """users x foods, time-decayed counts of paid items (``half_life_days`` of the data)."""
        return self.user_food_matrix(self.decay_weights())

    @cached_property
    def counts(self) -> sp.csr_matrix:
        """users x foods, raw number of paid order items (a line of quantity 3 counts once)."""
        return self.user_food_matrix(np.ones(len(self.orders)))

    @cached_property
    def cold(self) -> np.ndarray:
        """Per user index: True when the user has no paid order before the cutoff."""
        return np.diff(self.counts.indptr) == 0

    def is_cold(self, u: int) -> bool:
        return bool(self.cold[u])

    @cached_property
    def sequences(self) -> list[np.ndarray]:
        """Per user index, the food indices of their paid items in time order (empty when cold)."""
        items = self.orders[ITEM_IDX].to_numpy()
        bounds = np.searchsorted(self.orders[USER_IDX].to_numpy(), np.arange(self.n_users + 1))
        return [items[bounds[u]:bounds[u + 1]] for u in range(self.n_users)]

    def last_eaten(self, u: int) -> dict[int, pd.Timestamp]:
        """Food index -> the last service date user index ``u`` ate it before the cutoff."""
        rows = self.orders.iloc[self._user_rows(u)]
        return rows.groupby(ITEM_IDX)[C.SERVICE_DATE].max().to_dict()

    def _user_rows(self, u: int) -> slice:
        uu = self.orders[USER_IDX].to_numpy()
        return slice(int(np.searchsorted(uu, u)), int(np.searchsorted(uu, u, side="right")))

    # ------------------------------------------------------------------------------ foods and users
    @cached_property
    def food_category(self) -> np.ndarray:
        """Cuisine code per food index (-1 when the food has no cuisine tag)."""
        return self.foods[C.CUISINE_CODE].fillna(-1).to_numpy(dtype=np.int64)

    @cached_property
    def food_makers(self) -> np.ndarray:
        """Makers id per food index."""
        return self.foods[C.MAKERS_ID].to_numpy(dtype=np.int64)

    @cached_property
    def catalog(self) -> np.ndarray:
        """Food indices on sale (판매중): the candidates of a date-free recommendation."""
        return np.flatnonzero(self.foods[C.FOOD_STATUS].to_numpy() == codes.FOOD_ON_SALE)

    @cached_property
    def user_group(self) -> np.ndarray:
        """Group id per user index (-1 for a user without a group)."""
        return self.users[C.GROUP_ID].fillna(-1).to_numpy(dtype=np.int64)

    @cached_property
    def tag_feature_index(self) -> dict[int, int]:
        """Food tag code -> its column in ``food_features`` (tags no food carries are absent)."""
        return {int(name.split("=", 1)[1]): k for k, name in enumerate(self.feature_codes)
                if name.startswith("tag=")}

    # ------------------------------------------------------------------------------ re-ranking inputs
    @cached_property
    def dense_features(self) -> np.ndarray:
        """``food_features`` as a dense array (rows are unit length): the re-ranker indexes it
        for every user's candidates, which a sparse matrix makes slow."""
        return self.food_features.toarray()

    @cached_property
    def category_codes(self) -> np.ndarray:
        """The distinct cuisine codes of the foods (column order of ``category_mix``)."""
        return np.unique(self.food_category)

    @cached_property
    def category_mix(self) -> sp.csr_matrix:
        """users x ``category_codes``: each user's share of paid items per cuisine before the
        cutoff (an empty row for a cold user)."""
        column = np.searchsorted(self.category_codes, self.food_category[self.orders[ITEM_IDX].to_numpy()])
        counts = sp.csr_matrix((np.ones(len(self.orders)), (self.orders[USER_IDX].to_numpy(), column)),
                               shape=(self.n_users, len(self.category_codes)))
        counts.sum_duplicates()
        return normalize(counts, norm="l1").tocsr()

    @cached_property
    def last_eaten_day(self) -> sp.csr_matrix:
        """users x foods: 1 + the day number (days since 1970) of the user's last paid item of the
        food before the cutoff; 0 where they never had it."""
        day = self.orders[C.SERVICE_DATE].to_numpy().astype("datetime64[D]").astype(np.int64) + 1
        frame = pd.DataFrame({"u": self.orders[USER_IDX].to_numpy(), "i": self.orders[ITEM_IDX].to_numpy(),
                              "d": day}).groupby(["u", "i"], sort=False)["d"].max()
        return sp.csr_matrix((frame.to_numpy(dtype=np.float64),
                              (frame.index.get_level_values(0), frame.index.get_level_values(1))),
                             shape=(self.n_users, self.n_foods))

    # ------------------------------------------------------------------------------ menus
    @cached_property
    def _menu_lookup(self) -> dict[tuple[int, pd.Timestamp, int], np.ndarray]:
        keys = [C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]
        items = self.menus[ITEM_IDX].to_numpy()
        return {(int(g), pd.Timestamp(d), int(t)): np.unique(items[rows])
                for (g, d, t), rows in self.menus.groupby(keys, sort=False).indices.items()}

    def menu_items(self, group_id: int, service_date: date | pd.Timestamp,
                   dining_type: int = codes.LUNCH) -> np.ndarray:
        """Food indices on ``group_id``'s menu that day and meal (empty when there is none)."""
        key = (int(group_id), pd.Timestamp(service_date), int(dining_type))
        return self._menu_lookup.get(key, np.empty(0, dtype=np.int64))

    @cached_property
    def exposures(self) -> pd.DataFrame:
        """Every menu a user ordered from before the cutoff, one row per food on it.

        Columns ``USER_IDX``, ``ITEM_IDX``, service date, dining type and ``CHOSEN`` (the user
        ordered that food that meal): the choice model's training set (the menu's group is the
        order's, in ``orders``; no model reads it here, and it cost 85 MB on a large world). A menu longer than
        ``MAX_EXPOSED_PER_MENU`` (a catalogue of thousands offered every day) keeps a seeded
        sample of that many foods, the same for every user of that menu, plus each user's chosen
        food: users x menu rows would not fit in memory, and sampled negatives teach the same.
        Built in numpy (each meal's menu is a slice of one index array), written in steps into
        int32 indices and an int8 dining type: on a large world this is tens of millions of
        rows (21 M, 366 MB), so it is built only when a model asks for it.
        """
        return menu_exposures(self.orders, self.menus, self.n_foods)

    # ------------------------------------------------------------------------------ ids
    def user_indices(self, user_ids) -> np.ndarray:
        """Contiguous indices of raw user ids; an unknown id raises KurrantError."""
        ids = np.atleast_1d(np.asarray(user_ids, dtype=np.int64))
        pos = np.searchsorted(self.user_ids, ids)
        pos = np.minimum(pos, len(self.user_ids) - 1)
        bad = ids[self.user_ids[pos] != ids] if len(self.user_ids) else ids
        if len(bad):
            raise KurrantError(
                f"user {int(bad[0])} is not in the DE database used for training (cutoff {self.cutoff}). "
                "Check the id, or sync + preprocess and retrain if the user joined recently.")
        return pos

    def food_indices(self, food_ids) -> np.ndarray:
        """Contiguous indices of raw food ids; an unknown id raises KurrantError."""
        ids = np.atleast_1d(np.asarray(food_ids, dtype=np.int64))
        pos = np.minimum(np.searchsorted(self.food_ids, ids), max(len(self.food_ids) - 1, 0))
        bad = ids[self.food_ids[pos] != ids] if len(self.food_ids) else ids
        if len(bad):
            raise KurrantError(f"food {int(bad[0])} is not in mart_food. Check the id, or run preprocess.")
        return pos

    # ------------------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> None:
        """Write the data a saved model needs to recommend again (Parquet + npz + meta.json)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in _SAVED_FRAMES:
            getattr(self, name).to_parquet(folder / f"{name}.parquet", index=False)
        for name in _SAVED_MATRICES:
            sp.save_npz(folder / f"{name}.npz", getattr(self, name))
        np.savez(folder / "ids.npz", user_ids=self.user_ids, food_ids=self.food_ids)
        meta = {"cutoff": self.cutoff.isoformat(), "half_life_days": self.half_life_days,
                "feature_names": self.feature_names, "feature_codes": self.feature_codes}
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))

    @classmethod
    def load(cls, folder: Path) -> TrainingData:
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        ids = np.load(folder / "ids.npz")
        frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in _SAVED_FRAMES}
        for frame in frames.values():
            if C.SERVICE_DATE in frame:
                frame[C.SERVICE_DATE] = frame[C.SERVICE_DATE].astype(_DATE_DTYPE)
        matrices = {name: sp.load_npz(folder / f"{name}.npz").tocsr() for name in _SAVED_MATRICES}
        return cls(cutoff=date.fromisoformat(meta["cutoff"]), half_life_days=meta["half_life_days"],
                   user_ids=ids["user_ids"], food_ids=ids["food_ids"], feature_names=meta["feature_names"],
                   feature_codes=meta["feature_codes"], **frames, **matrices)


# ================================================================================= building
def build_training_data(engine: sa.Engine, cutoff: date | None = None, *,
                        half_life_days: float = 30.0) -> TrainingData:
    """Read the marts and build the training data for items served before ``cutoff``.

    ``cutoff`` None means the day after the last service date, i.e. train on everything.
    """
    if half_life_days <= 0:
        raise KurrantError(f"half_life_days must be positive, not {half_life_days}.")
    with engine.connect() as conn:
        if cutoff is None:
            cutoff = _default_cutoff(conn)
        foods = _read(conn, sa.select(S.mart_food).order_by(S.mart_food.c[C.FOOD_ID]))
        users = _read(conn, sa.select(S.mart_user).order_by(S.mart_user.c[C.USER_ID]))
        oi = S.mart_order_item.c
        orders = _read_int_columns(conn, sa.select(*_day_numbers(oi, _ORDER_COLUMNS))
                                   .where(oi[C.IS_PAID] == sa.true(), oi[C.SERVICE_DATE] < cutoff))
        dm = S.mart_daily_menu.c
        menus = _read_int_columns(conn, sa.select(*_day_numbers(dm, _MENU_COLUMNS))
                                  .where(dm[C.DAILY_FOOD_STATUS].not_in(sorted(MENU_WITHDRAWN_STATUSES)))
                                  .order_by(dm[C.DAILY_FOOD_ID]))
    if foods.empty or users.empty:
        raise KurrantError("The marts are empty. Run `python -m kurrant_core preprocess` after loading "
                           "data (demo-data or sync), then train again.")
    user_ids = users[C.USER_ID].to_numpy(dtype=np.int64)
    food_ids = foods[C.FOOD_ID].to_numpy(dtype=np.int64)
    features, names, feature_codes = food_feature_matrix(foods)
    return TrainingData(
        cutoff=cutoff, half_life_days=float(half_life_days), user_ids=user_ids, food_ids=food_ids,
        orders=_order_frame(orders, user_ids, food_ids), foods=foods,
        food_features=features, feature_names=names, feature_codes=feature_codes,
        food_allergens=allergen_matrix(foods[C.ALLERGY_TAGS]), users=users,
        user_allergens=allergen_matrix(users[C.ALLERGY_TAGS]), menus=_menu_frame(menus, food_ids))


def _default_cutoff(conn: sa.Connection) -> date:
    last = conn.execute(sa.select(sa.func.max(S.mart_order_item.c[C.SERVICE_DATE]))).scalar()
    if last is None:
        raise KurrantError("mart_order_item is empty: there is nothing to train on. Load data "
                           "(demo-data or sync), run preprocess, then train again.")
    return pd.Timestamp(last).date() + timedelta(days=1)


def _day_numbers(columns: sa.ColumnCollection, names: list[str]) -> list[sa.ColumnElement]:
    """The columns, with the service date as days since 1970 computed by the database: every
    column read is then an integer that numpy takes in bulk (no string or ``date`` per row)."""
    return [day_number(columns[n]).label(n) if n == C.SERVICE_DATE else columns[n] for n in names]


def _read(conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
    """A small table (foods, users) as pandas reads it."""
    frame = pd.read_sql(query, conn)
    if C.SERVICE_DATE in frame:
        frame[C.SERVICE_DATE] = pd.to_datetime(frame[C.SERVICE_DATE]).astype(_DATE_DTYPE)
    return frame


def _driver_partitions(conn: sa.Connection, query: sa.Select | str,
                       chunk_rows: int | None = None) -> Iterator[list[tuple]]:
    """The rows of ``query`` (or of SQL text) in lists of ``chunk_rows`` (default
    ``READ_CHUNK_ROWS``) plain driver tuples.

    On SQLite and PyMySQL (a server-side cursor, streamed) the DBAPI cursor is read directly: a
    SQLAlchemy ``Row`` per row doubles the CPU of reading millions of rows. The query's only
    parameters are dates and codes, rendered as literals. Another driver reads through SQLAlchemy.
    """
    driver = conn.dialect.driver
    if driver not in ("pysqlite", "pymysql"):
        statement = sa.text(query) if isinstance(query, str) else query
        yield from conn.execution_options(yield_per=chunk_rows or READ_CHUNK_ROWS).execute(statement).partitions()
        return
    sql = query if isinstance(query, str) else str(
        query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if driver == "pymysql":
        import pymysql.cursors
        cursor = conn.connection.dbapi_connection.cursor(pymysql.cursors.SSCursor)
    else:
        cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk_rows or READ_CHUNK_ROWS):
            yield rows
    finally:
        cursor.close()


def _read_int_columns(conn: sa.Connection, query: sa.Select) -> dict[str, np.ndarray]:
    """The integer (NOT NULL) columns of ``query`` as int64 arrays, fetched ``READ_CHUNK_ROWS`` at a
    time (streamed on MySQL): only one chunk of the driver's tuples exists at once, and each chunk
    becomes one 2-D array without a Python object per value. On PyMySQL the server sends the rows
    as blocks of text (``_text_blocks``) that numpy parses at once."""
    names = [c.name for c in query.selected_columns]
    if conn.dialect.driver == "pymysql":
        blocks = list(_text_blocks(conn, query))
    else:
        blocks = [np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64,
                              count=len(rows) * len(names)).reshape(len(rows), len(names))
                  for rows in _driver_partitions(conn, query)]
    block = np.concatenate(blocks) if blocks else np.zeros((0, len(names)), dtype=np.int64)
    del blocks
    return {name: np.ascontiguousarray(block[:, k]) for k, name in enumerate(names)}


TEXT_BLOCK_KEYS = 4_096
"""Values of a bulk read's first column (its key) per block of text rows on PyMySQL."""


def _text_blocks(conn: sa.Connection, query: sa.Select) -> Iterator[np.ndarray]:
    """The rows of ``query`` (integer columns, the first a unique key), sorted by that key, in
    ``rows x columns`` int64 blocks, read as comma-joined text of ``TEXT_BLOCK_KEYS`` keys per row.

    PyMySQL is pure Python and pays per row it reads: the large world's 3.8 M order items took
    25 s of CPU, most of a MariaDB training-data build. The server joins each block's rows into one
    text (``GROUP_CONCAT`` of ``CONCAT_WS``, in key order) and numpy parses it: 1,000 times fewer
    rows for the driver. A row with a NULL (skipped by ``CONCAT_WS``) is an error, never a shifted
    column."""
    quote = conn.dialect.identifier_preparer.quote
    names = [quote(c.name) for c in query.selected_columns]
    inner = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    row = "CONCAT_WS(',', " + ", ".join(f"q.{n}" for n in names) + ")"
    key = f"q.{names[0]} DIV {TEXT_BLOCK_KEYS}"
    sql = (f"SELECT COUNT(*), GROUP_CONCAT({row} ORDER BY q.{names[0]} SEPARATOR ',') "
           f"FROM ({inner}) AS q GROUP BY {key} ORDER BY {key}")
    conn.exec_driver_sql("SET SESSION group_concat_max_len = 1073741824")
    for rows in _driver_partitions(conn, sql, max(1, READ_CHUNK_ROWS // TEXT_BLOCK_KEYS)):
        yield parse_text_rows(sum(int(n) for n, _ in rows), ",".join(text for _, text in rows), len(names))


def parse_text_rows(n_rows: int, text: str, width: int) -> np.ndarray:
    """``n_rows x width`` int64 array of ``text`` (comma-separated integers, row after row); a row
    with a missing value (``CONCAT_WS`` skips a NULL) is an error, never a shifted column."""
    values = np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, dtype=np.int64)
    if len(values) != n_rows * width:
        raise KurrantError(f"A bulk read expected {width} integers per row and found a row with fewer "
                           "(a NULL where the marts hold none): run preprocess --full.")
    return values.reshape(n_rows, width)


def _dates(days: np.ndarray) -> np.ndarray:
    """Day numbers (days since 1970) as the frames' ``datetime64[s]``."""
    return days.astype("datetime64[D]").astype(_DATE_DTYPE)


def _positions(ids: np.ndarray, sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each id in ``sorted_ids``, and whether it is there at all."""
    if not len(sorted_ids):
        return np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return pos, sorted_ids[pos] == ids


def _order_frame(raw: dict[str, np.ndarray], user_ids: np.ndarray, food_ids: np.ndarray) -> pd.DataFrame:
    """``TrainingData.orders`` from the read columns: rows of known users and foods, sorted by user,
    date, dining type and order item. Each read column is
    taken out of ``raw`` as it is used (a large world's columns are tens of MB each), and the frame
    keeps the arrays as its columns instead of copying them into one block."""
    u, known_user = _positions(raw[C.USER_ID], user_ids)
    i, known_food = _positions(raw[C.FOOD_ID], food_ids)
    order = np.lexsort((raw.pop(C.ORDER_ITEM_ID), raw[C.DINING_TYPE], raw[C.SERVICE_DATE], u))
    order = order[(known_user & known_food)[order]]
    del known_user, known_food
    i, u = i[order], u[order]
    frame = {name: raw.pop(name)[order] for name in (C.USER_ID, C.FOOD_ID, C.GROUP_ID, C.SERVICE_DATE,
                                                      C.DINING_TYPE)}
    frame[C.SERVICE_DATE] = _dates(frame[C.SERVICE_DATE])
    frame[C.GROUP_ID] = _narrowed(frame[C.GROUP_ID], np.int32)      # compact: 4 and 1 bytes a row, not 8
    frame[C.DINING_TYPE] = _narrowed(frame[C.DINING_TYPE], np.int8)
    frame.update({ITEM_IDX: i, USER_IDX: u})
    return pd.DataFrame(frame, copy=False)


def _narrowed(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as the smaller integer ``dtype`` when every value fits (else unchanged)."""
    limits = np.iinfo(dtype)
    fits = len(values) == 0 or (limits.min <= values.min() and values.max() <= limits.max)
    return values.astype(dtype) if fits else values


def _menu_frame(raw: dict[str, np.ndarray], food_ids: np.ndarray) -> pd.DataFrame:
    """``TrainingData.menus`` from the read columns: rows of known foods, with their food index."""
    i, known = _positions(raw[C.FOOD_ID], food_ids)
    frame = {name: raw[name][known] for name in _MENU_COLUMNS}
    frame[C.SERVICE_DATE] = _dates(frame[C.SERVICE_DATE])
    frame[ITEM_IDX] = i[known]
    return pd.DataFrame(frame, copy=False)


# ================================================================================= exposures
def _slot_keys(groups: np.ndarray, days: np.ndarray, dining: np.ndarray, group_codes: np.ndarray) -> np.ndarray:
    """One int64 per (group, day number, dining type): a menu slot, comparable between orders and
    menus (group rank x 2^21 days x 8 dining types stays far below 2^63)."""
    g = np.searchsorted(group_codes, groups).astype(np.int64)
    return (g * (1 << 21) + days.astype(np.int64)) * 8 + dining.astype(np.int64)


EXPOSURE_CHUNK_ROWS = 250_000
"""Exposure rows built per step of :func:`menu_exposures`: its temporaries never exceed one step,
only the compact output is full length."""


MEAL_KEYS = [USER_IDX, C.SERVICE_DATE, C.DINING_TYPE]
"""One meal: one user's order (or menu) of one day and dining type."""


def meal_numbers(frame: pd.DataFrame) -> np.ndarray:
    """Per row of ``frame``, its meal's number: ``frame.groupby(MEAL_KEYS, sort=True).ngroup()``.

    ``orders`` and ``exposures`` are built in meal order, so the numbers are a running count of
    key changes (a pandas groupby of a large world's 21 M exposure rows took 4.5 s, this 0.2 s);
    a frame out of that order is numbered by pandas.
    """
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    tied = np.ones(n - 1, dtype=bool)          # each row's keys so far equal the row before's
    for name in MEAL_KEYS:
        values = frame[name].to_numpy()
        values = values.view(np.int64) if values.dtype.kind == "M" else values
        before, after = values[:-1], values[1:]
        if (tied & (after < before)).any():    # out of meal order
            return frame.groupby(MEAL_KEYS, sort=True).ngroup().to_numpy()
        tied &= after == before
    numbers = np.zeros(n, dtype=np.int64)
    np.cumsum(~tied, out=numbers[1:])
    return numbers


def meals_of(frame: pd.DataFrame, meals: pd.DataFrame, numbers: np.ndarray) -> np.ndarray:
    """Per row of ``frame``, the number of its meal in ``meals`` (``numbers = meal_numbers(meals)``),
    -1 where ``meals`` has no such meal: a binary search of one int64 key per meal (a pandas
    merge of the large world's orders on its 21 M exposure rows took seconds)."""
    if len(frame) == 0 or len(meals) == 0:
        return np.full(len(frame), -1, dtype=np.int64)
    changes = np.flatnonzero(np.diff(numbers, prepend=-1))      # a row of every meal, few repeats
    numbers = numbers[changes]
    columns = [(_key_values(frame[name]), _key_values(meals[name].iloc[changes])) for name in MEAL_KEYS]
    lows = [min(a.min(), b.min()) for a, b in columns]
    dims = [int(max(a.max(), b.max()) - low) + 1 for (a, b), low in zip(columns, lows)]
    wanted = np.ravel_multi_index(tuple(a - low for (a, _), low in zip(columns, lows)), dims)
    keys = np.ravel_multi_index(tuple(b - low for (_, b), low in zip(columns, lows)), dims)
    table = np.empty(int(numbers.max()) + 1, dtype=np.int64)
    table[numbers] = keys                          # meal numbers follow key order: sorted
    at = np.minimum(np.searchsorted(table, wanted), len(table) - 1)
    return np.where(table[at] == wanted, at, -1)


def _key_values(column: pd.Series) -> np.ndarray:
    """A meal key column as int64 (service dates as their day number)."""
    values = column.to_numpy()
    if values.dtype.kind == "M":
        return values.astype("datetime64[D]").view(np.int64)
    return values.astype(np.int64)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values by a sort (numpy's hash-based ``unique`` is slower on millions)."""
    values = np.sort(values)
    return values[np.concatenate([[True], values[1:] != values[:-1]])] if len(values) else values


def _rows_in(sorted_keys: np.ndarray, distinct_sorted: np.ndarray) -> np.ndarray:
    """Per ``sorted_keys`` row, whether its value is in ``distinct_sorted``: the shorter list is
    searched into the longer one, and a repeated key is marked on each of its rows."""
    start = np.searchsorted(sorted_keys, distinct_sorted)
    n = np.searchsorted(sorted_keys, distinct_sorted, side="right") - start
    found = np.zeros(len(sorted_keys), dtype=bool)
    found[np.repeat(start - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))] = True
    return found


def menu_exposures(orders: pd.DataFrame, menus: pd.DataFrame, n_foods: int) -> pd.DataFrame:
    """``TrainingData.exposures`` of ``orders`` (sorted as ``TrainingData.orders``) and ``menus``.

    Joins each meal (one user's order from one group's menu of a day and dining type) with that
    menu in numpy, never a pandas merge of users x menus. Menus and meals are worked out first
    (arrays as long as the orders or menus); the exposure rows (tens of millions on a large world)
    are then written ``EXPOSURE_CHUNK_ROWS`` at a time, whole users' meals per step, into
    preallocated compact columns, so the peak is the output plus one step.
    """
    o_day = orders[C.SERVICE_DATE].to_numpy().astype("datetime64[D]").astype(np.int64)
    m_day = menus[C.SERVICE_DATE].to_numpy().astype("datetime64[D]").astype(np.int64)
    o_group = orders[C.GROUP_ID].to_numpy(dtype=np.int64)
    m_group = menus[C.GROUP_ID].to_numpy(dtype=np.int64)
    group_codes = np.sort(pd.unique(np.concatenate([o_group, m_group])))
    slots, slot_of = np.unique(_slot_keys(m_group, m_day, menus[C.DINING_TYPE].to_numpy(), group_codes),
                               return_inverse=True)
    o_slot, known_slot = _positions(_slot_keys(o_group, o_day, orders[C.DINING_TYPE].to_numpy(), group_codes),
                                    slots)
    o_item = orders[ITEM_IDX].to_numpy().astype(np.int64)
    m_item = menus[ITEM_IDX].to_numpy().astype(np.int64)
    # distinct (slot, food) of the menus, in their first row's order (the sample's draw order)
    menu_pairs, first = np.unique(slot_of * n_foods + m_item, return_index=True)
    pair_of_first = np.argsort(first, kind="stable")      # first-row order -> position in menu_pairs
    first.sort()
    slot_of, m_item = slot_of[first], m_item[first]
    size = np.bincount(slot_of, minlength=len(slots))
    keep = size[slot_of] <= MAX_EXPOSED_PER_MENU
    if not keep.all():          # a seeded sample of each long menu, drawn in menu row order
        big = np.flatnonzero(~keep)
        draw = np.random.default_rng(0).random(len(big))
        ranked = big[np.lexsort((draw, slot_of[big]))]
        starts = np.searchsorted(slot_of[ranked], slot_of[ranked])
        keep[ranked[np.arange(len(ranked)) - starts < MAX_EXPOSED_PER_MENU]] = True
    kept_pair = np.zeros(len(menu_pairs), dtype=bool)
    kept_pair[pair_of_first[keep]] = True
    by_slot = np.flatnonzero(keep)
    by_slot = by_slot[np.lexsort((m_item[by_slot], slot_of[by_slot]))]   # per slot, by food
    slot_foods = m_item[by_slot].astype(np.int32)
    slot_start = np.concatenate([[0], np.cumsum(np.bincount(slot_of[by_slot], minlength=len(slots)))])
    slot_size = np.diff(slot_start)
    del slot_of, m_item, first, pair_of_first, keep, by_slot, m_day, m_group
    # meals: one per (user, date, dining type, group), in (utd, group) order; utd numbers
    # (user, date, dining type), which the orders' sort makes non-decreasing
    o_user = orders[USER_IDX].to_numpy().astype(np.int64)
    o_dining = orders[C.DINING_TYPE].to_numpy().astype(np.int64)
    new_utd = np.ones(len(orders), dtype=bool)
    new_utd[1:] = (np.diff(o_user) != 0) | (np.diff(o_day) != 0) | (np.diff(o_dining) != 0)
    utd = np.cumsum(new_utd) - 1
    g_code = np.searchsorted(group_codes, o_group)
    meal_key = utd * len(group_codes) + g_code
    if np.all(meal_key[1:] >= meal_key[:-1]):           # usual: one group per utd, no interleaving
        new_meal = np.concatenate([[True], meal_key[1:] != meal_key[:-1]]) if len(meal_key) else new_utd
        meal_row, meal_of_order = np.flatnonzero(new_meal), np.cumsum(new_meal) - 1
    else:
        _, meal_row, meal_of_order = np.unique(meal_key, return_index=True, return_inverse=True)
    del meal_key, new_utd
    meal_known = known_slot[meal_row]                    # meals whose menu is known, ranked
    known_rank = np.cumsum(meal_known) - 1
    meal_row = meal_row[meal_known]
    # chosen foods the sample left out of a long menu are exposures too: (meal, food) pairs
    pair, on_menu = _positions(o_slot * n_foods + o_item, menu_pairs)
    extra = np.flatnonzero(known_slot & on_menu)
    extra = extra[~kept_pair[pair[extra]]]
    extra = _distinct(known_rank[meal_of_order[extra]] * n_foods + o_item[extra])
    extra_meal, extra_food = extra // n_foods, (extra % n_foods).astype(np.int32)
    del pair, on_menu, extra, meal_of_order, known_rank, meal_known
    eaten = _distinct(utd * n_foods + o_item)            # (utd, food) of every paid item, sorted
    # per meal, compact: everything a row copies from its meal
    meal_slot, meal_utd, meal_group_code = (a[meal_row].astype(np.int32) for a in (o_slot, utd, g_code))
    meal_user = o_user[meal_row].astype(np.int32)
    meal_day, meal_dining = o_day[meal_row].astype(np.int32), o_dining[meal_row].astype(np.int8)
    del o_day, o_group, o_slot, known_slot, o_item, o_user, o_dining, utd, g_code, meal_row
    meal_end = np.cumsum(slot_size[meal_slot] + np.bincount(extra_meal, minlength=len(meal_slot)))
    total = int(meal_end[-1]) if len(meal_end) else 0
    out_user, out_food = np.empty(total, dtype=np.int32), np.empty(total, dtype=np.int32)
    seconds = np.empty(total, dtype=np.int64)            # day numbers in its upper half, then seconds
    out_day = _upper_half(seconds)
    out_dining, out_chosen = np.empty(total, dtype=np.int8), np.empty(total, dtype=bool)
    # steps of whole utds (a user's meal with several groups sorts by food across them)
    ends = np.searchsorted(meal_end, np.arange(EXPOSURE_CHUNK_ROWS, total, EXPOSURE_CHUNK_ROWS))
    ends = np.searchsorted(meal_utd, meal_utd[np.minimum(ends, len(meal_end) - 1)])
    lo = 0
    for hi in [*np.unique(ends), len(meal_end)]:
        if hi <= lo:
            continue
        n_menu = slot_size[meal_slot[lo:hi]]
        rows_meal = np.repeat(np.arange(lo, hi, dtype=np.int64), n_menu)
        first_row = np.cumsum(n_menu) - n_menu
        rows_food = slot_foods[np.repeat(slot_start[meal_slot[lo:hi]] - first_row, n_menu)
                               + np.arange(len(rows_meal))]
        extras = slice(*np.searchsorted(extra_meal, [lo, hi]))
        if extras.start < extras.stop:
            rows_meal = np.concatenate([rows_meal, extra_meal[extras]])
            rows_food = np.concatenate([rows_food, extra_food[extras]])
        key = meal_utd[rows_meal].astype(np.int64) * n_foods + rows_food
        order = np.lexsort((meal_group_code[rows_meal], key))
        rows_meal, key = rows_meal[order], key[order]
        at = slice(int(meal_end[lo - 1]) if lo else 0, int(meal_end[hi - 1]))
        out_food[at] = rows_food[order]
        out_user[at] = meal_user[rows_meal]
        out_day[at], out_dining[at] = meal_day[rows_meal], meal_dining[rows_meal]
        out_chosen[at] = _rows_in(key, eaten[np.searchsorted(eaten, key[0]):
                                             np.searchsorted(eaten, key[-1], side="right")])
        lo = hi
    n_menu = first_row = rows_meal = rows_food = key = order = None      # the last step's arrays
    del meal_slot, meal_utd, meal_group_code, meal_user, meal_day, meal_dining, meal_end, eaten, extra_meal, extra_food
    _days_to_seconds(seconds)
    return pd.DataFrame({
        USER_IDX: out_user, ITEM_IDX: out_food,
        C.SERVICE_DATE: seconds.view(_DATE_DTYPE), C.DINING_TYPE: out_dining, CHOSEN: out_chosen}, copy=False)


def _upper_half(buffer: np.ndarray) -> np.ndarray:
    """The int32 view of an int64 array's upper half: as many int32 slots as it has values."""
    return buffer.view(np.int32)[len(buffer):]


def _days_to_seconds(buffer: np.ndarray, step: int = EXPOSURE_CHUNK_ROWS) -> None:
    """Widen the int32 day numbers held in ``buffer``'s upper half (``_upper_half``) into int64
    seconds in the whole of ``buffer``, in place.

    A copy would hold both columns at once (the large world's exposures: 81 + 162 MB); here the
    lower half's pages are first touched by the widening. Values go front to back: writing values
    [a, b) overwrites day slots [2a - n, 2b - n), all below b, so every day is read before its
    slot is overwritten.
    """
    days = _upper_half(buffer)
    for start in range(0, len(buffer), step):
        part = days[start:start + step].astype(np.int64)
        part *= 86_400
        buffer[start:start + len(part)] = part


# ================================================================================= features
def allergen_matrix(tag_strings: pd.Series) -> sp.csr_matrix:
    """rows x 22 binary matrix of allergy tags (8001-8022) from comma-separated code strings."""
    allergy = set(ALLERGY_CODES)
    lists = [[c for c in codes.parse_codes(v) if c in allergy] for v in tag_strings.fillna("")]
    mlb = MultiLabelBinarizer(classes=ALLERGY_CODES, sparse_output=True)
    return sp.csr_matrix(mlb.fit_transform(lists), dtype=np.float32)


def _food_tags(foods: pd.DataFrame) -> list[list[int]]:
    """Each food's taste tags (allergy tags are a filter, not a taste, so they are left out)."""
    allergy = set(ALLERGY_CODES)
    return [[c for c in codes.parse_codes(v) if c not in allergy] for v in foods[C.FOOD_TAGS].fillna("")]


def food_feature_matrix(foods: pd.DataFrame) -> tuple[sp.csr_matrix, list[str], list[str]]:
    """foods x features: TF-IDF tags, maker one-hot, price band, scaled nutrition, spiciness.

    Each block is L2-normalised per row and weighted by ``FEATURE_BLOCK_WEIGHTS`` so no block
    drowns the others by size, then every row is L2-normalised (cosine = dot product). Returns the
    matrix, readable names (Korean tag labels, maker names) and machine codes (``tag=3002``,
    ``maker=7``, ``price=2``, ``nutrition=calorie``, ``spiciness=level``). A catalogue whose foods
    carry no taste tag gets no ``tag=`` columns (models that need them say so when they fit).
    """
    tag_lists = _food_tags(foods)
    tag_codes = sorted({c for t in tag_lists for c in t})
    makers = foods.drop_duplicates(C.MAKERS_ID).sort_values(C.MAKERS_ID)
    blocks: dict[str, sp.spmatrix] = {}
    if tag_codes:            # a catalogue without taste tags has no tag block (TF-IDF needs a column)
        blocks["tag"] = TfidfTransformer().fit_transform(
            MultiLabelBinarizer(classes=tag_codes, sparse_output=True).fit_transform(tag_lists))
    blocks["maker"] = OneHotEncoder(categories=[makers[C.MAKERS_ID].to_numpy()],
                                    handle_unknown="ignore").fit_transform(foods[[C.MAKERS_ID]].to_numpy())
    names = [codes.FOOD_TAG.get(c, f"?{c}") for c in tag_codes] + [str(n) for n in makers[C.MAKERS_NAME]]
    feature_codes = [f"tag={c}" for c in tag_codes] + [f"maker={int(m)}" for m in makers[C.MAKERS_ID]]
    bands = min(PRICE_BANDS, foods[C.PRICE].nunique())
    if bands >= 2:
        with warnings.catch_warnings():  # skewed prices merge narrow bands; that is fine
            warnings.simplefilter("ignore", UserWarning)
            binner = KBinsDiscretizer(n_bins=bands, encode="onehot", strategy="quantile")
            blocks["price"] = binner.fit_transform(foods[[C.PRICE]].astype(float))
        bands = int(binner.n_bins_[0])
        names += [f"가격대 {b + 1}/{bands}" for b in range(bands)]
        feature_codes += [f"price={b}" for b in range(bands)]
    nutrition = foods[NUTRITION_COLUMNS].astype(float)
    nutrition = nutrition.fillna(nutrition.median()).fillna(0.0)
    blocks["nutrition"] = sp.csr_matrix(MinMaxScaler().fit_transform(nutrition))
    names += ["칼로리", "탄수화물", "지방", "단백질"]
    feature_codes += [f"nutrition={c}" for c in NUTRITION_COLUMNS]
    level = foods[C.SPICINESS_CODE].astype("Float64").fillna(SPICINESS_CODES[0]).to_numpy(dtype=float)
    blocks["spiciness"] = sp.csr_matrix(((level - SPICINESS_CODES[0]) / (len(SPICINESS_CODES) - 1))[:, None])
    names.append("맵기 정도")
    feature_codes.append("spiciness=level")
    matrix = sp.hstack([normalize(sp.csr_matrix(b, dtype=np.float64)) * FEATURE_BLOCK_WEIGHTS[k]
                        for k, b in blocks.items()], format="csr")
    return normalize(matrix).tocsr(), names, feature_codes
