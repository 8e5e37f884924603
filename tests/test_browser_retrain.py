"""Browser test: in headless Chromium a team member types the password, presses Retrain and
watches the live progress bars (refreshed by the page itself) reach done; a screenshot is kept."""
from __future__ import annotations

import re

import pytest
from conftest import SCREENSHOT_DIR, build_tiny_world, new_database_url

from kurrant_core import access, jobs, ui_text
from kurrant_core.db import make_engine
from kurrant_core.schema import RUN_DONE

pytestmark = pytest.mark.browser
PASSWORD = "lunch-team"
TIMEOUT_MS = 90_000
JOB_TIMEOUT_MS = 300_000
"""Upper bound for the worker to train two models; the test waits for 'done', not for time."""


def test_browser_retrain_runs_to_done(browser, dashboard_factory, tmp_path):
    from playwright.sync_api import expect  # here: without playwright, `browser` skips
    url = new_database_url("sqlite", tmp_path)
    build_tiny_world(url)
    server = dashboard_factory(url, KURRANT_TEAM_PASSWORD_SHA256=access.password_hash(PASSWORD),
                               KURRANT_SECRETS_FILE=str(tmp_path / "no_secrets.toml"))
    page = browser.new_page(viewport={"width": 1500, "height": 1400})
    page.goto(server.url, wait_until="networkidle")            # the router first
    page.locator(".st-key-auth_password input").wait_for(timeout=TIMEOUT_MS)   # app.py has run
    page.goto(server.url + "/retrain", wait_until="networkidle")

    retrain = page.locator(".st-key-rt_submit button:visible").first
    expect(retrain).to_be_disabled(timeout=TIMEOUT_MS)          # read-only until the password
    expect(page.get_by_text(ui_text.text("access.enter_password"))).to_be_visible()
    password = page.locator(".st-key-auth_password input")      # the sidebar, on every page
    password.fill(PASSWORD)
    password.press("Enter")
    team = access.Person("team password", access.TEAM, access.VIA_PASSWORD)
    expect(page.get_by_text(access.check(team, access.RETRAIN).reason)).to_be_visible(timeout=TIMEOUT_MS)
    expect(retrain).to_be_enabled(timeout=TIMEOUT_MS)
    retrain.click()

    bars = page.get_by_role("progressbar")
    expect(bars).to_have_count(2, timeout=TIMEOUT_MS)           # popularity and content
    engine = make_engine(url)
    job = jobs.latest_job(engine)
    done = ui_text.text("rt.status.done")
    line = ui_text.text("rt.job_line", job=job.job_id, by=ui_text.text("rt.job_by", who=job.triggered_by),
                        status=done, stage="", elapsed="").replace("**", "")     # + the seconds it took
    status = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text=re.compile("^" + re.escape(line)))
    expect(status.first).to_be_visible(timeout=JOB_TIMEOUT_MS)
    for i in range(2):
        expect(bars.nth(i)).to_have_attribute("aria-valuenow", "100", timeout=TIMEOUT_MS)
    popularity_done = ui_text.text("rt.model_progress", model="popularity", state=done, elapsed="").strip()
    expect(page.get_by_text(re.compile("^" + re.escape(popularity_done)))).to_be_visible(timeout=TIMEOUT_MS)
    assert not page.locator('[data-testid="stException"]').count()

    job = jobs.latest_job(engine)
    engine.dispose()
    assert job.status == RUN_DONE and job.spec.models == ("popularity", "content")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "retrain.png"), full_page=True)
    page.close()
