"""Plans in the DE (one header row, one row per user, written in one transaction) and as Parquet.

A plan is a preview: nothing here is ever sent to production.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from kurrant_core import access, columns as C, schema as S
from kurrant_core.audit import audited
from kurrant_core.auto_order.planner import ITEM_COLUMNS, Plan
from kurrant_core.auto_order.settings import ensure_table
from kurrant_core.errors import KurrantError
from kurrant_core.runs.publish import file_sha256

PLAN_FILE = "auto_order_plan.parquet"
MANIFEST_FILE = "manifest.json"
PLAN_FORMAT_VERSION = 1
STORED_ITEM_COLUMNS = [C.PLAN_ID, C.RUN_ID, C.SERVICE_DATE, C.DINING_TYPE, C.USER_ID, C.GROUP_ID,
                       C.DAILY_FOOD_ID, C.FOOD_ID, C.MAKERS_ID, C.PRICE, C.SCORE, C.REASON_CODE, C.REASON,
                       C.CREATED_AT]
"""Columns of a stored plan's rows, in order (the Parquet export's columns too)."""
_h, _i = S.auto_order_plan.c, S.auto_order_plan_item.c


def _native(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def save_plan(engine: sa.Engine, plan: Plan, *, by: access.Person) -> int:
    """Store the plan (header, every user's row and the audit row together, or nothing); its id."""
    ensure_table(engine)
    target = f"auto-order plan {plan.service_date} dining {plan.dining_type} (run {plan.run_id}, {plan.mode})"
    with audited(engine, by, access.AUTO_ORDER_PLAN, target) as act:
        return _insert_plan(engine, plan, by.who, act)


def _insert_plan(engine: sa.Engine, plan: Plan, created_by: str, act) -> int:
    now = datetime.now().replace(microsecond=0)
    header = {C.RUN_ID: plan.run_id, C.SERVICE_DATE: plan.service_date, C.DINING_TYPE: plan.dining_type,
              C.AS_OF: plan.as_of, C.PLAN_MODE: plan.mode, "params": json.dumps(plan.params(), ensure_ascii=False),
              C.N_USERS: plan.n_users, C.PLANNED: plan.n_planned, C.CREATED_AT: now, "created_by": created_by}
    with engine.begin() as conn:
        plan_id = int(conn.execute(sa.insert(S.auto_order_plan).values(header)).inserted_primary_key[0])
        rows = [{**{k: _native(v) for k, v in row.items() if k in ITEM_COLUMNS and k != C.RANK},
                 C.PLAN_ID: plan_id, C.RUN_ID: plan.run_id, C.SERVICE_DATE: plan.service_date,
                 C.DINING_TYPE: plan.dining_type, C.CREATED_AT: now}
                for row in plan.items.to_dict("records")]
        if rows:
            conn.execute(sa.insert(S.auto_order_plan_item), rows)
        act.done(conn, act.target + f": plan {plan_id}")
    return plan_id


def list_plans(engine: sa.Engine) -> pd.DataFrame:
    """Every stored plan's header, newest first."""
    ensure_table(engine)
    with engine.connect() as conn:
        return pd.read_sql(sa.select(S.auto_order_plan).order_by(_h[C.PLAN_ID].desc()), conn)


def read_plan(engine: sa.Engine, plan_id: int) -> tuple[dict, pd.DataFrame]:
    """A stored plan's header (params decoded) and rows; KurrantError for an unknown id."""
    ensure_table(engine)
    with engine.connect() as conn:
        header = conn.execute(sa.select(S.auto_order_plan).where(_h[C.PLAN_ID] == int(plan_id))).mappings().first()
        if header is None:
            raise KurrantError(f"There is no auto-order plan {plan_id}; `auto-order plans` lists them.")
        rows = pd.read_sql(sa.select(*[_i[c] for c in STORED_ITEM_COLUMNS])
                           .where(_i[C.PLAN_ID] == int(plan_id)).order_by(_i[C.USER_ID]), conn)
    header = dict(header)
    header["params"] = json.loads(header["params"])
    return header, rows


EXPORT_SCHEMA = pa.schema([
    (C.PLAN_ID, pa.int64()), (C.RUN_ID, pa.int64()), (C.SERVICE_DATE, pa.date32()), (C.DINING_TYPE, pa.int16()),
    (C.USER_ID, pa.int64()), (C.GROUP_ID, pa.int64()), (C.DAILY_FOOD_ID, pa.int64()), (C.FOOD_ID, pa.int64()),
    (C.MAKERS_ID, pa.int64()), (C.PRICE, pa.int64()), (C.SCORE, pa.float64()), (C.REASON_CODE, pa.string()),
    (C.REASON, pa.string()), (C.CREATED_AT, pa.timestamp("s")),
])


def export_plan(engine: sa.Engine, plan_id: int, out_dir: str | Path) -> Path:
    """The plan's rows as Parquet plus ``manifest.json`` (format version, header, sha256); the
    manifest's path."""
    header, rows = read_plan(engine, plan_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = rows.assign(**{C.SERVICE_DATE: pd.to_datetime(rows[C.SERVICE_DATE]).dt.date,
                          C.CREATED_AT: pd.to_datetime(rows[C.CREATED_AT])})
    path = out_dir / PLAN_FILE
    pq.write_table(pa.Table.from_pandas(rows, schema=EXPORT_SCHEMA, preserve_index=False), path)
    digest = file_sha256(path)
    manifest = {"format_version": PLAN_FORMAT_VERSION, "kind": "auto_order_plan",
                "plan": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in header.items()},
                "rows": len(rows), "columns": STORED_ITEM_COLUMNS, "file": PLAN_FILE, "sha256": digest,
                "exported_at": datetime.now().replace(microsecond=0).isoformat()}
    manifest_path = out_dir / MANIFEST_FILE
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest_path
