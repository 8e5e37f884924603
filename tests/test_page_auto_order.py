"""The Auto-order page: AppTest (figures, replay, the access check on writes) and Chromium."""
from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from conftest import ROOT, SCREENSHOT_DIR, build_tiny_world, new_database_url, run_script, sign_in_with_password

from kurrant_core import access, auto_order, columns as C, ui_text
from kurrant_core.cli import main
from kurrant_core.db import make_engine

PAGE = str(ROOT / "pages" / "auto_order.py")
PASSWORD = "자동 주문"
HASH_ENV = "KURRANT_TEAM_PASSWORD_SHA256"
BASE_PATH_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny world on SQLite with a done popularity run (planned with it by default)."""
    url = new_database_url("sqlite", tmp_path_factory.mktemp("ao_page"))
    build_tiny_world(url)
    assert main(["--url", url, "train", "--model", "popularity"]) == 0
    return url


def _metric(at, key: str) -> str:
    return next(m.value for m in at.metric if m.label == ui_text.text(key))


def test_the_page_plans_the_opted_in_users_and_explains_every_pick(world, monkeypatch):
    at = run_script(monkeypatch, world, PAGE, timeout=180)
    assert not at.exception and not at.error
    engine = make_engine(world)
    plan = auto_order.plan_meal(engine, at.date_input(key="ao_date").value, at.selectbox(key="ao_dining").value,
                                run_id=at.selectbox(key="ao_run").value, mode=at.radio(key="ao_mode").value)
    engine.dispose()
    assert _metric(at, "ao.users") == f"{plan.n_users:,}"
    assert _metric(at, "ao.planned") == f"{plan.n_planned:,}"
    table = at.dataframe[-1].value if plan.n_users else None
    if plan.n_users:
        shown = next(df.value for df in at.dataframe if C.REASON in df.value.columns and C.USER_ID in df.value.columns)
        assert shown[C.REASON].str.len().min() > 0              # a readable reason on every row
        assert shown[C.PRICE].iloc[0].endswith("원")
    del table


def test_replay_counts_the_planned_picks_equal_to_real_orders(world, monkeypatch):
    at = run_script(monkeypatch, world, PAGE, timeout=180)
    at.radio(key="ao_mode").set_value(auto_order.REPLAY).run()
    assert not at.exception
    engine = make_engine(world)
    plan = auto_order.plan_meal(engine, at.date_input(key="ao_date").value, at.selectbox(key="ao_dining").value,
                                run_id=at.selectbox(key="ao_run").value, mode=auto_order.REPLAY)
    engine.dispose()
    ordered = plan.items[plan.items[C.ORDERED_FOOD_IDS].notna()]
    if len(ordered):
        rate = ordered[C.IS_MATCH].mean()
        assert _metric(at, "ao.match") == ui_text.text("ao.match_value", matches=int(ordered[C.IS_MATCH].sum()),
                                                       users=len(ordered), rate=rate)


def test_saving_needs_the_team_and_is_written_once_allowed(world, monkeypatch):
    monkeypatch.setenv(HASH_ENV, access.password_hash(PASSWORD))
    at = run_script(monkeypatch, world, PAGE, timeout=180)
    assert at.button(key="ao_save").disabled and at.button(key="ao_settings_save").disabled
    sign_in_with_password(at, PASSWORD, "tester")
    assert not at.button(key="ao_save").disabled
    at.button(key="ao_save").click().run()
    assert not at.exception
    engine = make_engine(world)
    plans = auto_order.list_plans(engine)
    assert len(plans) == 1 and "tester" in plans["created_by"].iloc[0]
    from kurrant_core import audit
    log = audit.audit_log(engine)
    assert (log["action"] == access.AUTO_ORDER_PLAN).any()
    engine.dispose()


def test_a_date_without_a_menu_shows_a_message_not_a_traceback(world, monkeypatch, tmp_path):
    url = new_database_url("sqlite", tmp_path)
    engine = make_engine(url)
    from kurrant_core.db import init_db
    init_db(engine)
    engine.dispose()
    at = run_script(monkeypatch, url, PAGE, timeout=120)
    assert not at.exception
    assert at.info or at.error                       # an empty DE says what to do


@pytest.mark.browser
def test_browser_auto_order_page(browser, dashboard_factory, world):
    from playwright.sync_api import expect
    server = dashboard_factory(world)
    page = browser.new_page(viewport={"width": 1440, "height": 1200})
    outside, errors = [], []
    page.on("request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url and "localhost" not in r.url
            and not r.url.startswith(("data:", "blob:")) else None)
    # a failed load is judged by its response (with its URL); the deep link's base-path probe
    # (/auto_order/_stcore/health, then /) is Streamlit's own and expected
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
            and not BASE_PATH_PROBE.match(urlparse(r.url).path) else None)
    page.goto(server.url + "/auto_order", wait_until="networkidle")
    expect(page.get_by_text(ui_text.text("ao.users"), exact=True).first).to_be_visible(timeout=90_000)
    expect(page.get_by_text(ui_text.text("ao.table"))).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)   # the maker-load chart drew
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1500)
    assert page.get_by_text("Traceback").count() == 0
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "auto_order.png"), full_page=True)
    assert not outside, outside
    assert not errors, errors
    page.close()
