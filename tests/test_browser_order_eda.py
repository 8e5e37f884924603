"""Browser test: the order EDA page in headless Chromium redraws its KPIs and charts when the
date range changes, and a screenshot is kept for review."""
from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
from conftest import SCREENSHOT_DIR

from kurrant_core import columns as C, ui_text
from kurrant_core.eda.labels import MEASURE_LABEL

pytestmark = pytest.mark.browser
TIMEOUT_MS = 60_000


def wait_until_idle(page) -> None:
    """The app is drawn and no script run is in progress."""
    page.locator('[data-testid="stApp"]').wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText.includes('Running')",
        timeout=TIMEOUT_MS)
    page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)


def kpi_value(page, label: str):
    """The value element of the metric whose label is exactly ``label``."""
    name = page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$"))
    return page.locator('[data-testid="stMetric"]').filter(has=name).locator('[data-testid="stMetricValue"]')


def first_chart_x(page) -> list:
    """The x values of every trace of the first plotly figure, as the browser holds them."""
    return page.evaluate("() => document.querySelector('.js-plotly-plot').data.map(t => Array.from(t.x || []))")


def test_browser_order_eda_redraws_when_the_date_range_changes(browser, dashboard_factory, tiny_sqlite_url):
    from playwright.sync_api import expect  # here, so a machine without playwright skips via `browser`
    server = dashboard_factory(tiny_sqlite_url)
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    # open the router first: on a fresh server the very first request to /order_eda would be served
    # by Streamlit's pages/ folder discovery instead of app.py's st.navigation
    page.goto(server.url, wait_until="networkidle")
    page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=TIMEOUT_MS)
    page.goto(server.url + "/order_eda", wait_until="networkidle")
    wait_until_idle(page)
    kpi = kpi_value(page, MEASURE_LABEL[C.N_ITEMS])
    before_kpi, before_x = kpi.inner_text(), first_chart_x(page)

    # shorten the range to its first week: type the new end date into the end field's segments
    start = date.fromisoformat(parse_qs(urlparse(page.url).query)["from"][0])
    week_end = start + timedelta(days=6)
    page.get_by_role("spinbutton", name=f"year, {ui_text.text('eda.dates')} end date").click()
    page.keyboard.type(week_end.strftime("%Y%m%d"))     # year, month, day segments advance on their own
    page.keyboard.press("Enter")
    page.locator("h1").first.click()                    # leave the field so the widget commits
    page.wait_for_function(f"() => window.location.search.includes('to={week_end.isoformat()}')",
                           timeout=TIMEOUT_MS)
    wait_until_idle(page)
    expect(kpi).not_to_have_text(before_kpi, timeout=TIMEOUT_MS)
    wait_until_idle(page)

    after_x = first_chart_x(page)
    assert after_x != before_x
    shown_days = {pd.Timestamp(x).date() for trace in after_x for x in trace}
    assert shown_days and max(shown_days) <= week_end and min(shown_days) >= start
    assert not page.locator('[data-testid="stException"]').count()

    # the opening tab draws one chart: daily, or weekly once picked (and the link keeps the choice)
    expect(page.locator(".js-plotly-plot")).to_have_count(1)
    page.get_by_role("radio", name=ui_text.text("eda.period_unit.weekly")).click()
    page.wait_for_function("() => window.location.search.includes('eda_trend_period=')", timeout=TIMEOUT_MS)
    wait_until_idle(page)
    # (the daily chart stays drawn, stale, until the run ends: the list of titles must become the weekly alone)
    expect(page.locator(".js-plotly-plot .gtitle")).to_have_text([ui_text.text("eda.weekly_title")],
                                                                timeout=TIMEOUT_MS)

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "order_eda.png"), full_page=True)
    page.close()

