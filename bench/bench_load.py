"""The dashboard under the whole team: N browser sessions at once against one Streamlit server.

One headless Debian Chromium (``/usr/bin/chromium`` through Playwright), N browser contexts, all
started together. Each session does what a team member does first:

1. **compare**: open Compare recommendations (the default user, day and two runs) until its lists'
   metrics are drawn and no script run is in progress;
2. **knob**: set the "Max per category" knob (카테고리당 최대) to 1 (2 if it is 1) until the lists' metrics change
   and no script run is in progress (on the default day's menu a cap shortens the lists, where MMR
   would only reorder them);
3. **eda**: open Order EDA on a date range of its own (4 weeks, a different week per session, so
   the sessions do not share query results) until its KPIs and first chart are drawn.

For every N a fresh server is started (``--server.fileWatcherType none``, as the browser tests do)
and only its router is opened before the sessions start, so every page's shared work (models,
candidate scores, queries) is still to be done: the pessimistic case of a team arriving together
after a deploy. ``--warm`` first lets one unmeasured session walk the same steps (steady state).
Prints p50/p95 seconds per step and the server's peak RSS (VmHWM) per N.

The DE database is a demo-scale world with a popularity, a history and an ALS run, built once into
``data/bench/load_demo_seed42.sqlite`` (artifacts beside it); ``--url`` points at another one (its
runs' artifacts under ``KURRANT_ARTIFACT_DIR``). The server and the browser share the machine, so
on a small machine the figures are pessimistic.

``--server-times`` also prints, per N, how long the server spent running page scripts (wall and
CPU seconds summed over every script run, and the longest run), which separates the server's share
of the wait from the browser's (bundle download, parse and drawing).

``--returning`` lets each browser open the dashboard once before it is measured: Streamlit's bundle
is served as immutable, so a team member's browser holds it after the first visit (a new context
downloads and parses it every time). ``--charts-open`` opens Compare with its chart box open.

``--browser-times`` also prints, per step, the median main-thread time each page's renderer spent
(Chromium's ``Performance.getMetrics`` TaskDuration, of it ScriptDuration, Layout+RecalcStyle) and
the kilobytes the server sent it over the websocket: what the browser's share of a wait is made of;
and the CPU seconds all Chromium processes used from the start to the last session's end
(``SystemInfo.getProcessInfo``), the figure that least depends on what else the machine runs (the
main-thread times are wall time inside tasks, which a busy machine stretches).

``--visited`` goes further: each browser has also opened Compare and Order EDA before (the
router's visit loads only the app's main bundle; Plotly and the data grids are chunks a page loads
when it first draws one), which is what a team member who uses the dashboard daily has cached.

``--in-app`` moves as a team member does once the dashboard is open: each session starts on the
router's page and opens Compare and then Order EDA by the sidebar's links (the page changes inside
the running app: no reload of Streamlit's code, no new server session), instead of typing each
page's address (a full reload, the issue's harness). Order EDA then shows its default range, the
same for every session (a link carries no range; the server shares that query), which the note
beside any figure says.

``--floor`` also opens, with the same N returning browsers at once, a page of a second Streamlit
server whose script only writes a title and a line: what any Streamlit page costs here with N at
once, the floor under every step above (the app's share of a step is its time above the floor);
then the same page with one small Plotly chart, the floor under any step that waits for a chart
(Order EDA's).

``--websocket`` leaves the browser out but keeps the real server: per N, a fresh ``streamlit run``
and N clients of its own websocket (``/_stcore/stream``), each a server session driven as
Streamlit's frontend drives one (a ``BackMsg`` asks for a script run with the page, the query string
and the widget changed; ``ForwardMsg`` deltas come back until the run has finished), walking the same
steps (router first, then Compare, the knob, Order EDA on its own range, all at once). A step is timed
until its script run finished and checked for what it drew (Compare's metrics, metrics the knob
changed, Order EDA's KPIs and chart). What each step costs the server when the members' browsers run
on their own machines, as a team's do; a member's wait is about this plus what their own browser
spends drawing the page (the N = 1 figures above).

``--server-only`` leaves the browser out: per N, a fresh Python process runs N sessions at once as
Streamlit AppTests in threads (one shared script cache, as a server has), walking the same steps
(router first, then Compare, the knob, Order EDA on its own range), and prints p50/p95 wall seconds
per step, the process's CPU seconds and peak RSS, and the ratio of wall to CPU. The server's caches
and its warm-up thread work as in ``streamlit run``; only the websocket and the browser are missing.
AppTest reruns the whole page on a knob (it does not target fragments as a browser does), so the
knob step here is an upper bound.

    .venv/bin/python bench/bench_load.py [--sessions 1,5,10] [--warm] [--returning] [--visited] [--charts-open]
                                         [--server-times] [--browser-times] [--server-only] [--floor]
                                         [--in-app] [--websocket] [--url URL]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kurrant_core import compare, config, eda, ui_text  # noqa: E402
from kurrant_core.db import init_db, make_engine  # noqa: E402

CHROMIUM = os.environ.get("KURRANT_CHROMIUM", "/usr/bin/chromium")
SEED = 42
WORLD = ROOT / "data" / "bench" / f"load_demo_seed{SEED}.sqlite"
ARTIFACTS = ROOT / "data" / "bench" / "load_artifacts"
RUN_MODELS = ("popularity", "history", "als")
STEPS = ("compare", "knob", "eda")
TIMEOUT_MS = 180_000
N_METRICS_PER_LIST = len(compare.REPORT_METRICS)
IDLE_JS = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText.includes('Running')"
           " && !document.querySelector('[data-stale=\"true\"]')")    # no element left from the page before
METRICS_JS = ("() => Array.from(document.querySelectorAll('[data-testid=\"stMetric\"]'))"
              ".map(e => e.innerText).join('|')")


# ------------------------------------------------------------------------------ the world
def ensure_world() -> str:
    """The bench's DE database: the demo world, preprocessed, with a run of each of RUN_MODELS."""
    from kurrant_core import runs
    url = f"sqlite:///{WORLD}"
    os.environ[config.ENV_ARTIFACTS] = str(ARTIFACTS)
    if WORLD.exists():
        return url
    from kurrant_core.demo import generate_demo_world
    from kurrant_core.preprocess import preprocess
    print(f"building the demo world and {', '.join(RUN_MODELS)} runs into {WORLD} (once) ...", flush=True)
    WORLD.parent.mkdir(parents=True, exist_ok=True)
    partial = WORLD.with_suffix(".building")
    engine = make_engine(f"sqlite:///{partial}")
    init_db(engine)
    generate_demo_world(engine, scale="demo", seed=SEED)
    preprocess(engine)
    for model in RUN_MODELS:
        t0 = time.perf_counter()
        runs.train_and_write(engine, model, k=10, triggered_by="bench_load")
        print(f"  {model} run in {time.perf_counter() - t0:.0f} s", flush=True)
    engine.dispose()
    partial.rename(WORLD)
    return url


def eda_ranges(url: str, n: int) -> list[tuple[str, str]]:
    """Four-week ranges, one per session, each ending a week before the previous one's end."""
    engine = make_engine(url, must_exist=True)
    options = eda.filter_options(engine)
    engine.dispose()
    last = options.last_date
    out = []
    for i in range(n):
        end = max(last - timedelta(days=7 * (i + 1)), options.first_date + timedelta(days=27))
        out.append(((end - timedelta(days=27)).isoformat(), end.isoformat()))
    return out


# ------------------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TIMED_SERVER = "--timed-server"
"""argv[1] that makes this file the server's launcher: ``streamlit run`` with every script run timed."""


def serve_timed(times_file: str, streamlit_args: list[str]) -> None:
    """Run ``streamlit`` with each script run's wall and CPU seconds appended to ``times_file``."""
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.web.cli import main as streamlit_main
    run_script = script_runner.ScriptRunner._run_script
    out = open(times_file, "a", buffering=1)

    def timed(self, rerun_data, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return run_script(self, rerun_data, *args, **kwargs)
        finally:
            kind = "fragment" if rerun_data.fragment_id_queue else "full"
            out.write(f"{time.perf_counter() - wall:.4f} {time.thread_time() - cpu:.4f} {kind}\n")
    script_runner.ScriptRunner._run_script = timed
    sys.argv = ["streamlit", *streamlit_args]
    streamlit_main()


def server_times(times_file: Path) -> str:
    if not times_file.exists():
        return ""
    runs = [line.split() for line in times_file.read_text().splitlines() if line.strip()]
    walls, cpus = [float(r[0]) for r in runs], [float(r[1]) for r in runs]
    fragments = sum(1 for r in runs if r[2:] == ["fragment"])
    return (f"{len(runs)} script runs ({fragments} of a fragment only): {sum(walls):.1f} s wall, "
            f"{sum(cpus):.1f} s CPU, longest {max(walls):.1f} s") if runs else ""


def start_server(url: str, log: Path, times_file: Path | None = None,
                 app: Path = ROOT / "app.py") -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, KURRANT_DE_URL=url)
    launcher = [__file__, TIMED_SERVER, str(times_file)] if times_file else ["-m", "streamlit"]
    proc = subprocess.Popen(
        [sys.executable, *launcher, "run", str(app), "--server.port", str(port),
         "--server.headless", "true", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return proc, base
        except Exception:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"streamlit did not start: {log.read_text()[-2000:]}")


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of the server process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------------ one session
async def wait_idle(page) -> None:
    await page.locator('[data-testid="stApp"]').wait_for(timeout=TIMEOUT_MS)
    await page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS)


class BrowserMeter:
    """One page's renderer main-thread seconds and websocket kilobytes received, per step (CDP)."""

    FIELDS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")

    def __init__(self, page):
        self.page, self.cdp, self.received = page, None, 0

    async def start(self) -> None:
        self.cdp = await self.page.context.new_cdp_session(self.page)
        await self.cdp.send("Performance.enable")
        await self.cdp.send("Network.enable")
        self.cdp.on("Network.webSocketFrameReceived",
                    lambda event: setattr(self, "received", self.received + len(event["response"]["payloadData"])))

    async def read(self) -> dict[str, float]:
        metrics = {m["name"]: m["value"] for m in (await self.cdp.send("Performance.getMetrics"))["metrics"]}
        return {**{name: metrics.get(name, 0.0) for name in self.FIELDS}, "received": float(self.received),
                "document": await self.page.evaluate("performance.timeOrigin")}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """What a step cost: a navigation starts a new document, whose counters start at zero."""
        new_document = after["document"] != before["document"]
        out = {name: after[name] - (0.0 if new_document else before[name]) for name in BrowserMeter.FIELDS}
        out["received"] = after["received"] - before["received"]
        return out


async def launch_chromium(pw):
    """The one headless Debian Chromium every measurement here drives."""
    return await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])


async def open_by_link(page, link: str, title: str) -> None:
    """Click the sidebar's link to a page and wait for the page's title (the rest is waited for by
    the step)."""
    await page.locator('[data-testid="stSidebarNav"] a').filter(has_text=ui_text.text(link)).click()
    await page.get_by_role("heading", name=ui_text.text(title)).wait_for(timeout=TIMEOUT_MS)


async def session(browser, base: str, eda_range: tuple[str, str], start: asyncio.Event,
                  options: argparse.Namespace, contexts: list) -> dict[str, float]:
    """One member's steps; the context stays open (its renderer's CPU is read once all are done)."""
    context = await browser.new_context(viewport={"width": 1600, "height": 1200})
    contexts.append(context)
    page = await context.new_page()
    times: dict[str, float] = {}
    meter = BrowserMeter(page) if options.browser_times else None
    marks: dict[str, dict[str, float]] = {}

    async def mark(step: str, when: str) -> None:
        if meter:
            marks[f"{step}.{when}"] = await meter.read()
            if when == "after":
                for name, value in meter.spent(marks[f"{step}.before"], marks[f"{step}.after"]).items():
                    times[f"{step}.{name}"] = value
    try:
        if meter:
            await meter.start()
        if options.returning or options.visited or options.in_app:  # has opened the dashboard before
            await page.goto(base, wait_until="networkidle")
            await page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=TIMEOUT_MS)
        if options.visited:                     # ... and both pages, on another day's data
            await page.goto(base + "/compare")
            await page.locator('[data-testid="stMetric"]').first.wait_for(timeout=TIMEOUT_MS)
            await wait_idle(page)
            await page.goto(f"{base}/order_eda")
            await page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
            await wait_idle(page)
            await page.goto(base, wait_until="networkidle")
        if options.in_app:                      # on the router's page, its sidebar links drawn
            await page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=TIMEOUT_MS)
            await wait_idle(page)
        await start.wait()
        await mark("compare", "before")
        t0 = time.perf_counter()
        if options.in_app:
            await open_by_link(page, "nav.compare", "cmp.title")
        else:
            await page.goto(base + "/compare" + ("?cmp_charts=true" if options.charts_open else ""))
        metrics = page.locator('[data-testid="stMetric"]')
        await metrics.nth(N_METRICS_PER_LIST - 1).wait_for(timeout=TIMEOUT_MS)   # identical lists show theirs once
        await wait_idle(page)
        times["compare"] = time.perf_counter() - t0
        await mark("compare", "after")

        cap = (page.locator('[data-testid="stNumberInput"]').filter(has_text=ui_text.text("cmp.max_category"))
               .locator('[data-testid="stNumberInputField"]'))
        value = "2" if await cap.input_value() == "1" else "1"
        before = await page.evaluate(METRICS_JS)
        await mark("knob", "before")
        t0 = time.perf_counter()
        await cap.fill(value)
        await cap.press("Enter")
        await page.wait_for_function(f"(before) => ({METRICS_JS})() !== before && ({IDLE_JS})()", arg=before,
                                     timeout=TIMEOUT_MS)
        times["knob"] = time.perf_counter() - t0
        await mark("knob", "after")
        if await page.locator('[data-testid="stException"]').count():    # a knob must not break the page
            times["error"] = 1.0

        await mark("eda", "before")
        t0 = time.perf_counter()
        if options.in_app:
            await open_by_link(page, "nav.order_eda", "eda.title")
        else:
            await page.goto(f"{base}/order_eda?from={eda_range[0]}&to={eda_range[1]}")
        await page.locator('[data-testid="stMetric"]').first.wait_for(timeout=TIMEOUT_MS)
        await page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT_MS)
        await wait_idle(page)
        times["eda"] = time.perf_counter() - t0
        await mark("eda", "after")
        if await page.locator('[data-testid="stException"]').count():
            times["error"] = 1.0
    except Exception as exc:                       # a failed session is reported, not hidden
        print(f"  session failed: {type(exc).__name__}: {str(exc).splitlines()[0]}", flush=True)
        times["error"] = 1.0
    return times


async def chromium_cpu(cdp) -> float:
    """CPU seconds every Chromium process (browser, renderers, GPU, utilities) has used so far."""
    return sum(p["cpuTime"] for p in (await cdp.send("SystemInfo.getProcessInfo"))["processInfo"])


async def run_sessions(base: str, ranges: list[tuple[str, str]],
                       options: argparse.Namespace) -> tuple[list[dict[str, float]], float]:
    """Every session's step times, and the CPU seconds Chromium used while they ran (nan unless
    ``--browser-times``)."""
    from playwright.async_api import async_playwright
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        router = await browser.new_page()                       # the router first (see the browser tests)
        await router.goto(base, wait_until="networkidle")
        await router.locator('[data-testid="stSidebarNav"]').wait_for(timeout=TIMEOUT_MS)
        await router.close()
        start = asyncio.Event()
        contexts: list = []
        tasks = [asyncio.create_task(session(browser, base, r, start, options, contexts)) for r in ranges]
        await asyncio.sleep(0.5 + (5.0 + 2.0 * len(ranges) if options.returning or options.in_app else 0.0)
                            + (10.0 + 6.0 * len(ranges) if options.visited else 0.0))       # all open (and visited)
        cdp = await browser.new_browser_cdp_session() if options.browser_times else None
        cpu0 = await chromium_cpu(cdp) if cdp else float("nan")
        start.set()
        out = await asyncio.gather(*tasks)
        cpu = await chromium_cpu(cdp) - cpu0 if cdp else float("nan")   # before a renderer exits
        for context in contexts:
            await context.close()
        await browser.close()
    return out, cpu


# ------------------------------------------------------------------------------ the floor
FLOOR_PAGES = {
    "a one-line Streamlit page": 'import streamlit as st\nst.title("floor")\nst.write("ready")\n',
    "the same with one 3-bar Plotly chart": ('import plotly.express as px\nimport streamlit as st\n'
                                             'st.title("floor")\nst.plotly_chart(px.bar(x=["a", "b", "c"], '
                                             'y=[1, 3, 2]))\nst.write("ready")\n'),
}
"""The whole scripts of the floors' pages: what any Streamlit page costs here, and any page with a
chart (Order EDA's step waits for its first chart; Streamlit draws charts with Plotly.js)."""
FLOOR_READY_JS = ("() => Array.from(document.querySelectorAll('[data-testid=\"stMarkdownContainer\"]'))"
                  ".some(e => e.innerText === 'ready') && (!document.querySelector('[data-testid=\"stPlotlyChart\"]')"
                  " || !!document.querySelector('.js-plotly-plot .main-svg'))")
"""The floor's page is drawn: its line, and its chart where it has one."""


async def floor_times(base: str, n: int) -> list[float]:
    """Seconds until N returning browsers, started at once, each show the floor page."""
    from playwright.async_api import async_playwright
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        pages = [await (await browser.new_context()).new_page() for _ in range(n)]
        for page in pages:                               # returning: the bundle (and Plotly) in each cache
            await page.goto(base)
            await page.wait_for_function(FLOOR_READY_JS, timeout=TIMEOUT_MS)

        async def one(page) -> float:
            t0 = time.perf_counter()
            await page.goto(base + "/?again=1")
            await page.wait_for_function(FLOOR_READY_JS, timeout=TIMEOUT_MS)
            return time.perf_counter() - t0
        out = await asyncio.gather(*(one(page) for page in pages))
        await browser.close()
    return list(out)


def floor_lines(url: str, n: int, log_dir: Path) -> list[str]:
    lines = []
    for name, script in FLOOR_PAGES.items():
        app = log_dir / "floor_page.py"
        app.write_text(script)
        proc, base = start_server(url, log_dir / "floor_server.log", app=app)
        try:
            times = asyncio.run(floor_times(base, n))
        finally:
            proc.terminate()
            proc.wait(15)
        lines.append(f"    floor ({name}, N at once): p50/p95 {statistics.median(times):.2f} / "
                     f"{percentile(times, 0.95):.2f} s")
    return lines


# ------------------------------------------------------------------------------ over the websocket
SETTLE_S = 5.0
"""Seconds between the members' router runs and their first step, as in the browser harness, whose
members open the router seconds before (the server's warm-up, started by the first run, has then
computed Compare's default view; without the pause one member's Compare waited 1.15 s for it)."""


class WebsocketSession:
    """One member's server session driven over Streamlit's own websocket, as its frontend drives it
    (a ``BackMsg`` asking for a script run, ``ForwardMsg`` deltas until the script has finished),
    with no browser to draw what arrives."""

    def __init__(self, ws):
        self.ws, self.elements = ws, {}

    async def run(self, page: str = "", query: str = "", widgets: tuple = ()) -> None:
        """Run ``page`` (the router's default page when empty) and keep what it drew, by element
        type; return once the run has finished (a run that reruns itself is followed to its end)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        done = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
        request = BackMsg()
        request.rerun_script.query_string, request.rerun_script.page_name = query, page
        for widget in widgets:
            request.rerun_script.widget_states.widgets.add().CopyFrom(widget)
        self.elements = {}
        await self.ws.send(request.SerializeToString())
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await asyncio.wait_for(self.ws.recv(), TIMEOUT_MS / 1000))
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element_type = msg.delta.new_element.WhichOneof("type")
                self.elements.setdefault(element_type, []).append(getattr(msg.delta.new_element, element_type))
            elif kind == "script_finished" and msg.script_finished in done:
                return
            elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                raise RuntimeError(f"{page or 'the router'}: the script did not compile")

    def count(self, element_type: str) -> int:
        return len(self.elements.get(element_type, []))


async def websocket_walk(base: str, eda_range: tuple[str, str], routed: asyncio.Semaphore,
                         start: asyncio.Event) -> dict[str, float]:
    """The browser sessions' steps over the websocket: the router, then (all at once) Compare, the
    "Max per category" knob, Order EDA on a range of its own; each timed until its run finished."""
    import websockets
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    times: dict[str, float] = {}
    waiting = True
    try:
        async with websockets.connect(base.replace("http", "ws", 1) + "/_stcore/stream",
                                      subprotocols=["streamlit"], max_size=None) as ws:
            member = WebsocketSession(ws)
            await member.run()
            routed.release()
            waiting = False
            await start.wait()
            t0 = time.perf_counter()
            await member.run("compare")
            times["compare"] = time.perf_counter() - t0
            if member.count("metric") < N_METRICS_PER_LIST or member.count("exception"):
                raise RuntimeError(f"Compare drew {member.count('metric')} metrics")
            before = [metric.body for metric in member.elements["metric"]]
            cap = next(w for w in member.elements["number_input"] if w.label == ui_text.text("cmp.max_category"))
            t0 = time.perf_counter()
            await member.run("compare", widgets=(WidgetState(id=cap.id, int_value=2 if cap.default == 1 else 1),))
            times["knob"] = time.perf_counter() - t0
            if [metric.body for metric in member.elements.get("metric", [])] == before or member.count("exception"):
                raise RuntimeError("the knob changed no metric or broke the page")
            t0 = time.perf_counter()
            await member.run("order_eda", query=f"from={eda_range[0]}&to={eda_range[1]}")
            times["eda"] = time.perf_counter() - t0
            if not member.count("metric") or not member.count("plotly_chart") or member.count("exception"):
                raise RuntimeError("Order EDA drew no KPIs or no chart")
    except Exception as exc:                       # a failed session is reported, not hidden
        print(f"  session failed: {type(exc).__name__}: {str(exc).splitlines()[0]}", flush=True)
        times["error"] = 1.0
        if waiting:
            routed.release()
    return times


async def websocket_sessions(base: str, ranges: list[tuple[str, str]]) -> list[dict[str, float]]:
    """Every member's step times; the steps start together once every router run has finished."""
    routed, start = asyncio.Semaphore(0), asyncio.Event()
    tasks = [asyncio.create_task(websocket_walk(base, r, routed, start)) for r in ranges]
    for _ in ranges:
        await routed.acquire()
    await asyncio.sleep(SETTLE_S)
    start.set()
    return list(await asyncio.gather(*tasks))


# ------------------------------------------------------------------------------ server only
SERVER_WORKER = "--server-worker"
"""argv[1] that makes this file one N's server-only run (a fresh process): prints one JSON line."""


def server_worker(url: str, n: int, warm: bool) -> None:
    """N AppTest sessions at once in this process, each walking the steps; one JSON line of results."""
    os.environ[config.ENV_DE_URL] = url
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test
    shared_cache = ScriptCache()                   # a server compiles each page once, AppTest once per run
    app_test.ScriptCache = lambda: shared_cache
    for page in ("app.py", "pages/compare.py", "pages/order_eda.py"):
        shared_cache.get_bytecode(str(ROOT / page))  # once, before the threads (Python 3.11's parser is not
                                                     # safe to enter from several threads at once)
    runs: list[tuple[float, float]] = []
    run_script = script_runner.ScriptRunner._run_script

    def timed(self, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return run_script(self, *args, **kwargs)
        finally:
            runs.append((time.perf_counter() - wall, time.thread_time() - cpu))
    script_runner.ScriptRunner._run_script = timed
    app = str(ROOT / "app.py")

    def walk(eda_range: tuple[str, str], ready: threading.Barrier, out: dict[str, float]) -> None:
        try:
            at = app_test.AppTest.from_file(app, default_timeout=TIMEOUT_MS / 1000)
            at.run()                                               # the router first, as in the browser
            ready.wait()
            t0 = time.perf_counter()
            at.switch_page("pages/compare.py").run()
            out["compare"] = time.perf_counter() - t0
            if len(at.metric) < N_METRICS_PER_LIST:                # the lists' figures, as in the browser
                raise RuntimeError(f"Compare drew {len(at.metric)} metrics")
            cap = at.sidebar.number_input(key="cmp_max_per_category")
            t0 = time.perf_counter()
            cap.set_value(2 if cap.value == 1 else 1).run()
            out["knob"] = time.perf_counter() - t0
            at.query_params.update({"from": eda_range[0], "to": eda_range[1]})
            t0 = time.perf_counter()
            at.switch_page("pages/order_eda.py").run()
            out["eda"] = time.perf_counter() - t0
            if at.exception or not at.metric:
                raise RuntimeError(f"Order EDA: {at.exception or 'no KPIs'}")
        except Exception as exc:                                   # reported, not hidden
            print(f"  session failed: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
            out["error"] = 1.0

    def run_all(ranges: list[tuple[str, str]]) -> list[dict[str, float]]:
        ready = threading.Barrier(len(ranges))
        results: list[dict[str, float]] = [{} for _ in ranges]
        threads = [threading.Thread(target=walk, args=(r, ready, out)) for r, out in zip(ranges, results)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    if warm:
        run_all(eda_ranges(url, 1))
    runs.clear()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    results = run_all(eda_ranges(url, n))
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(json.dumps({"results": results, "wall": wall, "cpu": cpu, "rss": peak_rss_mb(os.getpid()),
                      "script_wall": sum(w for w, _ in runs), "script_cpu": sum(c for _, c in runs),
                      "script_runs": len(runs)}))


def server_only(url: str, sizes: list[int], warm: bool) -> None:
    print(f"{'N':>3} | " + " | ".join(f"{s + ' p50/p95 s':>17}" for s in STEPS)
          + " | failed | all steps wall / CPU s | script CPU s | peak RSS")
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, SERVER_WORKER, url, str(n), "1" if warm else "0"],
                              cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, KURRANT_DE_URL=url))
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode or not lines:
            print(f"{n:>3} | worker failed: {proc.stderr[-2000:]}")
            continue
        out = json.loads(lines[-1])
        results = out["results"]
        for line in proc.stderr.splitlines():
            if line.startswith("  session failed"):
                print(line, flush=True)
        failed = sum(1 for r in results if "error" in r)
        print(f"{n:>3} | " + " | ".join(f"{cell:>17}" for cell in step_cells(results, STEPS))
              + f" | {failed:>6} | {out['wall']:6.1f} / {out['cpu']:5.1f} (x{out['wall'] / max(out['cpu'], 1e-9):.1f})"
              + f" | {out['script_cpu']:5.1f} in {out['script_runs']} runs | {out['rss']:,.0f} MB", flush=True)


# ------------------------------------------------------------------------------ main
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def step_cells(results: list[dict[str, float]], names: tuple[str, ...]) -> list[str]:
    cells = []
    for name in names:
        values = [r[name] for r in results if name in r]
        cells.append(f"{statistics.median(values):7.2f} / {percentile(values, 0.95):6.2f}" if values else "-")
    return cells


def browser_lines(results: list[dict[str, float]]) -> list[str]:
    """Per step: medians of the renderer's main-thread seconds and the websocket kilobytes received."""
    lines = []
    for step in STEPS:
        def median(name: str) -> float:
            values = [r[f"{step}.{name}"] for r in results if f"{step}.{name}" in r]
            return statistics.median(values) if values else float("nan")
        lines.append(f"    browser {step:>7}: main thread {median('TaskDuration'):5.2f} s (script "
                     f"{median('ScriptDuration'):5.2f}, layout+style "
                     f"{median('LayoutDuration') + median('RecalcStyleDuration'):5.2f}); "
                     f"received {median('received') / 1024:7.1f} KB")
    return lines


def walk(base: str, ranges: list[tuple[str, str]],
         options: argparse.Namespace) -> tuple[list[dict[str, float]], float]:
    """Every session's step times and Chromium's CPU seconds (nan without a browser)."""
    if options.websocket:
        return asyncio.run(websocket_sessions(base, ranges)), float("nan")
    return asyncio.run(run_sessions(base, ranges, options))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,5,10", help="comma-separated N (default 1,5,10)")
    parser.add_argument("--warm", action="store_true", help="one unmeasured session first (steady state)")
    parser.add_argument("--server-times", action="store_true", help="also time the server's script runs")
    parser.add_argument("--browser-times", action="store_true",
                        help="also print each step's renderer main-thread time and websocket kilobytes")
    parser.add_argument("--server-only", action="store_true",
                        help="no browser: N AppTest sessions at once in one fresh process per N")
    parser.add_argument("--websocket", action="store_true",
                        help="no browser, the real server: N sessions over Streamlit's own websocket, each step "
                             "timed until its script run finished (members' browsers on their own machines)")
    parser.add_argument("--floor", action="store_true",
                        help="also time N returning browsers opening a one-line Streamlit page, and one with a "
                             "small Plotly chart (the floors)")
    parser.add_argument("--url", help="DE database URL (default: the bench's demo world)")
    parser.add_argument("--returning", action="store_true",
                        help="each browser has opened the dashboard once before (its cache holds Streamlit's "
                             "bundle, which is served as immutable): what a team member sees day to day")
    parser.add_argument("--visited", action="store_true",
                        help="each browser has opened the router, Compare and Order EDA (the default view) "
                             "before: its cache also holds the pages' lazily loaded code (Plotly, the grids)")
    parser.add_argument("--in-app", action="store_true",
                        help="open Compare and Order EDA by the sidebar's links from the router's page, as a "
                             "member moves in the open dashboard (no reload), instead of by their addresses")
    parser.add_argument("--charts-open", action="store_true",
                        help="open Compare with its chart box open (as it was before the charts were deferred)")
    args = parser.parse_args()
    url = args.url or ensure_world()
    sizes = [int(n) for n in args.sessions.split(",")]
    if args.server_only:
        print(f"DE {config.mask_url(url)}; {os.cpu_count()} CPUs; server only (AppTest sessions in threads); "
              f"{'warm' if args.warm else 'cold'} process per N")
        server_only(url, sizes, args.warm)
        return
    if not args.websocket and not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    log_dir = ROOT / "data" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    if args.websocket:
        print(f"DE {config.mask_url(url)}; {os.cpu_count()} CPUs; no browser: sessions over the server's websocket; "
              f"{'warm' if args.warm else 'cold'} server per N")
    else:
        print(f"DE {config.mask_url(url)}; {os.cpu_count()} CPUs shared by the server and Chromium; "
              f"{'warm' if args.warm else 'cold'} server per N; "
              f"{'visited' if args.visited else 'returning' if args.returning else 'new'} browsers"
              f"{'; pages opened by the sidebar links (Order EDA on its default range)' if args.in_app else ''}"
              f"{'; Compare charts open' if args.charts_open else ''}")
    print(f"{'N':>3} | " + " | ".join(f"{s + ' p50/p95 s':>17}" for s in STEPS) + " | failed | server peak RSS")
    for n in sizes:
        times_file = log_dir / f"load_server_{n}.times" if args.server_times else None
        if times_file:
            times_file.unlink(missing_ok=True)
        proc, base = start_server(url, log_dir / f"load_server_{n}.log", times_file)
        try:
            if args.warm:
                walk(base, eda_ranges(url, 1), args)
                if times_file:
                    times_file.write_text("")
            results, browser_cpu = walk(base, eda_ranges(url, n), args)
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        failed = sum(1 for r in results if "error" in r)
        print(f"{n:>3} | " + " | ".join(f"{c:>17}" for c in step_cells(results, STEPS))
              + f" | {failed:>6} | {rss:,.0f} MB", flush=True)
        if times_file:
            print(f"    server: {server_times(times_file)}", flush=True)
        if args.browser_times and not args.websocket:
            print(f"    browser: {browser_cpu:.1f} s of Chromium CPU (all processes, all sessions)", flush=True)
            print("\n".join(browser_lines(results)), flush=True)
        if args.floor and not args.websocket:
            print("\n".join(floor_lines(url, n, log_dir)), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == TIMED_SERVER:
        serve_timed(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) > 4 and sys.argv[1] == SERVER_WORKER:
        server_worker(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
    else:
        main()
