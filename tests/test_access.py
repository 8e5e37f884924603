"""Who may write: roles resolved from configuration, and the one access check for every action × role."""
from __future__ import annotations

import getpass

import pytest

from kurrant_core import access, ui_text
from kurrant_core.errors import KurrantError

PASSWORD = "점심은 커런트"


@pytest.fixture
def secrets_file(tmp_path, monkeypatch):
    path = tmp_path / "secrets.toml"
    monkeypatch.setenv("KURRANT_SECRETS_FILE", str(path))
    return path


# ----------------------------------------------------------------------------------- roles from configuration
def test_roles_come_from_the_secrets_file_list_or_string_and_domains(secrets_file):
    secrets_file.write_text('[kurrant]\nteam_emails = ["Ana@Kurrant.Example", " bo@kurrant.example "]\n'
                            'team_domains = "@data.kurrant.example, ml.kurrant.example"\n')
    assert access.team_emails() == {"ana@kurrant.example", "bo@kurrant.example"}
    assert access.team_domains() == {"data.kurrant.example", "ml.kurrant.example"}
    assert access.role_for_email("ANA@kurrant.example") == access.TEAM           # case does not matter
    assert access.role_for_email("cy@data.kurrant.example") == access.TEAM       # by domain
    assert access.role_for_email("pm@kurrant.example") == access.VIEWER          # listed domain? no
    assert access.role_for_email("ana@kurrant.example.evil") == access.VIEWER    # no suffix tricks
    assert access.role_for_email("x@sub.data.kurrant.example") == access.VIEWER  # exact domain only
    assert access.role_for_email("") == access.VIEWER


def test_the_environment_wins_over_the_secrets_file(secrets_file, monkeypatch):
    secrets_file.write_text('[kurrant]\nteam_emails = ["ana@kurrant.example"]\n')
    monkeypatch.setenv("KURRANT_TEAM_EMAILS", "pm@kurrant.example,")
    assert access.role_for_email("ana@kurrant.example") == access.VIEWER
    assert access.role_for_email("pm@kurrant.example") == access.TEAM


def test_without_configuration_everyone_signed_in_is_a_viewer(secrets_file):
    person = access.signed_in("ana@kurrant.example")
    assert (person.who, person.role, person.via) == ("ana@kurrant.example", access.VIEWER, access.VIA_SIGN_IN)
    assert access.signed_in("  ").role == access.VIEWER


def test_the_team_password_fallback(secrets_file, monkeypatch):
    assert access.with_password(PASSWORD).note == access.NO_PASSWORD          # nothing configured
    secrets_file.write_text(f'[kurrant]\nteam_password_sha256 = "{access.password_hash(PASSWORD).upper()}"\n')
    team = access.with_password(PASSWORD, " Ana ")
    assert team.role == access.TEAM and team.who == "Ana (team password)" and PASSWORD not in team.who
    assert access.with_password(PASSWORD).who == "team password"
    assert access.with_password("bapmeokja").note == access.WRONG_PASSWORD
    assert access.with_password("").note == access.ENTER_PASSWORD


def test_the_cli_and_the_dag_are_team_under_their_own_names(monkeypatch):
    assert access.cli_person() == access.Person(f"cli:{getpass.getuser()}", access.TEAM, access.VIA_CLI)
    monkeypatch.setenv(access.ENV_DAG, "kurrant_de_sync")
    assert access.cli_person() == access.Person("dag:kurrant_de_sync", access.TEAM, access.VIA_DAG)


# ----------------------------------------------------------------------------------- the check
PEOPLE = {
    "signed-in team": (access.Person("ana@kurrant.example", access.TEAM, access.VIA_SIGN_IN), True),
    "team password": (access.Person("team password", access.TEAM, access.VIA_PASSWORD), True),
    "cli": (access.Person("cli:ana", access.TEAM, access.VIA_CLI), True),
    "dag": (access.Person("dag:kurrant_de_sync", access.TEAM, access.VIA_DAG), True),
    "job": (access.job_person("ana@kurrant.example"), True),
    "signed-in viewer": (access.Person("pm@kurrant.example", access.VIEWER, access.VIA_SIGN_IN), False),
    "anonymous": (access.anonymous(), False),
    "no password configured": (access.anonymous(access.NO_PASSWORD), False),
    "wrong password": (access.anonymous(access.WRONG_PASSWORD), False),
    "not signed in": (access.anonymous(access.SIGN_IN_FIRST), False),
}


@pytest.mark.parametrize("action", access.ACTIONS)
@pytest.mark.parametrize("name", list(PEOPLE))
def test_every_action_for_every_role(name, action):
    person, may_write = PEOPLE[name]
    decision = access.check(person, action)
    assert decision.allowed == (action == access.READ or may_write)
    assert decision.reason
    if decision.allowed:
        access.require(person, action)
    else:
        with pytest.raises(access.AccessDenied, match="."):
            access.require(person, action)


def test_a_refusal_says_why_and_whom_to_ask():
    viewer = access.Person("pm@kurrant.example", access.VIEWER, access.VIA_SIGN_IN)
    reason = access.check(viewer, access.PUBLISH, ui_text.EN).reason
    assert "pm@kurrant.example" in reason and "publish" in reason and "team_emails" in reason
    assert access.check(access.anonymous(access.WRONG_PASSWORD), access.RETRAIN).reason == \
        ui_text.text("access.wrong_password")
    unconfigured = access.anonymous(access.NO_PASSWORD)               # a PM's sentence; the setup is for admins
    assert "KURRANT_TEAM_PASSWORD_SHA256" not in access.check(unconfigured, access.CANCEL).reason
    assert "KURRANT_TEAM_PASSWORD_SHA256" in access.admin_detail(unconfigured)
    assert "KURRANT_TEAM_PASSWORD_SHA256" in access.admin_detail(unconfigured, ui_text.EN)
    assert access.admin_detail(access.anonymous(access.WRONG_PASSWORD)) == ""   # a typo is not configuration


def test_the_action_list_is_complete_and_unknown_actions_are_errors():
    assert set(access.WRITE_ACTIONS) == {"retrain", "cancel", "activate", "publish", "apply_policy", "save_policy",
                                         "auto_order_settings", "auto_order_plan", "make_ensemble"}
    for action in access.ACTIONS:                      # every action has a label in both languages
        assert ui_text.text(f"action.{action}", ui_text.KO) and ui_text.text(f"action.{action}", ui_text.EN)
    with pytest.raises(KurrantError, match="Unknown action"):
        access.check(PEOPLE["cli"][0], "drop_database")
