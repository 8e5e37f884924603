"""Browser tests (issue 16): every page in headless Chromium with no console error, no request
outside the dashboard's own server (the favicon included) and no traceback; a first visit by deep
link gets app.py's navigation; Compare keeps its setting across the catalog and back; a shared
Compare link reproduces the same lists. Screenshots are kept for review."""
from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import SCREENSHOT_DIR, build_tiny_world, new_database_url, start_dashboard

from kurrant_core import codes, compare, ui_text
from kurrant_core.db import make_engine
from kurrant_core.evaluation import evaluate

pytestmark = pytest.mark.browser
TIMEOUT_MS = 90_000
PAGES = {"": "nav.overview", "order_eda": "nav.order_eda", "compare": "nav.compare",
         "leaderboard": "nav.leaderboard", "retrain": "nav.retrain", "auto_order": "nav.auto_order"}
LOCAL_SCHEMES = ("data:", "blob:", "about:")
BASE_PATH_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")
"""On a deep link (/compare) Streamlit's frontend first tries the page's path as the server's base
path (/compare/_stcore/health), gets 404 and falls back to /: the one failed request that is not ours."""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny SQLite world with evaluated popularity and content runs (for every page to have content)."""
    folder = tmp_path_factory.mktemp("browser_pages")
    url = new_database_url("sqlite", folder)
    build_tiny_world(url)
    engine = make_engine(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KURRANT_ARTIFACT_DIR", str(folder / "artifacts"))
        evaluate(engine, ["popularity", "content"])
    engine.dispose()
    return url, folder


def stop(server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="module")
def server(world, browser):
    """One dashboard for the page tests; its first request is made by a test below on purpose."""
    url, folder = world
    running = start_dashboard(url, folder)
    yield running
    stop(running)


class Watch:
    """Everything a page did that the issue forbids: console errors, page errors, outside requests."""

    def __init__(self, page, base: str):
        self.host = urlparse(base).hostname
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", self.console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", self.request)
        page.on("response", self.response)

    def console(self, msg) -> None:
        # a failed load is judged by its response below (with its URL), not by the console line
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def response(self, response) -> None:
        if response.status >= 400 and not BASE_PATH_PROBE.match(urlparse(response.url).path):
            self.errors.append(f"{response.status} {response.url}")

    def request(self, request) -> None:
        url = request.url
        if not url.startswith(LOCAL_SCHEMES) and urlparse(url).hostname != self.host:
            self.outside.append(url)


def wait_until_idle(page) -> None:
    page.locator('[data-testid="stApp"]').wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText.includes('Running')",
        timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)                       # late deltas of the same run
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText.includes('Running')",
        timeout=TIMEOUT_MS)


STILL_JS = """() => {            // a placeholder as Streamlit draws one, with an animation of its own
    const probe = document.createElement('div');
    probe.setAttribute('data-testid', 'stSkeleton');
    probe.style.animation = 'probe-shimmer 1s infinite';
    document.body.appendChild(probe);
    const name = getComputedStyle(probe).animationName;
    probe.remove();
    return name;
}"""


def assert_clean(page, watch: Watch) -> None:
    assert not watch.outside, f"requests outside the server: {watch.outside}"
    assert not watch.errors, f"console errors: {watch.errors}"
    assert not page.locator('[data-testid="stException"]').count()
    assert "Traceback" not in page.locator("body").inner_text()
    favicon = page.evaluate("() => document.querySelector(\"link[rel='shortcut icon']\")?.href || ''")
    assert not favicon or favicon.startswith(LOCAL_SCHEMES) or urlparse(favicon).hostname == watch.host, favicon


def test_browser_first_visit_by_deep_link_gets_the_router(browser, server):
    """Defect 3: the server's very first request is /retrain; it must get app.py's navigation (page titles
    from the catalogue, the language switch, the wide layout), not the pages/ folder's file names."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    watch = Watch(page, server.url)
    from playwright.sync_api import expect
    page.goto(server.url + "/retrain", wait_until="networkidle")
    nav = page.locator('[data-testid="stSidebarNav"]')
    expect(nav).to_contain_text(ui_text.text("nav.compare"), timeout=TIMEOUT_MS)   # after the page's rerun
    wait_until_idle(page)
    assert ui_text.text("nav.retrain") in nav.inner_text()
    assert "order eda" not in nav.inner_text().lower()
    assert page.locator("h1").first.inner_text().strip() == ui_text.text("rt.title")
    width = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').offsetWidth")
    assert width > 1000, "the wide layout of app.py's page config"
    assert_clean(page, watch)
    page.close()


@pytest.mark.parametrize("path", list(PAGES))
def test_browser_every_page_is_clean(browser, server, path):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    watch = Watch(page, server.url)
    page.goto(f"{server.url}/{path}", wait_until="networkidle")
    wait_until_idle(page)
    title = ui_text.text(PAGES[path])
    assert title in page.locator('[data-testid="stSidebarNav"]').inner_text()
    if path == "order_eda":          # the 매출 KPI is not cut off at 1440 px
        clipped = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMetricValue"]'))
            .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)""")
        assert not clipped, clipped
    assert_clean(page, watch)
    assert page.evaluate(STILL_JS) == "none", "loading placeholders stay still (app_support.still_placeholders)"
    assert page.evaluate("() => document.getElementById('kurrant-still')"
                         ".closest('[data-testid=stElementContainer]').offsetHeight") == 0, "the style takes no space"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / f"page_{path or 'overview'}.png"), full_page=True)
    page.close()


def ai_picks(page) -> list[str]:
    return [h.inner_text() for h in page.locator("h3").all() if h.inner_text().startswith(ui_text.text("cmp.ai_pick"))]


def why_lists(page) -> list[str]:
    """Each list's foods in order, read from its opened why-expander."""
    expanders = page.locator('[data-testid="stExpander"]').filter(has_text=ui_text.text("cmp.why_title"))
    for n in range(expanders.count()):           # each box draws its lines once opened (a fragment rerun)
        expanders.nth(n).locator("summary").click()
        expanders.nth(n).locator("li").first.wait_for(timeout=TIMEOUT_MS)
    return [expanders.nth(n).inner_text() for n in range(expanders.count())]


def test_browser_compare_keeps_its_setting_and_a_link_reproduces_it(browser, server, world):
    """Defect 1 (date and dining type survive a trip to the catalog, the box and the caption agree) and
    a shared link (the URL alone reproduces the same lists)."""
    from playwright.sync_api import expect
    url, _ = world
    engine = make_engine(url)
    user = compare.pick_user(engine, compare.HEAVY)
    history = compare.user_history(engine, user)
    days = compare.replay_days(history, codes.LUNCH, history["service_date"].max().date(), 1000)
    day = days[len(days) // 2]
    dinner = [d for d in compare.replay_days(history, codes.DINNER, day, 1000)]
    meal = codes.DINNER if dinner else codes.LUNCH
    day = dinner[-1] if dinner else day
    engine.dispose()

    page = browser.new_page(viewport={"width": 1440, "height": 1100})
    watch = Watch(page, server.url)
    meal_label = codes.DINING_TYPE[meal]
    page.goto(f"{server.url}/compare?cmp_user_id={user}&cmp_date={day.isoformat()}&cmp_dining={meal_label}",
              wait_until="networkidle")
    wait_until_idle(page)
    setting = ui_text.text("cmp.ranking", setting="")[:5]
    caption = page.get_by_text(re.compile("^" + re.escape(setting)))
    expect(caption).to_contain_text(f"{meal_label} 메뉴", timeout=TIMEOUT_MS)
    expect(caption).to_contain_text(day.isoformat(), timeout=TIMEOUT_MS)

    # to the catalog, move a knob, and back to the day's menu
    page.get_by_role("radio", name=ui_text.text("cmp.scope.catalog")).click()
    expect(page.get_by_text(ui_text.text("cmp.ranking", setting=ui_text.text("cmp.setting_catalog")))).to_be_visible(
        timeout=TIMEOUT_MS)
    wait_until_idle(page)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(2 * len(compare.REPORT_METRICS),
                                                                   timeout=TIMEOUT_MS)
    # the knobs rerun only their fragment, which the status widget does not show: wait for the link
    cap = (page.locator('[data-testid="stNumberInput"]').filter(has_text=ui_text.text("cmp.max_category"))
           .locator('[data-testid="stNumberInputField"]'))
    cap.fill("3")
    cap.press("Enter")
    page.wait_for_function("() => location.search.includes('cmp_max_per_category=3')", timeout=TIMEOUT_MS)
    wait_until_idle(page)
    page.get_by_role("radio", name=ui_text.text("cmp.scope.menu")).click()
    wait_until_idle(page)
    expect(caption).to_contain_text(f"{meal_label} 메뉴", timeout=TIMEOUT_MS)
    expect(caption).to_contain_text(day.isoformat(), timeout=TIMEOUT_MS)
    dining_box = page.locator('[data-testid="stSelectbox"]').filter(has_text=ui_text.text("cmp.dining"))
    shown = dining_box.evaluate(
        "e => e.textContent + ' ' + Array.from(e.querySelectorAll('input')).map(i => i.value).join(' ')")
    assert meal_label in shown, shown
    assert_clean(page, watch)

    # the address bar now holds the whole view: open it in a fresh tab, the same lists come back
    query = parse_qs(urlparse(page.url).query)
    assert {"cmp_date", "cmp_dining", "cmp_max_per_category"} <= set(query), query   # the user is the default one
    picks, lists = ai_picks(page), why_lists(page)
    assert len(picks) == 2 and len(lists) == 2 and all(foods.count(" — ") >= 2 for foods in lists)
    shared = browser.new_page(viewport={"width": 1440, "height": 1100})
    shared_watch = Watch(shared, server.url)
    shared.goto(page.url, wait_until="networkidle")
    wait_until_idle(shared)
    expect(shared.get_by_text(re.compile("^" + re.escape(setting)))).to_contain_text(day.isoformat(),
                                                                                   timeout=TIMEOUT_MS)
    assert ai_picks(shared) == picks
    assert why_lists(shared) == lists
    assert_clean(shared, shared_watch)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shared.screenshot(path=str(SCREENSHOT_DIR / "compare_shared_link.png"), full_page=True)
    page.close()
    shared.close()


TITLES = {"nav.overview": "Kurrant Lens", "nav.order_eda": ui_text.text("eda.title"),
          "nav.compare": ui_text.text("cmp.title"), "nav.leaderboard": ui_text.text("lb.title"),
          "nav.retrain": ui_text.text("rt.title"), "nav.auto_order": ui_text.text("ao.title")}
"""Each page's title (h1), by its sidebar link."""


def open_by_link(page, nav_key: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=ui_text.text(nav_key)).click()
    page.get_by_role("heading", name=TITLES[nav_key], exact=True).wait_for(timeout=TIMEOUT_MS)
    wait_until_idle(page)


def test_browser_moving_by_the_sidebar_links_keeps_order_eda_s_range(browser, server):
    """A member moves through the open dashboard by the sidebar's links: every page, twice, with no
    traceback (Order EDA once raised a KeyError on coming back), and Order EDA comes back with the range
    the member had opened, in its widgets and its URL."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    watch = Watch(page, server.url)
    page.goto(f"{server.url}/order_eda", wait_until="networkidle")
    wait_until_idle(page)
    link = parse_qs(urlparse(page.url).query)
    start = (date.fromisoformat(link["to"][0]) - timedelta(days=6)).isoformat()
    page.goto(f"{server.url}/order_eda?from={start}&to={link['to'][0]}", wait_until="networkidle")
    wait_until_idle(page)
    kpis = page.locator('[data-testid="stMetric"]').first.inner_text()
    for nav_key in [*PAGES.values(), *PAGES.values()]:
        open_by_link(page, nav_key)
        assert not page.locator('[data-testid="stException"]').count(), nav_key
    open_by_link(page, "nav.order_eda")
    back = parse_qs(urlparse(page.url).query)
    assert (back["from"], back["to"]) == ([start], link["to"])
    assert page.locator('[data-testid="stMetric"]').first.inner_text() == kpis
    assert_clean(page, watch)
    page.close()
