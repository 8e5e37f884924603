"""Thin Streamlit-aware glue shared by the pages: the cached engine and friendly error display.

Everything else a page needs comes from ``kurrant_core``; this module only adapts it to
Streamlit's caching and error display.

Work that every session would repeat happens once per server: query results (``cached_query``),
loaded run models, a run's scored candidates for a user and day (``run_candidates``)
and drawn figures (``cached_figure``), each keyed by the DE URL, the data version (changes with every
preprocess) and its arguments. The first import of this module (the server's first page) also
starts a background thread that imports the heavy libraries (scikit-learn, SciPy, Plotly) and
loads the models of the runs Compare shows by default, so the first Compare render does not wait
for them.
"""
from __future__ import annotations

import gc
import importlib
import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
import streamlit as st

from kurrant_core import config
from kurrant_core.db import make_engine
from kurrant_core.errors import KurrantError

if TYPE_CHECKING:
    from kurrant_core.compare import ScoredCandidates
    from kurrant_core.models import Recommender

log = logging.getLogger("kurrant_lens")
T = TypeVar("T")
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
        return "<malformed URL>"


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


@st.cache_data(ttl=QUERY_TTL_S, show_spinner="Scoring the user's candidates…", max_entries=256)
def _run_candidates(url: str, run_id: int, user_id: int, service_date: date | None, dining_type: int | None,
                    version: str) -> ScoredCandidates:
    from kurrant_core import compare
    return compare.candidates_for_run(_engine_for(url), run_id, user_id, service_date=service_date,
                                      dining_type=dining_type,
                                      load_model=lambda rid: _run_model(url, int(rid), version))


def run_candidates(run_id: int, user_id: int, service_date: date | None, dining_type: int | None, *,
                   version: str) -> ScoredCandidates:
    """The run's scored candidate pool for a user and setting (``compare.candidates_for_run``), computed
    once per server: every session comparing the same user, day and run shares it, so a knob move
    only re-ranks it."""
    return _run_candidates(de_engine().url.render_as_string(), int(run_id), int(user_id), service_date,
                           None if dining_type is None else int(dining_type), version)


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
    """Off the script thread, once per server: import the heavy libraries, then load the models of
    the runs Compare shows by default into the shared cache (each load ends by freezing what is
    loaded, see :func:`_freeze_long_lived`). A page needing them meanwhile waits for this work
    (import and cache locks) instead of repeating it; any failure is left to the page to report."""
    try:
        for name in HEAVY_MODULES:
            importlib.import_module(name)
        from kurrant_core import compare, eda
        engine = _engine_for(config.de_url())
        version = eda.data_version(engine)
        for run_id in compare.default_run_ids(compare.comparable_runs(engine)):
            _run_model(engine.url.render_as_string(), int(run_id), version)
    except Exception:                       # no database yet, no runs, a broken run: the page says so
        log.debug("background warm-up stopped", exc_info=True)
    finally:
        _freeze_long_lived()


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
        st.error(str(exc))
        st.stop()
    except sa.exc.OperationalError:
        log.exception("DE database error")
        st.error(f"The DE database at {masked_de_url()} is not answering. Check that it is running, "
                 "then reload the page.")
        st.stop()


def guarded(fn: Callable[..., T], *args, **kwargs) -> T:
    """Call ``fn`` inside :func:`friendly_errors`."""
    with friendly_errors():
        return fn(*args, **kwargs)
