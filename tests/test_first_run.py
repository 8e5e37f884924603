"""The first `make run`: a random team password on the embedded demo, its hash stored, printed once;
never on a MySQL DE, never a fixed default."""
from __future__ import annotations

import re
import tomllib

import pytest
import sqlalchemy as sa

from kurrant_core import access, first_run
from kurrant_core.cli import main
from kurrant_core.errors import KurrantError

BANNER = re.compile(r"Team password for this dashboard: (\S+)")


@pytest.fixture
def secrets_file(tmp_path, monkeypatch):
    path = tmp_path / ".streamlit" / "secrets.toml"
    monkeypatch.setenv("KURRANT_SECRETS_FILE", str(path))
    return path


def stored_hash(path) -> str | None:
    return tomllib.loads(path.read_text()).get("kurrant", {}).get(access.PASSWORD_SETTING)


# ----------------------------------------------------------------------------------- the secrets file
def test_store_setting_creates_the_file(secrets_file):
    first_run.store_setting(secrets_file, "team_password_sha256", "ab12")
    assert stored_hash(secrets_file) == "ab12"
    assert secrets_file.stat().st_mode & 0o077 == 0                # readable by its owner only


def test_store_setting_keeps_every_other_key(secrets_file):
    secrets_file.parent.mkdir(parents=True)
    secrets_file.write_text('# mine\n[server]\nport = 1\n\n[kurrant]\nde_url = "sqlite:///x.sqlite"  # keep\n'
                            'team_password_sha256 = ""\nsync_hash_key = "k"\n\n[auth.google]\nclient_id = "c"\n')
    first_run.store_setting(secrets_file, "team_password_sha256", "ab12")
    text = secrets_file.read_text()
    data = tomllib.loads(text)
    assert data == {"server": {"port": 1}, "kurrant": {"de_url": "sqlite:///x.sqlite", "sync_hash_key": "k",
                                                       "team_password_sha256": "ab12"},
                    "auth": {"google": {"client_id": "c"}}}
    assert text.startswith("# mine\n") and "# keep" in text


def test_store_setting_adds_the_key_or_the_section(secrets_file):
    secrets_file.parent.mkdir(parents=True)
    secrets_file.write_text('[kurrant]\nde_url = "sqlite:///x.sqlite"\n[server]\nport = 1')
    first_run.store_setting(secrets_file, "team_password_sha256", "ab12")
    assert tomllib.loads(secrets_file.read_text())["kurrant"] == {"de_url": "sqlite:///x.sqlite",
                                                                  "team_password_sha256": "ab12"}
    secrets_file.write_text('[server]\nport = 1')
    first_run.store_setting(secrets_file, "team_password_sha256", "cd34")
    assert tomllib.loads(secrets_file.read_text()) == {"server": {"port": 1},
                                                       "kurrant": {"team_password_sha256": "cd34"}}


def test_a_file_it_cannot_extend_safely_is_left_alone(secrets_file):
    secrets_file.parent.mkdir(parents=True)
    for text in ('kurrant.de_url = "x"\n', "[kurrant\nbroken"):
        secrets_file.write_text(text)
        with pytest.raises(KurrantError):
            first_run.store_setting(secrets_file, "team_password_sha256", "ab12")
        assert secrets_file.read_text() == text


# ----------------------------------------------------------------------------------- the password
def test_a_random_password_on_sqlite_only_and_only_once(secrets_file, tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'de.sqlite'}")
    password = first_run.ensure_local_team_password(engine)
    assert password and len(password) >= 16
    assert stored_hash(secrets_file) == access.password_hash(password)
    assert password not in secrets_file.read_text()
    assert access.with_password(password).role == access.TEAM
    assert first_run.ensure_local_team_password(engine) is None           # configured now: never again
    secrets_file.unlink()
    assert first_run.ensure_local_team_password(engine) != password        # random, not a default


def test_never_on_mysql_nor_with_an_identity_provider(secrets_file, tmp_path):
    mysql = sa.create_engine("mysql+pymysql://kurrant@127.0.0.1:3306/kurrant_de")     # never connected
    assert first_run.ensure_local_team_password(mysql) is None
    assert not secrets_file.exists()
    secrets_file.parent.mkdir(parents=True)
    secrets_file.write_text('[auth]\nclient_id = "c"\n')
    assert first_run.ensure_local_team_password(sa.create_engine(f"sqlite:///{tmp_path / 'de.sqlite'}")) is None
    assert "kurrant" not in tomllib.loads(secrets_file.read_text())


def test_ensure_demo_prints_the_password_once_and_stores_its_hash(tiny_url, secrets_file, capsys):
    """What `make run` calls, on the embedded SQLite demo and on a MySQL DE."""
    assert main(["--url", tiny_url, "ensure-demo", "--scale", "tiny", "--no-train"]) == 0
    out = capsys.readouterr().out
    if tiny_url.startswith("sqlite"):
        printed = BANNER.findall(out)
        assert len(printed) == 1 and out.count(printed[0]) == 1
        assert stored_hash(secrets_file) == access.password_hash(printed[0])
        assert main(["--url", tiny_url, "ensure-demo", "--scale", "tiny", "--no-train"]) == 0
        assert not BANNER.search(capsys.readouterr().out)                 # printed once, ever
        assert stored_hash(secrets_file) == access.password_hash(printed[0])
    else:
        assert not BANNER.search(out) and not secrets_file.exists()
