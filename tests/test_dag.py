"""The Airflow DAG parses and wires sync -> preprocess -> (optional) retrain; skips without Airflow.

Run with Airflow by ``bash .ci/airflow_check.sh`` (its own venv; the project does not need Airflow).
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
airflow = pytest.importorskip("airflow")

DAG_FILE = Path(__file__).resolve().parent.parent / "dags" / "kurrant_de_sync.py"


@pytest.fixture(scope="module")
def dag():
    from airflow.models import DagBag
    kwargs = {"include_examples": False} if "include_examples" in inspect.signature(DagBag).parameters else {}
    bag = DagBag(dag_folder=str(DAG_FILE), **kwargs)
    assert bag.import_errors == {}
    return bag.dags["kurrant_de_sync"]


def test_dag_runs_sync_then_preprocess_then_optional_retrain(dag):
    assert set(dag.task_ids) == {"sync", "preprocess", "should_retrain", "retrain"}
    assert dag.get_task("sync").downstream_task_ids == {"preprocess"}
    assert dag.get_task("preprocess").downstream_task_ids == {"should_retrain"}
    assert dag.get_task("should_retrain").downstream_task_ids == {"retrain"}


def test_tasks_call_the_project_cli_with_retries(dag):
    sync = dag.get_task("sync")
    assert "-m kurrant_core sync --no-preprocess" in sync.bash_command
    assert "-m kurrant_core preprocess" in dag.get_task("preprocess").bash_command
    assert "-m kurrant_core retrain" in dag.get_task("retrain").bash_command
    assert sync.retries >= 1 and dag.get_task("preprocess").retries >= 1
    assert dag.max_active_runs == 1


def test_retrain_follows_param_then_variable(monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location("kurrant_de_sync_module", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = []

    def fake_get(key, default=None):
        seen.append(key)
        return "true"
    monkeypatch.setattr(module.Variable, "get", staticmethod(fake_get))
    assert module.retrain_wanted({"retrain": False}) is False
    assert seen == []                                  # an explicit param wins over the Variable
    assert module.retrain_wanted({"retrain": None}) is True
    assert seen == [module.RETRAIN_VARIABLE]
