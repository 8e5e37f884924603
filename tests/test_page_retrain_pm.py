"""Issue 16, items 5 and 6 on the Retrain & runs page: every word on it comes from the catalogue
(Korean by default, English with the switch), timestamps in the one style, and the policy and metric
wording of the library read in the page's language."""
from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT, build_tiny_world, new_database_url
from streamlit.testing.v1 import AppTest

from kurrant_core import access, columns as C, policies, runs, ui_text
from kurrant_core.db import make_engine
from kurrant_core.jobs.progress import NOT_RUN, WAITING
from kurrant_core.rerank import Policy
from kurrant_core.schema import RUN_STATUS

PAGE = str(ROOT / "pages" / "retrain.py")
HANGUL = re.compile(r"[가-힣]")
KINDS = ("title", "header", "subheader", "caption", "info", "success", "warning", "markdown", "button",
         "selectbox", "multiselect", "checkbox", "number_input", "date_input", "expander", "metric")
IDENTIFIERS = {"RRF k"}
"""Labels that are names, the same in every language."""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> str:
    """A tiny world with two done popularity runs (so the compare-two-runs section shows)."""
    url = new_database_url("sqlite", tmp_path_factory.mktemp("retrain_pm"))
    build_tiny_world(url)
    engine = make_engine(url)
    for _ in range(2):
        runs.train_and_write(engine, "popularity", {}, k=3, triggered_by="test")
    engine.dispose()
    return url


def open_page(world: str, monkeypatch, tmp_path, lang: str) -> AppTest:
    monkeypatch.setenv("KURRANT_DE_URL", world)
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("KURRANT_TEAM_PASSWORD_SHA256", raising=False)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["lang"] = lang                    # the sidebar's language switch (app.py)
    at.run()
    at.selectbox(key="rt_act_model").set_value("popularity").run()
    assert not at.exception and not at.error
    return at


def words(at: AppTest) -> list[tuple[str, str, str]]:
    """(kind, widget key, text) of every label, heading, message and help on the page; hyper-parameter
    inputs are the models' own parameter names and are left out."""
    found = []
    for kind in KINDS:
        for element in at.get(kind):
            key = getattr(element, "key", None) or ""
            if kind == "number_input" and key.startswith("rt_") and key.count("_") >= 2 and key not in (
                    "rt_ens_k",):
                continue
            for text in (getattr(element, "label", None), getattr(element, "value", None) if kind in (
                    "title", "header", "subheader", "caption", "info", "success", "warning", "markdown") else None,
                         getattr(element, "help", None)):
                if isinstance(text, str) and text:
                    found.append((kind, key, text))
    return found


def test_in_korean_every_word_on_the_page_is_korean(world, monkeypatch, tmp_path):
    at = open_page(world, monkeypatch, tmp_path, ui_text.KO)
    shown = words(at)
    assert len(shown) > 40
    english = [(kind, key, text) for kind, key, text in shown if not HANGUL.search(text) and text not in IDENTIFIERS]
    assert not english, english
    history = at.dataframe[0]
    labels = {name: spec.get("label") for name, spec in json.loads(history.proto.columns).items()}
    for name in (C.RUN_ID, C.STARTED_AT, C.STATUS_LABEL, C.IS_ACTIVE, C.DURATION_S):
        assert labels[name] == ui_text.text(f"rt.col.{name}")
    frame = history.value
    assert set(frame[C.STATUS_LABEL]) == {ui_text.text("rt.status.done")}
    assert all(stamp == ui_text.timestamp(stamp) for stamp in frame[C.STARTED_AT])     # YYYY-MM-DD HH:MM
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", stamp) for stamp in frame[C.STARTED_AT])
    assert set(frame[C.JOB_ID]) == {"–"}                               # runs made outside a job: no "None"
    compared = at.dataframe[1].value                                   # compare two popularity runs
    assert list(compared.columns[1:3]) == [runs.run_label(r) for r in (1, 2)] and not compared.isna().any().any()
    shipped = ui_text.text("rt.shipped_policy", name=ui_text.text("rt.policy_name.varied"),  # popularity's own
                           steps=ui_text.policy_steps(policies.VARIED_POLICY))
    assert shipped in [c.value for c in at.caption]


def test_the_english_switch_turns_every_word_english(world, monkeypatch, tmp_path):
    at = open_page(world, monkeypatch, tmp_path, ui_text.EN)
    assert at.title[0].value == ui_text.text("rt.title", ui_text.EN)
    korean = [(kind, key, text) for kind, key, text in words(at) if HANGUL.search(text)]
    assert not korean, korean
    assert at.button(key="rt_submit").label == ui_text.text("rt.submit", ui_text.EN)
    assert at.selectbox(key="rt_ens_rule").options == [ui_text.text(f"rt.rule.{r}", ui_text.EN)
                                                       for r in ("rrf", "blend", "stacked")]
    assert set(at.dataframe[0].value[C.STATUS_LABEL]) == {ui_text.text("rt.status.done", ui_text.EN)}


def test_the_no_password_message_is_for_a_pm_and_the_setup_is_folded_for_admins():
    unconfigured = access.anonymous(access.NO_PASSWORD)
    for lang in ui_text.LANGUAGES:
        reason = access.check(unconfigured, access.RETRAIN, lang).reason
        detail = access.admin_detail(unconfigured, lang)
        assert access.ENV_PASSWORD not in reason and "sha256" not in reason.lower()
        assert access.ENV_PASSWORD in detail and access.TEAM_EMAILS in detail
    assert access.admin_detail(access.anonymous(access.ENTER_PASSWORD)) == ""


# ----------------------------------------------------------------------------------- catalogue rules
def test_every_status_and_history_column_has_words_in_both_languages():
    statuses = [*RUN_STATUS.values(), WAITING, NOT_RUN]
    columns = [c for c in runs.HISTORY_COLUMNS]
    for lang in ui_text.LANGUAGES:
        assert all(ui_text.text(f"rt.status.{s}", lang) for s in statuses)
        assert all(ui_text.text(f"rt.col.{c}", lang) for c in columns)
    assert len({ui_text.text(f"rt.status.{s}") for s in statuses}) == len(statuses)


@pytest.mark.parametrize("policy", [
    Policy(name="off"), policies.DEFAULT_POLICY, policies.VARIED_POLICY,
    Policy(name="all", mmr_lambda=0.5, dpp_theta=0.9, calibration_lambda=0.3, max_per_category=2, max_per_maker=3,
           repeat_window_days=1, popularity_penalty=0.2, explore_temperature=0.1, spread_max_share=0.5)],
    ids=["off", "default", "varied", "every step"])
def test_policy_steps_read_like_the_cli_in_english_and_are_korean_by_default(policy):
    assert ui_text.policy_steps(policy, ui_text.EN) == policy.steps_text()
    korean = ui_text.policy_steps(policy)
    assert HANGUL.search(korean) or korean.startswith(("MMR", "DPP"))
    assert korean.count(" · ") == policy.steps_text().count(" · ")        # one reading per step


def test_metric_keys_are_read_word_by_word():
    assert ui_text.metric_key_label("daily_menu hr@1") == \
        f"{ui_text.text('rt.section.daily_menu')} · {ui_text.metric_name('hr@1')}"
    assert ui_text.metric_key_label("with_policy catalog ndcg@10", ui_text.EN) == "with policy · catalog · NDCG@10"
    assert ui_text.metric_key_label("catalog made_up") == f"{ui_text.text('rt.section.catalog')} · made_up"
    assert ui_text.metric_key_label("daily_menu random_mrr", ui_text.EN) == \
        "daily menu · random baseline Mean reciprocal rank"
