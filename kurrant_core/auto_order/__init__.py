"""Auto-order preview: who opted in, what the planner would buy for them, and how that compares.

``settings`` (the opt-in table), ``inputs`` (one date and meal from the DE), ``preferences`` (a run's
scores with its policy), ``solver`` (the assignment), ``planner`` (rules, objective, reasons),
``checks`` (an independent audit of a plan), ``store`` (plans in the DE and as Parquet),
``backtest`` (past days replayed), ``views`` (the page's figures). Nothing is sent to production.
"""
from __future__ import annotations

import sqlalchemy as sa

from kurrant_core.auto_order.backtest import DEFAULT_MODEL, BacktestResult, backtest
from kurrant_core.auto_order.checks import plan_violations
from kurrant_core.auto_order.inputs import MODES, PREVIEW, REPLAY, PlanInputError, default_as_of, load_inputs
from kurrant_core.auto_order.planner import REASON_TEXT, Plan, PlanWeights, plan_meal
from kurrant_core.auto_order.settings import (
    AutoOrderSetting,
    SettingsError,
    delete_settings,
    make_setting,
    read_settings,
    replace_all_settings,
    save_settings,
    settings_frame,
)
from kurrant_core.auto_order.store import export_plan, list_plans, read_plan, save_plan
from kurrant_core.errors import KurrantError

PREFERRED_MODELS = ("sequential", "hybrid", "ncf", "content", "tifu", "als", "history", "popularity")
"""Which active run plans by default: the best model on the daily-menu protocol first."""


def default_run_id(engine: sa.Engine) -> int:
    """The active done run of the most preferred model (the newest done one when none is active);
    KurrantError when no run has finished."""
    from kurrant_core import schema
    runs = schema.rec_run.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(runs.run_id, runs.model, runs.is_active)
                            .where(runs.status == schema.RUN_DONE)).all()
    if not rows:
        raise KurrantError("No finished run to plan with: retrain first (the Retrain page or "
                           "`python -m kurrant_core retrain`), or pass --run.", key="err.no_finished_run")
    rank = {name: i for i, name in enumerate(PREFERRED_MODELS)}
    return int(min(rows, key=lambda r: (not r.is_active, rank.get(r.model, len(rank)), -r.run_id)).run_id)


__all__ = ["DEFAULT_MODEL", "MODES", "PREVIEW", "REPLAY", "REASON_TEXT", "AutoOrderSetting", "BacktestResult",
           "Plan", "PlanInputError", "PlanWeights", "SettingsError", "backtest", "default_as_of",
           "default_run_id", "delete_settings", "export_plan", "list_plans", "load_inputs", "make_setting",
           "plan_meal", "plan_violations", "read_plan", "read_settings", "replace_all_settings", "save_plan",
           "save_settings", "settings_frame"]
