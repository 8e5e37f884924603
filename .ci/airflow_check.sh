#!/usr/bin/env bash
# Parse dags/ with a real Airflow, in its own venv so the project never depends on Airflow.
#
# Usage: bash .ci/airflow_check.sh   (AIRFLOW_VERSION, AIRFLOW_VENV, PYTHON override the defaults)
# Airflow's constraints file lives on GitHub, which this network cannot reach, so this is a plain
# pip install of the pinned version; pip resolves the rest. Prints how long each step took.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.3.2}"
AIRFLOW_VENV="${AIRFLOW_VENV:-/tmp/airflow-venv}"
PYTHON="${PYTHON:-python3.11}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-/tmp/airflow-home}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=True

start=$(date +%s)
if [ ! -x "$AIRFLOW_VENV/bin/python" ] || ! "$AIRFLOW_VENV/bin/python" -c "import airflow" 2>/dev/null; then
    "$PYTHON" -m venv "$AIRFLOW_VENV"
    "$AIRFLOW_VENV/bin/pip" install --quiet --upgrade pip
    "$AIRFLOW_VENV/bin/pip" install --quiet "apache-airflow==${AIRFLOW_VERSION}" "pytest==9.2.0"
fi
installed=$(date +%s)
version=$("$AIRFLOW_VENV/bin/pip" show apache-airflow 2>/dev/null | sed -n 's/^Version: //p')
echo "airflow-check: install took $((installed - start)) s (apache-airflow $version)"

mkdir -p "$AIRFLOW_HOME"
cd "$ROOT"
# --noconftest: the project's conftest needs the project's own packages, which this venv lacks.
"$AIRFLOW_VENV/bin/python" -m pytest --noconftest -p no:cacheprovider -o addopts="" -q tests/test_dag.py
echo "airflow-check: DAG parse took $(( $(date +%s) - installed )) s"
