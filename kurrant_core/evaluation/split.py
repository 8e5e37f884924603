"""The global time split: train on everything served before T, test on [T, T + horizon).

Never a per-user split: holding out each user's last orders would let the model learn from
other users' orders placed *after* the held-out ones, a leak production never enjoys. One cutoff
for everybody is what a retrain at T faces. A backtest repeats the split at earlier cutoffs,
each test window ending where the next one starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.data import TrainingData, build_training_data
from kurrant_core.errors import KurrantError

DEFAULT_HORIZON_DAYS = 14
TEST_COLUMNS = [C.USER_ID, C.FOOD_ID, C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE]


@dataclass(frozen=True)
class TimeSplit:
    """Train before ``cutoff``; test on service dates in [cutoff, cutoff + horizon_days)."""

    cutoff: date
    horizon_days: int = DEFAULT_HORIZON_DAYS

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise KurrantError(f"The test horizon must be at least 1 day, not {self.horizon_days}.")

    @property
    def test_end(self) -> date:
        """The first day after the test window."""
        return self.cutoff + timedelta(days=self.horizon_days)


def last_service_date(engine: sa.Engine) -> date:
    """The last service date with a paid order item in the marts."""
    oi = S.mart_order_item.c
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(oi[C.SERVICE_DATE]))
                            .where(oi[C.IS_PAID] == sa.true())).scalar()
    if last is None:
        raise KurrantError("mart_order_item holds no paid order items, so there is nothing to "
                           "evaluate. Load data (demo-data or sync), run preprocess, then evaluate.")
    return pd.Timestamp(last).date()


def default_split(engine: sa.Engine, horizon_days: int = DEFAULT_HORIZON_DAYS) -> TimeSplit:
    """The split whose test window is the last ``horizon_days`` days of orders."""
    last = last_service_date(engine)
    return TimeSplit(last + timedelta(days=1) - timedelta(days=horizon_days), horizon_days)


def backtest_splits(latest: TimeSplit, n: int) -> list[TimeSplit]:
    """``n`` splits, oldest first, ending with ``latest``; test windows follow each other."""
    if n < 1:
        raise KurrantError(f"--backtest needs at least 1 cutoff, not {n}.")
    step = timedelta(days=latest.horizon_days)
    return [TimeSplit(latest.cutoff - step * back, latest.horizon_days)
            for back in range(n - 1, -1, -1)]


def read_test_items(engine: sa.Engine, split: TimeSplit) -> pd.DataFrame:
    """Paid order items served in the test window (``TEST_COLUMNS``; dates as datetime64)."""
    oi = S.mart_order_item.c
    query = (sa.select(*[oi[name] for name in TEST_COLUMNS])
             .where(oi[C.IS_PAID] == sa.true(), oi[C.SERVICE_DATE] >= split.cutoff,
                    oi[C.SERVICE_DATE] < split.test_end)
             .order_by(oi[C.SERVICE_DATE], oi[C.USER_ID], oi[C.FOOD_ID]))
    with engine.connect() as conn:
        items = pd.DataFrame([tuple(row) for row in conn.execute(query)], columns=TEST_COLUMNS)
    items[C.SERVICE_DATE] = pd.to_datetime(items[C.SERVICE_DATE]).astype("datetime64[s]")
    return items


def split_data(engine: sa.Engine, split: TimeSplit) -> tuple[TrainingData, pd.DataFrame]:
    """The training data for ``split.cutoff`` and the test window's paid items of known users."""
    data = build_training_data(engine, split.cutoff)
    if data.orders.empty:
        raise KurrantError(f"No paid orders before {split.cutoff}: nothing to train on. Choose a "
                           "later --cutoff.")
    test = read_test_items(engine, split)
    test = test[test[C.USER_ID].isin(data.user_ids) & test[C.FOOD_ID].isin(data.food_ids)]
    if test.empty:
        raise KurrantError(f"No paid orders between {split.cutoff} and {split.test_end} (exclusive) "
                           "to test on. Choose an earlier --cutoff or a longer --horizon.")
    return data, test.reset_index(drop=True)
