"""The audit trail: a row for every write and every refused or failed one, in the action's own
transaction; the library refuses a viewer's forced call; the CLI writes as cli:<os user> (the DAG as
dag:<id>) and prints the trail. On SQLite and MariaDB."""
from __future__ import annotations

import getpass
import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from conftest import team_person

from kurrant_core import access, audit, compare, jobs, policies, runs, schema
from kurrant_core.cli import main
from kurrant_core.db import make_engine
from kurrant_core.errors import KurrantError
from kurrant_core.jobs import lock, store
from kurrant_core.rerank import Policy
from kurrant_core.schema import RUN_STOPPED

ANA = team_person("ana@kurrant.example")
PM = access.Person("pm@kurrant.example", access.VIEWER, access.VIA_SIGN_IN)
SECRET = "s3cret-pw"


@pytest.fixture
def world(writable_tiny_url, tmp_path, monkeypatch):
    """A private tiny world with one done popularity run (k=3)."""
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    engine = make_engine(writable_tiny_url)
    run_id = runs.train_and_write(engine, "popularity", {}, k=3, triggered_by="test")
    yield writable_tiny_url, engine, run_id
    engine.dispose()


def trail(engine) -> list[tuple]:
    """(who, action, outcome) of every audit row, oldest first."""
    rows = audit.audit_log(engine, limit=None).iloc[::-1]
    return list(zip(rows["who"], rows["action"], rows["outcome"]))


def free_lock(engine, job_id: int) -> None:
    with engine.begin() as conn:
        store.finish_job(conn, job_id, RUN_STOPPED)
        lock.release(conn, job_id)


def test_every_write_from_the_library_is_audited_and_a_viewer_is_refused(world):
    url, engine, run_id = world
    before = dict(policies.list_policies(engine).set_index("policy_name")["saved_by"])

    # a viewer's forced calls: refused, nothing written, each refusal recorded
    for call in (lambda: jobs.submit(engine, jobs.RetrainSpec.build(["popularity"]), by=PM, launch=False),
                 lambda: compare.submit_fast_retrain(engine, by=PM, launch=False),
                 lambda: runs.activate_run(engine, run_id, by=PM),
                 lambda: runs.publish_run(engine, run_id, by=PM),
                 lambda: policies.save_policy(engine, Policy(name="pm's"), by=PM)):
        with pytest.raises(access.AccessDenied, match="pm@kurrant.example"):
            call()
    assert jobs.latest_job(engine) is None and not runs.get_run(engine, run_id).is_active
    assert dict(policies.list_policies(engine).set_index("policy_name")["saved_by"]) == before
    assert trail(engine) == [("pm@kurrant.example", a, audit.DENIED) for a in
                             ("retrain", "retrain", "activate", "publish", "save_policy")]

    # the team: each write once, ok, and a failed one with its error
    with pytest.raises(KurrantError, match="not the active"):
        runs.publish_run(engine, run_id, by=ANA)                        # failed: activate first
    runs.activate_run(engine, run_id, by=ANA)
    assert runs.publish_run(engine, run_id, by=ANA) > 0
    policies.save_policy(engine, Policy(name="calm", calibration_lambda=0.2), by=ANA)
    with pytest.raises(KurrantError, match="built-in"):
        policies.save_policy(engine, Policy(name="off", mmr_lambda=0.5), by=ANA)
    job_id = jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], k=3), by=ANA, launch=False)
    with pytest.raises(jobs.JobRefused):                                 # failed: the lock is held
        jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], policies={"popularity": "calm"},
                                                   apply_to_run=run_id), by=ANA, launch=False)
    jobs.request_cancel(engine, job_id, by=ANA)
    free_lock(engine, job_id)
    with pytest.raises(KurrantError, match="already"):
        jobs.request_cancel(engine, job_id, by=ANA)                     # failed: it has ended
    jobs.submit(engine, jobs.RetrainSpec.build(["popularity"], policies={"popularity": "calm"},
                                               apply_to_run=run_id), by=ANA, launch=False)
    ana = [(action, outcome) for who, action, outcome in trail(engine) if who == ANA.who]
    assert ana == [("publish", "failed"), ("activate", "ok"), ("publish", "ok"), ("save_policy", "ok"),
                   ("save_policy", "failed"), ("retrain", "ok"), ("apply_policy", "failed"), ("cancel", "ok"),
                   ("cancel", "failed"), ("apply_policy", "ok")]
    rows = audit.audit_log(engine, limit=None).iloc[::-1]
    failed = rows[rows["outcome"] == audit.FAILED]
    assert failed["error"].str.len().gt(0).all() and "activate it first" in failed["error"].iloc[0]
    assert rows[rows["outcome"] == audit.OK]["error"].isna().all()
    assert f"job {job_id}" in rows[(rows["action"] == "retrain") & (rows["outcome"] == "ok")]["target"].iloc[0]
    assert policies.list_policies(engine).set_index("policy_name").loc["calm", "saved_by"] == ANA.who


def test_the_audit_row_shares_the_actions_transaction(empty_engine):
    """A write that fails after recording success leaves no ok row: only the failure."""
    engine = empty_engine
    with pytest.raises(RuntimeError):
        with audit.audited(engine, ANA, access.AUTO_ORDER_PLAN, "2026-10-15 lunch") as act:
            with engine.begin() as conn:
                conn.execute(schema.de_meta.insert().values(key="k", value="v", updated_at=date.today()))
                act.done(conn, "plan 1")
                raise RuntimeError("solver crashed")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.de_meta)).scalar() == 0
    assert trail(engine) == [(ANA.who, "auto_order_plan", "failed")]
    assert audit.audit_log(engine)["error"].tolist() == ["solver crashed"]
    # without a transaction of its own the action is recorded after the block; a viewer never runs it
    with audit.audited(engine, ANA, access.AUTO_ORDER_SETTINGS, "user 7"):
        pass
    ran = []
    for action in (access.AUTO_ORDER_SETTINGS, access.AUTO_ORDER_PLAN, access.MAKE_ENSEMBLE):
        with pytest.raises(access.AccessDenied):
            with audit.audited(engine, PM, action, "x"):
                ran.append(action)
    assert not ran
    assert trail(engine)[1:] == [(ANA.who, "auto_order_settings", "ok"), (PM.who, "auto_order_settings", "denied"),
                                 (PM.who, "auto_order_plan", "denied"), (PM.who, "make_ensemble", "denied")]


def test_no_password_reaches_the_audit_table(empty_engine):
    with pytest.raises(KurrantError):
        with audit.audited(empty_engine, ANA, access.PUBLISH, "run 1"):
            raise KurrantError(f"cannot reach mysql+pymysql://kurrant:{SECRET}@de:3306/kurrant_de")
    error = audit.audit_log(empty_engine)["error"].iloc[0]
    assert SECRET not in error and "kurrant:***@de" in error


def test_the_cli_writes_as_its_os_user_the_dag_as_its_name_and_prints_the_trail(world, capsys, monkeypatch):
    url, engine, run_id = world
    me = f"cli:{getpass.getuser()}"
    assert main(["--url", url, "publish", "--run", str(run_id)]) == 2             # failed: not active
    assert main(["--url", url, "activate", str(run_id)]) == 0
    assert main(["--url", url, "policy", "save", "calm", "--set", "calibration_lambda=0.2"]) == 0
    monkeypatch.setenv(access.ENV_DAG, "kurrant_de_sync")
    assert main(["--url", url, "publish", "--run", str(run_id)]) == 0
    monkeypatch.delenv(access.ENV_DAG)
    assert main(["--url", url, "retrain", "--models", "popularity", "--k", "3", "--no-evaluate",
                 "--no-activate"]) == 0                                   # in the foreground, to done
    job = jobs.latest_job(engine)
    assert main(["--url", url, "cancel", str(job.job_id)]) == 2           # failed: it has ended
    capsys.readouterr()

    assert main(["--url", url, "audit", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()][::-1]
    assert [(r["who"], r["action"], r["outcome"]) for r in rows[:4]] == [
        (me, "publish", "failed"), (me, "activate", "ok"), (me, "save_policy", "ok"),
        ("dag:kurrant_de_sync", "publish", "ok")]
    assert (rows[4]["who"], rows[4]["action"], rows[4]["outcome"]) == (me, "retrain", "ok")
    assert (rows[5]["who"], rows[5]["action"], rows[5]["outcome"]) == (me, "cancel", "failed")
    assert len(rows) == 6
    assert "activate it first" in rows[0]["error"] and rows[1]["error"] is None
    assert main(["--url", url, "audit", "--since", (date.today() + timedelta(days=1)).isoformat()]) == 0
    assert "no audited writes yet" in capsys.readouterr().out
    assert main(["--url", url, "audit", "--since", "7d", "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert "dag:kurrant_de_sync" in table and "save_policy" in table
    assert main(["--url", url, "audit", "--since", "yesterday"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
