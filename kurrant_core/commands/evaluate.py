"""``evaluate``: train models before a cutoff, score the days after it, store and print a leaderboard.

With ``--format json`` stdout carries exactly one JSON list (one object per model and protocol);
logs and anything a model library prints go to stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

import pandas as pd

from kurrant_core import columns as C
from kurrant_core.commands import engine_from
from kurrant_core.commands.models import parse_date, parse_params
from kurrant_core.errors import KurrantError

FORMATS = ("table", "json")


def register(sub: argparse._SubParsersAction) -> None:
    from kurrant_core.evaluation import DEFAULT_HORIZON_DAYS
    p = sub.add_parser("evaluate", help="evaluate models on a time split and print a leaderboard")
    p.add_argument("--models", default="all", help="comma-separated model names, or all (default)")
    p.add_argument("--cutoff", help="train before this day, test from it (YYYY-MM-DD; default: "
                   "the last --horizon days of orders are the test window)")
    p.add_argument("--horizon", type=int, default=DEFAULT_HORIZON_DAYS,
                   help=f"test window length in days (default {DEFAULT_HORIZON_DAYS})")
    p.add_argument("--k", type=int, default=10, help="catalog list length (default 10)")
    p.add_argument("--backtest", type=int, default=1, metavar="N",
                   help="average over N rolling cutoffs, one horizon apart (default 1)")
    p.add_argument("--param", action="append", default=[], metavar="MODEL:KEY=VALUE",
                   help="a model hyper-parameter, e.g. als:factors=32; repeat for several")
    p.add_argument("--no-tradeoff", dest="tradeoff", action="store_false",
                   help="skip the MMR accuracy-diversity curve (faster)")
    p.add_argument("--exclude-seen", action="store_true",
                   help="catalog protocol: leave each user's past foods out of their list and truth "
                        "(default off: for lunch, reordering is the target)")
    p.add_argument("--policy", default="default", metavar="NAME",
                   help="also measure each model's lists as this diversity policy ships them "
                        "(default: default; off to skip)")
    p.add_argument("--tune", action="store_true",
                   help="first choose each model's main hyper-parameters on the validation window "
                        "(the --horizon days before the cutoff; never the test window)")
    p.add_argument("--tune-metric", default=None, metavar="PROTOCOL:METRIC",
                   help="what --tune maximises: PROTOCOL:METRIC, several comma-separated are averaged as "
                        "ratios to the defaults' (default daily_menu:mrr,catalog:ndcg@10)")
    p.add_argument("--tune-trials", type=int, default=None, metavar="N",
                   help="most grid points tried per model, defaults first (default 6)")
    p.add_argument("--tune-budget", type=float, default=None, metavar="SECONDS",
                   help="stop trying more points of a model after this many seconds (default 60)")
    p.add_argument("--ensemble", action="append", default=[], metavar="RULE:MODELS",
                   help="also evaluate an ensemble of the evaluated models, e.g. rrf:hybrid,sequential,content "
                        "or stacked:all (rules rrf, blend, stacked); repeat for several")
    p.add_argument("--format", choices=FORMATS, default="table", help="table (default) or json")
    p.set_defaults(func=_evaluate)


def parse_model_params(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``["als:factors=32"]`` -> ``{"als": {"factors": 32}}`` (typed like the model's defaults)."""
    by_model: dict[str, list[str]] = {}
    for pair in pairs:
        model, sep, rest = pair.partition(":")
        if not sep or not rest:
            raise KurrantError(f"--param {pair!r}: write MODEL:KEY=VALUE, e.g. als:factors=32.")
        by_model.setdefault(model.strip(), []).append(rest)
    return {model: parse_params(model, items) for model, items in by_model.items()}


def _evaluate(args: argparse.Namespace) -> int:
    from kurrant_core.evaluation import TimeSplit, evaluate, leaderboard_frame, names as N, summary_columns, tuning

    params = parse_model_params(args.param)
    split = TimeSplit(parse_date(args.cutoff), args.horizon) if args.cutoff else None
    tune_options = {"tune_metric": args.tune_metric or tuning.DEFAULT_METRIC,
                    "tune_trials": args.tune_trials or tuning.DEFAULT_MAX_TRIALS,
                    "tune_budget_seconds": args.tune_budget or tuning.DEFAULT_BUDGET_SECONDS}
    if not args.tune and any(v is not None for v in (args.tune_metric, args.tune_trials, args.tune_budget)):
        raise KurrantError("--tune-metric, --tune-trials and --tune-budget only apply with --tune.")
    from kurrant_core.ensembles import evaluation as ensembles
    specs = [ensembles.parse_ensemble_spec(text) for text in args.ensemble]
    models = args.models
    if specs and models != "all":         # the members are evaluated too
        models = ",".join(dict.fromkeys([*models.split(","), *ensembles.member_names(specs)]))
    with contextlib.redirect_stdout(sys.stderr):        # stdout is the result, nothing else
        evaluations = evaluate(engine_from(args), models, split=split,
                               horizon_days=args.horizon, k=args.k, backtest=args.backtest,
                               params=params, with_tradeoff=args.tradeoff,
                               exclude_seen=args.exclude_seen, policy=args.policy, tune=args.tune,
                               **tune_options,
                               triggered_by="cli")
        evaluations += ensembles.evaluate_ensembles(engine_from(args), evaluations, specs,
                                                    with_tradeoff=args.tradeoff, triggered_by="cli",
                                                    policy=args.policy)
    if args.format == "json":
        rows = [row for e in evaluations for row in e.json_rows()] + evaluations[0].random_json_rows()
        print(json.dumps(rows, ensure_ascii=False, allow_nan=False))
        return 0
    first = evaluations[0]
    print(f"cutoff {first.split.cutoff}, test window {first.split.horizon_days} days"
          + (f", averaged over cutoffs {', '.join(first.cutoffs)}" if len(first.cutoffs) > 1 else "")
          + (", seen foods excluded" if args.exclude_seen else ""))
    runs = [{C.MODEL: e.model, C.RUN_ID: e.run_id, N.METRICS: e.stored_metrics()}
            for e in evaluations]
    with pd.option_context("display.width", 250, "display.max_columns", 40,
                           "display.float_format", "{:.4f}".format):
        for protocol in N.PROTOCOLS:
            board = leaderboard_frame(runs, protocol)
            print(f"\n{protocol}  (interval: paired bootstrap 95 % of the difference to the best "
                  "baseline; * = above 0)")
            print(board[summary_columns(board, protocol, args.k)].to_string(index=False))
            versus_members = ensembles.versus_member_frame(evaluations, protocol)
            if not versus_members.empty:
                print(f"\n{protocol} ensembles against their best member (paired bootstrap 95 %)")
                print(versus_members.to_string(index=False))
    return 0
