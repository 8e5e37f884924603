"""Library errors a page shows speak the session's language (issue 16, item 5): a KurrantError carries
an ``err.*`` catalogue key, ``ui_text.error_text`` reads it in Korean (default) or English, and
``str(exc)`` stays the English message the CLI prints."""
from __future__ import annotations

import re
import string
from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import ROOT, new_database_url, run_script, team_person

from kurrant_core import access, compare, config, policies, runs, ui_text
from kurrant_core.auto_order import inputs, settings
from kurrant_core.db import check_ready, init_db, make_engine
from kurrant_core.ensembles import members
from kurrant_core.errors import EnsembleRefused, KurrantError
from kurrant_core.jobs.spec import RetrainSpec
from kurrant_core.rerank import Policy
from kurrant_core.runs.shared_format import RecommendationFormatError
from kurrant_core.schema import RUN_DONE, RUN_FAILED, RUN_STATUS

HANGUL = re.compile("[\uac00-\ud7a3]")
KEY_IN_SOURCE = re.compile(r"""key=["'](err\.[\w.]+)["']""")
SOURCES = sorted((ROOT / "kurrant_core").rglob("*.py"))


def keys_raised_in_source() -> set[str]:
    return {key for path in SOURCES for key in KEY_IN_SOURCE.findall(path.read_text(encoding="utf-8"))}


def test_every_key_a_raise_site_names_is_in_the_catalogue_in_both_languages():
    keys = keys_raised_in_source()
    assert len(keys) >= 60, "the converted raise sites are found"
    missing = sorted(keys - set(ui_text.TEXT))
    assert not missing, missing
    for key in keys:
        ko, en = ui_text.TEXT[key]
        assert HANGUL.search(ko), key
        fields_ko = {f[1] for f in string.Formatter().parse(ko) if f[1]}
        fields_en = {f[1] for f in string.Formatter().parse(en) if f[1]}
        assert fields_ko == fields_en, key


def test_every_error_entry_is_used_by_a_raise_site():
    from kurrant_core.ui_error_text import ERROR_TEXT
    unused = set(ERROR_TEXT) - keys_raised_in_source()
    assert not unused, sorted(unused)


def check_shown(exc: KurrantError, key: str, english: str | None = None) -> None:
    """``exc`` carries ``key``; Korean by default, English with EN, and its own message unchanged."""
    assert exc.key == key
    korean = ui_text.error_text(exc)
    assert HANGUL.search(korean) and "{" not in korean, korean
    assert korean == ui_text.error_text(exc, ui_text.KO)
    shown_en = ui_text.error_text(exc, ui_text.EN)
    assert shown_en != korean and "{" not in shown_en
    if english is not None:
        assert str(exc) == english


def raised(fn, *args, **kwargs) -> KurrantError:
    with pytest.raises(KurrantError) as info:
        fn(*args, **kwargs)
    return info.value


def test_an_error_without_a_key_is_shown_as_its_message():
    exc = KurrantError("Something English.")
    assert exc.key is None and exc.values == {}
    assert ui_text.error_text(exc) == ui_text.error_text(exc, ui_text.EN) == "Something English."
    assert ui_text.error_text(ValueError("plain")) == "plain"


def test_values_fill_the_entry_and_the_english_message_is_kept():
    exc = raised(inputs.parse_service_date, "2026-13-45")
    check_shown(exc, "err.bad_date", "The service date must look like 2026-11-02, not '2026-13-45'.")
    assert "'2026-13-45'" in ui_text.error_text(exc) and "서비스일" in ui_text.error_text(exc)
    assert ui_text.error_text(exc, ui_text.EN) == str(exc)


@pytest.mark.parametrize("call, key", [
    (lambda: inputs.check_dining_type(7), "err.bad_dining"),
    (lambda: Policy(name="x", mmr_lambda=2.0), "err.policy_unit"),
    (lambda: Policy(name="x", k=0), "err.policy_whole"),
    (lambda: Policy(name=""), "err.policy_name"),
    (lambda: Policy(name="x", repeat_window_days=-1), "err.policy_window"),
    (lambda: Policy(name="x", normalisation="nope"), "err.policy_normalisation"),
    (lambda: Policy.from_dict({"name": "x", "colour": 1}), "err.policy_unknown_setting"),
    (lambda: Policy.from_dict({"name": "x", "k": "many"}), "err.policy_setting_type"),
    (lambda: policies.parse_policy("{not json"), "err.policy_json"),
    (lambda: policies.get_policy(None, "nope"), "err.unknown_policy"),
    (lambda: settings.make_setting(5, max_price=-3), "err.settings_price"),
    (lambda: settings.make_setting("x"), "err.settings_numbers"),
    (lambda: settings.make_setting(5, weekdays="9"), "err.settings_weekdays"),
    (lambda: settings.make_setting(5, active_from="2026-11-05", active_to="2026-11-01"), "err.settings_period"),
    (lambda: members.parse_members(""), "err.ens_no_members"),
    (lambda: RetrainSpec(models=()).validate(), "err.job_no_models"),
    (lambda: RetrainSpec(models=("popularity",), k=0).validate(), "err.job_k"),
    (lambda: RetrainSpec(models=("popularity",), params={"content": {}}).validate(), "err.job_stray_params"),
    (lambda: config.check_de_url("not a url"), "err.url_malformed"),
    (lambda: config.check_de_url("postgresql://u:secret@h/db"), "err.url_backend"),
])
def test_user_errors_without_a_database_carry_their_key(call, key):
    check_shown(raised(call), key)


def test_a_bad_settings_row_is_named_in_either_language():
    frame = pd.DataFrame([{"user_id": 5, "max_price": -3}])
    with pytest.raises(settings.SettingsError) as info:
        settings.replace_all_settings(None, frame, by=team_person())
    exc = info.value
    check_shown(exc, "err.settings_row")
    assert str(exc).startswith("Row 1: max_price must be a positive amount")
    assert ui_text.error_text(exc).startswith("1행: max_price 는")          # the row's own error, in Korean
    assert ui_text.error_text(exc, ui_text.EN).startswith("Row 1: max_price must")


def test_subclasses_pass_the_key_through():
    refused = EnsembleRefused("English.", key="err.ens_nested", run_id=4)
    assert isinstance(refused, KurrantError) and "4" in ui_text.error_text(refused)
    check_shown(RecommendationFormatError("one list per user"), "err.format_rule")
    from kurrant_core.jobs.submit import JobRefused
    held = JobRefused("English.", 3, key="err.job_lock", job_id=3, models="ncf")
    assert held.holder_job_id == 3 and "ncf" in ui_text.error_text(held)


def test_a_refused_action_reads_in_the_session_language():
    viewer = access.anonymous()
    with pytest.raises(access.AccessDenied) as info:
        access.require(viewer, access.RETRAIN)
    exc = info.value
    assert str(exc) == access.check(viewer, access.RETRAIN).reason            # the default language
    assert ui_text.error_text(exc, ui_text.EN) == access.check(viewer, access.RETRAIN, ui_text.EN).reason
    assert HANGUL.search(ui_text.error_text(exc)) and not HANGUL.search(ui_text.error_text(exc, ui_text.EN))


def test_a_status_field_reads_as_the_status_label():
    exc = KurrantError("Run 3 is queued; only a done run can be activated.", key="err.run_status",
                       run_id=3, status="queued", wanted_status="done", action="activate")
    assert "대기 중" in ui_text.error_text(exc) and "완료" in ui_text.error_text(exc)
    assert "queued" in ui_text.error_text(exc, ui_text.EN)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_database_errors_carry_their_key(empty_engine):
    check_shown(raised(check_ready, empty_engine), "err.not_preprocessed")
    check_shown(raised(runs.get_run, empty_engine, 999), "err.unknown_run")
    check_shown(raised(compare.user_profile, empty_engine, 999_999), "err.unknown_user")
    check_shown(raised(inputs.load_inputs, empty_engine, date(2026, 11, 2), 2), "err.no_menu_any_group")


def test_a_status_requirement_reads_the_run_in_either_language():
    run = SimpleNamespace(run_id=7, status=RUN_FAILED, status_label=RUN_STATUS[RUN_FAILED])
    exc = raised(runs.require_status, run, RUN_DONE, "published")
    check_shown(exc, "err.run_status", "Run 7 is failed; only a done run can be published.")
    assert "실패" in ui_text.error_text(exc) and "완료" in ui_text.error_text(exc)


# ------------------------------------------------------------------------------ pages
def test_the_auto_order_page_on_an_empty_database_speaks_korean(monkeypatch, tmp_path):
    url = new_database_url("sqlite", tmp_path)
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    at = run_script(monkeypatch, url, str(ROOT / "pages" / "auto_order.py"), timeout=120)
    assert not at.exception
    shown = [e.value for e in at.error]
    assert shown and any(HANGUL.search(m) for m in shown), shown
    assert ui_text.text("err.not_preprocessed") in shown


def test_the_compare_page_with_an_unknown_user_in_the_link_speaks_korean(monkeypatch, tiny_sqlite_url):
    at = run_script(monkeypatch, tiny_sqlite_url, str(ROOT / "pages" / "compare.py"), {"cmp_user_id": "999999"},
                    timeout=120)
    assert not at.exception
    expected = ui_text.text("err.unknown_user", user_id=999999)
    assert expected in [e.value for e in at.error]
