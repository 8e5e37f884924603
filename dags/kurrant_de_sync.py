"""Airflow DAG: sync production -> DE raw mirror, rebuild the marts, optionally retrain.

Every task calls the project's own CLI (``python -m kurrant_core ...``) through BashOperator, so the
scheduler needs nothing of the project but this file, and the project never needs Airflow. Settings
reach the CLI through the worker's environment or ``.streamlit/secrets.toml`` in the project folder:
``KURRANT_DE_URL``, ``KURRANT_SYNC_SOURCE_URL`` (read replica; keeps the password out of the command
line and the task log) and, if a table is hashed, ``KURRANT_SYNC_HASH_KEY``.

Where the project lives: ``KURRANT_HOME`` (default: this file's parent folder's parent); which
Python runs it: ``KURRANT_PYTHON`` (default: ``$KURRANT_HOME/.venv/bin/python``).
Retrain after the sync when the run's ``retrain`` param is true, or, when it is left empty, when
the Airflow Variable ``kurrant_retrain_after_sync`` is ``true``.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import ShortCircuitOperator
    from airflow.sdk import DAG, Param, Variable
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.models import Variable
    from airflow.models.param import Param
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import ShortCircuitOperator

DAG_ID = "kurrant_de_sync"
RETRAIN_VARIABLE = "kurrant_retrain_after_sync"
PROJECT_ROOT = Path(os.environ.get("KURRANT_HOME", Path(__file__).resolve().parent.parent))
PYTHON = os.environ.get("KURRANT_PYTHON", str(PROJECT_ROOT / ".venv" / "bin" / "python"))
CLI = f"{PYTHON} -m kurrant_core"


def retrain_wanted(params: dict, **_context) -> bool:
    """The run's ``retrain`` param when set, else the Airflow Variable (default: no retrain)."""
    chosen = params.get("retrain")
    if chosen is None:
        chosen = str(Variable.get(RETRAIN_VARIABLE, default="false")).strip().lower() in ("1", "true", "yes")
    return bool(chosen)


with DAG(
    dag_id=DAG_ID,
    description="Production -> DE sync (allowed columns only), marts rebuild, optional retrain",
    schedule="30 4 * * *",                      # 04:30 KST, before the lunch menus are shown
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Seoul"),
    catchup=False,
    max_active_runs=1,                          # two syncs never race on the same watermarks
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,      # a busy replica gets more room on each retry
        "max_retry_delay": timedelta(minutes=30),
    },
    params={
        "chunk_size": Param(5000, type="integer", minimum=100, description="rows per production read"),
        "pause": Param(0.1, type="number", minimum=0, description="seconds between production reads"),
        "retrain": Param(None, type=["null", "boolean"],
                         description=f"retrain after preprocess (empty: Variable {RETRAIN_VARIABLE})"),
        "retrain_args": Param("", type="string", description="extra arguments for `retrain`"),
    },
    tags=["kurrant", "de"],
) as dag:
    # KURRANT_DAG: the CLI acts as "dag:<DAG_ID>" (who the audit trail names for the retrain)
    common = {"cwd": str(PROJECT_ROOT), "env": {"PYTHONUNBUFFERED": "1", "KURRANT_DAG": DAG_ID},
              "append_env": True}
    sync = BashOperator(
        task_id="sync",
        bash_command=f"{CLI} sync --no-preprocess --chunk-size {{{{ params.chunk_size }}}} "
                     f"--pause {{{{ params.pause }}}}",
        execution_timeout=timedelta(hours=2), **common)
    preprocess = BashOperator(
        task_id="preprocess", bash_command=f"{CLI} preprocess",
        execution_timeout=timedelta(hours=1), **common)
    should_retrain = ShortCircuitOperator(task_id="should_retrain", python_callable=retrain_wanted,
                                          retries=0)
    retrain = BashOperator(
        task_id="retrain", bash_command=f"{CLI} retrain {{{{ params.retrain_args }}}}",
        execution_timeout=timedelta(hours=3), retries=1, **common)

    sync >> preprocess >> should_retrain >> retrain
