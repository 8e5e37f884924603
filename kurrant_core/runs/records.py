"""A run's record in ``rec_run``: born *learning*, then *done*, or ended as *failed* / *stopped*.

A run's rows are invisible while it learns and become visible when it is finished; a run that
does not finish loses its rows (and its artifact folder), so a crash never leaves half a run
behind. One run per model is *active*: the one the backend gets when it is published.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

import kurrant_core
from kurrant_core import access, columns as C, config, schema
from kurrant_core.audit import audited
from kurrant_core.db import write_meta
from kurrant_core.errors import KurrantError
from kurrant_core.schema import FORMAT_VERSION, RUN_DONE, RUN_FAILED, RUN_LEARNING, RUN_STATUS, RUN_STOPPED

WARNINGS_KEY = "warnings"
"""Key of ``rec_run.metrics`` listing what went differently than designed (a model that fell back
to the popularity baseline, see ``Recommender.fit_warnings``): one line each."""
META_ARTIFACT_ROOT = "artifact_root"
"""de_meta key: the artifact root (absolute) under which this DE database's runs were last written."""
META_INSTANCE_ID = "instance_id"
"""de_meta key: this DE database's artifact folder under the root (see :func:`instance_id`)."""
_INSTANCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_runs, _rows = schema.rec_run, schema.rec_user_recommend


class RunCancelled(KurrantError):
    """Raised by the run pipeline when ``should_stop`` says so; the run ends as stopped."""


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


def result_frame(result: sa.CursorResult, columns: list[str] | None = None) -> pd.DataFrame:
    """A query result as a DataFrame, built from plain tuples (pandas probes SQLAlchemy rows
    attribute by attribute, which is several times slower on large results)."""
    names = columns or list(result.keys())
    return pd.DataFrame([tuple(row) for row in result], columns=names)


def now() -> datetime:
    """The time stamps a run records (whole seconds)."""
    return datetime.now().replace(microsecond=0)


def start_run(engine: sa.Engine, model: str, params: dict, *, data_cutoff: date,
              train_start: date | None, train_end: date | None, triggered_by: str | None,
              job_id: int | None = None) -> int:
    """Register a new run as *learning* (its rows stay invisible until it is done); its id.

    A DE database created before ``raw_score`` existed gets the column here (one ALTER TABLE)."""
    schema.add_missing_columns(engine)
    values = {_runs.c.model.name: model, _runs.c.params.name: json.dumps(params, default=str),
              _runs.c.data_cutoff.name: data_cutoff, _runs.c.train_start.name: train_start,
              _runs.c.train_end.name: train_end, _runs.c.started_at.name: now(),
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
                           "runs` or the runs page) and pick one of their ids.", key="err.unknown_run", run_id=run_id)
    return _record(row, written_under)


def instance_id(engine: sa.Engine) -> str:
    """This DE database's own name for its artifact folder, stored in ``de_meta`` at first use.

    Run ids restart at 1 in every database, so two databases sharing an artifact root (the SQLite
    demo, a MariaDB DE, a test database) need a folder each, or their ``run_1`` overwrite each other.
    """
    t = schema.de_meta
    with engine.connect() as conn:
        known = conn.execute(sa.select(t.c.value).where(t.c.key == META_INSTANCE_ID)).scalar()
    if known is None:
        try:
            with engine.begin() as conn:
                conn.execute(t.insert().values(key=META_INSTANCE_ID, value=uuid.uuid4().hex[:16], updated_at=now()))
        except sa.exc.IntegrityError:
            pass                                    # another process named it first: use theirs
        with engine.connect() as conn:
            known = conn.execute(sa.select(t.c.value).where(t.c.key == META_INSTANCE_ID)).scalar_one()
    if not _INSTANCE_ID.fullmatch(known):
        raise KurrantError(f"de_meta '{META_INSTANCE_ID}' is {known!r}, not a folder name (letters, digits, "
                           "'-' or '_'); delete that row and the next run stores a new one.")
    return known


def artifact_folder(engine: sa.Engine, run_id: int) -> Path:
    """Where a new run keeps its artifacts: ``artifact_root()/<instance id>/run_<id>`` (runs written
    before instance folders lie at ``artifact_root()/run_<id>`` and stay readable)."""
    return config.artifact_root() / instance_id(engine) / f"run_{run_id}"


def stored_artifact_path(path: str | Path | None) -> str | None:
    """How ``rec_run.artifact_path`` stores a run's folder: relative to :func:`config.artifact_root`
    (``<instance id>/run_12``; ``run_12`` before instance folders), so moving the data folder or
    ``KURRANT_ARTIFACT_DIR`` keeps every run loadable; a folder outside the root stays absolute."""
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
        return result_frame(conn.execute(query))


def require_status(run: RunRecord, wanted: int, action: str) -> None:
    """KurrantError unless ``run`` has status ``wanted`` (``action``: what was asked of it)."""
    if run.status != wanted:
        raise KurrantError(f"Run {run.run_id} is {run.status_label}; only a "
                           f"{RUN_STATUS[wanted]} run can be {action}.", key="err.run_status", run_id=run.run_id,
                           status=run.status_label, wanted_status=RUN_STATUS[wanted], action=action)


def finish_run(engine: sa.Engine, run_id: int, *, metrics: dict | None = None, n_users: int,
               n_items: int, artifact_path: str | Path | None, warnings: Sequence[str] = ()) -> None:
    """Mark a learning run done: from now on its rows are visible.

    ``warnings`` (e.g. ``model.fit_warnings()``) are stored in the metrics under ``WARNINGS_KEY``.
    """
    require_status(get_run(engine, run_id), RUN_LEARNING, "finished")
    if warnings:
        metrics = {**(metrics or {}), WARNINGS_KEY: [str(line) for line in warnings]}
    values = {_runs.c.status.name: RUN_DONE, _runs.c.finished_at.name: now(),
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
    require_status(run, RUN_DONE, "given new metrics")
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
    values = {_runs.c.status.name: status, _runs.c.finished_at.name: now(),
              _runs.c.error.name: message[:10_000], _runs.c.is_active.name: False}
    with engine.begin() as conn:
        conn.execute(_runs.update().where(_runs.c.run_id == run_id).values(values))
        conn.execute(_rows.delete().where(_rows.c.run_id == run_id))


def abandon_run(engine: sa.Engine, run_id: int, error: BaseException, artifact: Path | None) -> None:
    """Clean up after a run that raised: stopped when it was cancelled, else failed; its rows and
    its artifact folder are deleted (the previous active run is untouched)."""
    stopped = isinstance(error, RunCancelled)
    fail_run(engine, run_id, "cancelled" if stopped else error,
             status=RUN_STOPPED if stopped else RUN_FAILED)
    if artifact is not None:
        shutil.rmtree(artifact, ignore_errors=True)


def activate_run(engine: sa.Engine, run_id: int, *, by: access.Person) -> None:
    """Make a done run its model's one active run (the others of that model are deactivated).

    ``by`` must be allowed to activate; the switch and its audit row commit together."""
    with audited(engine, by, access.ACTIVATE, f"run {run_id}") as act:
        run = get_run(engine, run_id)
        require_status(run, RUN_DONE, "activated")
        with engine.begin() as conn:
            conn.execute(_runs.update().where(_runs.c.model == run.model, _runs.c.run_id != run_id)
                         .values({_runs.c.is_active.name: False}))
            conn.execute(_runs.update().where(_runs.c.run_id == run_id)
                         .values({_runs.c.is_active.name: True}))
            act.done(conn, f"run {run_id} ({run.model})")
