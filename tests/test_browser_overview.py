"""Browser test: the dashboard on the tiny world shows the right counts in headless Chromium."""
import pytest
import sqlalchemy as sa
from conftest import SCREENSHOT_DIR

from kurrant_core import schema as S, ui_text
from kurrant_core.db import make_engine

pytestmark = pytest.mark.browser


def test_browser_overview_shows_counts(browser, dashboard_factory, tiny_sqlite_url):
    engine = make_engine(tiny_sqlite_url)
    with engine.connect() as conn:
        items = conn.execute(sa.select(sa.func.count()).select_from(S.mart_order_item)).scalar_one()
    engine.dispose()
    server = dashboard_factory(tiny_sqlite_url)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url, wait_until="networkidle")
    label = ui_text.text("ov.order_items")
    page.get_by_text(label, exact=True).first.wait_for(timeout=60_000)
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    assert f"{items:,}" in metric.inner_text()
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "overview.png"), full_page=True)
    page.close()
