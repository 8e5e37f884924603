"""Reading a run's lists back: only a done run's rows can ever come out."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema
from kurrant_core.runs.records import result_frame
from kurrant_core.schema import RUN_DONE

DEFAULT_K = 10
"""List length assumed for a run without rows (see ``list_shape``)."""
_runs, _rows = schema.rec_run, schema.rec_user_recommend


def _visible_rows(run_id: int, columns: Sequence[str] = tuple(C.REC_COLUMNS)) -> sa.Select:
    """The run's rows, joined to rec_run so that only a done run's rows can ever come back."""
    return (sa.select(*[_rows.c[name] for name in columns])
            .join(_runs, _runs.c.run_id == _rows.c.run_id)
            .where(_rows.c.run_id == run_id, _runs.c.status == RUN_DONE))


def typed_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the shared columns with their dtypes (nullable ints for group and dining type)."""
    dtypes = {C.RUN_ID: "int64", C.USER_ID: "int64", C.GROUP_ID: "Int64", C.DINING_TYPE: "Int64",
              C.FOOD_ID: "int64", C.MAKERS_ID: "int64", C.RANK: "int64", C.SCORE: "float64"}
    frame = frame.astype({k: v for k, v in dtypes.items() if k in frame.columns})
    frame[C.SERVICE_DATE] = frame[C.SERVICE_DATE].astype(object)
    return frame


def read_recommendations(engine: sa.Engine, run_id: int, user_id: int | None = None,
                         service_date: date | None = None, *, dining_type: int | None = None,
                         catalog_only: bool = False, with_names: bool = False,
                         with_raw_score: bool = False) -> pd.DataFrame:
    """A done run's rows (REC_COLUMNS, by user, date, dining type, rank); empty for any other run.

    ``catalog_only`` keeps the date-free lists; ``with_names`` adds food and maker names;
    ``with_raw_score`` the model's own score beside the shipped one (what the policy changed).
    """
    columns = [*C.REC_COLUMNS, *([C.RAW_SCORE] if with_raw_score else [])]
    query = _visible_rows(run_id, columns)
    if user_id is not None:
        query = query.where(_rows.c.user_id == int(user_id))
    if service_date is not None:
        query = query.where(_rows.c.service_date == service_date)
    if dining_type is not None:
        query = query.where(_rows.c.dining_type == int(dining_type))
    if catalog_only:
        query = query.where(_rows.c.service_date.is_(None))
    if with_names:
        food = schema.mart_food
        query = query.outerjoin(food, food.c[C.FOOD_ID] == _rows.c.food_id).add_columns(
            food.c[C.FOOD_NAME], food.c[C.MAKERS_NAME])
        columns += [C.FOOD_NAME, C.MAKERS_NAME]
    query = query.order_by(_rows.c.user_id, _rows.c.service_date, _rows.c.dining_type, _rows.c.rank)
    with engine.connect() as conn:
        return typed_rows(result_frame(conn.execute(query), columns))


def list_shape(engine: sa.Engine, run_id: int) -> tuple[int, list[date]]:
    """(k, menu days) of a done run's lists: the longest catalog list (else the longest list, else
    ``DEFAULT_K``) and its service dates, in order. Two aggregates, not the run's rows."""
    visible = _visible_rows(run_id, [C.RANK]).subquery()
    catalog = _visible_rows(run_id, [C.RANK]).where(_rows.c.service_date.is_(None)).subquery()
    days = (sa.select(_rows.c.service_date).join(_runs, _runs.c.run_id == _rows.c.run_id)
            .where(_rows.c.run_id == run_id, _runs.c.status == RUN_DONE,
                   _rows.c.service_date.is_not(None)).distinct())
    with engine.connect() as conn:
        longest_catalog = conn.execute(sa.select(sa.func.max(catalog.c[C.RANK]))).scalar()
        longest = conn.execute(sa.select(sa.func.max(visible.c[C.RANK]))).scalar()
        dates = sorted({pd.Timestamp(d).date() for d in conn.execute(days).scalars()})
    k = longest_catalog if longest_catalog is not None else longest if longest is not None else DEFAULT_K
    return int(k), dates
