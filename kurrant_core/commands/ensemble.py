"""``ensemble``: a run made of done runs, fused by a rule, written like any run; prints its id."""
from __future__ import annotations

import argparse

from kurrant_core.commands import engine_from
from kurrant_core.errors import KurrantError


def register(sub: argparse._SubParsersAction) -> None:
    from kurrant_core.ensembles import DEFAULT_RRF_K, RULES
    p = sub.add_parser("ensemble", help="fuse done runs into a new run (rrf, blend or stacked)")
    p.add_argument("--members", required=True, metavar="ID,ID|MODEL,MODEL",
                   help="run ids, or model names (the active run of each); one cutoff for all")
    p.add_argument("--rule", required=True, choices=RULES,
                   help="rrf: reciprocal rank fusion; blend: weighted normalised scores; stacked: blend "
                        "weights learned on the validation window (refits the members there)")
    p.add_argument("--k", type=float, default=DEFAULT_RRF_K, dest="rrf_k",
                   help=f"the RRF constant (default {DEFAULT_RRF_K:g})")
    p.add_argument("--weights", metavar="W,W", help="rrf/blend: one weight per member (default 1 each)")
    p.add_argument("--policy", default=None, metavar="NAME",
                   help="the diversity policy applied after the fusion (default: default; off)")
    p.add_argument("--activate", action="store_true", help="make the new run the active ensemble run")
    p.set_defaults(func=_ensemble)


def parse_weights(text: str | None) -> list[float] | None:
    """``"0.5,0.3"`` -> [0.5, 0.3]; a malformed list says how to write it."""
    if not text:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise KurrantError(f"--weights {text!r}: write numbers separated by commas, e.g. 0.5,0.3,0.2.") from None


def _ensemble(args: argparse.Namespace) -> int:
    from kurrant_core import access, runs
    from kurrant_core.ensembles import build_ensemble
    engine = engine_from(args)
    person = access.cli_person()
    run_id = build_ensemble(engine, args.members, args.rule, rrf_k=args.rrf_k,
                            weights=parse_weights(args.weights), policy=args.policy, by=person,
                            triggered_by=person.who)
    if args.activate:
        runs.activate_run(engine, run_id, by=person)
    print(run_id)
    return 0
