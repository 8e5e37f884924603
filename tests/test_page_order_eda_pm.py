"""AppTest of the order EDA papercuts of issue 16: one-day ranges draw whole days, weekly axes tick on
Mondays, the cancel rate under "paid only" shows no "+0.0%", a link's out-of-range dates are
announced, no chart says "variable"/"value", and the sections' choices live in the URL."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest
from conftest import ROOT, run_script
from streamlit.testing.v1 import AppTest

from kurrant_core import columns as C, eda, ui_text
from kurrant_core.db import make_engine

PAGE = str(ROOT / "pages" / "order_eda.py")


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


@pytest.fixture(scope="module")
def span(tiny_sqlite_url) -> tuple[date, date]:
    engine = make_engine(tiny_sqlite_url)
    options = eda.filter_options(engine)
    engine.dispose()
    return options.first_date, options.last_date


def busy_day(first: date) -> date:
    """A weekday in the data's second week (service days are weekdays)."""
    day = first + timedelta(days=7)
    return day + timedelta(days=(0 - day.weekday()) % 7 + 1)            # a Tuesday


def test_a_one_day_range_draws_whole_days(monkeypatch, tiny_sqlite_url, span):
    day = busy_day(span[0])
    at = run_script(monkeypatch, tiny_sqlite_url, PAGE, {"from": day.isoformat(), "to": day.isoformat()})
    assert not at.exception and not at.error
    daily = figures(at)[0]["layout"]["xaxis"]
    low, high = (pd.Timestamp(x) for x in daily["range"])
    assert daily["type"] == "date"
    assert low == pd.Timestamp(day) - timedelta(hours=12) and high == pd.Timestamp(day) + timedelta(hours=12)


def test_weekly_axes_tick_on_mondays_and_cohorts_are_labels(monkeypatch, tiny_sqlite_url, span):
    at = run_script(monkeypatch, tiny_sqlite_url, PAGE, {"eda_trend_period": ui_text.text("eda.period_unit.weekly")})
    weekly = figures(at)[0]["layout"]["xaxis"]
    assert pd.Timestamp(weekly["tick0"]).weekday() == 0 and weekly["dtick"] == 7 * 86_400_000
    users = run_script(monkeypatch, tiny_sqlite_url, PAGE, {"eda_tab": ui_text.text("eda.tab.users")})
    assert not users.exception and not users.error
    figs = figures(users)
    cohort = next(f for f in figs if f["layout"].get("coloraxis"))
    assert cohort["layout"]["yaxis"]["type"] == "category"
    assert all(date.fromisoformat(label).weekday() == 0 for label in cohort["data"][0]["y"])
    new_old = figs[1]["layout"]
    assert pd.Timestamp(new_old["xaxis"]["tick0"]).weekday() == 0


def test_no_chart_says_variable_or_value(monkeypatch, tiny_sqlite_url):
    for tab in ("eda.tab.users", "eda.tab.concentration", "eda.tab.drilldown"):
        at = run_script(monkeypatch, tiny_sqlite_url, PAGE, {"eda_tab": ui_text.text(tab)})
        assert not at.exception and not at.error
        for fig in figures(at):
            layout = fig["layout"]
            titles = [layout.get(axis, {}).get("title", {}).get("text", "") for axis in ("xaxis", "yaxis")]
            titles.append(layout.get("legend", {}).get("title", {}).get("text", ""))
            assert "variable" not in titles and "value" not in titles, (tab, titles)


def test_cancel_rate_under_paid_only_shows_no_change(monkeypatch, tiny_sqlite_url, span):
    at = run_script(monkeypatch, tiny_sqlite_url, PAGE,
                    {"from": (span[1] - timedelta(days=6)).isoformat(), "to": span[1].isoformat()})
    cancel = next(m for m in at.metric if m.label == ui_text.labels(ui_text.MEASURES)[C.CANCEL_RATE])
    assert cancel.value == "–" and not cancel.proto.delta
    assert all(not (m.proto.delta or "").lstrip("+-").strip("0.,%만원") == "" or not m.proto.delta
               for m in at.metric), "no metric shows a change of zero"


def test_out_of_range_dates_in_a_link_are_announced(monkeypatch, tiny_sqlite_url, span):
    early = span[0] - timedelta(days=400)
    at = run_script(monkeypatch, tiny_sqlite_url, PAGE, {"from": early.isoformat(), "to": span[1].isoformat()})
    assert not at.exception and not at.error
    assert at.sidebar.date_input(key="eda_dates").value[0] == span[0]
    assert any(early.isoformat() in w.value and span[0].isoformat() in w.value for w in at.warning)
    inside = run_script(monkeypatch, tiny_sqlite_url, PAGE, {"from": span[0].isoformat(), "to": span[1].isoformat()})
    assert not inside.warning


def test_rank_by_and_the_drilldown_food_come_from_the_link(monkeypatch, tiny_sqlite_url):
    at = run_script(monkeypatch, tiny_sqlite_url, PAGE, {"eda_tab": ui_text.text("eda.tab.top"),
                                                         "eda_top_what": ui_text.text("eda.what.maker"),
                                                         "eda_top_by": ui_text.text("eda.by.revenue")})
    assert not at.exception and not at.error
    assert at.segmented_control(key="eda_top_what").value == "maker"
    assert at.segmented_control(key="eda_top_by").value == "revenue"
    assert figures(at)[0]["layout"]["title"]["text"] == ui_text.text(
        "eda.top_title", what=ui_text.text("eda.what.maker"), by=ui_text.text("eda.by.revenue"))


@pytest.mark.parametrize("tab", ["eda.tab.top", "eda.tab.groups"])
def test_money_in_tables_has_thousands_separators(monkeypatch, tiny_sqlite_url, tab):
    at = run_script(monkeypatch, tiny_sqlite_url, PAGE, {"eda_tab": ui_text.text(tab)})
    assert not at.exception and not at.error
    revenue = ui_text.labels(ui_text.MEASURES)[C.REVENUE]
    tables = [df for df in at.dataframe if revenue in df.value.columns]
    assert tables, "the tab shows a table with revenue"
    for df in tables:
        spec = json.loads(df.proto.columns)[revenue]["type_config"]
        assert spec == {"type": "number", "format": "%,d원"}       # Streamlit's printf format: "," groups thousands
        assert df.value[revenue].max() >= 1000                       # so a separator actually shows
