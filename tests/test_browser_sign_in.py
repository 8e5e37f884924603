"""Browser test of company sign-in against a real OpenID Connect provider, offline.

A local provider (``oidc-provider-mock``) runs on 127.0.0.1; the dashboard runs with an ``[auth]``
secrets file pointing at it and ``team_emails`` naming one person. In headless Chromium:
- a team member signs in, Retrain is enabled, they retrain, and the audit row names them; they sign out;
- a viewer signs in: every write control is disabled and the library refuses their forced call;
- no token, secret or password appears in the server log, the pages or the audit table, and the
  dashboard makes no request outside its own server (the browser may reach nothing but 127.0.0.1).
"""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlparse

import pytest
from conftest import ROOT, SCREENSHOT_DIR, build_tiny_world, free_port, new_database_url

from kurrant_core import access, audit, jobs, runs
from kurrant_core.db import make_engine

TEAM, VIEWER = "ana@kurrant.test", "pm@kurrant.test"
TIMEOUT_MS = 60_000
JOB_DEADLINE_S = 300
WRITE_KEYS = ("rt_submit", "rt_activate_run", "rt_publish", "rt_apply")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


@pytest.fixture
def provider():
    """The OpenID Connect provider, on 127.0.0.1 only, in a thread of this process."""
    oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
    pytest.importorskip("authlib")
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def signed_in_dashboard(provider, tmp_path, monkeypatch):
    """A private tiny world with one done run, and the dashboard signing people in at ``provider``."""
    url = new_database_url("sqlite", tmp_path)
    build_tiny_world(url)
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    engine = make_engine(url)
    run_id = runs.train_and_write(engine, "popularity", {}, k=3, triggered_by="test")
    port = free_port()
    secret_values = {"client_secret": secrets.token_urlsafe(24), "cookie_secret": secrets.token_urlsafe(32)}
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        f'[kurrant]\nteam_emails = ["{TEAM}"]\n\n[auth]\nredirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secret_values["cookie_secret"]}"\nclient_id = "kurrant-lens"\n'
        f'client_secret = "{secret_values["client_secret"]}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n')
    monkeypatch.setenv("KURRANT_SECRETS_FILE", str(secrets_file))       # the library reads the roles here too
    log = tmp_path / "streamlit.log"
    env = dict(os.environ, KURRANT_DE_URL=url, KURRANT_SECRETS_FILE=str(secrets_file))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false", "--secrets.files", str(secrets_file)],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"streamlit did not start: {log.read_text()[-2000:]}")
        yield base, engine, run_id, secret_values, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for job in jobs.list_jobs(engine):                          # never leave a worker behind
            if job.is_running and job.pid:
                try:
                    os.kill(job.pid, 15)
                except OSError:
                    pass
        engine.dispose()


def sign_in(page, base: str, email: str) -> None:
    from playwright.sync_api import expect
    page.goto(base + "/")
    button = page.locator(".st-key-auth_login button")
    expect(button).to_be_visible(timeout=TIMEOUT_MS)
    button.click()
    page.wait_for_url(re.compile(r".*/oauth2/authorize.*"), timeout=TIMEOUT_MS)      # the provider's form
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()
    expect(page.locator(".st-key-auth_logout button")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text(email)).to_be_visible(timeout=TIMEOUT_MS)


def sign_out(page, base: str) -> None:
    from playwright.sync_api import expect
    page.locator(".st-key-auth_logout button").click()
    end = page.get_by_role("button", name="End session")                          # the provider's end-session form
    end.wait_for(timeout=TIMEOUT_MS)
    end.click()
    page.wait_for_url(re.compile(re.escape(base) + r".*"), timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-auth_login button")).to_be_visible(timeout=TIMEOUT_MS)


def button(page, key: str):
    """The visible button with widget key ``key`` (a rerun may briefly keep a hidden copy)."""
    from playwright.sync_api import expect
    found = page.locator(f".st-key-{key} button:visible").first
    expect(found).to_be_visible(timeout=TIMEOUT_MS)
    return found


def open_retrain(page, base: str) -> None:
    page.goto(base + "/retrain")
    button(page, "rt_submit")


def test_browser_sign_in_team_and_viewer_against_a_local_provider(browser, signed_in_dashboard):
    from playwright.sync_api import expect
    base, engine, run_id, secret_values, log = signed_in_dashboard
    outside: list[str] = []

    def only_local(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:                                                       # e.g. the provider page's CSS CDN
            outside.append(f"{route.request.frame.url} -> {route.request.url}")
            route.abort()

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.route("**/*", only_local)
    page = context.new_page()
    seen: list[str] = []
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ a team member
    sign_in(page, base, TEAM)
    open_retrain(page, base)
    retrain = button(page, "rt_submit")
    expect(retrain).to_be_enabled(timeout=TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOT_DIR / "sign_in_team_retrain.png"), full_page=True)
    seen.append(page.content())
    retrain.click()
    deadline = time.monotonic() + JOB_DEADLINE_S
    while time.monotonic() < deadline:
        job = jobs.latest_job(engine)
        if job is not None and not job.is_running:
            break
        time.sleep(1)
    job = jobs.latest_job(engine)
    assert job is not None and job.triggered_by == TEAM and not job.is_running, job
    rows = audit.audit_log(engine, limit=None)
    assert (rows["who"] == TEAM).any() and rows[rows["who"] == TEAM]["action"].tolist()[-1] == access.RETRAIN
    assert rows[rows["who"] == TEAM]["outcome"].tolist()[-1] == audit.OK
    page.goto(base + "/")                                           # the Overview shows the row
    expect(page.get_by_text(TEAM).first).to_be_visible(timeout=TIMEOUT_MS)
    seen.append(page.content())
    sign_out(page, base)

    # ------------------------------------------------------------------ a viewer (a PM)
    sign_in(page, base, VIEWER)
    open_retrain(page, base)
    model_box = page.locator(".st-key-rt_act_model")               # the model with a done, inactive run
    model_box.wait_for(timeout=TIMEOUT_MS)
    option = page.get_by_role("option", name="popularity")
    for _ in range(3):                                               # a click while the page reruns is lost
        model_box.click()
        try:
            option.wait_for(timeout=TIMEOUT_MS // 3)
            break
        except Exception:                                            # noqa: BLE001 - retry the click
            continue
    option.click(timeout=TIMEOUT_MS)
    for key in WRITE_KEYS:
        expect(button(page, key)).to_be_disabled(timeout=TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOT_DIR / "sign_in_viewer_retrain.png"), full_page=True)
    seen.append(page.content())
    viewer = access.signed_in(VIEWER)                                # the same configuration the page used
    assert viewer.role == access.VIEWER
    with pytest.raises(access.AccessDenied, match=VIEWER):
        runs.activate_run(engine, run_id, by=viewer)                 # the forced call
    assert audit.audit_log(engine, limit=1)[["who", "action", "outcome"]].values.tolist() == [
        [VIEWER, access.ACTIVATE, audit.DENIED]]
    sign_out(page, base)
    context.close()

    # ------------------------------------------------------------------ nothing leaked, nothing outside
    server_log = log.read_text()
    table = audit.audit_log(engine, limit=None).to_string()
    for text in (server_log, table, *seen):
        for value in secret_values.values():
            assert value not in text
        assert not JWT.search(text), "an ID or access token leaked"
    assert not [u for u in outside if u.startswith(base)], outside    # the dashboard asked nobody outside
    assert "Traceback" not in server_log
