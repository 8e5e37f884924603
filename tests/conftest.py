"""Shared fixtures: DE databases on SQLite and MariaDB, the tiny demo world, a browser, a server.

MariaDB and the browser are optional on a newcomer's machine (tests skip) and mandatory in CI:
``KURRANT_REQUIRE_MYSQL=1`` / ``KURRANT_REQUIRE_BROWSER=1`` turn a skip into a failure.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kurrant_core.db import init_db, make_engine

ROOT = Path(__file__).resolve().parent.parent
MYSQL_SERVER_URL = os.environ.get("KURRANT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
CHROMIUM = os.environ.get("KURRANT_CHROMIUM", "/usr/bin/chromium")
BACKENDS = ["sqlite", "mysql"]
TINY_SEED = 42


def _required(kind: str) -> bool:
    return os.environ.get(f"KURRANT_REQUIRE_{kind}") == "1"


def _mysql_reachable() -> bool:
    try:
        eng = sa.create_engine(MYSQL_SERVER_URL + "/")
        with eng.connect():
            pass
        eng.dispose()
        return True
    except Exception:
        return False


_MYSQL_OK: bool | None = None


def need_mysql() -> None:
    """Skip (or, in CI, fail) when the MariaDB server is not reachable."""
    global _MYSQL_OK
    if _MYSQL_OK is None:
        _MYSQL_OK = _mysql_reachable()
    if not _MYSQL_OK:
        msg = f"MariaDB not reachable at {MYSQL_SERVER_URL}"
        if _required("MYSQL"):
            pytest.fail(msg + " and KURRANT_REQUIRE_MYSQL=1")
        pytest.skip(msg)


def new_database_url(backend: str, folder: Path) -> str:
    """A URL to a brand-new, empty database on ``backend`` (caller drops it with drop_database)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / f'de_{uuid.uuid4().hex[:8]}.sqlite'}"
    need_mysql()
    name = f"kl_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(MYSQL_SERVER_URL + "/")
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    admin.dispose()
    return f"{MYSQL_SERVER_URL}/{name}"


def drop_database(url: str) -> None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return
    admin = sa.create_engine(MYSQL_SERVER_URL + "/")
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{parsed.database}`")
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def empty_engine(backend, tmp_path) -> Iterator[sa.Engine]:
    """A new DE database with the schema created and no rows, on each backend."""
    url = new_database_url(backend, tmp_path)
    engine = make_engine(url)
    init_db(engine)
    yield engine
    engine.dispose()
    drop_database(url)


def build_tiny_world(url: str) -> None:
    from kurrant_core.demo import generate_demo_world
    from kurrant_core.preprocess import preprocess
    engine = make_engine(url)
    init_db(engine)
    generate_demo_world(engine, scale="tiny", seed=TINY_SEED)
    preprocess(engine)
    engine.dispose()


def tiny_world_with_runs(folder: Path, models=("popularity", "content")) -> tuple[str, sa.Engine, list[int]]:
    """A tiny SQLite world in ``folder`` with one finished run per model (artifacts in the folder),
    for the page tests that compare runs: (URL, engine, run ids)."""
    from kurrant_core import runs
    url = new_database_url("sqlite", folder)
    build_tiny_world(url)
    engine = make_engine(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KURRANT_ARTIFACT_DIR", str(folder / "artifacts"))
        run_ids = [runs.train_and_write(engine, name, {}, k=10, triggered_by="test") for name in models]
    return url, engine, run_ids


@pytest.fixture(scope="session", params=BACKENDS)
def tiny_url(request, tmp_path_factory) -> Iterator[str]:
    """URL of a DE database holding the preprocessed tiny world (seed 42). Read-only: do not write."""
    url = new_database_url(request.param, tmp_path_factory.mktemp("tiny"))
    build_tiny_world(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def tiny_engine(tiny_url) -> Iterator[sa.Engine]:
    engine = make_engine(tiny_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def tiny_sqlite_url(tmp_path_factory) -> str:
    """The tiny world on SQLite only, for tests of pure computation (models, pages)."""
    url = new_database_url("sqlite", tmp_path_factory.mktemp("tiny_sqlite"))
    build_tiny_world(url)
    return url


@pytest.fixture
def writable_tiny_url(backend, tmp_path) -> Iterator[str]:
    """A private copy of the tiny world a test may write to, on each backend."""
    url = new_database_url(backend, tmp_path)
    build_tiny_world(url)
    yield url
    drop_database(url)


# ------------------------------------------------------------------ browser and dashboard server
@pytest.fixture
def engine(writable_tiny_url, tmp_path, monkeypatch) -> Iterator[sa.Engine]:
    """A writable tiny world whose runs save their artifacts under this test's folder."""
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    eng = make_engine(writable_tiny_url)
    yield eng
    eng.dispose()


def wait_for(predicate, what: str, deadline_s: float = 240):
    """``predicate()``'s first true value, asked every 0.2 s: tests wait for states, not for time
    (the deadline is a generous bound for a worker to reach a stage)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright; skips (fails in CI) when it is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if _required("BROWSER"):
            pytest.fail("playwright is not installed and KURRANT_REQUIRE_BROWSER=1")
        pytest.skip("playwright not installed")
    if not Path(CHROMIUM).exists():
        if _required("BROWSER"):
            pytest.fail(f"{CHROMIUM} missing and KURRANT_REQUIRE_BROWSER=1 (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} missing")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                     "--disable-dev-shm-usage"])
        yield b
        b.close()


class DashboardServer:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path):
        self.url, self.proc, self.log = url, proc, log


def start_dashboard(de_url: str, tmp_path: Path, extra_env: dict | None = None) -> DashboardServer:
    """Start ``streamlit run app.py`` on a free port against ``de_url``; wait until it answers."""
    import urllib.request
    port = free_port()
    env = dict(os.environ, KURRANT_DE_URL=de_url, KURRANT_ARTIFACT_DIR=str(tmp_path / "artifacts"),
               **(extra_env or {}))
    log = tmp_path / f"streamlit_{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return DashboardServer(base, proc, log)
        except Exception:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"streamlit did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def dashboard_factory(tmp_path):
    """Call with a DE URL to get a running dashboard; every server is stopped afterwards."""
    servers: list[DashboardServer] = []

    def factory(de_url: str, **extra_env) -> DashboardServer:
        server = start_dashboard(de_url, tmp_path, extra_env)
        servers.append(server)
        return server
    yield factory
    for s in servers:
        s.proc.terminate()
        try:
            s.proc.wait(10)
        except subprocess.TimeoutExpired:
            s.proc.kill()


SCREENSHOT_DIR = ROOT / "tests" / "screenshots"
APP_PATH = str(ROOT / "app.py")
"""Absolute path for AppTest.from_file (relative paths resolve against the calling test file)."""


def run_script(monkeypatch, de_url: str, script: str, query: dict[str, str] | None = None,
               timeout: int = 60):
    """Run a dashboard script (app.py or a page) once in AppTest against ``de_url``."""
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("KURRANT_DE_URL", de_url)
    at = AppTest.from_file(script, default_timeout=timeout)
    at.query_params.update(query or {})
    at.run()
    return at


def url_bound_places(at) -> dict[str, tuple[int, ...]]:
    """Where each widget bound to the URL sits in an AppTest's page: its key and its path of child
    indices (the frontend's delta path). Streamlit's frontend drops a bound widget's link to the URL
    when the widget moves between two runs, so a page keeps these paths fixed."""
    places: dict[str, tuple[int, ...]] = {}

    def walk(node, path: tuple[int, ...]) -> None:
        proto = getattr(node, "proto", None)
        kind = proto.WhichOneof("type") if proto is not None and "type" in proto.DESCRIPTOR.oneofs_by_name else None
        proto = getattr(proto, kind) if kind else proto
        if proto is not None and getattr(proto, "query_param_key", ""):
            places[proto.query_param_key] = path
        for index, child in getattr(node, "children", {}).items():
            walk(child, (*path, index))
    walk(at._tree, ())
    return places


# ------------------------------------------------------------------ who acts (kurrant_core.access)
@pytest.fixture(autouse=True)
def _private_secrets_file(tmp_path_factory, monkeypatch):
    """Every test reads (and `ensure-demo` writes) a secrets file of its own, never the developer's
    .streamlit/secrets.toml; a test that needs one sets KURRANT_SECRETS_FILE itself."""
    monkeypatch.setenv("KURRANT_SECRETS_FILE", str(tmp_path_factory.mktemp("secrets") / "secrets.toml"))
    for name in ("KURRANT_TEAM_PASSWORD_SHA256", "KURRANT_TEAM_EMAILS", "KURRANT_TEAM_DOMAINS", "KURRANT_DAG"):
        monkeypatch.delenv(name, raising=False)


def team_person(who: str = "tester@kurrant.test"):
    """A team member for library calls that write (they all take ``by=``)."""
    from kurrant_core import access
    return access.Person(who, access.TEAM, access.VIA_SIGN_IN)


def sign_in_with_password(at, password: str, name: str = ""):
    """What typing the team password (and a name) in app.py's sidebar does, for an AppTest: AppTest
    does not show the router's sidebar after ``switch_page``, so set the widgets' session state."""
    at.session_state["auth_password"] = password
    at.session_state["auth_name"] = name
    return at.run()
