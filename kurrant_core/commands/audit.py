"""``audit``: the audit trail — who retrained, cancelled, activated, published or changed a policy."""
from __future__ import annotations

import argparse
import json

import pandas as pd

from kurrant_core import audit
from kurrant_core.commands import engine_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="print the audit trail of writes, newest first")
    p.add_argument("--since", metavar="D",
                   help="only from this day on: YYYY-MM-DD, or 7d for the last seven days")
    p.add_argument("--limit", type=int, default=200, help="at most this many rows (default 200; 0 = all)")
    p.add_argument("--format", choices=["table", "json"], default="table",
                   help="a table for people (default) or JSON lines for scripts")
    p.set_defaults(func=_audit)


def _audit(args: argparse.Namespace) -> int:
    since = audit.parse_since(args.since) if args.since else None
    rows = audit.audit_log(engine_from(args), since=since, limit=args.limit or None)
    if args.format == "json":
        for record in rows.to_dict(orient="records"):
            print(json.dumps({k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else
                                  v.isoformat() if hasattr(v, "isoformat") else v)
                              for k, v in record.items()}, ensure_ascii=False, default=str))
        return 0
    if rows.empty:
        print("no audited writes yet" + (f" since {since}" if since else ""))
        return 0
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(rows.fillna("").to_string(index=False))
    return 0
