"""The DE schema: idempotent creation on both backends, no PII, indexes for the access paths."""
import sqlalchemy as sa
from conftest import drop_database, new_database_url

from kurrant_core import schema as S
from kurrant_core.cli import main
from kurrant_core.db import init_db

PII_WORDS = ("email", "phone", "address", "password", "token", "birth", "nickname", "real_name")

# The design's table of what the DE mirror keeps (plus updated_date_time watermarks).
DESIGN_COLUMNS = {
    "user__user": {"id", "e_role", "e_user_status", "is_membership", "created_date_time",
                   "recent_login_date_time", "updated_date_time"},
    "food__daily_food": {"id", "e_dining_type", "service_date", "food_id", "group_id", "e_status",
                         "default_price", "updated_date_time"},
    "order__order_item_dailyfood": {"id", "daily_food_id", "order_item_daily_food_group_id", "count",
                                    "price", "discounted_price"},
}


def test_init_db_is_idempotent_and_creates_every_table(empty_engine):
    init_db(empty_engine)                      # second time: no error, nothing changes
    names = set(sa.inspect(empty_engine).get_table_names())
    assert set(S.metadata.tables) <= names


def test_cli_init_db_twice(backend, tmp_path, capsys):
    url = new_database_url(backend, tmp_path)
    try:
        assert main(["--url", url, "init-db"]) == 0
        assert main(["--url", url, "init-db"]) == 0
        assert capsys.readouterr().out.count("DE schema ready") == 2
    finally:
        drop_database(url)


def test_no_pii_columns_in_the_de_schema(empty_engine):
    insp = sa.inspect(empty_engine)
    for table in insp.get_table_names():
        for col in insp.get_columns(table):
            assert not any(w in col["name"].lower() for w in PII_WORDS), (table, col["name"])
    assert {c["name"] for c in insp.get_columns("user__user")} == DESIGN_COLUMNS["user__user"]
    for table, expected in DESIGN_COLUMNS.items():
        assert {c["name"] for c in insp.get_columns(table)} == expected


def test_marts_are_indexed_for_pages_and_training(empty_engine):
    insp = sa.inspect(empty_engine)
    leading = {tuple(ix["column_names"])[0] for ix in insp.get_indexes("mart_order_item")}
    assert {"service_date", "user_id", "food_id", "group_id"} <= leading
    menu = {tuple(ix["column_names"]) for ix in insp.get_indexes("mart_daily_menu")}
    assert ("group_id", "service_date", "dining_type") in menu
    assert any(ix["column_names"][:2] == ["run_id", "user_id"] for ix in insp.get_indexes("rec_user_recommend"))
