"""The shared output format v1, checked on write: the backend trusts these rows, so a broken list
is refused here rather than shown to a user.

``write_recommendations`` validates a model's (or a policy's) rows and adds them to a learning run
in chunks that stay invisible until the run is finished (``records.finish_run``).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema
from kurrant_core.codes import parse_codes
from kurrant_core.errors import KurrantError
from kurrant_core.runs.records import get_run, require_status, result_frame
from kurrant_core.schema import RUN_LEARNING

CHUNK_ROWS = 50_000
"""Rows per insert transaction: each commit is a disk sync (at 10,000 a large run spent 10 s in 126
commits), and one chunk's tuples are a few tens of MB."""
LIST_KEY = [C.USER_ID, C.SERVICE_DATE, C.DINING_TYPE]
"""One recommendation list: a user's catalog list (no date) or their list for one menu slot."""
_ROW = "_row"                          # position of a row while it is checked against the marts
_rows = schema.rec_user_recommend


class RecommendationFormatError(KurrantError):
    """Rows that break the shared format; ``rule`` names the broken rule, ``example`` one row."""

    def __init__(self, rule: str, example: dict[str, Any] | None = None, detail: str = ""):
        self.rule, self.example = rule, example
        shown = f", e.g. {example}" if example is not None else ""
        super().__init__(f"Recommendations break the shared format rule '{rule}'{detail}{shown}. "
                         "Fix the model output; nothing of this batch was written.", key="err.format_rule", rule=rule)


def _violation(rule: str, frame: pd.DataFrame, mask: pd.Series | np.ndarray, detail: str = "") -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        example = {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
                   for k, v in frame.loc[mask].iloc[0].items()}
        raise RecommendationFormatError(rule, example, f" ({int(mask.sum())} rows{detail})")


def _tag_pairs(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """(key, tag) pairs from a comma-separated ``allergy_tags`` column."""
    pairs = [(k, tag) for k, tags in zip(frame[key].tolist(), frame[C.ALLERGY_TAGS].tolist())
             for tag in parse_codes(tags)]
    return pd.DataFrame(pairs, columns=[key, C.ALLERGY_TAGS], dtype="int64")


def validate_recommendations(engine: sa.Engine, recs: pd.DataFrame) -> pd.DataFrame:
    """The rows in the shared columns (without run id), normalised; raises on any broken rule.

    Rules: the columns are there; ids, rank and score are set; a dated row has a dining type and a
    group; scores are finite; no food twice in a list; ranks are 1..k without gaps per list; every
    food exists in mart_food with that maker; no food carries one of the user's allergy tags.
    """
    wanted = [c for c in C.REC_COLUMNS if c != C.RUN_ID]
    missing = [c for c in wanted if c not in recs.columns]
    if missing:
        raise RecommendationFormatError("columns", None, f" (missing {missing})")
    df = recs[wanted].reset_index(drop=True)
    _violation("required values", df, df[[C.USER_ID, C.FOOD_ID, C.MAKERS_ID, C.RANK]]
               .isna().any(axis=1))
    dates = pd.to_datetime(df[C.SERVICE_DATE], errors="coerce")
    _violation("service_date is a date", df, dates.isna() & df[C.SERVICE_DATE].notna())
    dated = dates.notna()
    _violation("dated rows have a dining type and a group", df,
               (dated != df[C.DINING_TYPE].notna()) | (dated & df[C.GROUP_ID].isna()))
    rank = pd.to_numeric(df[C.RANK], errors="coerce").astype("float64")
    _violation("ranks are whole numbers", df, rank.isna() | (rank % 1 != 0))
    score = pd.to_numeric(df[C.SCORE], errors="coerce").astype("float64")
    _violation("finite scores", df, ~np.isfinite(score.to_numpy()))
    out = pd.DataFrame({
        C.USER_ID: df[C.USER_ID].astype("int64"), C.GROUP_ID: df[C.GROUP_ID].astype("Int64"),
        C.SERVICE_DATE: pd.Series(dates.dt.strftime("%Y-%m-%d"), dtype=object).where(dated, None),
        C.DINING_TYPE: df[C.DINING_TYPE].astype("Int64"), C.FOOD_ID: df[C.FOOD_ID].astype("int64"),
        C.MAKERS_ID: df[C.MAKERS_ID].astype("int64"), C.RANK: rank.astype("int64"),
        C.SCORE: score})
    day = np.where(dated, dates.to_numpy("datetime64[D]").astype(np.int64), np.iinfo(np.int64).min)
    lists = (out[C.USER_ID].to_numpy(), day, out[C.DINING_TYPE].fillna(-1).to_numpy(np.int64))
    _violation("no duplicate food in a list", df, _repeated(out[C.FOOD_ID].to_numpy(), *lists))
    _violation("ranks 1..k without gaps per list", df, _rank_gaps(out[C.RANK].to_numpy(), *lists))
    _check_against_marts(engine, df, out)
    return out


def _sorted_runs(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stable order of the rows by ``keys``, last key first as in np.lexsort; whether each sorted
    row's other keys equal the previous sorted row's) -- integer keys, so a million rows are cheap."""
    order = np.lexsort(keys)
    same = np.ones(len(order), bool)
    for key in keys[1:]:
        ordered = key[order]
        same &= np.r_[False, ordered[1:] == ordered[:-1]]
    return order, same


def _repeated(food: np.ndarray, *lists: np.ndarray) -> np.ndarray:
    """Rows whose food already came earlier in the same list (pandas ``duplicated``)."""
    order, same = _sorted_runs(food, *reversed(lists))
    ordered = food[order]
    again = np.zeros(len(food), bool)
    again[order] = same & np.r_[False, ordered[1:] == ordered[:-1]]
    return again


def _rank_gaps(rank: np.ndarray, *lists: np.ndarray) -> np.ndarray:
    """Rows whose rank is not their place (1, 2, ...) among their list's rows sorted by rank."""
    order, same = _sorted_runs(rank, *reversed(lists))
    starts = np.flatnonzero(~same)
    place = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)])) + 1
    wrong = np.zeros(len(rank), bool)
    wrong[order] = rank[order] != place
    return wrong


def _check_against_marts(engine: sa.Engine, df: pd.DataFrame, out: pd.DataFrame) -> None:
    """Foods exist with that maker; no food carries one of its user's allergy tags."""
    food, user = schema.mart_food, schema.mart_user
    with engine.connect() as conn:
        foods = result_frame(conn.execute(
            sa.select(food.c[C.FOOD_ID], food.c[C.MAKERS_ID], food.c[C.ALLERGY_TAGS])))
        allergic = result_frame(conn.execute(sa.select(user.c[C.USER_ID], user.c[C.ALLERGY_TAGS])
                                             .where(user.c[C.ALLERGY_TAGS] != "")))
    makers = pd.Series(foods[C.MAKERS_ID].to_numpy(), index=foods[C.FOOD_ID].to_numpy())
    known = out[C.FOOD_ID].isin(makers.index)
    _violation("every food exists in mart_food", df, ~known)
    _violation("makers_id is the food's maker", df,
               out[C.FOOD_ID].map(makers).to_numpy() != out[C.MAKERS_ID].to_numpy())
    user_tags = _tag_pairs(allergic[allergic[C.USER_ID].isin(out[C.USER_ID])], C.USER_ID)
    if user_tags.empty:
        return
    rows = out.loc[out[C.USER_ID].isin(user_tags[C.USER_ID]), [C.USER_ID, C.FOOD_ID]].rename_axis(_ROW).reset_index()
    food_tags = _tag_pairs(foods[foods[C.FOOD_ID].isin(rows[C.FOOD_ID])], C.FOOD_ID)
    hits = rows.merge(user_tags, on=C.USER_ID).merge(food_tags, on=[C.FOOD_ID, C.ALLERGY_TAGS])
    _violation("no food with one of the user's allergy tags", df, df.index.isin(hits[_ROW]))


# ------------------------------------------------------------------------------------ writing
def _native_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as tuples of plain Python values (None for missing), which every DB driver accepts."""
    cols = [frame[c].tolist() if frame[c].dtype.kind in "if" and not frame[c].isna().any()
            else frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns]
    return list(zip(*cols))


def _chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]


def _insert_sql(engine: sa.Engine, columns: list[str]) -> str:
    """``INSERT INTO rec_user_recommend (...) VALUES (...)`` in the driver's own placeholders:
    the rows go to the driver's ``executemany`` as tuples (pymysql batches them into multi-row
    inserts), skipping SQLAlchemy's per-row parameter processing, which cost more than the insert."""
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    quote = engine.dialect.identifier_preparer.quote
    return (f"INSERT INTO {quote(_rows.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})")


def _insert_chunk(engine: sa.Engine, sql: str, rows: list[tuple[Any, ...]]) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(sql, rows)


def write_recommendations(engine: sa.Engine, run_id: int, recs: pd.DataFrame, *,
                          chunk_size: int = CHUNK_ROWS) -> int:
    """Validate ``recs`` (a model's ``recommend`` output, or a policy's lists with ``RAW_SCORE``)
    and add it to a learning run; row count.

    Chunks commit one by one (a run can hold millions of rows); they stay invisible until
    ``finish_run``, and ``fail_run`` deletes them, so a crash halfway shows nothing.
    """
    require_status(get_run(engine, run_id), RUN_LEARNING, "written to")
    rows = validate_recommendations(engine, recs)
    rows.insert(0, C.RUN_ID, run_id)
    raw = recs[C.RAW_SCORE] if C.RAW_SCORE in recs.columns else recs[C.SCORE]   # no policy: the same
    rows[C.RAW_SCORE] = pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy()
    sql = _insert_sql(engine, list(rows.columns))
    for chunk in _chunks(rows, chunk_size):
        _insert_chunk(engine, sql, _native_rows(chunk))
    return len(rows)
