"""AppTest of the comparison page for a PM (issue 16): the setting survives a trip to the catalog,
a link reproduces the page, the AI pick of a past day is checked against the real order, the replay
strip's hit rate is the library's, identical lists are called out, and the page speaks Korean."""
from __future__ import annotations

import pandas as pd
import pytest
from conftest import APP_PATH, tiny_world_with_runs
from streamlit.testing.v1 import AppTest

from kurrant_core import codes, columns as C, compare, static_table, ui_text

PAGE = "pages/compare.py"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny SQLite world with a popularity and a content run."""
    folder = tmp_path_factory.mktemp("compare_pm")
    url, engine, run_ids = tiny_world_with_runs(folder)
    yield url, engine, run_ids, folder
    engine.dispose()


def open_page(monkeypatch, url: str, folder, query: dict | None = None) -> AppTest:
    monkeypatch.setenv("KURRANT_DE_URL", url)
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(folder / "artifacts"))
    at = AppTest.from_file(APP_PATH, default_timeout=120)
    at.query_params.update(query or {})
    at.run()
    at.switch_page(PAGE).run()
    return at


def lists(at: AppTest) -> list[list[int]]:
    return [df.value[C.FOOD_ID].tolist() for df in at.dataframe if C.WHY in df.value.columns]


def past_lunch(engine, user: int):
    """A past lunch day of the user's group on which the user ordered lunch, not the page's default."""
    history = compare.user_history(engine, user)
    days = compare.replay_days(history, codes.LUNCH, pd.Timestamp.max.date(), 1000)
    return days[len(days) // 2]


def test_the_setting_survives_a_trip_to_the_catalog(monkeypatch, world):
    """Defect 1: a chosen date and dining type came back as the defaults after "The catalog"."""
    url, engine, run_ids, folder = world
    user = compare.pick_user(engine, compare.HEAVY)
    group = compare.user_profile(engine, user).group_id
    days = compare.menu_days(engine, group)
    chosen = days[days[C.DINING_TYPE] != codes.LUNCH]
    chosen = (chosen if not chosen.empty else days).iloc[len(days) // 3 if chosen.empty else 0]
    day, meal = chosen[C.SERVICE_DATE], int(chosen[C.DINING_TYPE])
    at = open_page(monkeypatch, url, folder)
    at.sidebar.number_input(key="cmp_user_id").set_value(user)
    at.sidebar.date_input(key="cmp_date").set_value(day)
    at.sidebar.selectbox(key="cmp_dining").set_value(meal).run()
    assert not at.exception and not at.error

    at.sidebar.segmented_control(key="cmp_scope").set_value("catalog").run()
    at.sidebar.slider(key="cmp_mmr_lambda").set_value(0.5).run()
    at.sidebar.segmented_control(key="cmp_scope").set_value("menu").run()
    assert not at.exception and not at.error
    assert at.sidebar.date_input(key="cmp_date").value == day
    assert at.sidebar.selectbox(key="cmp_dining").value == meal
    caption = next(c.value for c in at.caption if c.value.startswith(ui_text.text("cmp.ranking", setting="")[:5]))
    assert f"{day.isoformat()}" in caption and f"{codes.DINING_TYPE[meal]} 메뉴" in caption


def test_a_shared_link_reproduces_the_lists(monkeypatch, world):
    url, engine, run_ids, folder = world
    user = compare.pick_user(engine, compare.LIGHT)
    day = past_lunch(engine, compare.pick_user(engine, compare.HEAVY))
    at = open_page(monkeypatch, url, folder)
    at.sidebar.number_input(key="cmp_user_id").set_value(user)
    at.sidebar.date_input(key="cmp_date").set_value(day)
    at.sidebar.multiselect(key="cmp_runs").set_value(list(reversed(run_ids)))
    at.sidebar.slider(key="cmp_k").set_value(4)
    at.sidebar.slider(key="cmp_mmr_lambda").set_value(0.3).run()
    assert not at.exception and not at.error
    shown = lists(at)
    assert len(shown) == 2 and all(len(foods) == 4 for foods in shown)

    link = {"cmp_user_id": str(user), "cmp_date": day.isoformat(), "cmp_dining": codes.DINING_TYPE[codes.LUNCH],
            "cmp_runs": [str(r) for r in reversed(run_ids)], "cmp_k": "4", "cmp_mmr_lambda": "0.3"}
    opened = open_page(monkeypatch, url, folder, query=link)
    assert not opened.exception and not opened.error
    assert opened.sidebar.number_input(key="cmp_user_id").value == user
    assert opened.sidebar.multiselect(key="cmp_runs").value == list(reversed(run_ids))
    assert lists(opened) == shown


def test_a_past_day_checks_the_ai_pick_and_replays_the_last_days(monkeypatch, world):
    url, engine, run_ids, folder = world
    user = compare.pick_user(engine, compare.HEAVY)
    day = past_lunch(engine, user)
    history = compare.user_history(engine, user)
    ordered = compare.ordered_foods(history, day, codes.LUNCH)
    at = open_page(monkeypatch, url, folder)
    at.sidebar.number_input(key="cmp_user_id").set_value(user)
    at.sidebar.date_input(key="cmp_date").set_value(day).run()
    assert not at.exception and not at.error
    # the AI pick is each list's #1, and each is judged hit or miss against the real order
    miss = ui_text.text("cmp.miss", foods="")[:4]
    verdicts = [s.value for s in at.success] + [w.value for w in at.warning if w.value.startswith(miss)]
    assert len(verdicts) == 2
    for foods, frame in zip(lists(at), [df.value for df in at.dataframe if C.WHY in df.value.columns]):
        hit = foods[0] in ordered
        assert frame[C.ORDERED].tolist() == [f in ordered for f in foods]
        assert (ui_text.text("cmp.hit") in verdicts) if hit else any(v.startswith(miss) for v in verdicts)

    # the replay strip: the last 5 lunch days up to that day, hit rates as the library computes them
    days = compare.replay_days(history, codes.LUNCH, day, compare.DEFAULT_REPLAY_DAYS)
    header, *rows = next(table for table in (static_table.from_markdown(md.value) for md in at.markdown)
                         if table and ui_text.text("col.actual") in table[0])      # a static table
    strip = dict(zip(header, zip(*rows)))
    assert list(strip[ui_text.text("col.day")]) == [day.isoformat() for day in days]
    expected = {label: compare.hit_rate([None if cell.endswith("–") else 1 if cell.startswith("✅") else 0
                                         for cell in strip[label]], [{1}] * len(days))
                for label in strip if label not in (ui_text.text("col.day"), ui_text.text("col.actual"))}
    rates = {m.label: m.value for m in at.metric if m.label.endswith(ui_text.text("replay.hit_rate", label="")[-3:])}
    assert len(rates) == 2 and len(expected) == 2
    for label, rate in expected.items():
        assert rates[ui_text.text("replay.hit_rate", label=label)] == f"{rate:.0%}"


def test_identical_lists_are_called_out_and_the_page_speaks_korean(monkeypatch, world):
    url, engine, run_ids, folder = world
    user = compare.pick_user(engine, compare.HEAVY)
    at = open_page(monkeypatch, url, folder)
    at.sidebar.number_input(key="cmp_user_id").set_value(user).run()
    assert not at.exception and not at.error
    shown, k = lists(at), at.sidebar.slider(key="cmp_k").value
    assert len({frozenset(foods) for foods in shown}) == 1 and len(shown[0]) < k, "the tiny world's menus are short"
    because = ui_text.text("cmp.short_menu", n=len(shown[0]), k=k)
    assert any(because in i.value for i in at.info), "the notice says why the lists are the same"
    list_metrics = [m for m in at.metric if m.label == ui_text.text("metric.coverage")]
    assert len(list_metrics) == 1, "equal figures are shown once, not as a finding per model"
    assert at.title[0].value == ui_text.text("cmp.title")
    labels = [m.label for m in at.metric]
    assert ui_text.text("metric.coverage") in labels
    assert "None" not in " ".join(w.value for w in at.warning)
    at.session_state["lang"] = ui_text.EN           # the sidebar's language switch (app.py)
    at.run()
    assert at.title[0].value == ui_text.text("cmp.title", ui_text.EN)
