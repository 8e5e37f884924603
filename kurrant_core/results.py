"""Shared output format v1: every model run writes the same rows, whatever the model.

A run is born *learning* (its rows are invisible), becomes *done* when all its rows are written,
and only then can be read, activated (one active run per model), published into
``recommend__user_recommends`` (the table the backend reads) or exported as Parquet. A failed or
stopped run loses its rows, so a crash never leaves half a run behind. Rows are validated on write:
the backend trusts this table, so a broken list is refused here rather than shown to a user.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

import kurrant_core
from kurrant_core import columns as C
from kurrant_core import codes, config, schema
from kurrant_core.codes import parse_codes
from kurrant_core.db import write_meta
from kurrant_core.errors import KurrantError
from kurrant_core.rerank import Policy
from kurrant_core.schema import (FORMAT_VERSION, RUN_DONE, RUN_FAILED, RUN_LEARNING, RUN_STATUS,
                                 RUN_STOPPED)

if TYPE_CHECKING:                      # heavy imports only where the pipeline runs
    from kurrant_core.data import TrainingData
    from kurrant_core.models.base import Recommender

CHUNK_ROWS = 10_000
EXPORT_FILE = "rec_user_recommend.parquet"
MANIFEST_FILE = "manifest.json"
LIST_KEY = [C.USER_ID, C.SERVICE_DATE, C.DINING_TYPE]
"""One recommendation list: a user's catalog list (no date) or their list for one menu slot."""
_ROW = "_row"                          # position of a row while it is checked against the marts
WARNINGS_KEY = "warnings"
"""Key of ``rec_run.metrics`` listing what went differently than designed (a model that fell back
to the popularity baseline, see ``Recommender.fit_warnings``): one line each."""

_runs, _rows, _backend = schema.rec_run, schema.rec_user_recommend, schema.recommend_user_recommends
ProgressFn = Callable[[str, float], None]
StopFn = Callable[[], bool]


class RecommendationFormatError(KurrantError):
    """Rows that break the shared format; ``rule`` names the broken rule, ``example`` one row."""

    def __init__(self, rule: str, example: dict[str, Any] | None = None, detail: str = ""):
        self.rule, self.example = rule, example
        shown = f", e.g. {example}" if example is not None else ""
        super().__init__(f"Recommendations break the shared format rule '{rule}'{detail}{shown}. "
                         "Fix the model output; nothing of this batch was written.")


class RunCancelled(KurrantError):
    """Raised by :func:`train_and_write` when ``should_stop`` says so; the run ends as stopped."""


@dataclass(frozen=True)
class RunRecord:
    """One ``rec_run`` row, with params and metrics decoded from JSON."""

    run_id: int
    model: str
    params: dict = field(default_factory=dict)
    data_cutoff: date | None = None
    train_start: date | None = None
    train_end: date | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: int = RUN_LEARNING
    error: str | None = None
    metrics: dict | None = None
    n_users: int | None = None
    n_items: int | None = None
    artifact_path: str | None = None
    code_version: str | None = None
    triggered_by: str | None = None
    is_active: bool = False
    format_version: int = FORMAT_VERSION
    job_id: int | None = None

    @property
    def status_label(self) -> str:
        return RUN_STATUS.get(self.status, str(self.status))

    @property
    def is_done(self) -> bool:
        return self.status == RUN_DONE

    @property
    def warnings(self) -> list[str]:
        """What the run recorded as going differently than designed (empty when nothing did)."""
        return list((self.metrics or {}).get(WARNINGS_KEY, []))

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (dates as ISO strings), as written into export manifests."""
        return {k: v.isoformat() if isinstance(v, (date, datetime)) else v
                for k, v in asdict(self).items()}


# --------------------------------------------------------------------------------------- runs
@lru_cache(maxsize=1)
def code_version() -> str:
    """The short git commit of the working tree, else the package version."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=config.PROJECT_ROOT,
                             capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return kurrant_core.__version__


def _frame(result: sa.CursorResult, columns: list[str] | None = None) -> pd.DataFrame:
    """A query result as a DataFrame, built from plain tuples (pandas probes SQLAlchemy rows
    attribute by attribute, which is several times slower on large results)."""
    names = columns or list(result.keys())
    return pd.DataFrame([tuple(row) for row in result], columns=names)


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


def start_run(engine: sa.Engine, model: str, params: dict, *, data_cutoff: date,
              train_start: date | None, train_end: date | None, triggered_by: str | None,
              job_id: int | None = None) -> int:
    """Register a new run as *learning* (its rows stay invisible until it is done); its id.

    A DE database created before ``raw_score`` existed gets the column here (one ALTER TABLE)."""
    schema.add_missing_columns(engine)
    values = {_runs.c.model.name: model, _runs.c.params.name: json.dumps(params, default=str),
              _runs.c.data_cutoff.name: data_cutoff, _runs.c.train_start.name: train_start,
              _runs.c.train_end.name: train_end, _runs.c.started_at.name: _now(),
              _runs.c.status.name: RUN_LEARNING, _runs.c.code_version.name: code_version(),
              _runs.c.triggered_by.name: triggered_by, _runs.c.is_active.name: False,
              _runs.c.format_version.name: FORMAT_VERSION, C.JOB_ID: job_id}
    with engine.begin() as conn:
        return int(conn.execute(_runs.insert().values(values)).inserted_primary_key[0])


def get_run(engine: sa.Engine, run_id: int) -> RunRecord:
    """The run's record; KurrantError when there is no such run."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(_runs).where(_runs.c.run_id == run_id)).mappings().first()
        written_under = conn.execute(sa.select(schema.de_meta.c.value)
                                     .where(schema.de_meta.c.key == META_ARTIFACT_ROOT)).scalar()
    if row is None:
        raise KurrantError(f"Run {run_id} does not exist. List the runs (`python -m kurrant_core "
                           "runs` or the runs page) and pick one of their ids.")
    return _record(row, written_under)


META_ARTIFACT_ROOT = "artifact_root"
"""de_meta key: the artifact root (absolute) under which this DE database's runs were last written."""


def stored_artifact_path(path: str | Path | None) -> str | None:
    """How ``rec_run.artifact_path`` stores a run's folder: relative to :func:`config.artifact_root`
    (``run_12``), so moving the data folder or ``KURRANT_ARTIFACT_DIR`` keeps every run loadable; a
    folder outside the root stays absolute."""
    if not path:
        return None
    path = Path(path)
    try:
        return path.absolute().relative_to(config.artifact_root().absolute()).as_posix()
    except ValueError:
        return str(path)


def resolve_artifact_path(stored: str | None, written_under: str | None = None) -> str | None:
    """The absolute folder of a stored ``artifact_path``. A relative one lies under the root the
    database's runs were written under (``written_under``) while that folder is still there, else
    under today's :func:`config.artifact_root` (the folder moved). An absolute one (written before
    paths were relative) is kept, or found by its ``run_<id>`` name under today's root once moved."""
    if not stored:
        return None
    path, root = Path(stored), config.artifact_root()
    if path.is_absolute():
        return str(root / path.name) if not path.exists() and (root / path.name).exists() else stored
    candidates = ([Path(written_under) / path] if written_under else []) + [root / path]
    return str(next((c for c in candidates if c.exists()), candidates[-1]))


def _record(row: sa.RowMapping, written_under: str | None = None) -> RunRecord:
    values = dict(row)
    values[_runs.c.artifact_path.name] = resolve_artifact_path(values[_runs.c.artifact_path.name], written_under)
    values[_runs.c.params.name] = json.loads(values[_runs.c.params.name] or "{}")
    metrics = values[_runs.c.metrics.name]
    values[_runs.c.metrics.name] = json.loads(metrics) if metrics else None
    values[_runs.c.is_active.name] = bool(values[_runs.c.is_active.name])
    return RunRecord(**values)


def list_runs(engine: sa.Engine, model: str | None = None) -> pd.DataFrame:
    """Every run (all statuses, newest first), optionally of one model; rec_run's columns."""
    query = sa.select(_runs).order_by(_runs.c.run_id.desc())
    if model is not None:
        query = query.where(_runs.c.model == model)
    with engine.connect() as conn:
        return _frame(conn.execute(query))


def _require_status(run: RunRecord, wanted: int, action: str) -> None:
    if run.status != wanted:
        raise KurrantError(f"Run {run.run_id} is {run.status_label}; only a "
                           f"{RUN_STATUS[wanted]} run can be {action}.")


def finish_run(engine: sa.Engine, run_id: int, *, metrics: dict | None = None, n_users: int,
               n_items: int, artifact_path: str | Path | None, warnings: Sequence[str] = ()) -> None:
    """Mark a learning run done: from now on its rows are visible.

    ``warnings`` (e.g. ``model.fit_warnings()``) are stored in the metrics under ``WARNINGS_KEY``.
    """
    _require_status(get_run(engine, run_id), RUN_LEARNING, "finished")
    if warnings:
        metrics = {**(metrics or {}), WARNINGS_KEY: [str(line) for line in warnings]}
    values = {_runs.c.status.name: RUN_DONE, _runs.c.finished_at.name: _now(),
              _runs.c.metrics.name: json.dumps(metrics, default=float) if metrics else None,
              _runs.c.n_users.name: int(n_users), _runs.c.n_items.name: int(n_items),
              _runs.c.artifact_path.name: stored_artifact_path(artifact_path)}
    with engine.begin() as conn:
        conn.execute(_runs.update().where(_runs.c.run_id == run_id).values(values))
        if values[_runs.c.artifact_path.name] and not Path(values[_runs.c.artifact_path.name]).is_absolute():
            write_meta(conn, META_ARTIFACT_ROOT, str(config.artifact_root().absolute()))


def update_run_metrics(engine: sa.Engine, run_id: int, metrics: dict) -> None:
    """Replace a done run's stored metrics (the evaluation adds the intervals against the
    baselines once every model of it is scored)."""
    run = get_run(engine, run_id)
    _require_status(run, RUN_DONE, "given new metrics")
    if run.warnings and WARNINGS_KEY not in metrics:     # the run's warnings outlive a re-score
        metrics = {**metrics, WARNINGS_KEY: run.warnings}
    with engine.begin() as conn:
        conn.execute(_runs.update().where(_runs.c.run_id == run_id)
                     .values({_runs.c.metrics.name: json.dumps(metrics, default=float)}))


def fail_run(engine: sa.Engine, run_id: int, error: str | BaseException, *,
             status: int = RUN_FAILED) -> None:
    """End a run that did not finish (failed, or stopped): record why and delete its rows.

    The status flips first, in the same transaction, so readers never see a partial run.
    """
    if status not in (RUN_FAILED, RUN_STOPPED):
        raise ValueError(f"fail_run ends a run as failed or stopped, not {RUN_STATUS.get(status)}")
    run = get_run(engine, run_id)
    if run.is_done:
        raise KurrantError(f"Run {run_id} is already done; a finished run cannot fail. "
                           "Train a new run instead.")
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    values = {_runs.c.status.name: status, _runs.c.finished_at.name: _now(),
              _runs.c.error.name: message[:10_000], _runs.c.is_active.name: False}
    with engine.begin() as conn:
        conn.execute(_runs.update().where(_runs.c.run_id == run_id).values(values))
        conn.execute(_rows.delete().where(_rows.c.run_id == run_id))


def activate_run(engine: sa.Engine, run_id: int) -> None:
    """Make a done run its model's one active run (the others of that model are deactivated)."""
    run = get_run(engine, run_id)
    _require_status(run, RUN_DONE, "activated")
    with engine.begin() as conn:
        conn.execute(_runs.update().where(_runs.c.model == run.model, _runs.c.run_id != run_id)
                     .values({_runs.c.is_active.name: False}))
        conn.execute(_runs.update().where(_runs.c.run_id == run_id)
                     .values({_runs.c.is_active.name: True}))


# ------------------------------------------------------------------------------- validation
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
        C.SERVICE_DATE: pd.Series(dates.dt.date, dtype=object).where(dated, None),
        C.DINING_TYPE: df[C.DINING_TYPE].astype("Int64"), C.FOOD_ID: df[C.FOOD_ID].astype("int64"),
        C.MAKERS_ID: df[C.MAKERS_ID].astype("int64"), C.RANK: rank.astype("int64"),
        C.SCORE: score})
    _violation("no duplicate food in a list", df, out.duplicated(LIST_KEY + [C.FOOD_ID]))
    order = out.sort_values(LIST_KEY + [C.RANK], kind="stable")
    expected = order.groupby(LIST_KEY, dropna=False).cumcount() + 1
    _violation("ranks 1..k without gaps per list", df,
               (order[C.RANK] != expected).reindex(out.index).to_numpy())
    _check_against_marts(engine, df, out)
    return out


def _check_against_marts(engine: sa.Engine, df: pd.DataFrame, out: pd.DataFrame) -> None:
    """Foods exist with that maker; no food carries one of its user's allergy tags."""
    food, user = schema.mart_food, schema.mart_user
    with engine.connect() as conn:
        foods = _frame(conn.execute(
            sa.select(food.c[C.FOOD_ID], food.c[C.MAKERS_ID], food.c[C.ALLERGY_TAGS])))
        allergic = _frame(conn.execute(sa.select(user.c[C.USER_ID], user.c[C.ALLERGY_TAGS])
                                       .where(user.c[C.ALLERGY_TAGS] != "")))
    makers = pd.Series(foods[C.MAKERS_ID].to_numpy(), index=foods[C.FOOD_ID].to_numpy())
    known = out[C.FOOD_ID].isin(makers.index)
    _violation("every food exists in mart_food", df, ~known)
    _violation("makers_id is the food's maker", df,
               out[C.FOOD_ID].map(makers).to_numpy() != out[C.MAKERS_ID].to_numpy())
    user_tags = _tag_pairs(allergic[allergic[C.USER_ID].isin(out[C.USER_ID])], C.USER_ID)
    if user_tags.empty:
        return
    food_tags = _tag_pairs(foods, C.FOOD_ID)
    rows = out[[C.USER_ID, C.FOOD_ID]].rename_axis(_ROW).reset_index()
    hits = rows.merge(user_tags, on=C.USER_ID).merge(food_tags, on=[C.FOOD_ID, C.ALLERGY_TAGS])
    _violation("no food with one of the user's allergy tags", df, df.index.isin(hits[_ROW]))


# ------------------------------------------------------------------------------------ writing
def _native_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (None for missing), which every DB driver accepts."""
    cols = {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns}
    return [dict(zip(cols, values)) for values in zip(*cols.values())]


def _chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]


def _insert_chunk(engine: sa.Engine, records: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(_rows.insert(), records)


def write_recommendations(engine: sa.Engine, run_id: int, recs: pd.DataFrame, *,
                          chunk_size: int = CHUNK_ROWS) -> int:
    """Validate ``recs`` (a model's ``recommend`` output, or a policy's lists with ``RAW_SCORE``)
    and add it to a learning run; row count.

    Chunks commit one by one (a run can hold millions of rows); they stay invisible until
    :func:`finish_run`, and :func:`fail_run` deletes them, so a crash halfway shows nothing.
    """
    _require_status(get_run(engine, run_id), RUN_LEARNING, "written to")
    rows = validate_recommendations(engine, recs)
    rows.insert(0, C.RUN_ID, run_id)
    raw = recs[C.RAW_SCORE] if C.RAW_SCORE in recs.columns else recs[C.SCORE]   # no policy: the same
    rows[C.RAW_SCORE] = pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy()
    for chunk in _chunks(rows, chunk_size):
        _insert_chunk(engine, _native_records(chunk))
    return len(rows)


# ------------------------------------------------------------------------------------ reading
def _visible_rows(run_id: int, columns: Sequence[str] = tuple(C.REC_COLUMNS)) -> sa.Select:
    """The run's rows, joined to rec_run so that only a done run's rows can ever come back."""
    return (sa.select(*[_rows.c[name] for name in columns])
            .join(_runs, _runs.c.run_id == _rows.c.run_id)
            .where(_rows.c.run_id == run_id, _runs.c.status == RUN_DONE))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
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
        return _typed(_frame(conn.execute(query), columns))


# ---------------------------------------------------------------------------- publish, export
def publish_run(engine: sa.Engine, run_id: int) -> int:
    """Copy the active run's dated rows into the backend table; the number of rows copied.

    Rows already there for the same (service date, dining type, group) are replaced, in the same
    transaction, so republishing never duplicates and the backend never sees a half-copied slot.
    """
    run = get_run(engine, run_id)
    _require_status(run, RUN_DONE, "published")
    if not run.is_active:
        raise KurrantError(f"Run {run_id} is not the active {run.model} run; activate it first "
                           f"(`python -m kurrant_core activate {run_id}`), then publish.")
    same_slot = sa.select(sa.literal(1)).where(
        _rows.c.run_id == run_id, _rows.c.service_date == _backend.c.service_date,
        _rows.c.dining_type == _backend.c.dining_type, _rows.c.group_id == _backend.c.group_id)
    dated = (sa.select(*[_rows.c[name] for name in C.BACKEND_COLUMNS])
             .where(_rows.c.run_id == run_id, _rows.c.service_date.is_not(None)))
    with engine.begin() as conn:
        conn.execute(_backend.delete().where(same_slot.exists()))
        conn.execute(_backend.insert().from_select(
            [_backend.c[name] for name in C.BACKEND_COLUMNS], dated))
        return int(conn.execute(sa.select(sa.func.count()).select_from(_rows)
                                .where(_rows.c.run_id == run_id, _rows.c.service_date.is_not(None)))
                   .scalar())


EXPORT_SCHEMA = pa.schema([
    (C.RUN_ID, pa.int64()), (C.USER_ID, pa.int64()), (C.GROUP_ID, pa.int64()),
    (C.SERVICE_DATE, pa.date32()), (C.DINING_TYPE, pa.int16()), (C.FOOD_ID, pa.int64()),
    (C.MAKERS_ID, pa.int64()), (C.RANK, pa.int16()), (C.SCORE, pa.float64()),
], metadata={"kurrant.format_version": str(FORMAT_VERSION)})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_run(engine: sa.Engine, run_id: int, out_dir: str | Path) -> Path:
    """Write a done run's rows as Parquet plus ``manifest.json``; the manifest's path."""
    run = get_run(engine, run_id)
    _require_status(run, RUN_DONE, "exported")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = read_recommendations(engine, run_id)
    table = pa.Table.from_pandas(rows, schema=EXPORT_SCHEMA, preserve_index=False)
    parquet_path = out_dir / EXPORT_FILE
    pq.write_table(table, parquet_path)
    manifest = {"format_version": FORMAT_VERSION, "run": run.to_json_dict(), "rows": len(rows),
                "columns": list(C.REC_COLUMNS), "file": EXPORT_FILE,
                "sha256": _sha256(parquet_path), "exported_at": _now().isoformat()}
    manifest_path = out_dir / MANIFEST_FILE
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest_path


def load_export(out_dir: str | Path) -> tuple[dict, pd.DataFrame]:
    """Read an export back, checking its format version, checksum and row count."""
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST_FILE
    if not manifest_path.exists():
        raise KurrantError(f"{out_dir} holds no {MANIFEST_FILE}; point at a folder made by `export`.")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise KurrantError(f"{out_dir} is in output format {manifest.get('format_version')}; this "
                           f"version of Kurrant Lens reads format {FORMAT_VERSION}.")
    parquet_path = out_dir / manifest["file"]
    if not parquet_path.exists() or _sha256(parquet_path) != manifest["sha256"]:
        raise KurrantError(f"{parquet_path} is missing or does not match its manifest's sha256; "
                           "export the run again.")
    rows = _typed(pq.read_table(parquet_path).to_pandas())
    if len(rows) != manifest["rows"]:
        raise KurrantError(f"{parquet_path} holds {len(rows)} rows, its manifest says "
                           f"{manifest['rows']}; export the run again.")
    return manifest, rows


# ------------------------------------------------------------------------ the training pipeline
DEFAULT_DAYS = 5
"""Menu days pre-computed after the cutoff when ``train_and_write`` gets no explicit dates."""
USER_BATCH = 2_000
"""Users ranked per ``recommend`` call: bounds the users x foods score matrix in memory."""


def active_user_ids(data: TrainingData) -> np.ndarray:
    """Raw ids of users still with us at the cutoff (never left, or left on/after it)."""
    left = pd.to_datetime(data.users[C.LEFT_ON])
    active = (left.isna() | (left >= pd.Timestamp(data.cutoff))).to_numpy()
    return data.user_ids[active]


def upcoming_menu_dates(data: TrainingData, n: int = DEFAULT_DAYS) -> list[date]:
    """The first ``n`` service dates with a menu on or after the cutoff."""
    days = data.menus.loc[data.menus[C.SERVICE_DATE] >= pd.Timestamp(data.cutoff), C.SERVICE_DATE]
    return [d.date() for d in sorted(days.unique())[:n]]


def menu_slots(data: TrainingData, day: date, users: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(dining type, users of the groups with that menu) for each meal served on ``day``."""
    menus = data.menus[data.menus[C.SERVICE_DATE] == pd.Timestamp(day)]
    group_of = data.user_group[data.user_indices(users)] if len(users) else np.empty(0, np.int64)
    return [(int(dining_type), users[np.isin(group_of, slot[C.GROUP_ID].unique())])
            for dining_type, slot in menus.groupby(C.DINING_TYPE)]


def _batches(ids: np.ndarray, size: int = USER_BATCH) -> Iterator[np.ndarray]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def train_and_write(engine: sa.Engine, model_name: str, params: dict | None = None, *,
                    cutoff: date | None = None, k: int = 10, dates: Sequence[date] | None = None,
                    triggered_by: str | None = None, job_id: int | None = None,
                    data: TrainingData | None = None, progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None,
                    evaluate: Callable[[Recommender, TrainingData], dict | None] | None = None,
                    run_params: dict | None = None, policy: Policy | None = None) -> int:
    """Train one model and write its run in the shared format; the run id.

    The one pipeline behind the CLI ``train`` and the retrain job: build the training data (unless
    ``data`` is given), fit, save the artifacts under ``artifact_root()/run_<id>``, write a catalog
    list of ``k`` for every active user and, for each day of ``dates`` (default: the next
    ``DEFAULT_DAYS`` menu days after the cutoff), the ranking of that day's menu for every active
    user whose group has one, then finish. ``progress(stage, fraction)`` reports each stage;
    ``should_stop()`` is asked between stages and ends the run as stopped. ``evaluate(model, data)``
    (the retrain job's hook) returns the metrics stored with the run, before its lists are written.
    ``run_params`` are stored beside the model's hyper-parameters (e.g. where tuned values came from).
    ``policy`` (default: the ``default`` policy) re-ranks every list written; it is stored in the
    run's params, and each row keeps the model's own score as ``raw_score``.
    On any error the run is failed (rows deleted, previous active run untouched) and re-raised.
    """
    from kurrant_core.data import build_training_data
    from kurrant_core.models import make_model

    report = progress or (lambda stage, fraction: None)
    if k < 1:
        raise KurrantError(f"k must be at least 1, not {k}.")
    model = make_model(model_name, **(params or {}))      # unknown name or param fails here, fast
    _check_stop(should_stop, None)
    report("building training data", 0.0)
    data = data if data is not None and (cutoff is None or data.cutoff == cutoff) \
        else build_training_data(engine, cutoff)
    service_dates = pd.to_datetime(data.orders[C.SERVICE_DATE])
    from kurrant_core.policies import DEFAULT, POLICY_KEY, get_policy
    policy = get_policy(engine, DEFAULT) if policy is None else policy
    run_id = start_run(engine, model_name, {**model.get_params(), **(run_params or {}),
                                            POLICY_KEY: policy.to_dict()},
                       data_cutoff=data.cutoff,
                       train_start=service_dates.min().date() if len(service_dates) else None,
                       train_end=service_dates.max().date() if len(service_dates) else None,
                       triggered_by=triggered_by, job_id=job_id)
    artifact = config.artifact_root() / f"run_{run_id}"
    try:
        _check_stop(should_stop, run_id)
        report(f"fitting {model_name}", 0.1)
        model.fit(data)
        _check_stop(should_stop, run_id)
        metrics = None
        if evaluate is not None:
            report(f"evaluating {model_name}", 0.4)
            metrics = evaluate(model, data)
            _check_stop(should_stop, run_id)
        report("saving artifacts", 0.5)
        artifact.mkdir(parents=True, exist_ok=True)
        model.save(artifact)
        write_run_lists(engine, run_id, model, data, k, policy,
                     upcoming_menu_dates(data) if dates is None else list(dates), report, should_stop)
        report("finishing", 0.98)
        finish_run(engine, run_id, metrics=metrics, n_users=data.n_users, n_items=data.n_foods,
                   artifact_path=artifact, warnings=model.fit_warnings())
    except BaseException as exc:
        stopped = isinstance(exc, RunCancelled)
        fail_run(engine, run_id, "cancelled" if stopped else exc,
                 status=RUN_STOPPED if stopped else RUN_FAILED)
        shutil.rmtree(artifact, ignore_errors=True)
        raise
    report("done", 1.0)
    return run_id


def _check_stop(should_stop: StopFn | None, run_id: int | None) -> None:
    if should_stop is not None and should_stop():
        raise RunCancelled(f"Run {run_id} was cancelled." if run_id else "Training was cancelled.")


def write_run_lists(engine: sa.Engine, run_id: int, model: Recommender, data: TrainingData, k: int,
                    policy: Policy, dates: list[date], report: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> None:
    """Catalog lists for every active user, then each day's menu ranking per meal, as the policy
    ships them (a policy that spreads a group's picks sees each meal's users in one batch)."""
    from kurrant_core.policies import apply_policy
    report = report or (lambda stage, fraction: None)
    users = active_user_ids(data)
    steps: list[tuple[str, np.ndarray, date | None, int | None]] = [
        ("writing catalog lists", batch, None, None) for batch in _batches(users)]
    menu_batch = len(users) + 1 if policy.spread_max_share is not None else USER_BATCH
    for day in dates:
        for dining_type, eaters in menu_slots(data, day, users):
            meal = codes.label(codes.DINING_TYPE, dining_type)
            steps += [(f"writing lists for {day.isoformat()} {meal}", batch, day, dining_type)
                      for batch in _batches(eaters, menu_batch)]
    for n, (stage, batch, day, dining_type) in enumerate(steps):
        _check_stop(should_stop, run_id)
        report(stage, 0.55 + 0.4 * n / len(steps))
        recs = apply_policy(model, data, batch, k, policy, service_date=day, dining_type=dining_type)
        write_recommendations(engine, run_id, recs)
