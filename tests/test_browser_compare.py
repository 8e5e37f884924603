"""Browser test: the comparison page in headless Chromium shows two runs' lists side by side, and
moving a diversity knob re-ranks them and moves their metrics; a screenshot is kept for review."""
from __future__ import annotations

import json
import re
import time

import pytest
from conftest import SCREENSHOT_DIR, build_tiny_world, new_database_url

from kurrant_core import compare, runs, ui_text
from kurrant_core.db import make_engine

pytestmark = pytest.mark.browser
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def world_url(tmp_path_factory) -> str:
    """A tiny SQLite world with a popularity and a content run."""
    folder = tmp_path_factory.mktemp("compare_browser")
    url = new_database_url("sqlite", folder)
    build_tiny_world(url)
    engine = make_engine(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KURRANT_ARTIFACT_DIR", str(folder / "artifacts"))
        for name in ("popularity", "content"):
            runs.train_and_write(engine, name, {}, k=10, triggered_by="test")
    engine.dispose()
    return url


def wait_until_idle(page) -> None:
    """The app is drawn, no script run is in progress and the lists' metrics are there."""
    page.locator('[data-testid="stApp"]').wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText.includes('Running')",
        timeout=TIMEOUT_MS)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=TIMEOUT_MS)


def metric_texts(page) -> list[str]:
    return page.locator('[data-testid="stMetric"]').all_inner_texts()


def test_browser_compare_reranks_when_a_knob_moves(browser, dashboard_factory, world_url):
    from playwright.sync_api import expect  # here, so a machine without playwright skips via `browser`
    server = dashboard_factory(world_url)
    page = browser.new_page(viewport={"width": 1800, "height": 1300})
    page.goto(server.url, wait_until="networkidle")        # the router first (see the EDA browser test)
    page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=TIMEOUT_MS)
    page.goto(server.url + "/compare", wait_until="networkidle")
    wait_until_idle(page)

    page.get_by_role("radio", name=ui_text.text("cmp.scope.catalog")).click()
    expect(page.get_by_text(ui_text.text("cmp.ranking", setting=ui_text.text("cmp.setting_catalog")))).to_be_visible(
        timeout=TIMEOUT_MS)
    wait_until_idle(page)
    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics).to_have_count(2 * len(compare.REPORT_METRICS), timeout=TIMEOUT_MS)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(2)     # two lists (the overlap is a
    expect(page.locator("table").filter(has_text="Jaccard")).to_have_count(1)  # static table)
    # the knobs start at the default policy: the shipped lists, with what they cost shown as deltas
    expect(page.locator('[data-testid="stMetricDelta"]').first).to_be_visible(timeout=TIMEOUT_MS)
    before = metric_texts(page)

    slider = page.locator('[data-testid="stSlider"]').filter(has_text="MMR λ").locator('input[type="range"]')
    slider.focus()
    for _ in range(10):                                   # lambda 1 (off) -> 0.5, in steps of 0.05
        page.keyboard.press("ArrowLeft")
    expect(slider).to_have_attribute("aria-valuetext", "0.50", timeout=TIMEOUT_MS)
    wait_until_idle(page)
    page.wait_for_function("(b) => JSON.stringify(Array.from(document.querySelectorAll("
                           "'[data-testid=\"stMetric\"]')).map(e => e.innerText)) !== b",
                           arg=json.dumps(before), timeout=TIMEOUT_MS)
    assert metric_texts(page) != before
    assert not page.locator('[data-testid="stException"]').count()

    # the history charts wait for their box: none on the first render, both once it is opened
    assert not page.locator('[data-testid="stPlotlyChart"]').count()
    page.get_by_text(ui_text.text("cmp.history"), exact=True).click()
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(2, timeout=TIMEOUT_MS)
    wait_until_idle(page)

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1800, "height": 2600})   # the app scrolls inside its own pane
    wait_until_idle(page)
    page.screenshot(path=str(SCREENSHOT_DIR / "compare.png"), full_page=True)
    page.close()


def record_script_runs(page) -> list[int]:
    """How each script run the server reports ends (``ForwardMsg.script_finished``), in order."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    finished: list[int] = []

    def on_frame(payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            msg = ForwardMsg()
            msg.ParseFromString(bytes(payload))
            if msg.WhichOneof("type") == "script_finished":
                finished.append(msg.script_finished)
    page.on("websocket", lambda socket: socket.on("framereceived", on_frame))
    return finished


SLOW_FRAME_S = 0.05


def slow_server_frames(page) -> dict[str, bool]:
    """While ``slow["on"]``, hold each websocket frame from the server 50 ms: a run's elements then
    reach the browser batch by batch, as from a busy server (where a moved widget once lost its link
    to the URL; see pages/compare.py)."""
    slow = {"on": False}

    def route(socket) -> None:
        server = socket.connect_to_server()

        def forward(message) -> None:
            if slow["on"]:
                time.sleep(SLOW_FRAME_S)
            socket.send(message)
        server.on_message(forward)
    page.route_web_socket(re.compile(r".*/_stcore/stream$"), route)
    return slow


def wait_for_run(page, finished: list[int], status: int) -> None:
    """Until a script run has ended with ``status`` (the page can look idle a moment before it ends)."""
    for _ in range(TIMEOUT_MS // 100):
        if status in finished:
            return
        page.wait_for_timeout(100)               # lets Playwright deliver the frames received meanwhile
    raise AssertionError(f"no script run ended with {status}: {finished}")


def test_browser_compare_a_knob_changes_the_lists_and_stays_in_the_link(browser, dashboard_factory, world_url):
    """Moving a knob reruns the page (its lists come from the per-server cache), the lists follow
    the knob and the link keeps it, also after the catalog moved the knobs' neighbours away while its
    elements arrived batch by batch; changing the user keeps the knob."""
    from playwright.sync_api import expect
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    server = dashboard_factory(world_url)
    page = browser.new_page(viewport={"width": 1800, "height": 1300})
    slow = slow_server_frames(page)
    finished = record_script_runs(page)
    page.goto(server.url, wait_until="networkidle")
    page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=TIMEOUT_MS)
    page.goto(server.url + "/compare", wait_until="networkidle")
    wait_until_idle(page)
    wait_for_run(page, finished, ForwardMsg.FINISHED_SUCCESSFULLY)
    finished.clear()
    slow["on"] = True                         # the day and meal boxes above the knobs go away batch by batch
    page.get_by_role("radio", name=ui_text.text("cmp.scope.catalog")).click()
    expect(page.get_by_text(ui_text.text("cmp.ranking", setting=ui_text.text("cmp.setting_catalog")))).to_be_visible(
        timeout=TIMEOUT_MS)
    wait_until_idle(page)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(2 * len(compare.REPORT_METRICS),
                                                                   timeout=TIMEOUT_MS)
    wait_for_run(page, finished, ForwardMsg.FINISHED_SUCCESSFULLY)        # the scope is outside the fragment
    slow["on"] = False
    before = metric_texts(page)

    finished.clear()
    cap = (page.locator('[data-testid="stNumberInput"]').filter(has_text=ui_text.text("cmp.max_category"))
           .locator('[data-testid="stNumberInputField"]'))
    cap.fill("1")
    cap.press("Enter")
    page.wait_for_function("(b) => JSON.stringify(Array.from(document.querySelectorAll("
                           "'[data-testid=\"stMetric\"]')).map(e => e.innerText)) !== b",
                           arg=json.dumps(before), timeout=TIMEOUT_MS)
    wait_until_idle(page)
    wait_for_run(page, finished, ForwardMsg.FINISHED_SUCCESSFULLY)
    page.wait_for_function("() => location.search.includes('cmp_max_per_category=1')", timeout=TIMEOUT_MS)
    assert not page.locator('[data-testid="stException"]').count()

    finished.clear()
    engine = make_engine(world_url)
    other = compare.pick_user(engine, compare.LIGHT)
    engine.dispose()
    user = page.locator('[data-testid="stNumberInput"]').filter(has_text=ui_text.text("cmp.user_id")).locator(
        '[data-testid="stNumberInputField"]')
    user.fill(str(other))
    user.press("Enter")
    expect(page.get_by_text(ui_text.text("cmp.user_title", user=other))).to_be_visible(timeout=TIMEOUT_MS)
    wait_until_idle(page)
    wait_for_run(page, finished, ForwardMsg.FINISHED_SUCCESSFULLY)        # the user is outside the fragment
    assert cap.input_value() == "1"
    lists = page.locator('[data-testid="stDataFrame"]')
    expect(lists).to_have_count(2, timeout=TIMEOUT_MS)          # two lists, for the new user
    page.close()
