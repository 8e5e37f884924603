"""A retrain's evaluation in a second process (``jobs.evaluation_process``), on SQLite and MariaDB:
the same metrics as in the job's own process, failures and cancels that end the job cleanly, and
the rule that chooses it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import team_person, wait_for

from kurrant_core import jobs, runs
from kurrant_core.errors import KurrantError
from kurrant_core.jobs import evaluation_process as EP
from kurrant_core.jobs.memory import needed_mb
from kurrant_core.schema import RUN_DONE

MODELS = ["popularity", "history", "content"]


def job_metrics(engine, mode: str, monkeypatch) -> tuple[dict[str, dict], str]:
    """Each model's stored metrics after a retrain whose evaluation runs as ``mode`` says; the log."""
    monkeypatch.setenv("KURRANT_EVALUATION_PROCESS", mode)
    job_id = jobs.submit(engine, jobs.RetrainSpec.build(MODELS, k=5), by=team_person(), launch=False)
    job = jobs.run_job(engine, job_id)
    assert job.status == RUN_DONE, job.error
    listed = runs.list_runs(engine)
    ids = listed.loc[listed["job_id"] == job_id, "run_id"]
    return {(run := runs.get_run(engine, int(r))).model: run.metrics for r in ids}, job.log_tail


def without_timings(metrics):
    """The metrics less the seconds a fit took (the only figures two processes may not share)."""
    if isinstance(metrics, dict):
        return {k: without_timings(v) for k, v in metrics.items() if "seconds" not in k}
    return metrics


def test_a_second_process_stores_the_same_metrics_as_the_job_itself(engine, monkeypatch):
    beside, log_beside = job_metrics(engine, "on", monkeypatch)
    inside, log_inside = job_metrics(engine, "off", monkeypatch)
    assert sorted(beside) == sorted(MODELS)
    for name in MODELS:
        assert beside[name]["daily_menu"]["mrr"] > 0
        assert without_timings(beside[name]) == without_timings(inside[name])
    assert "evaluation: " in log_beside and "evaluation process peak memory" in log_beside   # relayed
    assert "evaluation process peak memory" not in log_inside


def test_a_failure_over_there_is_raised_here_and_the_process_ends(engine):
    with EP.EvaluationProcess(engine, [("popularity", {}), ("no-such-model", {})], k=5,
                              horizon_days=14) as evaluation:
        assert evaluation.metrics("popularity")["daily_menu"]["mrr"] > 0
        with pytest.raises(KurrantError, match="no-such-model"):
            evaluation.metrics("no-such-model")
        process = evaluation._process
    assert process is not None and process.poll() is not None


def test_a_cancel_while_waiting_stops_the_wait_and_the_process(engine):
    with EP.EvaluationProcess(engine, [("popularity", {})], k=5, horizon_days=14,
                              should_stop=lambda: True) as evaluation:
        with pytest.raises(runs.RunCancelled):
            evaluation.metrics("popularity")
        process = evaluation._process
    assert process.poll() is not None


def test_torch_threads_are_shared_while_it_runs_and_given_back(engine, monkeypatch):
    monkeypatch.delenv(EP.TORCH_THREADS_ENV, raising=False)
    from kurrant_core.models import torch_support
    before = torch_support.TORCH_THREADS
    with EP.EvaluationProcess(engine, [("popularity", {}), ("history", {})], k=5, horizon_days=14) as evaluation:
        mine = torch_support.TORCH_THREADS
        assert mine == EP._split_cores(EP._cores())[1]
        assert os.environ[EP.TORCH_THREADS_ENV] == str(mine)
        evaluation.metrics("popularity")
        assert torch_support.TORCH_THREADS == mine                  # one twin to go: still shared
        evaluation.metrics("history")
        assert torch_support.TORCH_THREADS == before                # every twin done: the job gets them
        assert EP.TORCH_THREADS_ENV not in os.environ
    assert torch_support.TORCH_THREADS == before and EP.TORCH_THREADS_ENV not in os.environ


@pytest.mark.parametrize(("items", "cores", "free", "chosen"), [
    (3_840_000, 2, 23_000.0, True),            # the large world on this 24 GB two-core machine
    (130_000, 2, 30_000.0, False),             # the demo world: starting a process costs more
    (3_840_000, 1, 30_000.0, False),           # one core: nothing to share
    (3_840_000, 2, 1.1 * needed_mb(3_840_000), False),   # room for the job in one process, not two
    (3_840_000, 2, needed_mb(3_840_000, both=True), True),
])
def test_auto_asks_for_a_large_world_two_cores_and_the_memory_of_both(monkeypatch, items, cores, free, chosen):
    monkeypatch.delenv("KURRANT_EVALUATION_PROCESS", raising=False)
    assert EP.use_process(items, cores=cores, free_mb=free) is chosen


def test_the_setting_forces_either_way_and_a_malformed_one_is_named(monkeypatch):
    monkeypatch.setenv("KURRANT_EVALUATION_PROCESS", "on")
    assert EP.use_process(10, cores=1, free_mb=1.0)
    monkeypatch.setenv("KURRANT_EVALUATION_PROCESS", "OFF")
    assert not EP.use_process(10**8, cores=64, free_mb=10**9)
    monkeypatch.setenv("KURRANT_EVALUATION_PROCESS", "sometimes")
    with pytest.raises(KurrantError, match="KURRANT_EVALUATION_PROCESS.*sometimes"):
        EP.use_process(10**8)


def test_a_job_on_a_cutoff_with_test_days_after_it_judges_the_fitted_model_itself(engine, monkeypatch):
    """Runs cut before the last orders are scored on the real days after their cutoff, in the job's
    own process (a twin would judge another model): no second process even when forced on."""
    monkeypatch.setenv("KURRANT_EVALUATION_PROCESS", "on")
    from kurrant_core.evaluation import default_split
    cutoff = default_split(engine, 14).cutoff
    job_id = jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], k=5, cutoff=cutoff),
                         by=team_person(), launch=False)
    job = jobs.run_job(engine, job_id)
    assert job.status == RUN_DONE
    assert "evaluation process" not in job.log_tail
    run = runs.get_run(engine, int(runs.list_runs(engine).query(f"job_id == {job_id}")["run_id"].iloc[0]))
    assert run.metrics["evaluation"]["data_cutoff"] == cutoff.isoformat()


def test_a_forced_second_process_is_refused_without_the_memory_for_both(engine, monkeypatch):
    from kurrant_core.jobs import memory
    one = memory.needed_mb(memory.order_items(engine))
    both = memory.needed_mb(memory.order_items(engine), both=True)
    assert both == pytest.approx(one * memory.BOTH_PROCESSES_FACTOR) and both > one
    monkeypatch.setattr(memory, "available_mb", lambda: (one + both) / 2)
    spec = jobs.RetrainSpec.build(["popularity"], k=5)
    monkeypatch.setenv("KURRANT_EVALUATION_PROCESS", "on")
    with pytest.raises(KurrantError, match="memory available"):
        jobs.submit(engine, spec, by=team_person(), launch=False)
    assert jobs.list_jobs(engine) == []
    monkeypatch.setenv("KURRANT_EVALUATION_PROCESS", "auto")        # auto evaluates in the job instead
    assert jobs.submit(engine, spec, by=team_person(), launch=False)


def test_a_malformed_setting_refuses_the_job_with_its_name(engine, monkeypatch):
    monkeypatch.setenv("KURRANT_EVALUATION_PROCESS", "maybe")
    with pytest.raises(KurrantError, match="KURRANT_EVALUATION_PROCESS"):
        jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], k=5), by=team_person(), launch=False)
    assert jobs.list_jobs(engine) == []


def test_a_killed_job_takes_its_evaluation_process_with_it(tiny_sqlite_url, tmp_path):
    """SIGKILL cannot end a worker's children; the evaluation process watches for its job instead."""
    url = f"sqlite:///{tmp_path / 'de.sqlite'}"
    shutil.copy(tiny_sqlite_url.removeprefix("sqlite:///"), tmp_path / "de.sqlite")
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, time\n"
        "from kurrant_core.db import make_engine\n"
        "from kurrant_core.jobs.evaluation_process import EvaluationProcess\n"
        "if __name__ == '__main__':\n"
        "    evaluation = EvaluationProcess(make_engine(sys.argv[1]), "
        "[('als', {'iterations': 10**8, 'factors': 4})], k=5, horizon_days=14)\n"
        "    evaluation.start()\n"
        "    print(evaluation._process.pid, flush=True)\n"
        "    time.sleep(600)\n")
    root = Path(__file__).parent.parent
    job = subprocess.Popen([sys.executable, str(script), url], cwd=root, stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(root)})
    child = int(job.stdout.readline())
    wait_for(lambda: _has_open(child, tmp_path / "de.sqlite"), "the evaluation to read the DE")
    job.kill()                      # the twin (endless ALS) is being fitted now
    job.wait()
    wait_for(lambda: not _alive(child), "the evaluation process to end")


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(os.path.realpath(fd) == os.path.realpath(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, PermissionError):
        return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
