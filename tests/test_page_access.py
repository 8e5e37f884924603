"""AppTest of the access check from each page that writes: a control is enabled only when
``kurrant_core.access`` allows it (Streamlit also drops a forged click on a disabled one), the same
person's forced library call is refused (nothing written, a ``denied`` audit row), and an allowed
click writes under the person's name. Issue 16 defect 2: Compare's "Retrain … now" button, shown
when there are no finished runs, started a retrain without the team password."""
from __future__ import annotations

import importlib
import re

import pytest
from conftest import APP_PATH, build_tiny_world, new_database_url, sign_in_with_password, team_person
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

from kurrant_core import access, audit, compare, jobs, runs, ui_text
from kurrant_core.db import make_engine
from kurrant_core.jobs import lock, store
from kurrant_core.schema import RUN_STOPPED

PASSWORD = "점심은 커런트"
HASH_ENV = "KURRANT_TEAM_PASSWORD_SHA256"
WRITE_BUTTONS = {"rt_submit": "retrain", "rt_cancel": "cancel", "rt_activate_run": "activate",
                 "rt_publish": "publish", "rt_apply": "apply_policy"}


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A private tiny world (SQLite); jobs are queued but no worker process starts."""
    url = new_database_url("sqlite", tmp_path)
    build_tiny_world(url)
    monkeypatch.setenv("KURRANT_DE_URL", url)
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setattr(importlib.import_module("kurrant_core.jobs.submit"), "launch_worker",
                        lambda engine, job_id: None)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP_PATH, default_timeout=120)
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    return at


def click_as(at: AppTest, key: str, name: str) -> AppTest:
    """Click ``key`` with the team password still typed (see ``sign_in_with_password``)."""
    at.session_state["auth_password"] = PASSWORD
    at.session_state["auth_name"] = name
    return at.button(key=key).click().run()


def trail(engine) -> list[tuple]:
    rows = audit.audit_log(engine, limit=None).iloc[::-1]
    return list(zip(rows["who"], rows["action"], rows["outcome"]))


# ----------------------------------------------------------------------------------- Compare (defect 2)
@pytest.mark.parametrize("configured", [False, True], ids=["no password configured", "password not typed"])
def test_compare_without_runs_does_not_retrain_without_the_password(world, monkeypatch, configured):
    if configured:
        monkeypatch.setenv(HASH_ENV, access.password_hash(PASSWORD))
    at = open_page("pages/compare.py")
    button = at.button(key="cmp_retrain")
    reason = ui_text.text(access.ENTER_PASSWORD if configured else access.NO_PASSWORD)
    assert button.disabled and button.help == reason
    with pytest.raises(AppTestError):                               # Streamlit drops a forged click too
        button.click()
    with pytest.raises(access.AccessDenied, match=re.escape(reason[:20])):   # and a forced library call
        compare.submit_fast_retrain(world, by=access.with_password(None), launch=False)
    assert jobs.latest_job(world) is None
    assert trail(world) == [("anonymous", "retrain", "denied")]
    if not configured:
        return
    sign_in_with_password(at, PASSWORD, "bo")
    assert not at.button(key="cmp_retrain").disabled
    at.button(key="cmp_retrain").click().run()
    assert not at.exception and not at.error
    job = jobs.latest_job(world)
    assert job is not None and job.triggered_by == "bo (team password)"
    assert trail(world)[-1] == ("bo (team password)", "retrain", "ok")


# ----------------------------------------------------------------------------------- Retrain & runs
def test_retrain_page_every_write_control_follows_the_check_and_the_library_refuses_a_forced_click(
        world, monkeypatch):
    monkeypatch.setenv(HASH_ENV, access.password_hash(PASSWORD))
    run_id = runs.train_and_write(world, "popularity", {}, k=3, triggered_by="test")
    job_id = jobs.submit(world, jobs.RetrainSpec.build(["content"], k=3), by=team_person("ana"), launch=False)
    at = open_page("pages/retrain.py")
    at.selectbox(key="rt_act_model").set_value("popularity").run()
    for key in WRITE_BUTTONS:
        assert at.button(key=key).disabled, key
    viewer = access.with_password("")                               # who the page sees: nobody typed it
    for call in (lambda: jobs.submit(world, jobs.RetrainSpec.build(["popularity"]), by=viewer, launch=False),
                 lambda: jobs.request_cancel(world, job_id, by=viewer),
                 lambda: runs.activate_run(world, run_id, by=viewer),
                 lambda: runs.publish_run(world, run_id, by=viewer),
                 lambda: jobs.submit(world, jobs.RetrainSpec.build(["popularity"], apply_to_run=run_id),
                                     by=viewer, launch=False)):
        with pytest.raises(access.AccessDenied):                    # a forced call: the library refuses
            call()
    assert [row[1:] for row in trail(world)[1:]] == [(a, "denied") for a in WRITE_BUTTONS.values()]
    assert not jobs.get_job(world, job_id).cancel_requested and not runs.get_run(world, run_id).is_active
    assert jobs.latest_job(world).job_id == job_id                   # no second job

    sign_in_with_password(at, PASSWORD, "ana")
    for key in ("rt_cancel", "rt_activate_run"):
        assert not at.button(key=key).disabled, key
        click_as(at, key, "ana")
        assert not at.exception and not at.error, key
    assert jobs.get_job(world, job_id).cancel_requested and runs.get_run(world, run_id).is_active
    for key in ("rt_publish", "rt_apply", "rt_submit"):
        with world.begin() as conn:                                 # the last job ends: the lock is free
            for job in jobs.list_jobs(world):
                if job.is_running:
                    store.finish_job(conn, job.job_id, RUN_STOPPED)
                    lock.release(conn, job.job_id)
        sign_in_with_password(at, PASSWORD, "ana")
        assert not at.button(key=key).disabled, key
        click_as(at, key, "ana")
        assert not at.exception and not at.error, key
    mine = [row for row in trail(world) if row[0] == "ana (team password)"]
    assert mine == [("ana (team password)", a, "ok") for a in
                    ("cancel", "activate", "publish", "apply_policy", "retrain")]
    shown = [df.value for df in at.dataframe if "who" in df.value.columns]
    assert shown and "ana (team password)" in shown[0]["who"].tolist()       # the audit section


def test_overview_shows_the_audit_trail_and_no_password(world, monkeypatch):
    monkeypatch.setenv(HASH_ENV, access.password_hash(PASSWORD))
    with pytest.raises(access.AccessDenied):
        jobs.submit(world, jobs.RetrainSpec.build(["content"]), by=access.with_password("wrong guess"),
                    launch=False)
    at = AppTest.from_file(APP_PATH, default_timeout=120)
    at.run()
    assert not at.exception
    table = [df.value for df in at.dataframe if "who" in df.value.columns][0]
    assert table["action"].tolist() == [ui_text.text("action.retrain")]
    assert table["outcome"].tolist() == [ui_text.text("audit.denied")]
    page_text = " ".join(str(e.value) for e in at.main if hasattr(e, "value"))
    assert "wrong guess" not in page_text and PASSWORD not in page_text
