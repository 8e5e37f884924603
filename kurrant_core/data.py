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

import json
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sqlalchemy as sa
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.preprocessing import KBinsDiscretizer, MinMaxScaler, MultiLabelBinarizer, OneHotEncoder, normalize

from kurrant_core import codes, columns as C, schema as S
from kurrant_core.errors import KurrantError

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

_ORDER_COLUMNS = [C.ORDER_ITEM_ID, C.USER_ID, C.FOOD_ID, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE,
                  C.MAKERS_ID, C.CUISINE_CODE]
_MENU_COLUMNS = [C.DAILY_FOOD_ID, C.SERVICE_DATE, C.DINING_TYPE, C.GROUP_ID, C.FOOD_ID, C.MAKERS_ID,
                 C.DAILY_FOOD_STATUS, C.PRICE]
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

        Columns ``USER_IDX``, ``ITEM_IDX``, group, service date, dining type and ``CHOSEN`` (the
        user ordered that food that meal): the choice model's training set. A menu longer than
        ``MAX_EXPOSED_PER_MENU`` (a catalogue of thousands offered every day) keeps a seeded
        sample of that many foods, the same for every user of that menu, plus each user's chosen
        food: users x menu rows would not fit in memory, and sampled negatives teach the same.
        """
        keys = [C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]
        meals = self.orders[[USER_IDX, *keys]].drop_duplicates()
        menu = self.menus[[*keys, ITEM_IDX]].drop_duplicates()
        size = menu.groupby(keys)[ITEM_IDX].transform("size").to_numpy()
        if (size > MAX_EXPOSED_PER_MENU).any():
            rng = np.random.default_rng(0)
            big = menu[size > MAX_EXPOSED_PER_MENU]
            order = big.assign(_r=rng.random(len(big))).sort_values([*keys, "_r"])
            sampled = order[order.groupby(keys).cumcount().to_numpy() < MAX_EXPOSED_PER_MENU]
            trimmed = pd.concat([menu[size <= MAX_EXPOSED_PER_MENU], sampled[menu.columns]])
        else:
            trimmed = menu
        out = meals.merge(trimmed, on=keys, how="inner")
        eaten = self.orders[[USER_IDX, *keys, ITEM_IDX]].drop_duplicates()
        if trimmed is not menu:        # chosen foods the sample left out are exposures too
            out = pd.concat([out, eaten.merge(menu, on=[*keys, ITEM_IDX], how="inner")[out.columns]])
            out = out.drop_duplicates()
        eaten = eaten[[USER_IDX, C.SERVICE_DATE, C.DINING_TYPE, ITEM_IDX]].drop_duplicates()
        eaten[CHOSEN] = True
        out = out.merge(eaten, on=[USER_IDX, C.SERVICE_DATE, C.DINING_TYPE, ITEM_IDX], how="left")
        out[CHOSEN] = out[CHOSEN].fillna(False).astype(bool)
        return (out.sort_values([USER_IDX, C.SERVICE_DATE, C.DINING_TYPE, ITEM_IDX])
                .reset_index(drop=True)[[USER_IDX, ITEM_IDX, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE, CHOSEN]])

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
        orders = _read(conn, sa.select(*_raw_dates(oi, _ORDER_COLUMNS))
                       .where(oi[C.IS_PAID] == sa.true(), oi[C.SERVICE_DATE] < cutoff))
        dm = S.mart_daily_menu.c
        menus = _read(conn, sa.select(*_raw_dates(dm, _MENU_COLUMNS))
                      .where(dm[C.DAILY_FOOD_STATUS].not_in(sorted(MENU_WITHDRAWN_STATUSES))))
    if foods.empty or users.empty:
        raise KurrantError("The marts are empty. Run `python -m kurrant_core preprocess` after loading "
                           "data (demo-data or sync), then train again.")
    user_ids = users[C.USER_ID].to_numpy(dtype=np.int64)
    food_ids = foods[C.FOOD_ID].to_numpy(dtype=np.int64)
    orders = _indexed(orders, user_ids, food_ids)
    orders = orders.sort_values([USER_IDX, C.SERVICE_DATE, C.DINING_TYPE, C.ORDER_ITEM_ID], kind="stable")
    menus = _indexed(menus, None, food_ids).reset_index(drop=True)
    features, names, feature_codes = food_feature_matrix(foods)
    return TrainingData(
        cutoff=cutoff, half_life_days=float(half_life_days), user_ids=user_ids, food_ids=food_ids,
        orders=orders.drop(columns=C.ORDER_ITEM_ID).reset_index(drop=True), foods=foods,
        food_features=features, feature_names=names, feature_codes=feature_codes,
        food_allergens=allergen_matrix(foods[C.ALLERGY_TAGS]), users=users,
        user_allergens=allergen_matrix(users[C.ALLERGY_TAGS]), menus=menus)


def _default_cutoff(conn: sa.Connection) -> date:
    last = conn.execute(sa.select(sa.func.max(S.mart_order_item.c[C.SERVICE_DATE]))).scalar()
    if last is None:
        raise KurrantError("mart_order_item is empty: there is nothing to train on. Load data "
                           "(demo-data or sync), run preprocess, then train again.")
    return pd.Timestamp(last).date() + timedelta(days=1)


def _raw_dates(columns: sa.ColumnCollection, names: list[str]) -> list[sa.ColumnElement]:
    """The columns, with the service date left as the driver returns it: pandas parses it once,
    vectorised, instead of SQLAlchemy converting every row (the bulk of the read time on SQLite)."""
    return [sa.type_coerce(columns[n], sa.String).label(n) if n == C.SERVICE_DATE else columns[n]
            for n in names]


def _read(conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
    frame = pd.read_sql(query, conn)
    if C.SERVICE_DATE in frame:
        frame[C.SERVICE_DATE] = pd.to_datetime(frame[C.SERVICE_DATE]).astype(_DATE_DTYPE)
    return frame


def _indexed(frame: pd.DataFrame, user_ids: np.ndarray | None, food_ids: np.ndarray) -> pd.DataFrame:
    """Add contiguous ``USER_IDX``/``ITEM_IDX`` columns, dropping rows whose ids the marts lack."""
    keep = frame[C.FOOD_ID].isin(food_ids)
    if user_ids is not None:
        keep &= frame[C.USER_ID].isin(user_ids)
    frame = frame[keep].copy()
    frame[ITEM_IDX] = np.searchsorted(food_ids, frame[C.FOOD_ID].to_numpy()).astype(np.int64)
    if user_ids is not None:
        frame[USER_IDX] = np.searchsorted(user_ids, frame[C.USER_ID].to_numpy()).astype(np.int64)
    return frame


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
