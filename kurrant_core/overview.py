"""What the overview page shows: data freshness, counts, date range, active runs, sync state."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, schema as S
from kurrant_core.db import check_ready, unreachable
from kurrant_core.preprocess import META_LATEST_ORDER_AT, META_PREPROCESSED_AT

COUNTED = {
    "groups": S.client_group, "spots": S.client_spot, "users": S.user_user, "makers": S.makers,
    "foods": S.food, "daily menu slots": S.daily_food, "order items (mart)": S.mart_order_item,
}


@dataclass
class Overview:
    counts: dict[str, int]
    paid_items: int
    first_service_date: date | None
    last_service_date: date | None
    latest_order_at: str | None
    preprocessed_at: str | None
    active_runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    sync_state: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_overview(engine: sa.Engine) -> Overview:
    """Everything the overview page shows; KurrantError when the DE database is down or empty."""
    check_ready(engine)
    oi, meta = S.mart_order_item, S.de_meta
    try:
        with engine.connect() as conn:
            counts = {label: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                      for label, t in COUNTED.items()}
            paid = conn.execute(sa.select(sa.func.count()).where(oi.c[C.IS_PAID] == sa.true())).scalar_one()
            first, last = conn.execute(sa.select(sa.func.min(oi.c[C.SERVICE_DATE]),
                                                 sa.func.max(oi.c[C.SERVICE_DATE]))).one()
            meta_rows = dict(conn.execute(sa.select(meta.c.key, meta.c.value)).all())
            runs = _active_runs(conn)
            sync_state = _sync_state(conn)
    except sa.exc.OperationalError as exc:
        raise unreachable(engine, exc) from None
    return Overview(counts=counts, paid_items=paid, first_service_date=_as_date(first),
                    last_service_date=_as_date(last), latest_order_at=meta_rows.get(META_LATEST_ORDER_AT) or None,
                    preprocessed_at=meta_rows.get(META_PREPROCESSED_AT), active_runs=runs, sync_state=sync_state)


def _as_date(value) -> date | None:
    return None if value is None else pd.Timestamp(value).date()


def _active_runs(conn: sa.Connection) -> pd.DataFrame:
    r = S.rec_run
    return pd.read_sql(
        sa.select(r.c.model, r.c[C.RUN_ID], r.c.data_cutoff, r.c.finished_at, r.c.n_users, r.c.n_items,
                  r.c.triggered_by)
        .where(r.c.is_active == sa.true(), r.c.status == S.RUN_DONE).order_by(r.c.model), conn)


def _sync_state(conn: sa.Connection) -> pd.DataFrame:
    """Per synced table: its watermark and its latest sync log entry."""
    w, lg = S.sync_watermark, S.sync_log
    latest = sa.select(lg.c.table_name, sa.func.max(lg.c.id).label("last_id")).group_by(lg.c.table_name).subquery()
    return pd.read_sql(
        sa.select(lg.c.table_name, lg.c.status, lg.c.rows, lg.c.seconds, lg.c.finished_at,
                  w.c.column_name.label("watermark_column"), w.c.value.label("watermark"))
        .select_from(lg.join(latest, latest.c.last_id == lg.c.id)
                     .outerjoin(w, w.c.table_name == lg.c.table_name))
        .order_by(lg.c.table_name), conn)
