"""Thin Streamlit-aware glue shared by the pages: the cached engine and friendly error display.

Everything else a page needs comes from ``kurrant_core``; this module only adapts it to
Streamlit's caching and error display.

Work that every session would repeat happens once per server: query results (``cached_query``),
loaded run models, a run's scored candidates for a user and day (``run_candidates``), Compare's
lists and replay for a user, setting and knobs (``compare_view``, ``compare_replay``) and drawn
figures (``cached_figure``), each keyed by the DE URL, the data version (changes with every
preprocess) and its arguments. The first import of this module (the server's first page) also
starts a background thread that imports the heavy libraries (scikit-learn, SciPy, Plotly), loads
the models of the runs Compare shows by default and computes Compare's default view, so the first
Compare render finds them ready.
"""
from __future__ import annotations

import gc
import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
import streamlit as st

from kurrant_core import access, audit, config, ui_text
from kurrant_core.db import make_engine
from kurrant_core.errors import KurrantError

if TYPE_CHECKING:
    from kurrant_core.compare import ComparedLists, Policy, PoolLoader, Replay, ScoredCandidates
    from kurrant_core.models import Recommender

log = logging.getLogger("kurrant_lens")
T = TypeVar("T")
LANGUAGE_KEY = "lang"
"""Session-state key (and URL parameter) of the UI language, set by the switch in app.py."""


def route_through_app() -> None:
    """Make a first visit by deep link (e.g. ``/retrain`` on a freshly started server) run app.py.

    Streamlit decides once per server whether the app is a v1 "pages/ folder" app: until some
    session's app.py has called ``st.navigation``, a folder named ``pages`` beside the entrypoint
    makes it run the linked page file on its own (raw file names in the sidebar, no page config, no
    language switch). The pages import this module first, so here the page notices that it runs
    without the router, turns the v1 mode off for the server (exactly what ``st.navigation`` does on
    its first call) and reruns: the rerun runs app.py, whose navigation opens the same page, since a
    page's identity is its URL path in both modes.
    """
    from streamlit.runtime.pages_manager import PagesManager
    if PagesManager.uses_pages_directory and st.runtime.exists():
        PagesManager.uses_pages_directory = False
        st.rerun()


STILL_PLACEHOLDERS_CSS = (
    "<style id='kurrant-still'>[data-testid=stSkeleton], [data-testid=stSkeletonElement], "
    "[data-testid=stAppSkeleton] * {animation: none !important} "
    "[data-testid=stElementContainer]:has(#kurrant-still) {display: none}</style>")
"""Loading placeholders stay still instead of shimmering. Streamlit draws a placeholder for each
element whose code is still loading; with ten browsers sharing a machine they wait seconds, and a
shimmer repaints every frame meanwhile (about a fifth of the browsers' CPU in ``bench/bench_load.py``
at N = 10). A placeholder still says "loading"; the faded look of a page being rerun is left as is."""


def still_placeholders() -> None:
    """Once per script run, before any page draws (app.py): the style above, which takes no space.
    Markdown, not ``st.html``: Streamlit loads the code of ``st.html`` (like most elements) only when a
    page first shows one, so on a fresh load the style came after the placeholders it is for."""
    st.markdown(STILL_PLACEHOLDERS_CSS, unsafe_allow_html=True)


def language() -> str:
    """The UI language of this session (Korean unless the switch says English)."""
    chosen = st.session_state.get(LANGUAGE_KEY)
    return chosen if chosen in ui_text.LANGUAGES else ui_text.DEFAULT_LANGUAGE


def t(key: str, **values: object) -> str:
    """Catalogue text ``key`` in the session's language (``kurrant_core.ui_text``)."""
    return ui_text.text(key, language(), **values)


def error_message(exc: BaseException) -> str:
    """A library error's text in the session's language (``ui_text.error_text``)."""
    return ui_text.error_text(exc, language())
QUERY_TTL_S = 600
HEAVY_MODULES = ("kurrant_core.compare", "plotly.express")
"""Imported in the background when the server starts serving (seconds of scikit-learn and SciPy)."""


@st.cache_resource(show_spinner=False)
def _engine_for(url: str) -> sa.Engine:
    # must_exist: a mistyped SQLite path is an error naming the path, not a new empty database
    return make_engine(url, must_exist=True)


def de_engine() -> sa.Engine:
    """The DE engine for the configured URL (cached per URL, so tests may repoint it)."""
    return _engine_for(config.de_url())


def masked_de_url() -> str:
    try:
        return config.mask_url(config.de_url())
    except KurrantError:
        return t("err.malformed_url")


def clear_query_caches() -> None:
    """Drop cached query results, e.g. after preprocess or a retrain wrote new rows."""
    st.cache_data.clear()


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def _cached_call(fn_name: str, url: str, version: str, args: tuple, kwargs: dict, _fn: Callable,
                 _engine: sa.Engine):
    return _fn(_engine, *args, **kwargs)


def cached_query(fn: Callable[..., T], *args, version: str, **kwargs) -> T:
    """``fn(de_engine(), *args, **kwargs)`` through ``st.cache_data(ttl=QUERY_TTL_S)``.

    The cache key holds the function's name, the DE URL, the arguments and ``version`` (a data
    version token such as ``kurrant_core.eda.data_version``): when preprocess rebuilds the marts the
    token changes, so every server process misses its old results instead of serving stale ones.
    """
    engine = de_engine()
    return _cached_call(f"{fn.__module__}.{fn.__qualname__}", engine.url.render_as_string(), version,
                        args, kwargs, _fn=fn, _engine=engine)


# ------------------------------------------------------------------------ runs, shared per server
@st.cache_resource(show_spinner="Loading the run's model…", max_entries=16)
def _run_model(url: str, run_id: int, version: str) -> Recommender:
    """A done run's saved model, loaded once per server and data version; never mutate it."""
    from kurrant_core import compare
    model = compare.load_run_model(_engine_for(url), run_id)
    _freeze_long_lived()
    return model


def _freeze_long_lived() -> None:
    """Move everything alive now (libraries, loaded models) out of the garbage collector's sight.

    Streamlit runs a full collection after every script run; walking these long-lived objects each
    time was 0.4 s of a Compare rerun, holding the GIL for every session. Unfreezing first lets the
    collection free what was frozen before and is garbage now (a model the cache let go of).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


# cache_resource, not cache_data: every session gets the same object instead of unpickling a copy on
# each rerun, so what a pool memoises (typed columns, the model's own top-k report) is computed once
@st.cache_resource(ttl=QUERY_TTL_S, show_spinner="Scoring the user's candidates…", max_entries=256)
def _run_candidates(url: str, run_id: int, user_id: int, service_date: date | None, dining_type: int | None,
                    version: str) -> ScoredCandidates:
    from kurrant_core import compare
    return compare.candidates_for_run(_engine_for(url), run_id, user_id, service_date=service_date,
                                      dining_type=dining_type,
                                      load_model=lambda rid: _run_model(url, int(rid), version))


def run_model(run_id: int, *, version: str) -> Recommender:
    """A done run's saved model, shared by every session of this server (never mutate it)."""
    return _run_model(de_engine().url.render_as_string(), int(run_id), version)


def run_candidates(run_id: int, user_id: int, service_date: date | None, dining_type: int | None, *,
                   version: str) -> ScoredCandidates:
    """The run's scored candidate pool for a user and setting (``compare.candidates_for_run``), computed
    once per server: every session comparing the same user, day and run shares it, so a knob move
    only re-ranks it."""
    return _run_candidates(de_engine().url.render_as_string(), int(run_id), int(user_id), service_date,
                           None if dining_type is None else int(dining_type), version)


def _pool_loader(url: str, user_id: int, version: str) -> PoolLoader:
    return lambda run_id, day, meal: _run_candidates(url, int(run_id), int(user_id), day,
                                                     None if meal is None else int(meal), version)


def _user_history(url: str, user_id: int, version: str):
    from kurrant_core import compare
    return _cached_call(f"{compare.user_history.__module__}.{compare.user_history.__qualname__}", url, version,
                        (int(user_id),), {}, _fn=compare.user_history, _engine=_engine_for(url))


@st.cache_resource(ttl=QUERY_TTL_S, show_spinner=False, max_entries=128)
def _compare_view(url: str, run_ids: tuple[int, ...], user_id: int, service_date: date | None,
                  dining_type: int | None, knobs: tuple, lang: str, version: str) -> ComparedLists:
    from kurrant_core import compare
    return compare.compare_lists(_pool_loader(url, user_id, version), run_ids, _user_history(url, user_id, version),
                                 compare.Policy.from_knobs(**dict(knobs)), service_date=service_date,
                                 dining_type=dining_type, lang=lang)


@st.cache_resource(ttl=QUERY_TTL_S, show_spinner=False, max_entries=128)
def _compare_replay(url: str, run_ids: tuple[int, ...], user_id: int, dining_type: int, until: date, n_days: int,
                    knobs: tuple, version: str) -> Replay:
    from kurrant_core import compare
    return compare.replay_runs(_pool_loader(url, user_id, version), run_ids, _user_history(url, user_id, version),
                               compare.Policy.from_knobs(**dict(knobs)), dining_type, until, n_days)


def compare_view(run_ids: Sequence[int], user_id: int, service_date: date | None, dining_type: int | None,
                 settings: Policy, *, lang: str, version: str) -> ComparedLists:
    """Compare's lists (``compare.compare_lists``), computed once per server for the same runs, user,
    setting, knobs, language and data version: shared by every session, so never mutate it."""
    from kurrant_core import compare
    return _compare_view(de_engine().url.render_as_string(), tuple(int(r) for r in run_ids), int(user_id),
                         service_date, None if dining_type is None else int(dining_type),
                         compare.knob_values(settings), lang, version)


def compare_replay(run_ids: Sequence[int], user_id: int, dining_type: int, until: date, n_days: int,
                   settings: Policy, *, version: str) -> Replay:
    """Compare's replay strip (``compare.replay_runs``), computed once per server for the same
    arguments and data version: shared by every session, so never mutate it."""
    from kurrant_core import compare
    return _compare_replay(de_engine().url.render_as_string(), tuple(int(r) for r in run_ids), int(user_id),
                           int(dining_type), until, int(n_days), compare.knob_values(settings), version)


@st.cache_resource(show_spinner=False, max_entries=128)
def _figure(name: str, version: str, args: tuple, kwargs: dict, _build: Callable) -> Any:
    return _build(*args, **kwargs)


def cached_figure(build: Callable[..., T], *args, version: str, **kwargs) -> T:
    """``build(*args, **kwargs)`` (a figure), built once per server for the same data and arguments;
    every session gets the same object, which ``st.plotly_chart`` only reads."""
    return _figure(f"{build.__module__}.{build.__qualname__}", version, args, kwargs, _build=build)


class _WarmUpThreadFilter(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" notice for the warm-up thread, which uses the
    caches on purpose outside any session."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != WARM_UP_THREAD


def _warm_up() -> None:
    """Off the script thread, once per server: import the heavy libraries, load the models of the
    runs Compare shows by default into the shared cache (each load ends by freezing what is loaded,
    see :func:`_freeze_long_lived`), then compute what Compare opens on (its default user, day, runs
    and knobs: the lists and the replay strip). A page needing them meanwhile waits for this work
    (import and cache locks) instead of repeating it; any failure is left to the page to report."""
    try:
        for name in HEAVY_MODULES:
            importlib.import_module(name)
        from kurrant_core import compare, eda
        engine = _engine_for(config.de_url())
        version = eda.data_version(engine)
        runs = compare.comparable_runs(engine)
        run_ids = compare.default_run_ids(runs)
        for run_id in run_ids:
            _run_model(engine.url.render_as_string(), int(run_id), version)
        _warm_compare_default(engine, runs, run_ids, version)
    except Exception:                       # no database yet, no runs, a broken run: the page says so
        log.debug("background warm-up stopped", exc_info=True)
    finally:
        _freeze_long_lived()


def _warm_compare_default(engine: sa.Engine, runs, run_ids: list[int], version: str) -> None:
    """Compute Compare's first screen as the page asks for it (the same cached calls and keys)."""
    from kurrant_core import codes, compare, policies
    if not run_ids:
        return
    user_id = int(cached_query(compare.pick_user, compare.HEAVY, version=version))
    day = compare.default_menu_day(cached_query(compare.menu_days, version=version), codes.LUNCH,
                                   compare.latest_cutoff(runs, run_ids))
    if day is None:
        return
    settings = compare.Policy.from_knobs(**policies.get_policy(engine, policies.DEFAULT).knobs())
    compare_view(run_ids, user_id, day, codes.LUNCH, settings, lang=ui_text.DEFAULT_LANGUAGE, version=version)
    compare_replay(run_ids, user_id, codes.LUNCH, day, compare.DEFAULT_REPLAY_DAYS, settings, version=version)


WARM_UP_THREAD = "kurrant-warm-up"
if st.runtime.exists():                     # a real server (not a test's AppTest run)
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_WarmUpThreadFilter())
    threading.Thread(target=_warm_up, name=WARM_UP_THREAD, daemon=True).start()


# ------------------------------------------------------------------------ errors
@contextmanager
def friendly_errors():
    """Show KurrantError (and database outages) as ``st.error`` and stop the page, never a traceback."""
    try:
        yield
    except KurrantError as exc:
        st.error(error_message(exc))
        st.stop()
    except sa.exc.OperationalError:
        log.exception("DE database error")
        st.error(t("err.db_down", url=masked_de_url()))
        st.stop()


def guarded(fn: Callable[..., T], *args, **kwargs) -> T:
    """Call ``fn`` inside :func:`friendly_errors`."""
    with friendly_errors():
        return fn(*args, **kwargs)


# ------------------------------------------------------------------------ who is at the page
PASSWORD_KEY, NAME_KEY = "auth_password", "auth_name"
"""Session-state keys of the sidebar's team password and name (deployments without [auth])."""
AUDIT_ROWS = 10


def auth_configured() -> bool:
    """True when the secrets hold an ``[auth]`` section: people sign in with ``st.login``."""
    try:
        return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)
    except Exception:                       # no secrets file, or one Streamlit cannot read
        return False


def current_person() -> access.Person:
    """Who is at this session: the signed-in e-mail (with ``[auth]``), else whoever typed the team
    password in the sidebar, else an anonymous viewer. Roles come from ``kurrant_core.access``."""
    if auth_configured():
        if st.user.is_logged_in:
            return access.signed_in(str(st.user.get("email") or ""))
        return access.anonymous(access.SIGN_IN_FIRST)
    return access.with_password(st.session_state.get(PASSWORD_KEY), st.session_state.get(NAME_KEY))


def can(action: str) -> access.Decision:
    """``kurrant_core.access.check`` for the current person, the reason in the session's language."""
    return access.check(current_person(), action, language())


def require_sign_in() -> None:
    """With an identity provider configured, nothing but a sign-in button shows until one signs in."""
    if not auth_configured() or st.user.is_logged_in:
        return
    st.title(t("auth.sign_in_title"))
    st.info(t("auth.sign_in_body"))
    if st.button(t("auth.sign_in"), key="auth_login", type="primary"):
        st.login()
    st.stop()


def sign_in_sidebar() -> None:
    """The sidebar's who-am-I: the signed-in person and a sign-out button, or (without [auth]) the
    shared team password and a name for the audit trail."""
    with st.sidebar:
        if auth_configured():
            if st.user.is_logged_in:
                st.caption(t("auth.acting_as", who=current_person().label(language())))
                if st.button(t("auth.sign_out"), key="auth_logout"):
                    st.logout()
            return
        st.text_input(t("auth.password"), type="password", key=PASSWORD_KEY, help=t("auth.password_help"))
        st.text_input(t("auth.name"), key=NAME_KEY, max_chars=80)
        st.caption(t("auth.acting_as", who=current_person().label(language())))


def audit_section(limit: int = AUDIT_ROWS) -> None:
    """A small table of the latest audited writes (Overview and Retrain pages)."""
    st.subheader(t("audit.title"))
    st.caption(t("audit.caption"))
    with friendly_errors():
        rows = audit.audit_log(de_engine(), limit=limit)
    if rows.empty:
        st.caption(t("audit.empty"))
        return
    rows = rows.assign(at=[ui_text.timestamp(v, language()) for v in rows["at"]],
                       action=[t(f"action.{v}") if f"action.{v}" in ui_text.TEXT else v for v in rows["action"]],
                       outcome=[t(f"audit.{v}") for v in rows["outcome"]],
                       error=rows["error"].fillna("–"))                     # never Python's None on the page
    st.dataframe(rows.drop(columns=["id"]), hide_index=True, column_config={
        name: t(f"audit.{name}") for name in ("at", "who", "action", "target", "outcome", "error")})


# Last, so that the rerun it may raise never leaves this module half-imported (a page importing a
# name defined below the call would fail with ImportError on a first visit by deep link).
route_through_app()
