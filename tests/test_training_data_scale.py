"""The compact training-data build (column reads into numpy, exposures joined in numpy) gives the
same data as the construction it replaced, kept here verbatim as the reference: the pandas read of
every order/menu column and the pandas merge of each meal with its whole menu."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sqlalchemy as sa

from kurrant_core import columns as C, data as D, schema as S
from kurrant_core.data import CHOSEN, ITEM_IDX, USER_IDX, TrainingData, build_training_data
from kurrant_core.errors import KurrantError

HOLDOUT_DAYS = 14

# ================================================================ the reference: the old construction
_OLD_ORDER_COLUMNS = [C.ORDER_ITEM_ID, C.USER_ID, C.FOOD_ID, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE,
                      C.MAKERS_ID, C.CUISINE_CODE]
_OLD_MENU_COLUMNS = [C.DAILY_FOOD_ID, C.SERVICE_DATE, C.DINING_TYPE, C.GROUP_ID, C.FOOD_ID, C.MAKERS_ID,
                     C.DAILY_FOOD_STATUS, C.PRICE]


def _old_raw_dates(columns, names):
    return [sa.type_coerce(columns[n], sa.String).label(n) if n == C.SERVICE_DATE else columns[n]
            for n in names]


def _old_read(conn, query) -> pd.DataFrame:
    frame = pd.read_sql(query, conn)
    if C.SERVICE_DATE in frame:
        frame[C.SERVICE_DATE] = pd.to_datetime(frame[C.SERVICE_DATE]).astype("datetime64[s]")
    return frame


def _old_indexed(frame, user_ids, food_ids) -> pd.DataFrame:
    keep = frame[C.FOOD_ID].isin(food_ids)
    if user_ids is not None:
        keep &= frame[C.USER_ID].isin(user_ids)
    frame = frame[keep].copy()
    frame[ITEM_IDX] = np.searchsorted(food_ids, frame[C.FOOD_ID].to_numpy()).astype(np.int64)
    if user_ids is not None:
        frame[USER_IDX] = np.searchsorted(user_ids, frame[C.USER_ID].to_numpy()).astype(np.int64)
    return frame


def old_orders_and_menus(engine: sa.Engine, cutoff: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``orders`` and ``menus`` exactly as the old ``build_training_data`` made them."""
    with engine.connect() as conn:
        foods = _old_read(conn, sa.select(S.mart_food).order_by(S.mart_food.c[C.FOOD_ID]))
        users = _old_read(conn, sa.select(S.mart_user).order_by(S.mart_user.c[C.USER_ID]))
        oi = S.mart_order_item.c
        orders = _old_read(conn, sa.select(*_old_raw_dates(oi, _OLD_ORDER_COLUMNS))
                           .where(oi[C.IS_PAID] == sa.true(), oi[C.SERVICE_DATE] < cutoff))
        dm = S.mart_daily_menu.c
        menus = _old_read(conn, sa.select(*_old_raw_dates(dm, _OLD_MENU_COLUMNS))
                          .where(dm[C.DAILY_FOOD_STATUS].not_in(sorted(D.MENU_WITHDRAWN_STATUSES))))
    user_ids = users[C.USER_ID].to_numpy(dtype=np.int64)
    food_ids = foods[C.FOOD_ID].to_numpy(dtype=np.int64)
    orders = _old_indexed(orders, user_ids, food_ids)
    orders = orders.sort_values([USER_IDX, C.SERVICE_DATE, C.DINING_TYPE, C.ORDER_ITEM_ID], kind="stable")
    menus = _old_indexed(menus, None, food_ids).reset_index(drop=True)
    return orders.drop(columns=C.ORDER_ITEM_ID).reset_index(drop=True), menus


def old_exposures(orders: pd.DataFrame, menus: pd.DataFrame, max_exposed: int) -> pd.DataFrame:
    """``TrainingData.exposures`` as the old pandas merge of each meal with its menu made it, with
    the menu's group (which the compact frame no longer carries: see ``no_group``)."""
    keys = [C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]
    meals = orders[[USER_IDX, *keys]].drop_duplicates()
    menu = menus[[*keys, ITEM_IDX]].drop_duplicates()
    size = menu.groupby(keys)[ITEM_IDX].transform("size").to_numpy()
    if (size > max_exposed).any():
        rng = np.random.default_rng(0)
        big = menu[size > max_exposed]
        order = big.assign(_r=rng.random(len(big))).sort_values([*keys, "_r"])
        sampled = order[order.groupby(keys).cumcount().to_numpy() < max_exposed]
        trimmed = pd.concat([menu[size <= max_exposed], sampled[menu.columns]])
    else:
        trimmed = menu
    out = meals.merge(trimmed, on=keys, how="inner")
    eaten = orders[[USER_IDX, *keys, ITEM_IDX]].drop_duplicates()
    if trimmed is not menu:
        out = pd.concat([out, eaten.merge(menu, on=[*keys, ITEM_IDX], how="inner")[out.columns]])
        out = out.drop_duplicates()
    eaten = eaten[[USER_IDX, C.SERVICE_DATE, C.DINING_TYPE, ITEM_IDX]].drop_duplicates()
    eaten[CHOSEN] = True
    out = out.merge(eaten, on=[USER_IDX, C.SERVICE_DATE, C.DINING_TYPE, ITEM_IDX], how="left")
    out[CHOSEN] = out[CHOSEN].fillna(False).astype(bool)
    return (out.sort_values([USER_IDX, C.SERVICE_DATE, C.DINING_TYPE, ITEM_IDX])
            .reset_index(drop=True)[[USER_IDX, ITEM_IDX, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE, CHOSEN]])


# ================================================================ fixtures
@pytest.fixture(scope="module")
def cutoff(tiny_engine) -> date:
    with tiny_engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(S.mart_order_item.c[C.SERVICE_DATE]))).scalar()
    return (pd.Timestamp(last) - pd.Timedelta(days=HOLDOUT_DAYS)).date()


@pytest.fixture(scope="module")
def both(tiny_engine, cutoff) -> tuple[TrainingData, pd.DataFrame, pd.DataFrame]:
    data = build_training_data(tiny_engine, cutoff)
    orders, menus = old_orders_and_menus(tiny_engine, cutoff)
    return data, orders, menus


def no_group(old_exposures: pd.DataFrame) -> pd.DataFrame:
    return old_exposures.drop(columns=C.GROUP_ID)


def no_food_attributes(old_orders: pd.DataFrame) -> pd.DataFrame:
    """The old orders less the food's maker and cuisine, which the compact frame leaves to the food."""
    return old_orders.drop(columns=[C.MAKERS_ID, C.CUISINE_CODE])


def _same_frame(new: pd.DataFrame, old: pd.DataFrame) -> None:
    """Same columns in the same order, same rows in the same order, same values (dtypes may be
    narrower now, values may not differ)."""
    assert list(new.columns) == list(old.columns)
    assert len(new) == len(old)
    pd.testing.assert_frame_equal(new.reset_index(drop=True), old.reset_index(drop=True), check_dtype=False)


# ================================================================ tests
def test_orders_equal_the_old_construction(both):
    data, orders, _ = both
    assert len(orders) > 100                    # the tiny world has orders before the cutoff
    _same_frame(data.orders, no_food_attributes(orders))
    # the food's maker and cuisine, no longer copied onto every order row, are read by food index
    items = data.orders[ITEM_IDX].to_numpy()
    assert (data.food_makers[items] == orders[C.MAKERS_ID].to_numpy()).all()
    assert (data.foods[C.CUISINE_CODE].to_numpy()[items] == orders[C.CUISINE_CODE].to_numpy()).all()


def test_menus_equal_the_old_construction(both):
    data, _, menus = both
    assert len(menus) > 100
    _same_frame(data.menus, menus)


def test_matrices_equal_the_old_construction(both):
    data, orders, _ = both
    ages = (data.last_day - orders[C.SERVICE_DATE]).dt.days.to_numpy(dtype=np.float64)
    weights = np.power(0.5, ages / data.half_life_days)
    shape = (data.n_users, data.n_foods)
    old_interactions = sp.csr_matrix((weights, (orders[USER_IDX], orders[ITEM_IDX])), shape=shape)
    old_counts = sp.csr_matrix((np.ones(len(orders)), (orders[USER_IDX], orders[ITEM_IDX])), shape=shape)
    for new, old in ((data.interactions, old_interactions), (data.counts, old_counts)):
        assert new.shape == old.shape
        assert abs(new - old).max() < 1e-12
        assert new.nnz == old.tocsr().count_nonzero()
    items = orders[ITEM_IDX].to_numpy()
    for u, sequence in enumerate(data.sequences):
        assert sequence.tolist() == items[orders[USER_IDX].to_numpy() == u].tolist()


def test_exposures_equal_the_old_construction(both):
    data, orders, menus = both
    old = old_exposures(orders, menus, D.MAX_EXPOSED_PER_MENU)
    assert old[CHOSEN].any() and not old[CHOSEN].all()
    _same_frame(data.exposures, no_group(old))


@pytest.mark.parametrize("max_exposed", [1, 3])
def test_sampled_exposures_of_long_menus_equal_the_old_construction(both, monkeypatch, max_exposed):
    """Menus longer than the cap are sampled (seeded) the same way, chosen foods kept."""
    data, orders, menus = both
    monkeypatch.setattr(D, "MAX_EXPOSED_PER_MENU", max_exposed)
    fresh = TrainingData(**{k: getattr(data, k) for k in D.TrainingData.__dataclass_fields__
                            if k not in ("user_index", "food_index")})
    old = old_exposures(orders, menus, max_exposed)
    full = old_exposures(orders, menus, D.MAX_EXPOSED_PER_MENU + 10**6)
    assert len(old) < len(full)                 # the cap did trim menus
    _same_frame(fresh.exposures, no_group(old))


@pytest.mark.parametrize("max_exposed", [3, D.MAX_EXPOSED_PER_MENU])
@pytest.mark.parametrize("chunk_rows", [1, 50])
def test_exposures_built_in_steps_equal_the_old_construction(both, monkeypatch, max_exposed, chunk_rows):
    """Writing the exposure rows a few at a time (whole users' meals per step) changes nothing."""
    data, orders, menus = both
    monkeypatch.setattr(D, "MAX_EXPOSED_PER_MENU", max_exposed)
    monkeypatch.setattr(D, "EXPOSURE_CHUNK_ROWS", chunk_rows)
    new = D.menu_exposures(data.orders, data.menus, data.n_foods)
    assert len(new) > 10 * chunk_rows             # several steps were taken
    _same_frame(new, no_group(old_exposures(orders, menus, max_exposed)))


@pytest.mark.parametrize("chunk_rows", [1, 100])
def test_a_meal_from_two_groups_equals_the_old_construction(monkeypatch, chunk_rows):
    """A user who ordered from two groups' menus in one meal (rows interleaved by group) gets both
    menus, a food chosen from either menu marked chosen on both. The rows of one food on both
    menus are in group order now; the old merge left them in the order the orders came, so the
    old frame is put in group order for the comparison."""
    monkeypatch.setattr(D, "EXPOSURE_CHUNK_ROWS", chunk_rows)
    day = np.array(["2024-01-01"] * 3 + ["2024-01-02"], dtype="datetime64[s]")
    orders = pd.DataFrame({USER_IDX: [0, 0, 0, 0], C.GROUP_ID: [2, 1, 2, 1], C.SERVICE_DATE: day,
                           C.DINING_TYPE: [2, 2, 2, 2], ITEM_IDX: [0, 3, 4, 3]})
    menus = pd.DataFrame({C.GROUP_ID: [1, 1, 2, 2, 2, 1], C.DINING_TYPE: [2] * 6, ITEM_IDX: [3, 0, 0, 4, 1, 3],
                          C.SERVICE_DATE: np.array(["2024-01-01"] * 5 + ["2024-01-02"], dtype="datetime64[s]")})
    new = D.menu_exposures(orders, menus, n_foods=5)
    old = old_exposures(orders, menus, D.MAX_EXPOSED_PER_MENU)
    assert (old[C.GROUP_ID].nunique(), len(new)) == (2, 6)
    _same_frame(new, no_group(old.sort_values([USER_IDX, C.SERVICE_DATE, C.DINING_TYPE, ITEM_IDX, C.GROUP_ID])))


def test_text_rows_parse_by_hand_and_a_missing_value_is_an_error():
    """PyMySQL's bulk reads come as blocks of comma-joined rows (``_text_blocks``)."""
    parsed = D.parse_text_rows(2, "1,20,-3,4,5,600000000000", 3)
    assert parsed.dtype == np.int64
    assert parsed.tolist() == [[1, 20, -3], [4, 5, 600_000_000_000]]
    assert D.parse_text_rows(0, "", 3).shape == (0, 3)
    with pytest.raises(KurrantError, match="fewer"):
        D.parse_text_rows(2, "1,2,3,4,5", 3)              # CONCAT_WS skipped a NULL


def test_a_null_in_a_bulk_read_on_mariadb_is_named_not_shifted(tiny_engine):
    if tiny_engine.dialect.driver != "pymysql":
        pytest.skip("the text blocks are PyMySQL's read")
    query = sa.select(sa.literal_column("1").label("k"), sa.literal_column("NULL").label("v"),
                      sa.literal_column("7").label("w"))
    with tiny_engine.connect() as conn, pytest.raises(KurrantError, match="NULL"):
        D._read_int_columns(conn, query)


@pytest.mark.parametrize(("chunk_rows", "block_keys"), [(7, 3), (100_000, 4_096)])
def test_bulk_reads_in_chunks_equal_the_old_construction(tiny_engine, cutoff, monkeypatch, chunk_rows, block_keys):
    """Read in many small chunks and text blocks (MariaDB), or few."""
    monkeypatch.setattr(D, "READ_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(D, "TEXT_BLOCK_KEYS", block_keys)
    orders, menus = old_orders_and_menus(tiny_engine, cutoff)
    data = build_training_data(tiny_engine, cutoff)
    _same_frame(data.orders, no_food_attributes(orders))
    _same_frame(data.menus, menus)


@pytest.mark.parametrize("shuffled", [False, True])
def test_meal_numbers_equal_a_pandas_groupby_in_order_and_out_of_it(shuffled):
    """The running count of key changes (frames in meal order) and the fallback (out of order)
    number meals as ``groupby(MEAL_KEYS, sort=True).ngroup()`` does."""
    rng = np.random.default_rng(3)
    n = 2_000
    frame = pd.DataFrame({USER_IDX: rng.integers(0, 30, n), ITEM_IDX: rng.integers(0, 9, n),
                          C.SERVICE_DATE: np.datetime64("2024-01-01", "s") + rng.integers(0, 5, n) * 86_400,
                          C.DINING_TYPE: rng.integers(1, 4, n)})
    frame = frame.sort_values(D.MEAL_KEYS, kind="stable").reset_index(drop=True)
    if shuffled:
        frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    expected = frame.groupby(D.MEAL_KEYS, sort=True).ngroup().to_numpy()
    assert expected.max() > 100                      # many meals, many repeated keys
    assert D.meal_numbers(frame).tolist() == expected.tolist()
    # only the dining type steps back: out of order all the same
    flipped = pd.DataFrame({USER_IDX: [0, 0], C.SERVICE_DATE: np.array(["2024-01-01"] * 2, dtype="datetime64[s]"),
                            C.DINING_TYPE: [3, 1]})
    assert D.meal_numbers(flipped).tolist() == [1, 0]
    assert D.meal_numbers(frame.iloc[:0]).tolist() == []


@pytest.mark.parametrize("shuffled", [False, True])
def test_meals_of_find_each_rows_meal_as_a_pandas_merge_does(shuffled):
    """Orders matched to their menu's meal number by one int64 key equal the pandas merge they
    replaced, -1 for a meal with no menu (another user, day or dining type), in any row order."""
    rng = np.random.default_rng(4)
    n = 3_000
    meals = pd.DataFrame({USER_IDX: rng.integers(0, 30, n),
                          C.SERVICE_DATE: np.datetime64("2024-01-01", "s") + rng.integers(0, 20, n) * 86_400,
                          C.DINING_TYPE: rng.integers(1, 3, n)})
    meals = meals.sort_values(D.MEAL_KEYS, kind="stable").reset_index(drop=True)
    orders = pd.DataFrame({USER_IDX: rng.integers(0, 32, 500),
                           C.SERVICE_DATE: np.datetime64("2023-12-30", "s") + rng.integers(0, 24, 500) * 86_400,
                           C.DINING_TYPE: rng.integers(1, 4, 500)})
    if shuffled:
        meals = meals.sample(frac=1.0, random_state=0).reset_index(drop=True)
    numbers = D.meal_numbers(meals)
    table = meals.assign(meal=numbers).drop_duplicates(D.MEAL_KEYS)
    expected = orders.merge(table, on=D.MEAL_KEYS, how="left")["meal"].fillna(-1).to_numpy(dtype=np.int64)
    found = D.meals_of(orders, meals, numbers)
    assert (expected == -1).sum() > 50 and (expected >= 0).sum() > 50      # both kinds of row
    assert found.tolist() == expected.tolist()
    assert D.meals_of(orders.iloc[:0], meals, numbers).tolist() == []
    assert D.meals_of(orders, meals.iloc[:0], numbers[:0]).tolist() == [-1] * len(orders)


@pytest.mark.parametrize("n, step", [(1, 1), (2, 1), (1_001, 7), (1_000, 1_000), (999, 4_096), (5_000, 3)])
def test_day_numbers_widen_into_seconds_in_place(n, step):
    """The exposures' days are written as int32 into the upper half of their int64 column and
    widened in place: every value equals a plain int64 copy x 86,400, for odd and even lengths and
    any step (a wrong order of reads and writes would mix in overwritten halves)."""
    days = np.random.default_rng(n).integers(-20_000, 40_000, n).astype(np.int32)
    buffer = np.empty(n, dtype=np.int64)
    D._upper_half(buffer)[:] = days
    D._days_to_seconds(buffer, step)
    assert buffer.tolist() == (days.astype(np.int64) * 86_400).tolist()


def test_order_codes_are_narrowed_only_when_every_value_fits():
    """Group ids and dining types are kept in 4 and 1 bytes a row; an id beyond int32 stays int64
    (a silent wrap would merge two groups)."""
    small = D._narrowed(np.array([1, 2, 2_147_483_647]), np.int32)
    assert small.dtype == np.int32 and small.tolist() == [1, 2, 2_147_483_647]
    large = D._narrowed(np.array([1, 2_147_483_648]), np.int32)
    assert large.dtype == np.int64 and large.tolist() == [1, 2_147_483_648]
    assert D._narrowed(np.array([], dtype=np.int64), np.int8).dtype == np.int8
