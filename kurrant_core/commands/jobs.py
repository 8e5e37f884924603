"""``retrain``, ``runs``, ``activate``, ``cancel`` and ``jobs``: what the retrain page's buttons do,
for people with a shell and for schedulers (the Airflow DAG runs ``retrain --models all --wait``).
Writes act as ``cli:<os user>`` (``dag:<id>`` under the DAG) and land in the audit trail.

``retrain`` submits a job (refused, exit code 3, while another retrain runs) and by default runs
it in the foreground; ``--detach`` leaves it to a background worker instead. ``retrain --job ID``
is the worker's own entry point.
"""
from __future__ import annotations

import argparse
import signal
import sys
from collections import defaultdict
from typing import Any

from kurrant_core import access, jobs, runs
from kurrant_core.commands import engine_from
from kurrant_core.commands.models import check_training_args, parse_date, parse_date_range, parse_params
from kurrant_core.errors import KurrantError
from kurrant_core.evaluation import DEFAULT_HORIZON_DAYS, resolve_models
from kurrant_core.schema import RUN_DONE

EXIT_REFUSED = 3
"""Exit status of a refused submission (another retrain holds the lock)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retrain", help="retrain models as a job (one at a time), or run job --job ID")
    p.add_argument("--models", default="all",
                   help="comma-separated model names, or 'all' (default: all)")
    p.add_argument("--cutoff", help="train on service dates before this day (YYYY-MM-DD; "
                   "default: all data)")
    p.add_argument("--k", type=int, default=10, help="list length (default 10)")
    p.add_argument("--dates", metavar="FROM:TO",
                   help="service dates whose menus to rank (default: the next 5 menu days)")
    p.add_argument("--param", action="append", default=[], metavar="MODEL.KEY=VALUE",
                   help="a model hyper-parameter, e.g. als.factors=32; repeat for several")
    p.add_argument("--no-evaluate", dest="evaluate", action="store_false",
                   help="skip the evaluation stored with each run (faster)")
    p.add_argument("--horizon", type=int, default=DEFAULT_HORIZON_DAYS,
                   help=f"test days of the evaluation (default {DEFAULT_HORIZON_DAYS})")
    p.add_argument("--no-activate", dest="activate", action="store_false",
                   help="keep the current active runs (default: activate the new runs when done)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--wait", dest="detach", action="store_false",
                      help="run the job in this process until it ends (the default)")
    mode.add_argument("--detach", dest="detach", action="store_true",
                      help="start a background worker, print the job id and return")
    mode.add_argument("--job", type=int, dest="job_id",
                      help="run this queued job (the worker entry point)")
    p.set_defaults(func=_retrain, detach=False)

    p = sub.add_parser("runs", help="list runs (newest first) with status and key metrics")
    p.add_argument("--model", help="only this model's runs")
    p.set_defaults(func=_runs)

    p = sub.add_parser("activate", help="make a done run its model's active run")
    p.add_argument("run_id", type=int)
    p.set_defaults(func=_activate)

    p = sub.add_parser("cancel", help="ask a running retrain job to stop at its next check")
    p.add_argument("job_id", type=int)
    p.set_defaults(func=_cancel)

    p = sub.add_parser("jobs", help="list retrain jobs (recovers a dead worker's job first)")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=_jobs)


def model_params(models: tuple[str, ...], pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``["als.factors=32"]`` -> ``{"als": {"factors": 32}}``, typed like the model's defaults."""
    by_model: dict[str, list[str]] = defaultdict(list)
    for pair in pairs:
        name, dot, rest = pair.partition(".")
        if not dot or name not in models:
            raise KurrantError(f"--param {pair!r}: write MODEL.KEY=VALUE with MODEL one of the "
                               f"models being retrained ({', '.join(models)}).")
        by_model[name].append(rest)
    return {name: parse_params(name, items) for name, items in by_model.items()}


def _stop_on_sigterm() -> None:
    """A scheduler's SIGTERM (task timeout, kill) ends the job cleanly, as Ctrl-C does."""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _retrain(args: argparse.Namespace) -> int:
    engine = engine_from(args)
    if args.job_id is not None:
        _stop_on_sigterm()
        return _report(jobs.run_job(engine, args.job_id))
    models = tuple(resolve_models(args.models))
    cutoff = parse_date(args.cutoff) if args.cutoff else None
    check_training_args(engine, cutoff, args.k)
    spec = jobs.RetrainSpec.build(
        models, cutoff=cutoff, k=args.k,
        dates=tuple(parse_date_range(args.dates)) if args.dates else None,
        params=model_params(models, args.param), evaluate=args.evaluate,
        horizon_days=args.horizon, activate=args.activate)
    try:
        job_id = jobs.submit(engine, spec, by=access.cli_person(), launch=args.detach)
    except jobs.JobRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.detach:
        print(f"job {job_id} started; follow it with `python -m kurrant_core jobs` "
              f"(log: {jobs.job_log_path(job_id)})")
        return 0
    print(f"job {job_id}: {', '.join(spec.models)}", flush=True)
    _stop_on_sigterm()
    return _report(jobs.run_job(engine, job_id))


def _report(job: jobs.JobRecord) -> int:
    print(f"job {job.job_id} {job.status_label} after {job.elapsed_s():.0f} s"
          + (f": {job.error}" if job.error else ""))
    return 0 if job.status == RUN_DONE else 1


def _runs(args: argparse.Namespace) -> int:
    history = runs.run_history(engine_from(args), args.model)
    if history.empty:
        print("no runs yet: `python -m kurrant_core retrain --models popularity` trains one")
        return 0
    print(history.to_string(index=False))
    return 0


def _activate(args: argparse.Namespace) -> int:
    engine = engine_from(args)
    runs.activate_run(engine, args.run_id, by=access.cli_person())
    run = runs.get_run(engine, args.run_id)
    print(f"run {run.run_id} is now the active {run.model} run")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    job = jobs.request_cancel(engine_from(args), args.job_id, by=access.cli_person())
    print(f"job {job.job_id}: cancel requested; it stops at its next check (now: {job.stage})")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    engine = engine_from(args)
    for job_id in jobs.recover_stale(engine):
        print(f"job {job_id}: its worker was gone; marked failed, its unfinished runs removed")
    listed = jobs.list_jobs(engine, args.limit)
    if not listed:
        print("no retrain jobs yet")
        return 0
    print(jobs.jobs_frame(listed).to_string(index=False))
    return 0
