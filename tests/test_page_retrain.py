"""AppTest of the retrain page: read-only without the team password (and it says why); with it, a
retrain of the fast models runs in a detached worker to done and its runs join the history."""
from __future__ import annotations

import time

import pytest
from conftest import APP_PATH, build_tiny_world, new_database_url, sign_in_with_password
from streamlit.testing.v1 import AppTest

from kurrant_core import access, columns as C, jobs, runs, ui_text
from kurrant_core.db import make_engine
from kurrant_core.schema import RUN_DONE

PASSWORD = "점심은 커런트"
HASH_ENV = "KURRANT_TEAM_PASSWORD_SHA256"
DEADLINE_S = 300
"""Upper bound for the worker to finish; the test waits for the job's state, not for time."""


@pytest.fixture
def world(tmp_path, monkeypatch) -> str:
    """A private tiny-world SQLite copy the page may retrain on; no secrets file."""
    url = new_database_url("sqlite", tmp_path)
    build_tiny_world(url)
    monkeypatch.setenv("KURRANT_DE_URL", url)
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("KURRANT_SECRETS_FILE", str(tmp_path / "no_secrets.toml"))
    return url


def open_page() -> AppTest:
    at = AppTest.from_file(APP_PATH, default_timeout=120)
    at.run()
    at.switch_page("pages/retrain.py")
    at.run()
    assert not at.exception
    return at


def action_buttons(at: AppTest) -> list:
    keys = ("rt_submit", "rt_cancel", "rt_activate_run", "rt_publish")
    return [b for b in at.button if b.key in keys]


def test_without_a_configured_password_a_pm_reads_whom_to_ask_and_the_admin_detail_is_folded(world, monkeypatch):
    monkeypatch.delenv(HASH_ENV, raising=False)
    at = open_page()
    assert at.button(key="rt_submit").disabled
    assert at.info[0].value == ui_text.text(access.NO_PASSWORD)                  # the PM's sentence
    assert HASH_ENV not in at.info[0].value and "sha256" not in at.info[0].value
    admin = [e for e in at.expander if e.label == ui_text.text("access.admin_title")]
    assert len(admin) == 1                                                       # folded away
    detail = admin[0].markdown[0].value
    assert detail == ui_text.text("access.no_password_admin") and HASH_ENV in detail and "team_emails" in detail


def test_with_a_configured_password_there_is_no_admin_detail(world, monkeypatch):
    monkeypatch.setenv(HASH_ENV, access.password_hash(PASSWORD))
    at = open_page()
    assert ui_text.text("access.admin_title") not in [e.label for e in at.expander]


def test_read_only_without_the_team_password(world, monkeypatch):
    monkeypatch.setenv(HASH_ENV, access.password_hash(PASSWORD))
    at = open_page()
    assert at.info[0].value == ui_text.text("access.enter_password")
    assert action_buttons(at) and all(b.disabled for b in action_buttons(at))
    sign_in_with_password(at, "not it")
    assert at.info[0].value == ui_text.text("access.wrong_password")
    assert at.button(key="rt_submit").disabled
    assert jobs.latest_job(make_engine(world)) is None


def test_a_retrain_from_the_page_runs_to_done_and_joins_the_history(world, monkeypatch):
    monkeypatch.setenv(HASH_ENV, access.password_hash(PASSWORD))
    at = open_page()
    at.multiselect(key="rt_models").set_value(["popularity", "content"]).run()
    at.number_input(key="rt_k").set_value(3).run()
    assert ui_text.text("rt.params_title", model="popularity") in [e.label for e in at.expander]
    at.selectbox(key="rt_content_policy").set_value("off").run()
    sign_in_with_password(at, PASSWORD, "tester")
    assert not at.button(key="rt_submit").disabled
    at.session_state["auth_password"], at.session_state["auth_name"] = PASSWORD, "tester"   # still typed
    at.button(key="rt_submit").click().run()
    assert not at.exception and not at.error

    engine = make_engine(world)
    job = jobs.latest_job(engine)
    assert job is not None and job.triggered_by == "tester (team password)" and job.spec.k == 3
    assert job.spec.models == ("popularity", "content")
    deadline = time.monotonic() + DEADLINE_S
    while jobs.get_job(engine, job.job_id).is_running and time.monotonic() < deadline:
        time.sleep(0.5)
    job = jobs.get_job(engine, job.job_id)
    assert job.status == RUN_DONE, job.error

    sign_in_with_password(at, PASSWORD, "tester")
    assert not at.exception
    done = ui_text.text("rt.status.done")
    line = ui_text.text("rt.job_line", job=job.job_id, by=ui_text.text("rt.job_by", who=job.triggered_by),
                        status=done, stage="", elapsed="")                # + the seconds it took
    assert any(m.value.startswith(line) for m in at.markdown)
    history = at.dataframe[0].value
    mine = history[history[C.JOB_ID] == str(job.job_id)]
    assert sorted(mine[C.MODEL]) == ["content", "popularity"]
    assert set(mine[C.STATUS_LABEL]) == {done} and mine[runs.IS_ACTIVE].all()
    started = mine[C.STARTED_AT].iloc[0]                                        # the UI's one timestamp style
    assert started == ui_text.timestamp(started) and len(started) == len("2026-01-01 12:00")
    shipped = {r.model: r.params["policy"]["name"] for r in
               (runs.get_run(engine, int(i)) for i in mine[C.RUN_ID])}
    assert shipped == {"popularity": "varied", "content": "off"}   # popularity kept its own default
    assert not at.button(key="rt_submit").disabled                  # the lock is free again
    assert len(at.get("plotly_chart")) == 1                          # the runs were evaluated


def test_an_ensemble_made_on_the_page_is_a_run_like_any_other(world, monkeypatch):
    monkeypatch.setenv(HASH_ENV, access.password_hash(PASSWORD))
    engine = make_engine(world)
    members = [runs.train_and_write(engine, name, k=3, triggered_by="test") for name in ("popularity", "history")]
    at = open_page()
    assert at.button(key="rt_ens_submit").disabled                # read-only until signed in
    sign_in_with_password(at, PASSWORD, "tester")
    at.session_state["auth_password"], at.session_state["auth_name"] = PASSWORD, "tester"
    at.multiselect(key="rt_ens_runs").set_value(members).run()
    at.selectbox(key="rt_ens_rule").set_value("rrf").run()
    at.session_state["auth_password"], at.session_state["auth_name"] = PASSWORD, "tester"   # still typed
    at.run()
    at.session_state["auth_password"], at.session_state["auth_name"] = PASSWORD, "tester"
    at.button(key="rt_ens_submit").click().run()
    assert not at.exception and not at.error
    made = runs.list_runs(engine, "ensemble")
    assert len(made) == 1
    run = runs.get_run(engine, int(made[C.RUN_ID].iloc[0]))
    assert run.status == RUN_DONE and run.triggered_by == "tester (team password)"
