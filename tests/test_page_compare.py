"""AppTest of the comparison page: a user and two runs give two lists, a knob re-ranks them and
moves their metrics, and bad inputs (unknown user, a day without a menu, a user without orders,
no runs at all) give messages, never an exception."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import APP_PATH, sign_in_with_password, tiny_world_with_runs, url_bound_places
from streamlit.testing.v1 import AppTest

from kurrant_core import codes, columns as C, compare, runs, schema as S, ui_text

PAGE = "pages/compare.py"
CATALOG = "catalog"          # the setting's value (its label comes from ui_text)
MENU = "menu"
NO_ORDERS_USER = 99_999


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny SQLite world with a popularity and a content run, plus a user without any order."""
    folder = tmp_path_factory.mktemp("compare_page")
    url, engine, run_ids = tiny_world_with_runs(folder)
    with engine.begin() as conn:
        group, joined = conn.execute(sa.select(sa.func.min(S.mart_user.c[C.GROUP_ID]),
                                               sa.func.max(S.mart_user.c[C.JOINED_ON]))).one()
        conn.execute(S.mart_user.insert().values({
            C.USER_ID: NO_ORDERS_USER, C.GROUP_ID: group, C.USER_STATUS: 1,
            C.JOINED_ON: pd.Timestamp(joined).date() + timedelta(days=1),
            C.IS_MEMBERSHIP: False, C.HAS_SURVEY: False, C.FAVORITE_TAGS: "", C.ALLERGY_TAGS: "",
            C.IS_VEGAN: False, C.N_ITEMS: 0}))
    yield url, engine, run_ids
    engine.dispose()


def open_page(monkeypatch, url: str) -> AppTest:
    monkeypatch.setenv("KURRANT_DE_URL", url)
    at = AppTest.from_file(APP_PATH, default_timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    return at


def lists(at: AppTest) -> list[list[int]]:
    """The food ids each shown list holds, best first, column by column."""
    return [df.value[C.FOOD_ID].tolist() for df in at.dataframe if C.WHY in df.value.columns]


def metric_values(at: AppTest) -> list[tuple[str, str, str]]:
    return [(m.label, m.value, m.proto.delta) for m in at.metric]


def show(at: AppTest, user_id: int, run_ids: list[int], scope: str = CATALOG) -> AppTest:
    at.sidebar.number_input(key="cmp_user_id").set_value(user_id)
    at.sidebar.multiselect(key="cmp_runs").set_value(run_ids)
    at.sidebar.segmented_control(key="cmp_scope").set_value(scope)
    return at.run()


def test_a_user_and_two_runs_give_two_lists_and_a_knob_reranks_them(monkeypatch, world):
    url, engine, run_ids = world
    user = compare.pick_user(engine, compare.LIGHT)
    at = show(open_page(monkeypatch, url), user, run_ids)
    assert not at.exception and not at.error
    before = lists(at)
    assert len(before) == 2 and all(len(foods) == 10 for foods in before)
    for run_id in run_ids:
        expected = runs.read_recommendations(engine, run_id, user, catalog_only=True)
        assert expected[C.FOOD_ID].tolist() in before, "knobs at the default policy: the shipped lists"
    assert len(at.metric) == 2 * len(compare.REPORT_METRICS)
    assert not at.get("plotly_chart"), "the charts wait until their box is opened"
    at.session_state["cmp_charts"] = True
    at.run()
    assert len(at.get("plotly_chart")) == 2, "history timeline and category mix are drawn once opened"
    metrics_before = metric_values(at)

    at.sidebar.slider(key="cmp_mmr_lambda").set_value(0.2).run()
    assert not at.exception and not at.error
    after = lists(at)
    assert after != before and all(len(foods) == 10 for foods in after)
    assert metric_values(at) != metrics_before
    assert any(delta for _, _, delta in metric_values(at)), "metrics show what the knob changed"

    at.sidebar.button(key="cmp_reset").click().run()
    assert lists(at) == before, "reset knobs: back to the shipped lists"


def test_widgets_bound_to_the_url_keep_their_places_whatever_comes_and_goes(monkeypatch, world):
    """A message, a group's users, the menu's day and meal, the replay or the notes above a widget bound
    to the URL never move it: moved, it would stop writing to the link (pages/compare.py says why)."""
    url, engine, run_ids = world
    at = show(open_page(monkeypatch, url), compare.pick_user(engine, compare.HEAVY), run_ids, scope=MENU)
    at.session_state["cmp_charts"] = True                     # the history charts' box, bound too
    seen = [url_bound_places(at.run())]
    at.sidebar.segmented_control(key="cmp_scope").set_value(CATALOG)          # no day, meal or replay
    seen.append(url_bound_places(at.run()))
    at.sidebar.selectbox(key="cmp_group").set_value(at.sidebar.selectbox(key="cmp_group").options[1])
    seen.append(url_bound_places(at.run()))                  # the group's users to browse
    at.sidebar.number_input(key="cmp_user_id").set_value(NO_ORDERS_USER)     # no history: a note
    seen.append(url_bound_places(at.run()))
    at.sidebar.segmented_control(key="cmp_scope").set_value(MENU)
    at.session_state["cmp_pick_message"] = "—"                # a quick pick that found nobody
    seen.append(url_bound_places(at.run()))
    assert not at.exception
    moved = {key: {places[key] for places in seen if key in places} for key in set().union(*seen)}
    assert {"cmp_user_id", "cmp_scope", "cmp_runs", "cmp_max_per_category", "cmp_replay_days",
            "cmp_charts"} <= set(moved)
    assert {key: places for key, places in moved.items() if len(places) > 1} == {}
    assert "cmp_date" not in seen[1] and "cmp_replay_days" not in seen[1]     # the catalog has neither


def test_quick_picks_set_the_user_and_say_when_none_fits(monkeypatch, world):
    url, engine, run_ids = world
    at = open_page(monkeypatch, url)
    at.sidebar.button(key=f"cmp_pick_{compare.LIGHT}").click().run()
    assert at.sidebar.number_input(key="cmp_user_id").value == compare.pick_user(engine, compare.LIGHT)
    at.sidebar.button(key=f"cmp_pick_{compare.COLD}").click().run()
    assert not at.exception
    # cold for the runs: no order before their cutoff; the latest such joiner is the one added above
    assert at.sidebar.number_input(key="cmp_user_id").value == NO_ORDERS_USER


def test_an_unknown_user_gets_a_message_not_a_traceback(monkeypatch, world):
    url, _, run_ids = world
    at = show(open_page(monkeypatch, url), 123_456, run_ids)
    assert not at.exception
    assert at.error and at.error[0].value == ui_text.text("err.unknown_user", user_id=123_456)     # in Korean
    assert not lists(at)


def test_a_day_without_a_menu_gets_a_message(monkeypatch, world):
    url, engine, run_ids = world
    user = compare.pick_user(engine, compare.HEAVY)
    at = open_page(monkeypatch, url)
    days = compare.menu_days(engine)
    saturday = next(d for d in (days[C.SERVICE_DATE].iloc[0] + timedelta(n) for n in range(7)) if d.weekday() == 5)
    at.sidebar.date_input(key="cmp_date").set_value(saturday)
    at = show(at, user, run_ids, scope=MENU)
    assert not at.exception
    shown = at.error[0].value if at.error else ""
    assert saturday.isoformat() in shown and f"{codes.DINING_TYPE[codes.LUNCH]} 메뉴가 없습니다" in shown
    assert not lists(at)


def test_a_menu_day_ranks_the_groups_menu(monkeypatch, world):
    url, engine, run_ids = world
    user = compare.pick_user(engine, compare.HEAVY)
    profile = compare.user_profile(engine, user)
    days = compare.menu_days(engine, profile.group_id)
    day = days[days[C.DINING_TYPE] == codes.LUNCH].iloc[-1]
    at = open_page(monkeypatch, url)
    at.sidebar.date_input(key="cmp_date").set_value(day[C.SERVICE_DATE])
    at = show(at, user, run_ids, scope=MENU)
    assert not at.exception and not at.error
    shown = lists(at)
    assert len(shown) == 2 and all(len(foods) == day[C.N_FOODS] for foods in shown)
    assert len({frozenset(foods) for foods in shown}) == 1, "both rank the same menu"


def test_a_user_without_orders_gets_messages_and_no_traceback(monkeypatch, world):
    url, _, run_ids = world
    at = show(open_page(monkeypatch, url), NO_ORDERS_USER, run_ids)
    assert not at.exception and not at.error
    assert ui_text.text("cmp.no_history", user=NO_ORDERS_USER, before="") in [info.value for info in at.info]
    notes = [w.value for w in at.warning]
    assert len(notes) == 2 and all(f"사용자 {NO_ORDERS_USER}" in n and "학습 데이터에 없습니다" in n for n in notes)


def test_no_runs_yet_says_how_to_train(monkeypatch, tiny_sqlite_url):
    at = open_page(monkeypatch, tiny_sqlite_url)
    assert not at.exception and not at.error
    assert ui_text.text("cmp.no_runs") in [info.value for info in at.info]
    assert any("kurrant_core train --model" in code.value for code in at.code)
    assert not lists(at)


def test_saving_the_knobs_as_a_policy_needs_the_team_password(monkeypatch, world):
    from kurrant_core import access, audit, policies
    url, engine, run_ids = world
    monkeypatch.setenv("KURRANT_TEAM_PASSWORD_SHA256", access.password_hash("lunch"))
    at = show(open_page(monkeypatch, url), compare.pick_user(engine, compare.LIGHT), run_ids)
    at.sidebar.slider(key="cmp_mmr_lambda").set_value(0.6).run()
    assert not at.sidebar.text_input, "the form is drawn only once its box is opened"
    at.session_state["cmp_save_open"] = True
    at.run()
    at.sidebar.text_input(key="cmp_policy_name").input("mmr 0.6").run()
    assert at.sidebar.button(key="cmp_save_policy").disabled        # the access check: no password yet
    assert ui_text.text("access.enter_password") in [c.value for c in at.sidebar.caption]
    with pytest.raises(access.AccessDenied):                         # a forced call: the library refuses
        policies.save_policy(engine, policies.Policy(name="mmr 0.6", mmr_lambda=0.6), by=access.with_password(""))
    assert "mmr 0.6" not in policies.list_policies(engine)[C.POLICY_NAME].tolist()
    assert audit.audit_log(engine, limit=1)["outcome"].tolist() == [audit.DENIED]
    sign_in_with_password(at, "lunch", "ana")
    assert not at.sidebar.button(key="cmp_save_policy").disabled
    at.session_state["auth_password"], at.session_state["auth_name"] = "lunch", "ana"       # still typed
    at.sidebar.button(key="cmp_save_policy").click().run()
    assert not at.exception and at.sidebar.success
    assert audit.audit_log(engine, limit=1)[["who", "action", "outcome"]].values.tolist() == [
        ["ana (team password)", "save_policy", "ok"]]
    saved = policies.get_policy(engine, "mmr 0.6")
    assert saved.mmr_lambda == 0.6 and saved.calibration_lambda == policies.DEFAULT_POLICY.calibration_lambda
