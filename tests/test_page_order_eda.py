"""AppTest of the order EDA page: renders on the tiny world, follows its filters and the URL,
and answers an empty database, an empty filter result and a dead server with a message."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import ROOT, run_script
from streamlit.testing.v1 import AppTest

from kurrant_core import codes, columns as C, config, schema as S, ui_text
from kurrant_core.db import make_engine, write_meta
from kurrant_core.eda.labels import MEASURE_LABEL
from kurrant_core.preprocess import META_PREPROCESSED_AT

PAGE = str(ROOT / "pages" / "order_eda.py")
ITEMS = MEASURE_LABEL[C.N_ITEMS]


def run_page(monkeypatch, url: str, query: dict[str, str] | None = None) -> AppTest:
    return run_script(monkeypatch, url, PAGE, query)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture(scope="module")
def items(tiny_url) -> pd.DataFrame:
    """Paid order items of the tiny world (date, dining type, count) for expected KPI values."""
    engine = make_engine(tiny_url)
    oi = S.mart_order_item
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(oi.c[C.SERVICE_DATE], oi.c[C.DINING_TYPE], oi.c[C.COUNT])
                            .where(oi.c[C.IS_PAID] == sa.true()), conn)
    engine.dispose()
    frame[C.SERVICE_DATE] = pd.to_datetime(frame[C.SERVICE_DATE]).dt.date
    return frame


def n_items(items: pd.DataFrame, start: date, end: date, dining: int | None = None) -> str:
    rows = items[(items[C.SERVICE_DATE] >= start) & (items[C.SERVICE_DATE] <= end)]
    if dining is not None:
        rows = rows[rows[C.DINING_TYPE] == dining]
    return f"{int(rows[C.COUNT].sum()):,}"


def test_page_renders_on_the_tiny_world_and_writes_the_view_into_the_url(monkeypatch, tiny_url, items):
    at = run_page(monkeypatch, tiny_url)
    assert not at.exception, at.exception
    assert not at.error
    start, end = at.sidebar.date_input(key="eda_dates").value
    assert end == max(items[C.SERVICE_DATE])
    assert metrics(at)[ITEMS] == n_items(items, start, end)
    assert at.query_params["from"] == start.isoformat() and at.query_params["to"] == end.isoformat()
    assert len(at.tabs) >= 10
    assert at.get("plotly_chart"), "the page draws plotly charts"


def test_changing_a_filter_changes_the_kpis_and_the_url(monkeypatch, tiny_url, items):
    at = run_page(monkeypatch, tiny_url)
    before = metrics(at)[ITEMS]
    start, end = at.sidebar.date_input(key="eda_dates").value
    at.sidebar.multiselect(key="eda_dining").set_value([codes.LUNCH]).run()
    assert not at.exception
    assert at.query_params["dining"] == str(codes.LUNCH)
    lunch = metrics(at)[ITEMS]
    assert lunch == n_items(items, start, end, codes.LUNCH)

    first = min(items[C.SERVICE_DATE])
    at.sidebar.date_input(key="eda_dates").set_value((first, first + timedelta(days=6))).run()
    assert not at.exception
    week = metrics(at)[ITEMS]
    assert week == n_items(items, first, first + timedelta(days=6), codes.LUNCH)
    assert len({before, lunch, week}) == 3, "each filter change moved the KPI"


SECTION_CONTENT = {   # open tab -> what it must draw (metrics beyond the 7 KPIs, charts, tables)
    "추이": (0, 1, 0), "요일 × 식사": (0, 1, 0), "상위": (0, 1, 1), "집중도": (3, 2, 0), "메뉴 선택률": (0, 1, 1),
    "재주문": (2, 1, 0), "사용자": (0, 2, 0), "만족도 · 가격": (0, 2, 1), "고객사 비교": (0, 0, 1),
    "음식 상세": (0, 2, 1),
}


@pytest.mark.parametrize("tab", list(SECTION_CONTENT))
def test_every_section_renders_when_its_tab_is_open(monkeypatch, tiny_sqlite_url, tab):
    at = run_page(monkeypatch, tiny_sqlite_url, {"eda_tab": tab})
    assert not at.exception, at.exception
    assert not at.error
    n_metrics, n_charts, n_tables = SECTION_CONTENT[tab]
    assert len(at.metric) - 7 == n_metrics
    assert len(at.get("plotly_chart")) >= n_charts
    assert len(at.dataframe) == n_tables
    if tab != next(iter(SECTION_CONTENT)):                # the default tab is left out of the URL
        assert at.query_params["eda_tab"] == tab, "the open tab stays in the link next to the filters"
    assert "from" in at.query_params


def test_trends_draw_one_chart_at_a_time_the_period_in_the_link(monkeypatch, tiny_url):
    """The opening tab draws the daily chart or the weekly one, not both (a Plotly chart is about half
    a second of a browser's CPU on a first paint); the choice travels in the URL."""
    def titles(at: AppTest) -> list[str]:
        return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]
    at = run_page(monkeypatch, tiny_url)
    assert not at.exception and not at.error
    assert titles(at) == [ui_text.text("eda.daily_title")]
    assert "eda_trend_period" not in at.query_params                  # the default stays out of the link
    at.segmented_control(key="eda_trend_period").set_value("weekly").run()
    assert not at.exception and not at.error
    assert titles(at) == [ui_text.text("eda.weekly_title")]         # (the URL follows in the browser test)

    link = run_page(monkeypatch, tiny_url, {"eda_trend_period": ui_text.text("eda.period_unit.weekly")})
    assert not link.exception and titles(link) == [ui_text.text("eda.weekly_title")]


def test_a_link_reproduces_the_view(monkeypatch, tiny_url, items):
    first = min(items[C.SERVICE_DATE])
    end = first + timedelta(days=13)
    at = run_page(monkeypatch, tiny_url, {"from": first.isoformat(), "to": end.isoformat(),
                                          "dining": str(codes.LUNCH), "paid": "all"})
    assert not at.exception
    assert at.sidebar.date_input(key="eda_dates").value == (first, end)
    assert at.sidebar.multiselect(key="eda_dining").value == [codes.LUNCH]
    assert at.sidebar.toggle(key="eda_paid_only").value is False


def test_malformed_links_fall_back_to_defaults(monkeypatch, tiny_url, items):
    at = run_page(monkeypatch, tiny_url, {"from": "not-a-date", "group": "1,x", "dining": "99", "paid": "?"})
    assert not at.exception
    assert not at.error
    assert at.sidebar.multiselect(key="eda_dining").value == []
    assert at.sidebar.date_input(key="eda_dates").value[1] == max(items[C.SERVICE_DATE])


def test_a_filter_matching_nothing_says_so(monkeypatch, tiny_url, items):
    first = min(items[C.SERVICE_DATE])
    saturday = first + timedelta(days=(5 - first.weekday()) % 7)        # no service on weekends
    at = run_page(monkeypatch, tiny_url, {"from": saturday.isoformat(),
                                          "to": (saturday + timedelta(days=1)).isoformat()})
    assert not at.exception
    assert ui_text.text("eda.no_orders") in [info.value for info in at.info]
    assert not at.get("plotly_chart")


def test_empty_database_shows_the_friendly_message(monkeypatch, empty_engine):
    at = run_page(monkeypatch, empty_engine.url.render_as_string(hide_password=False))
    assert not at.exception
    assert at.error and "preprocess" in at.error[0].value


def test_unreachable_database_shows_the_friendly_message(monkeypatch):
    url = "mysql+pymysql://root:topsecret@127.0.0.1:1/kurrant_de"
    at = run_page(monkeypatch, url)
    assert not at.exception
    assert at.error and at.error[0].value == ui_text.text("err.unreachable", url=config.mask_url(make_engine(url).url))
    assert "topsecret" not in at.error[0].value


def test_marts_of_another_version_ask_for_a_preprocess(monkeypatch, writable_tiny_url):
    engine = make_engine(writable_tiny_url)
    with engine.begin() as conn:
        write_meta(conn, S.META_MART_LAYOUT, "an older layout")
    engine.dispose()
    at = run_page(monkeypatch, writable_tiny_url)
    assert not at.exception and not at.metric
    assert at.error and at.error[0].value == ui_text.text("err.marts_outdated")


def test_a_new_preprocess_invalidates_cached_results(monkeypatch, writable_tiny_url):
    """Results are cached per data version: rows changed behind the cache's back stay hidden until
    the ``preprocessed_at`` token changes, as it does when preprocess rebuilds the marts."""
    at = run_page(monkeypatch, writable_tiny_url)
    before = metrics(at)[ITEMS]
    start, end = at.sidebar.date_input(key="eda_dates").value
    engine = make_engine(writable_tiny_url)
    oi = S.mart_order_item
    with engine.begin() as conn:
        conn.execute(oi.delete().where(oi.c[C.SERVICE_DATE] == end))
    at.run()
    assert metrics(at)[ITEMS] == before, "same data version: served from the cache"
    with engine.begin() as conn:
        write_meta(conn, META_PREPROCESSED_AT, "a later preprocess")
    engine.dispose()
    at.run()
    assert not at.exception
    assert int(metrics(at)[ITEMS].replace(",", "")) < int(before.replace(",", ""))


def test_coming_back_from_another_page_keeps_the_view_without_an_error(monkeypatch, tiny_url, items):
    """Streamlit drops a page's widget state while another page runs: coming back to Order EDA in
    the same session (Compare and back, as through the sidebar's links) once raised a KeyError for the
    date widget on screen. The filter the member had set comes back instead."""
    monkeypatch.setenv("KURRANT_DE_URL", tiny_url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    _, end = at.sidebar.date_input(key="eda_dates").value
    start = end - timedelta(days=6)
    at.sidebar.date_input(key="eda_dates").set_value((start, end)).run()
    at.sidebar.multiselect(key="eda_dining").set_value([codes.LUNCH]).run()
    assert not at.exception, at.exception
    for page in ("pages/compare.py", PAGE, "pages/overview.py", PAGE):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
    assert at.sidebar.date_input(key="eda_dates").value == (start, end)
    assert at.sidebar.multiselect(key="eda_dining").value == [codes.LUNCH]
    assert metrics(at)[ITEMS] == n_items(items, start, end, codes.LUNCH)
    assert (at.query_params["from"], at.query_params["to"]) == (start.isoformat(), end.isoformat())
