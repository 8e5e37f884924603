"""Thin Streamlit-aware glue shared by the pages: the cached engine and friendly error display.

Everything else a page needs comes from ``kurrant_core``; this module only adapts it to
Streamlit's caching and error display.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
import streamlit as st

from kurrant_core import config
from kurrant_core.db import make_engine
from kurrant_core.errors import KurrantError

log = logging.getLogger("kurrant_lens")
T = TypeVar("T")
QUERY_TTL_S = 600


@st.cache_resource(show_spinner=False)
def _engine_for(url: str) -> sa.Engine:
    return make_engine(url)


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
