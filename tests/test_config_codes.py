"""Configuration resolution, URL masking and the code mappers."""
import pytest

from kurrant_core import codes, config
from kurrant_core.errors import KurrantError


@pytest.fixture
def secrets_file(tmp_path, monkeypatch):
    path = tmp_path / "secrets.toml"
    monkeypatch.setenv(config.ENV_SECRETS, str(path))
    monkeypatch.delenv(config.ENV_DE_URL, raising=False)
    return path


def test_default_is_embedded_sqlite(secrets_file):
    assert config.de_url() == config.DEFAULT_DE_URL
    assert config.de_url().startswith("sqlite:///") and config.de_url().endswith("data/kurrant_de.sqlite")


def test_secrets_file_then_environment_wins(secrets_file, monkeypatch):
    secrets_file.write_text('[kurrant]\nde_url = "mysql+pymysql://u:p@secret-host/de"\n')
    assert config.de_url() == "mysql+pymysql://u:p@secret-host/de"
    monkeypatch.setenv(config.ENV_DE_URL, "sqlite:///elsewhere.sqlite")
    assert config.de_url() == "sqlite:///elsewhere.sqlite"


@pytest.mark.parametrize("bad", ["not a url", "postgresql://u:p@h/db", "mysql+pymysql://u:p@h:notaport/db"])
def test_malformed_or_foreign_url_is_a_clear_error(secrets_file, monkeypatch, bad):
    monkeypatch.setenv(config.ENV_DE_URL, bad)
    with pytest.raises(KurrantError) as err:
        config.de_url()
    assert "p@" not in str(err.value)


def test_malformed_secrets_toml_is_a_clear_error(secrets_file):
    secrets_file.write_text("[kurrant\nde_url = ")
    with pytest.raises(KurrantError, match="not valid TOML"):
        config.de_url()


def test_mask_url_hides_password():
    masked = config.mask_url("mysql+pymysql://kurrant:s3cr3t@db:3306/de")
    assert "s3cr3t" not in masked and "***" in masked and "kurrant@" not in masked


def test_tag_ranges_follow_the_design():
    sizes = {name: len(c) for name, c in codes.TAG_CATEGORY_CODES.items()}
    assert sizes[codes.CUISINE] == 7 and codes.TAG_CATEGORY_CODES[codes.CUISINE][0] == 1
    assert codes.TAG_CATEGORY_CODES[codes.ALLERGY] == list(range(8001, 8023))
    assert codes.TAG_CATEGORY_CODES[codes.SPICINESS] == [10001, 10002, 10003, 10004]
    assert codes.TAG_CATEGORY_CODES[codes.FOOD_TYPE][-1] == 11007
    assert codes.FOOD_TAG[10004] == "불닭볶음면 맵기" and codes.FOOD_TAG[3001] == "소고기"
    assert sum(sizes.values()) == len(codes.FOOD_TAG)      # no two categories share a code


def test_parse_and_label_codes():
    assert codes.parse_codes(" 1,3002, ,10002") == [1, 3002, 10002]
    assert codes.parse_codes(None) == []
    assert codes.join_codes(codes.parse_codes("8001,8010")) == "8001,8010"
    tags = [1, 3002, 8010, 10003]
    assert codes.first_tag(tags, codes.SPICINESS) == 10003
    assert codes.tags_in(tags, codes.ALLERGY) == [8010]
    assert codes.label(codes.DINING_TYPE, 2) == "점심" and codes.label(codes.DINING_TYPE, 9) == "미상"
    assert codes.PAID_STATUSES == {5, 6, 9, 10, 11, 14}
    assert codes.ORDER_STATUS[7] == "취소" and codes.MAKERS_SERVICE_TYPE[4] == "분식"
