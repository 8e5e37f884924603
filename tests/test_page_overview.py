"""AppTest of the overview page on a filled, an empty and an unreachable DE database."""
import sqlalchemy as sa
from conftest import APP_PATH as APP, run_script
from streamlit.testing.v1 import AppTest

from kurrant_core import config, schema as S, ui_text
from kurrant_core.db import make_engine


def run_app(monkeypatch, url: str) -> AppTest:
    return run_script(monkeypatch, url, APP)


def test_overview_shows_counts_of_the_tiny_world(monkeypatch, tiny_url):
    at = run_app(monkeypatch, tiny_url)
    assert not at.exception
    engine = make_engine(tiny_url)
    with engine.connect() as conn:
        users = conn.execute(sa.select(sa.func.count()).select_from(S.user_user)).scalar_one()
        items = conn.execute(sa.select(sa.func.count()).select_from(S.mart_order_item)).scalar_one()
    engine.dispose()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[ui_text.text("ov.users")] == f"{users:,}"
    assert metrics[ui_text.text("ov.order_items")] == f"{items:,}"
    assert not at.error


def test_overview_on_an_empty_database_says_what_to_run(monkeypatch, empty_engine):
    at = run_app(monkeypatch, empty_engine.url.render_as_string(hide_password=False))
    assert not at.exception
    assert at.error and "demo-data" in at.error[0].value


def test_overview_on_an_unreachable_database_is_a_message_not_a_traceback(monkeypatch):
    url = "mysql+pymysql://root:topsecret@127.0.0.1:1/kurrant_de"
    at = run_app(monkeypatch, url)
    assert not at.exception
    assert at.error and at.error[0].value == ui_text.text("err.unreachable", url=config.mask_url(make_engine(url).url))
    assert "topsecret" not in at.error[0].value


def test_overview_with_a_malformed_url(monkeypatch):
    at = run_app(monkeypatch, "this is not a url")
    assert not at.exception
    assert at.error and "URL 형식이 잘못" in at.error[0].value          # err.url_malformed, in Korean
