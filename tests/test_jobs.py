"""Retrain jobs on SQLite and MariaDB: one at a time, nothing lost when a worker dies or is
cancelled, a dead holder's lock recovered; plus the small pure helpers behind the retrain page."""
from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from conftest import team_person, wait_for

from kurrant_core import columns as C, jobs, runs, schema
from kurrant_core.cli import build_parser, main
from kurrant_core.errors import KurrantError
from kurrant_core.jobs import lock
from kurrant_core.runs import pipeline
from kurrant_core.schema import RUN_DONE, RUN_FAILED, RUN_LEARNING, RUN_STOPPED

FAST = dict(k=5, evaluate=False)
ENDLESS_ALS = {"als": {"iterations": 10**8, "factors": 4}}
"""ALS that would fit for hours: the worker is certainly still training when it is killed."""


def rows_of(engine, run_id: int) -> int:
    rows = schema.rec_user_recommend
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(rows)
                            .where(rows.c[C.RUN_ID] == run_id)).scalar()


def job_runs(engine, job_id: int) -> dict[str, runs.RunRecord]:
    listed = runs.list_runs(engine)
    ids = listed.loc[listed[C.JOB_ID] == job_id, C.RUN_ID]
    return {run.model: run for run in (runs.get_run(engine, int(r)) for r in ids)}


def active_run(engine, model: str) -> int:
    """A done, active run of ``model`` trained outside any job (the one serving today)."""
    run_id = runs.train_and_write(engine, model, {"factors": 4, "iterations": 2} if model == "als"
                                  else {}, k=5, triggered_by="earlier")
    runs.activate_run(engine, run_id, by=team_person())
    return run_id


# ------------------------------------------------------------------------------- one at a time
def test_two_submissions_at_once_only_one_runs(engine):
    spec = jobs.RetrainSpec.build(["popularity"], **FAST)
    people = ("ana", "bo", "cy", "dee")
    barrier, outcomes = threading.Barrier(len(people)), []

    def press(who: str) -> None:
        barrier.wait()
        try:
            outcomes.append(jobs.submit(engine, spec, by=team_person(who), launch=False))
        except jobs.JobRefused as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=press, args=(who,)) for who in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, jobs.JobRefused)]
    assert len(accepted) == 1 and len(refused) == len(people) - 1
    job_id = accepted[0]
    for refusal in refused:
        assert refusal.holder_job_id == job_id
        assert f"job {job_id}" in str(refusal) and "Another retrain is running" in str(refusal)
    assert [j.job_id for j in jobs.list_jobs(engine)] == [job_id]      # the refused one left nothing

    with pytest.raises(jobs.JobRefused, match=f"job {job_id}"):         # still held while queued
        jobs.submit(engine, spec, by=team_person("eve"), launch=False)
    finished = jobs.run_job(engine, job_id)
    assert finished.status == RUN_DONE and finished.progress == 1.0
    assert jobs.holder(engine) is None
    run = job_runs(engine, job_id)["popularity"]
    assert run.is_done and run.is_active and rows_of(engine, run.run_id) > 0
    assert "popularity" in finished.log_tail and "done" in finished.log_tail


def test_a_machine_short_of_memory_refuses_the_job_before_anything_is_written(engine, monkeypatch, tmp_path):
    from kurrant_core.jobs import memory
    n_items = memory.order_items(engine)
    need = memory.needed_mb(n_items)
    assert n_items > 0 and need == pytest.approx(memory.BASE_MB + memory.BYTES_PER_ORDER_ITEM * n_items / 1e6)
    monkeypatch.setattr(memory, "available_mb", lambda: need - 1)
    with pytest.raises(KurrantError, match="memory available") as refused:
        jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], **FAST), by=team_person("ana"), launch=False)
    assert refused.value.key == "err.memory" and f"{need:,.0f} MB" in str(refused.value)
    assert jobs.list_jobs(engine) == [] and jobs.holder(engine) is None       # nothing written, no lock
    monkeypatch.setattr(memory, "available_mb", lambda: need + 1)
    assert jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], **FAST), by=team_person("ana"), launch=False)


def test_free_memory_is_read_from_the_kernel_and_unknown_lets_the_job_through(tmp_path, monkeypatch):
    from kurrant_core.jobs import memory
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:  1000 kB\nMemAvailable:    2048000 kB\n")
    assert memory.available_mb(meminfo) == 2000.0
    assert memory.available_mb(tmp_path / "missing") is None
    monkeypatch.setattr(memory, "available_mb", lambda: None)
    memory.check_memory(None)          # unknown: let through, without even asking the (absent) database


def test_cli_refuses_while_another_retrain_runs(engine, writable_tiny_url, capsys):
    held = jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], **FAST), by=team_person("ana"),
                       launch=False)
    code = main(["--url", writable_tiny_url, "retrain", "--models", "content", "--k", "3"])
    err = capsys.readouterr().err
    assert code == 3
    assert f"job {held}" in err and "ana" in err and "cancel" in err


# ------------------------------------------------------------------------------- nothing lost
def test_a_killed_worker_is_recovered_and_nothing_is_lost(engine):
    serving = active_run(engine, "als")
    spec = jobs.RetrainSpec.build(["popularity", "als"], params=ENDLESS_ALS, **FAST)
    job_id = jobs.submit(engine, spec, by=team_person("test"))             # a real detached worker
    try:
        job = wait_for(lambda: (j := jobs.get_job(engine, job_id)).stage
                       and "fitting als" in j.stage and j, "the worker to train als")
        assert job.pid and job.pid != os.getpid()
        os.kill(job.pid, signal.SIGKILL)
        wait_for(lambda: not lock.pid_alive(job.pid), "the worker to die")
    finally:
        pid = jobs.get_job(engine, job_id).pid
        if pid and lock.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)

    assert jobs.recover_stale(engine) == [job_id]
    job = jobs.get_job(engine, job_id)
    assert job.status == RUN_FAILED and "died" in job.error and str(job.pid) in job.error
    assert jobs.holder(engine) is None
    made = job_runs(engine, job_id)
    assert made["als"].status == RUN_FAILED
    assert rows_of(engine, made["als"].run_id) == 0
    assert runs.read_recommendations(engine, made["als"].run_id).empty
    # the job never finished, so even its finished popularity run was not activated ...
    assert made["popularity"].is_done and not made["popularity"].is_active
    # ... and yesterday's als run still serves
    assert runs.get_run(engine, serving).is_active
    assert not runs.read_recommendations(engine, serving).empty
    assert jobs.recover_stale(engine) == []                            # idempotent
    new_job = jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], **FAST),
                          by=team_person("test"), launch=False)
    assert jobs.run_job(engine, new_job).status == RUN_DONE


def test_cancel_stops_the_job_and_its_partial_run_disappears(engine, monkeypatch):
    serving = active_run(engine, "popularity")
    job_id = jobs.submit(engine, jobs.RetrainSpec.build(["popularity", "content"], **FAST),
                         by=team_person("test"), launch=False)
    written = []
    original = pipeline.write_recommendations

    def write_then_press_cancel(eng, run_id, recs, **kwargs):
        n = original(eng, run_id, recs, **kwargs)
        if not written:                          # the user presses Cancel after the first batch
            written.append(rows_of(eng, run_id))
            jobs.request_cancel(eng, job_id, by=team_person())
        return n

    monkeypatch.setattr(pipeline, "write_recommendations", write_then_press_cancel)
    job = jobs.run_job(engine, job_id)
    assert written and written[0] > 0                            # a partial run existed
    assert job.status == RUN_STOPPED and job.stage == "stopped" and job.cancel_requested
    assert jobs.holder(engine) is None
    made = job_runs(engine, job_id)
    assert list(made) == ["popularity"]                           # content never started
    assert made["popularity"].status == RUN_STOPPED
    assert rows_of(engine, made["popularity"].run_id) == 0
    assert runs.get_run(engine, serving).is_active
    with pytest.raises(KurrantError, match="already stopped"):
        jobs.request_cancel(engine, job_id, by=team_person())


def test_a_stale_lock_is_recovered_and_a_new_job_runs(engine):
    job_id = jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], **FAST),
                         by=team_person("ghost"), launch=False)
    run_id = runs.start_run(engine, "popularity", {}, data_cutoff=date(2026, 10, 1),
                            train_start=None, train_end=None, triggered_by="ghost", job_id=job_id)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()                                                    # a pid that no longer runs
    old = lock.now() - timedelta(minutes=10)
    assert lock.take_over(engine, job_id, gone.pid, lock.this_host())
    with engine.begin() as conn:
        conn.execute(schema.rec_lock.update().values(heartbeat_at=old))
        conn.execute(schema.rec_job.update().where(schema.rec_job.c[C.JOB_ID] == job_id)
                     .values(status=RUN_LEARNING, heartbeat_at=old))

    with pytest.raises(jobs.JobRefused):              # a live-looking holder is never robbed ...
        with engine.begin() as conn:
            conn.execute(schema.rec_lock.update().values(pid=os.getpid(), heartbeat_at=lock.now()))
        jobs.submit(engine, jobs.RetrainSpec.build(["content"], **FAST), by=team_person("x"),
                    launch=False)
    with engine.begin() as conn:                      # ... but a silent, vanished one is
        conn.execute(schema.rec_lock.update().values(pid=gone.pid, heartbeat_at=old))
    new_job = jobs.submit(engine, jobs.RetrainSpec.build(["content"], **FAST), by=team_person("me"),
                          launch=False)
    ghost = jobs.get_job(engine, job_id)
    assert ghost.status == RUN_FAILED and "died" in ghost.error
    assert runs.get_run(engine, run_id).status == RUN_FAILED
    assert jobs.holder(engine).job_id == new_job
    assert jobs.run_job(engine, new_job).status == RUN_DONE


def test_a_worker_that_never_started_is_recovered_after_the_silence_limit(engine):
    job_id = jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], **FAST),
                         by=team_person("test"), launch=False)
    acquired = jobs.holder(engine).heartbeat_at
    assert jobs.recover_stale(engine, stale_after=60, at=acquired + timedelta(seconds=59)) == []
    assert jobs.recover_stale(engine, stale_after=60, at=acquired + timedelta(seconds=61)) == [job_id]
    assert jobs.get_job(engine, job_id).status == RUN_FAILED
    with pytest.raises(KurrantError, match="only a queued job"):
        jobs.run_job(engine, job_id)


def test_progress_per_model_and_run_history(engine):
    job_id = jobs.submit(engine, jobs.RetrainSpec.build(["popularity", "content"], k=5),
                         by=team_person("ana"), launch=False)
    queued = jobs.job_progress(engine, job_id)
    assert [(m.model, m.fraction, m.state) for m in queued.models] == [
        ("popularity", 0.0, "waiting"), ("content", 0.0, "waiting")]
    jobs.run_job(engine, job_id)
    view = jobs.job_progress(engine, job_id)
    assert [(m.fraction, m.state) for m in view.models] == [(1.0, "done"), (1.0, "done")]
    history = runs.run_history(engine)
    mine = history[history[C.JOB_ID] == job_id]
    assert sorted(mine[C.MODEL]) == ["content", "popularity"]
    assert set(mine[C.STATUS_LABEL]) == {"done"} and mine[runs.IS_ACTIVE].all()
    assert (mine[schema.rec_run.c.triggered_by.name] == "ana").all()
    assert mine["menu mrr"].between(0, 1).all()                  # evaluated: metrics stored
    first = int(mine.loc[mine[C.MODEL] == "popularity", C.RUN_ID].iloc[0])
    stored = runs.get_run(engine, first).metrics
    assert "evaluation" in stored and stored["evaluation"]["k"] == 5
    content = runs.get_run(engine, int(mine.loc[mine[C.MODEL] == "content", C.RUN_ID].iloc[0]))
    interval = content.metrics["versus_best_baseline"]["daily_menu"]["mrr"]   # baselines fitted too
    assert interval["reference"] in ("popularity", "history", "random")
    assert interval["low"] <= interval["diff"] <= interval["high"]
    assert stored["baseline"] is True and content.metrics["baseline"] is False

    again = jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], k=5), by=team_person("bo"),
                        launch=False)
    jobs.run_job(engine, again)
    second = job_runs(engine, again)["popularity"].run_id
    assert runs.get_run(engine, second).is_active and not runs.get_run(engine, first).is_active
    same = runs.compare_runs(engine, first, second)       # same model, data and seed: same lists
    assert same.overlap.mean_jaccard == 1.0 and same.overlap.same_top_pick == 1.0
    row = same.metrics.set_index(C.METRIC).loc["daily_menu mrr"]
    assert row[f"run {first}"] == stored["daily_menu"]["mrr"] and row[C.CHANGE] == 0.0
    assert not any(key.startswith("evaluation") for key in same.metrics[C.METRIC])
    exported = pq.read_table(io.BytesIO(runs.export_parquet(engine, second)))
    assert exported.num_rows == len(runs.read_recommendations(engine, second)) > 0


def test_a_stage_silent_for_a_while_still_moves_the_log(engine, monkeypatch):
    """A fit that logs nothing of its own (a large world's hybrid fit) gets the heartbeat's
    "still at work" lines naming its stage: the fit here waits until one is in the stored log
    tail, so without them it would give up and the test fail."""
    from kurrant_core.models.popularity import PopularityRecommender
    monkeypatch.setenv("KURRANT_JOB_HEARTBEAT_S", "0.2")
    job_id = jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], k=5, evaluate=False),
                         by=team_person(), launch=False)
    plain_fit = PopularityRecommender._fit

    def silent_fit(self, data):
        wait_for(lambda: "still at work" in (jobs.get_job(engine, job_id).log_tail or ""),
                 "a still-at-work line", deadline_s=60)
        plain_fit(self, data)

    monkeypatch.setattr(PopularityRecommender, "_fit", silent_fit)
    job = jobs.run_job(engine, job_id)
    assert job.status == RUN_DONE, job.error
    still = [line for line in job.log_tail.splitlines() if "still at work" in line]
    # the fit's own lines name its stage; a loaded machine may also log one while the data loads
    assert any("popularity (1/1): fitting popularity: still at work (" in line for line in still), still
    assert all(re.search(r": still at work \(\d+ s\)$", line) for line in still), still


# ------------------------------------------------------------------------------- pure helpers
def test_cli_accepts_the_scheduler_form():
    args = build_parser().parse_args(["retrain", "--models", "all", "--wait"])
    assert args.models == "all" and args.detach is False and args.job_id is None
    args = build_parser().parse_args(["retrain"])                     # the DAG's empty retrain_args
    assert args.models == "all" and args.detach is False
    assert build_parser().parse_args(["retrain", "--job", "7"]).job_id == 7


def test_list_overlap_by_hand():
    def lists(rows):
        return pd.DataFrame(rows, columns=[C.USER_ID, C.FOOD_ID, C.RANK])
    a = lists([(1, 10, 1), (1, 11, 2), (1, 12, 3), (2, 20, 1), (2, 21, 2), (3, 30, 1)])
    b = lists([(1, 11, 1), (1, 10, 2), (1, 13, 3), (2, 20, 1), (2, 22, 2), (4, 40, 1)])
    overlap = runs.list_overlap(a, b)
    # user 1: {10,11} shared of {10,11,12,13} -> 2/4; user 2: {20} of {20,21,22} -> 1/3
    assert overlap.n_users == 2
    assert overlap.mean_jaccard == pytest.approx((2 / 4 + 1 / 3) / 2)
    assert overlap.same_top_pick == pytest.approx(0.5)              # user 2 only
    assert runs.list_overlap(a, lists([(9, 1, 1)])).n_users == 0


def test_team_password(monkeypatch):
    from kurrant_core import access
    monkeypatch.delenv("KURRANT_TEAM_PASSWORD_SHA256", raising=False)
    monkeypatch.setenv("KURRANT_SECRETS_FILE", "/nonexistent/secrets.toml")
    unconfigured = access.with_password("anything")
    nothing = access.check(unconfigured, access.RETRAIN, "en")
    assert not nothing.allowed and "KURRANT_TEAM_PASSWORD_SHA256" in access.admin_detail(unconfigured, "en")
    monkeypatch.setenv("KURRANT_TEAM_PASSWORD_SHA256", access.password_hash("밥먹자").upper())
    assert access.check(access.with_password("밥먹자"), access.RETRAIN).allowed
    assert not access.check(access.with_password("bapmeokja"), access.RETRAIN).allowed
    assert "Read-only" in access.check(access.with_password(""), access.RETRAIN, "en").reason


def test_why_stale():
    t = datetime(2026, 1, 1, 12, 0, 0)
    alive = lock.LockHolder(1, os.getpid(), lock.this_host(), t, t)
    assert lock.why_stale(alive, at=t + timedelta(seconds=30), stale_after=60) is None
    assert "no heartbeat" in lock.why_stale(alive, at=t + timedelta(seconds=61), stale_after=60)
    other_host = lock.LockHolder(1, 999_999_999, "elsewhere", t, t)   # a pid there says nothing here
    assert lock.why_stale(other_host, at=t + timedelta(seconds=30), stale_after=60) is None


def test_spec_round_trip_and_validation():
    spec = jobs.RetrainSpec.build("popularity,als", cutoff=date(2026, 10, 1), k=7,
                                  dates=jobs.date_span(date(2026, 10, 1), date(2026, 10, 3)),
                                  params={"als": {"factors": 16}}, activate=False)
    again = jobs.RetrainSpec.from_row(spec.models_text(), spec.to_json())
    assert again == spec and len(again.dates) == 3
    with pytest.raises(KurrantError, match="no parameter"):
        jobs.RetrainSpec.build(["als"], params={"als": {"factorz": 3}})
    with pytest.raises(KurrantError, match="not being"):
        jobs.RetrainSpec.build(["popularity"], params={"als": {"factors": 3}})
    with pytest.raises(KurrantError, match="Unknown model"):
        jobs.RetrainSpec.build("popularity,bogus")
    with pytest.raises(KurrantError, match="at least 1"):
        jobs.RetrainSpec.build(["popularity"], k=0)


def test_a_retrain_evaluates_a_seeded_sample_of_test_users_on_a_large_world():
    from kurrant_core.jobs.evaluate import sampled_users
    test = pd.DataFrame({C.USER_ID: [1, 1, 2, 3, 3, 3, 4, 5], C.FOOD_ID: range(8)})
    assert sampled_users(test, max_users=5) is test                     # small enough: every user
    two = sampled_users(test, max_users=2, seed=3)
    assert two[C.USER_ID].nunique() == 2
    for user in two[C.USER_ID].unique():                                # every item of a sampled user
        assert (two[C.USER_ID] == user).sum() == (test[C.USER_ID] == user).sum()
    assert two.equals(sampled_users(test, max_users=2, seed=3))         # the same sample every time
