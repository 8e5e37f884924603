"""The one run pipeline: a model and its diversity policy in, a done run in the shared format out.

``run_pipeline`` is every way a run is made: the CLI ``train`` and the retrain job (through
``train_and_write``: build the data, fit, save, write), the evaluation (a model it fitted on the
training part) and ``apply_policy_to_run`` (a saved model, another policy, no refit). It starts the
run, fits (unless the model is fitted), saves or copies the artifacts, writes the catalog list of
every active user and each menu day's ranking as the policy ships them, in batches, and finishes;
on any error, or when ``should_stop()`` says so between steps, the run is failed or stopped, its
rows and artifacts deleted and the previous active run left untouched.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import codes, columns as C
from kurrant_core.data import TrainingData, build_training_data
from kurrant_core.errors import KurrantError
from kurrant_core.models import get_model_class, make_model
from kurrant_core.models.base import PARAMS_FILE, Recommender
from kurrant_core.policies import POLICY_KEY, apply_policy, default_policy_name, get_policy
from kurrant_core.rerank import Policy
from kurrant_core.runs.reading import list_shape
from kurrant_core.runs.records import RunCancelled, abandon_run, artifact_folder, finish_run, get_run, start_run
from kurrant_core.runs.shared_format import write_recommendations

ProgressFn = Callable[[str, float], None]
"""``progress(stage, fraction)``: what the pipeline is doing, and how far it is (0..1)."""
StopFn = Callable[[], bool]
"""``should_stop()``: asked between steps; True ends the run as stopped."""
EvaluateFn = Callable[[Recommender, TrainingData], "dict | None"]
"""``evaluate(model, data)``: the metrics stored with the run (the retrain job's hook)."""
SaveFn = Callable[[Path], None]
"""``save(folder)``: writes a run's artifacts into its (existing) folder instead of ``model.save``."""

DEFAULT_DAYS = 5
"""Menu days pre-computed after the cutoff when ``train_and_write`` gets no explicit dates."""
USER_BATCH = 2_000
"""Users ranked per ``recommend`` call: bounds the users x foods score matrix in memory."""
APPLIED_TO = "policy_applied_to"
"""Key in a run's params: the run whose saved model it re-used with another policy."""


def _silent(stage: str, fraction: float) -> None:
    """The progress callback of a caller that does not listen."""


def check_stop(should_stop: StopFn | None, run_id: int | None) -> None:
    """Raise ``RunCancelled`` when ``should_stop()`` says so (the one stop check of every run)."""
    if should_stop is not None and should_stop():
        raise RunCancelled(f"Run {run_id} was cancelled." if run_id else "Cancelled before a run started.")


# ------------------------------------------------------------------------------ what is written
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


def write_run_lists(engine: sa.Engine, run_id: int, model: Recommender, data: TrainingData, k: int,
                    policy: Policy, dates: Sequence[date], report: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> None:
    """Catalog lists for every active user, then each day's menu ranking per meal, as the policy
    ships them (a policy that spreads a group's picks sees each meal's users in one batch)."""
    report = report or _silent
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
        check_stop(should_stop, run_id)
        report(stage, 0.35 + 0.55 * n / len(steps))
        recs = apply_policy(model, data, batch, k, policy, service_date=day, dining_type=dining_type)
        write_recommendations(engine, run_id, recs)


# ------------------------------------------------------------------------------ the pipeline
def run_pipeline(engine: sa.Engine, model: Recommender, data: TrainingData, *, params: dict, k: int,
                 policy: Policy, dates: Sequence[date], fit: bool = True,
                 evaluate: EvaluateFn | None = None, metrics: dict | None = None,
                 artifact_from: Path | None = None, save: SaveFn | None = None,
                 train_window: tuple[date | None, date | None] | None = None,
                 triggered_by: str | None = None, job_id: int | None = None,
                 progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> int:
    """Make one run of ``model`` on ``data`` with ``policy``; the run id (see the module docstring).

    ``params`` are stored with the run (the policy is added under ``POLICY_KEY``). ``fit=False``
    takes the model as fitted (or built, like an ensemble). ``metrics`` are stored with the run, or
    ``evaluate(model, data)`` computes them once the lists are written. ``artifact_from`` copies that folder as
    the run's artifacts instead of saving the model (a saved model re-used); ``save(folder)`` writes
    them instead (a built model's recipe). ``train_window`` (start, end) is stored as the run's train
    window (default: the first and last service date of ``data``'s orders). ``dates``: the menu
    days written beside the catalog lists of ``k``. Rows keep the model's own score as ``raw_score``.
    """
    if artifact_from is not None and save is not None:
        raise ValueError("run_pipeline takes artifact_from or save, not both")
    report = progress or _silent
    if train_window is None:
        served = pd.to_datetime(data.orders[C.SERVICE_DATE])
        train_window = (served.min().date(), served.max().date()) if len(served) else (None, None)
    run_id = start_run(engine, model.name, {**params, POLICY_KEY: policy.to_dict()},
                       data_cutoff=data.cutoff, train_start=train_window[0], train_end=train_window[1],
                       triggered_by=triggered_by, job_id=job_id)
    artifact: Path | None = None
    try:
        artifact = artifact_folder(engine, run_id)
        check_stop(should_stop, run_id)
        if fit:
            report(f"fitting {model.name}", 0.1)
            model.fit(data)
            check_stop(should_stop, run_id)
        report("saving artifacts", 0.3)
        if artifact_from is None:
            artifact.mkdir(parents=True, exist_ok=True)
            (save or model.save)(artifact)
        else:
            shutil.copytree(artifact_from, artifact)
        write_run_lists(engine, run_id, model, data, k, policy, dates, report, should_stop)
        if evaluate is not None:        # after the lists: an evaluation process has had the most time
            report(f"evaluating {model.name}", 0.9)
            metrics = evaluate(model, data)
            check_stop(should_stop, run_id)
        report("finishing", 0.98)
        finish_run(engine, run_id, metrics=metrics, n_users=data.n_users, n_items=data.n_foods,
                   artifact_path=artifact, warnings=model.fit_warnings())
    except BaseException as exc:
        abandon_run(engine, run_id, exc, artifact)
        raise
    report("done", 1.0)
    return run_id


def train_and_write(engine: sa.Engine, model_name: str, params: dict | None = None, *,
                    cutoff: date | None = None, k: int = 10, dates: Sequence[date] | None = None,
                    triggered_by: str | None = None, job_id: int | None = None,
                    data: TrainingData | None = None, progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None, evaluate: EvaluateFn | None = None,
                    run_params: dict | None = None, policy: Policy | None = None) -> int:
    """Train one model and write its run in the shared format; the run id.

    The pipeline behind the CLI ``train`` and the retrain job: build the training data (unless
    ``data`` is given), then ``run_pipeline``: fit, save the artifacts under
    ``artifact_root()/<instance id>/run_<id>`` (``records.artifact_folder``), write a catalog list
    of ``k`` for every active user and, for each day of ``dates`` (default: the next
    ``DEFAULT_DAYS`` menu days after the cutoff), the ranking of that day's menu for every active
    user whose group has one, then finish.
    ``progress(stage, fraction)`` reports each stage; ``should_stop()`` is asked between stages and
    ends the run as stopped. ``evaluate(model, data)`` (the retrain job's hook) returns the metrics
    stored with the run, once its lists are written. ``run_params`` are stored beside the model's
    hyper-parameters (e.g. where tuned values came from). ``policy`` (default: the ``default``
    policy) re-ranks every list written. On any error the run is failed and the error re-raised.
    """
    report = progress or _silent
    if k < 1:
        raise KurrantError(f"k must be at least 1, not {k}.")
    model = make_model(model_name, **(params or {}))      # unknown name or param fails here, fast
    check_stop(should_stop, None)
    report("building training data", 0.0)
    data = data if data is not None and (cutoff is None or data.cutoff == cutoff) \
        else build_training_data(engine, cutoff)
    policy = get_policy(engine, default_policy_name(engine, model_name)) if policy is None else policy
    return run_pipeline(engine, model, data, params={**model.get_params(), **(run_params or {})},
                        k=k, policy=policy, dates=upcoming_menu_dates(data) if dates is None else list(dates),
                        evaluate=evaluate, triggered_by=triggered_by, job_id=job_id, progress=progress,
                        should_stop=should_stop)


def apply_policy_to_run(engine: sa.Engine, run_id: int, policy: Policy, *,
                        triggered_by: str | None = None, job_id: int | None = None,
                        lock_job: int | None = None) -> int:
    """A new run from ``run_id``'s saved model with ``policy``: no refit, the same catalog k and menu
    days, its model folder copied. Refused while a retrain holds the lock; the source run (and
    whichever run is active) is left as it was, also when this fails. The new run's id.
    ``lock_job``: the job that holds the lock and runs this (the retrain page's job)."""
    from kurrant_core.jobs import lock  # the jobs package runs this pipeline: import when used

    holder = lock.holder(engine)
    if holder is not None and holder.job_id != lock_job:
        raise KurrantError(f"Job {holder.job_id} is retraining; apply the policy when it is done.")
    source = get_run(engine, run_id)
    if not source.is_done:
        raise KurrantError(f"Run {run_id} is {source.status_label}; a policy applies to a done run only.")
    folder = source.artifact_path
    if not folder or not (Path(folder) / PARAMS_FILE).exists():
        raise KurrantError(f"Run {run_id}'s saved model ({folder or 'no folder'}) is gone, so a policy "
                           f"cannot be applied without refitting; retrain {source.model} instead.")
    model = get_model_class(source.model).load(Path(folder))
    k, dates = list_shape(engine, run_id)
    return run_pipeline(engine, model, model.data_, params={**source.params, APPLIED_TO: int(run_id)},
                        k=k, policy=policy, dates=dates, fit=False, metrics=source.metrics,
                        artifact_from=Path(folder), triggered_by=triggered_by, job_id=job_id)
