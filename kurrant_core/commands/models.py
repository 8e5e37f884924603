"""``train``, ``recommend``, ``publish`` and ``export``: a model run from the command line."""
from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from kurrant_core import access, codes, columns as C, runs, schema
from kurrant_core.audit import audited
from kurrant_core.commands import engine_from
from kurrant_core.db import check_ready
from kurrant_core.errors import KurrantError

RECOMMEND_SHOWN = [C.RANK, C.FOOD_ID, C.FOOD_NAME, C.MAKERS_NAME, C.SCORE]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and write its run in the shared format")
    p.add_argument("--model", required=True, help="model name (popularity, content, als, ...)")
    p.add_argument("--cutoff", help="train on service dates before this day "
                   "(YYYY-MM-DD; default: all data)")
    p.add_argument("--k", type=int, default=10, help="list length (default 10)")
    p.add_argument("--dates", metavar="FROM:TO",
                   help="service dates whose menus to rank (default: the next 5 menu days)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a model hyper-parameter; repeat for several")
    p.add_argument("--policy", default="default", metavar="NAME",
                   help="the diversity policy its lists are written with (default: the model's own "
                        "default, see `policy choose --per-model`; off)")
    p.set_defaults(func=_train)

    p = sub.add_parser("recommend", help="print a done run's list for one user")
    p.add_argument("--run", type=int, required=True, dest="run_id")
    p.add_argument("--user", type=int, required=True, dest="user_id")
    p.add_argument("--date", help="the menu day (default: the catalog list)")
    p.set_defaults(func=_recommend)

    p = sub.add_parser("publish", help="copy the active run's dated lists to the backend table")
    p.add_argument("--run", type=int, required=True, dest="run_id")
    p.set_defaults(func=_publish)

    p = sub.add_parser("export", help="write a done run as Parquet + manifest.json")
    p.add_argument("--run", type=int, required=True, dest="run_id")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_export)


# ------------------------------------------------------------------------------ argument parsing
def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` -> date; anything else is a KurrantError saying the expected form."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise KurrantError(f"{text!r} is not a date; write it as YYYY-MM-DD (e.g. 2024-05-02).") from None


def parse_date_range(text: str) -> list[date]:
    """``FROM:TO`` (inclusive) or a single day -> every calendar day in between."""
    start_text, sep, end_text = text.partition(":")
    start = parse_date(start_text)
    end = parse_date(end_text) if sep else start
    if end < start:
        raise KurrantError(f"--dates {text}: the range ends before it starts; write FROM:TO with "
                           "FROM on or before TO.")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def parse_params(model_name: str, pairs: list[str]) -> dict[str, Any]:
    """``["factors=64", "use_gpu=false"]`` -> typed values, typed like the model's defaults."""
    from kurrant_core.models import get_model_class
    defaults = get_model_class(model_name)().get_params()
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or key not in defaults:
            raise KurrantError(f"--param {pair!r}: write KEY=VALUE with KEY one of "
                               f"{', '.join(defaults)} (the {model_name} model's parameters).")
        params[key] = _typed_value(key, raw.strip(), defaults[key])
    return params


def _typed_value(key: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise KurrantError(f"--param {key}={raw}: {key} is true or false.")
        return raw.lower() in ("true", "1", "yes")
    if isinstance(default, (int, float)):
        try:
            return type(default)(raw)
        except ValueError:
            raise KurrantError(f"--param {key}={raw}: {key} is a number "
                               f"({type(default).__name__}, default {default}).") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def check_training_args(engine: sa.Engine, cutoff: date | None, k: int) -> None:
    """Refuse, with the reason, a ``--cutoff`` outside the orders or a ``--k`` no list can reach.

    A cutoff after the day following the last order trains on exactly what the default does while
    claiming a later date; one on or before the first order leaves nothing to learn from. A list
    cannot be longer than the catalogue.
    """
    if k < 1:
        raise KurrantError(f"--k {k}: a list holds at least one food; use --k 1 or more.")
    check_ready(engine)
    items, foods = schema.mart_order_item, schema.mart_food
    with engine.connect() as conn:
        first, last = conn.execute(sa.select(sa.func.min(items.c[C.SERVICE_DATE]),
                                             sa.func.max(items.c[C.SERVICE_DATE]))).one()
        n_foods = conn.execute(sa.select(sa.func.count()).select_from(foods)).scalar_one()
    first, last = pd.Timestamp(first).date(), pd.Timestamp(last).date()
    if cutoff is not None and cutoff > last + timedelta(days=1):
        raise KurrantError(
            f"--cutoff {cutoff} is after the last order (service date {last.isoformat()}): training would see "
            f"the same orders as the default cutoff ({last + timedelta(days=1)}) under a later date. Leave "
            f"--cutoff out to train on everything, or pick a day up to {last + timedelta(days=1)}.")
    if cutoff is not None and cutoff <= first:
        raise KurrantError(f"--cutoff {cutoff} is on or before the first order (service date {first}): there "
                           "is nothing to train on. Pick a later day.")
    if k > n_foods:
        raise KurrantError(f"--k {k} is more than the {n_foods} foods in the catalogue, so no list can be that "
                           f"long. Use --k {n_foods} or less.")


# ------------------------------------------------------------------------------ commands
def _train(args: argparse.Namespace) -> int:
    params = parse_params(args.model, args.param)
    cutoff = parse_date(args.cutoff) if args.cutoff else None
    dates = parse_date_range(args.dates) if args.dates else None
    engine = engine_from(args)
    check_training_args(engine, cutoff, args.k)
    from kurrant_core.policies import BUILTIN, policy_for_model
    from kurrant_core.rerank import OFF
    person = access.cli_person()
    with audited(engine, person, access.RETRAIN, f"train {args.model}") as act:
        run_id = runs.train_and_write(engine, args.model, params, cutoff=cutoff,
                                      k=args.k, dates=dates, triggered_by=person.who,
                                      policy=policy_for_model(engine, args.policy, args.model) or BUILTIN[OFF],
                                      progress=_print_stage if args.verbose else None)
        act.target = f"run {run_id} ({args.model})"
    print(run_id)
    return 0


def _print_stage(stage: str, fraction: float) -> None:
    print(f"[{fraction:4.0%}] {stage}", flush=True)


def _recommend(args: argparse.Namespace) -> int:
    engine = engine_from(args)
    run = runs.get_run(engine, args.run_id)
    if not run.is_done:
        raise KurrantError(f"Run {run.run_id} is {run.status_label}; only a done run has lists. "
                           "Pick a done run or train again.")
    day = parse_date(args.date) if args.date else None
    rows = runs.read_recommendations(engine, run.run_id, args.user_id, day,
                                     catalog_only=day is None, with_names=True)
    where = f"on {day}" if day else "from the catalog"
    if rows.empty:
        raise KurrantError(f"Run {run.run_id} ({run.model}) has no list for user {args.user_id} "
                           f"{where}. Check the user id, or pick a date whose menu the run ranked.")
    print(f"run {run.run_id} ({run.model}), user {args.user_id}, {where}:")
    for dining_type, part in rows.groupby(C.DINING_TYPE, dropna=False):
        if day:
            print(codes.label(codes.DINING_TYPE, dining_type))
        print(part[RECOMMEND_SHOWN].to_string(index=False))
    return 0


def _publish(args: argparse.Namespace) -> int:
    n = runs.publish_run(engine_from(args), args.run_id, by=access.cli_person())
    print(f"published {n} rows of run {args.run_id} to {schema.recommend_user_recommends.name}")
    return 0


def _export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        manifest = runs.export_run(engine_from(args), args.run_id, out)
    except OSError as exc:
        raise KurrantError(f"Cannot export to {out}: {_why_not_a_folder(out, exc)}. Pick a folder that "
                           "can be created and written to (--out).") from None
    print(manifest)
    return 0


def _why_not_a_folder(out: Path, exc: OSError) -> str:
    """Why ``out`` could not become the export folder, in words: a file in the way, or the OS's reason."""
    for path in (out, *out.parents):
        if path.exists():
            if not path.is_dir():
                return f"{path} is a file, not a folder"
            break
    return (exc.strerror or str(exc)).lower()
