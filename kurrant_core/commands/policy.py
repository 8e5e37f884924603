"""``policy list|show|save|choose``: the named diversity policies a run applies to its model."""
from __future__ import annotations

import argparse
import json

import pandas as pd

from kurrant_core import access
from kurrant_core.audit import audited
from kurrant_core.commands import engine_from
from kurrant_core.errors import KurrantError

ACTIONS = ("list", "show", "save", "choose")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy", help="list, show, save or choose diversity policies")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("name", nargs="?", help="the policy's name (show, save)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="a setting of the policy to save, e.g. calibration_lambda=0.2; repeat")
    p.add_argument("--from-json", metavar="JSON", help="save: the whole policy as JSON instead")
    p.add_argument("--models", default="all", help="choose: the models the budget must hold for")
    p.add_argument("--users", type=int, default=400,
                   help="choose: validation users sampled per model (default 400)")
    p.add_argument("--save", action="store_true", help="choose: save the winner as 'default'")
    p.add_argument("--per-model", action="store_true",
                   help="choose: between the built-in 'default' and 'varied' only, each model's own choice "
                        "(how policies.MODEL_DEFAULTS was set)")
    p.set_defaults(func=_policy)

    p = sub.add_parser("apply-policy", help="a new run from a done run's saved model with another "
                       "policy (no refit)")
    p.add_argument("--run", type=int, required=True, dest="run_id")
    p.add_argument("--policy", required=True, metavar="NAME")
    p.add_argument("--activate", action="store_true", help="make the new run its model's active run")
    p.set_defaults(func=_apply_policy)


def parse_settings(pairs: list[str]) -> dict[str, str | None]:
    """``["calibration_lambda=0.2", "max_per_maker=off"]`` -> settings (``off``/``none`` = None)."""
    out: dict[str, str | None] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise KurrantError(f"--set {pair!r}: write KEY=VALUE, e.g. calibration_lambda=0.2.")
        value = value.strip()
        out[key.strip()] = None if value.lower() in ("off", "none", "") else value
    return out


def _policy(args: argparse.Namespace) -> int:
    from kurrant_core import policies
    engine = engine_from(args)
    if args.action == "list":
        with pd.option_context("display.width", 200, "display.max_colwidth", 120):
            print(policies.list_policies(engine).to_string(index=False))
        return 0
    if args.action == "choose":
        from kurrant_core.evaluation.policy_choice import choose_default_policy
        candidates = [policies.DEFAULT_POLICY, policies.VARIED_POLICY] if args.per_model else None
        choice = choose_default_policy(engine, args.models, n_users=args.users, candidates=candidates)
        print(choice.table().to_string(index=False))
        print(f"\nchosen: {choice.chosen.steps_text()}")
        for model, policy in choice.per_model.items():
            print(f"  {model}'s own choice: {policy.steps_text() if policy else 'none within its budget'}")
        if args.save:
            policies.save_policy(engine, choice.chosen, by=access.cli_person())
            print("saved as the 'default' policy")
        return 0
    if not args.name:
        raise KurrantError(f"policy {args.action} needs the policy's name.")
    if args.action == "show":
        print(json.dumps(policies.get_policy(engine, args.name).to_dict(), indent=1))
        return 0
    if args.from_json:
        policy = policies.parse_policy(args.from_json, args.name)
    else:
        values = parse_settings(args.settings)
        if not values:
            raise KurrantError("policy save needs its settings: --set key=value (repeat) or --from-json.")
        policy = policies.parse_policy({**values}, args.name)
    policies.save_policy(engine, policy, by=access.cli_person())
    print(f"saved policy {policy.name}: {policy.steps_text()}")
    return 0



def _apply_policy(args: argparse.Namespace) -> int:
    from kurrant_core import policies, runs
    engine = engine_from(args)
    person = access.cli_person()
    with audited(engine, person, access.APPLY_POLICY, f"run {args.run_id} → policy {args.policy}") as act:
        run_id = runs.apply_policy_to_run(engine, args.run_id, policies.get_policy(engine, args.policy),
                                          triggered_by=person.who)
        act.target = f"run {args.run_id} → policy {args.policy}: run {run_id}"
    if args.activate:
        runs.activate_run(engine, run_id, by=person)
    print(run_id)
    return 0
