"""``auto-order settings|plan|plans|export|backtest``: the automatic-purchase preview from the CLI.

``plan --format json`` prints one JSON list, one object per user (``food_id`` null and the reason
when no food could be planned); ``backtest --format json`` one object with the figures.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

import pandas as pd

from kurrant_core import access, columns as C
from kurrant_core.commands import engine_from
from kurrant_core.errors import KurrantError

FORMATS = ("table", "json")
SETTINGS_ACTIONS = ("list", "show", "set", "remove")
JSON_PLAN_KEYS = [C.USER_ID, C.FOOD_ID, C.DAILY_FOOD_ID, C.MAKERS_ID, C.PRICE, C.SCORE, C.REASON_CODE, C.REASON]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("auto-order", help="auto-order preview: opt-in settings, plans, backtest")
    inner = p.add_subparsers(dest="auto_order_command", required=True, metavar="ACTION")

    s = inner.add_parser("settings", help="list, show, set or remove users' opt-in settings")
    s.add_argument("action", choices=SETTINGS_ACTIONS)
    s.add_argument("user_id", nargs="?", type=int, help="the user (show, set, remove)")
    s.add_argument("--dining-types", help="DiningType codes, e.g. 2 or 1,2 (default 2 = 점심)")
    s.add_argument("--weekdays", help="0 = Monday .. 6, e.g. 0,1,2,3,4 (the default)")
    s.add_argument("--max-price", help="price cap in won, or 'off'")
    s.add_argument("--avoid-foods", help="food ids to never buy, e.g. 12,40")
    s.add_argument("--avoid-makers", help="maker ids to never buy from")
    s.add_argument("--from", dest="active_from", help="first date covered (default today)")
    s.add_argument("--to", dest="active_to", help="last date covered (default: until removed)")
    s.add_argument("--format", choices=FORMATS, default="table")
    s.set_defaults(func=_settings)

    s = inner.add_parser("plan", help="plan one date and meal for the opted-in users (a preview)")
    s.add_argument("--date", required=True, help="service date, e.g. 2026-11-02")
    s.add_argument("--dining-type", required=True, help="1 아침, 2 점심, 3 저녁")
    s.add_argument("--run", type=int, dest="run_id", help="the run whose preferences to use "
                   "(default: the active run of the best model)")
    s.add_argument("--as-of", help="plan as of this time (default: the deadline, 17:00 the day before)")
    s.add_argument("--mode", choices=("preview", "replay"), default="preview",
                   help="replay: plan the opted-in users as if they had not ordered, and compare")
    s.add_argument("--save", action="store_true", help="store the plan in the DE (prints its id on stderr)")
    s.add_argument("--format", choices=FORMATS, default="table")
    s.set_defaults(func=_plan)

    s = inner.add_parser("plans", help="list the stored plans")
    s.set_defaults(func=_plans)

    s = inner.add_parser("export", help="a stored plan as Parquet + manifest")
    s.add_argument("--plan", type=int, required=True, dest="plan_id")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_export)

    s = inner.add_parser("backtest", help="plan every past meal of a window for the users who ordered it")
    s.add_argument("--from", dest="date_from", help="first day (default: the evaluation's test window)")
    s.add_argument("--to", dest="date_to", help="last day (inclusive)")
    s.add_argument("--model", default=None, help="the model to fit before the window (default sequential)")
    s.add_argument("--policy", default="default", help="the diversity policy of the preferences")
    s.add_argument("--format", choices=FORMATS, default="table")
    s.set_defaults(func=_backtest)


def _date(text: str | None, what: str):
    if text is None:
        return None
    try:
        return pd.Timestamp(text).date()
    except (TypeError, ValueError):
        raise KurrantError(f"{what} must be a date like 2026-11-02, not {text!r}.") from None


def _settings(args: argparse.Namespace) -> int:
    from kurrant_core.auto_order import settings as S
    engine = engine_from(args)
    if args.action == "list":
        frame = S.settings_frame(engine)
        if args.format == "json":
            print(frame.to_json(orient="records", date_format="iso", force_ascii=False))
        else:
            print(frame.to_string(index=False) if len(frame) else "no user has opted in")
        return 0
    if args.user_id is None:
        raise KurrantError(f"`auto-order settings {args.action}` needs a user id.")
    if args.action == "show":
        found = S.read_settings(engine, [args.user_id])
        if not found:
            raise KurrantError(f"User {args.user_id} has not opted into auto-order.")
        print(json.dumps(S.as_dict(found[0]), ensure_ascii=False))
        return 0
    person = access.cli_person()
    if args.action == "remove":
        n = S.delete_settings(engine, [args.user_id], by=person)
        print(f"removed {n} setting(s)")
        return 0
    stored = S.read_settings(engine, [args.user_id])
    current = S.as_dict(stored[0]) if stored else {}
    changes = {"dining_types": args.dining_types, "weekdays": args.weekdays,
               "avoid_food_ids": args.avoid_foods, "avoid_makers_ids": args.avoid_makers,
               "active_from": args.active_from, "active_to": args.active_to}
    values = {**{k: v for k, v in current.items() if k != "user_id"},
              **{k: v for k, v in changes.items() if v is not None}}
    if args.max_price is not None:
        values["max_price"] = None if args.max_price.lower() in ("off", "none", "") else args.max_price
    setting = S.make_setting(args.user_id, **values)
    S.save_settings(engine, [setting], by=person)
    print(json.dumps(S.as_dict(setting), ensure_ascii=False))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from kurrant_core.auto_order import default_run_id, plan_meal, save_plan
    from kurrant_core.auto_order.inputs import check_dining_type, parse_service_date
    parse_service_date(args.date)
    check_dining_type(args.dining_type)
    engine = engine_from(args)
    as_of = None
    if args.as_of:
        try:
            as_of = datetime.fromisoformat(args.as_of)
        except ValueError:
            raise KurrantError(f"--as-of must be a time like 2026-11-01T17:00, not {args.as_of!r}.") from None
    run_id = args.run_id if args.run_id is not None else default_run_id(engine)
    plan = plan_meal(engine, args.date, args.dining_type, run_id=run_id, as_of=as_of, mode=args.mode)
    if args.save:
        plan_id = save_plan(engine, plan, by=access.cli_person())
        print(f"saved plan {plan_id}", file=sys.stderr)
    items = plan.items
    if args.format == "json":
        records = []
        for row in items.to_dict("records"):
            out = {k: (None if pd.isna(row[k]) else row[k]) for k in JSON_PLAN_KEYS}
            out = {k: (v.item() if hasattr(v, "item") else v) for k, v in out.items()}
            if out[C.SCORE] is not None:
                out[C.SCORE] = round(float(out[C.SCORE]), 6)
            if C.IS_MATCH in row:
                out[C.IS_MATCH] = bool(row[C.IS_MATCH])
            records.append(out)
        print(json.dumps(records, ensure_ascii=False))
    else:
        print(f"plan of {plan.service_date} (dining {plan.dining_type}) as of {plan.as_of:%Y-%m-%d %H:%M}, "
              f"run {plan.run_id}: {plan.n_planned} of {plan.n_users} users planned, "
              f"{plan.n_already_ordered} opted-in users ordered themselves; objective {plan.objective:.2f} "
              f"(greedy {plan.greedy_objective:.2f}), {plan.seconds:.2f} s")
        print(items.to_string(index=False) if len(items) else "nobody to plan")
    return 0


def _plans(args: argparse.Namespace) -> int:
    from kurrant_core.auto_order import list_plans
    frame = list_plans(engine_from(args))
    print(frame.drop(columns=["params"]).to_string(index=False) if len(frame) else "no plans yet")
    return 0


def _export(args: argparse.Namespace) -> int:
    from kurrant_core.auto_order import export_plan
    print(export_plan(engine_from(args), args.plan_id, args.out))
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from kurrant_core.auto_order import DEFAULT_MODEL, backtest
    engine = engine_from(args)
    result = backtest(engine, date_from=_date(args.date_from, "--from"), date_to=_date(args.date_to, "--to"),
                      model_name=args.model or DEFAULT_MODEL, policy=args.policy)
    summary = result.summary()
    if args.format == "json":
        print(json.dumps(summary, ensure_ascii=False))
    else:
        for key, value in summary.items():
            print(f"{key:>30}: {value}")
    return 0
