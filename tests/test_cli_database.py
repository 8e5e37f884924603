"""`ensure-demo` (what `make run` calls) and `status` through the CLI."""
import sqlalchemy as sa
from conftest import drop_database, new_database_url

import kurrant_core.jobs as jobs
from kurrant_core import schema as S
from kurrant_core.cli import main
from kurrant_core.db import check_ready, make_engine


def _count(url, table) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return n


def test_ensure_demo_fills_once_and_then_leaves_the_data_alone(backend, tmp_path, capsys, monkeypatch):
    url = new_database_url(backend, tmp_path)
    submitted = []
    monkeypatch.setattr(jobs, "submit", lambda engine, spec, by: submitted.append(spec) or 7)
    try:
        assert main(["--url", url, "ensure-demo", "--scale", "tiny"]) == 0
        items = _count(url, S.mart_order_item)
        assert items > 100 and _count(url, S.mart_user) > 10
        assert "Training every model in the background (job 7)" in capsys.readouterr().out
        assert submitted and set(submitted[0].models) == {"popularity", "content", "als", "hybrid", "ncf",
                                                         "sequential", "history", "tifu"}
        # second start: data kept, and no second first-retrain once a job exists
        with make_engine(url).begin() as conn:
            conn.execute(S.rec_job.insert().values(status=S.RUN_DONE, progress=1.0, models="popularity",
                                                   params="{}", created_at=sa.func.now()))
        assert main(["--url", url, "ensure-demo", "--scale", "tiny"]) == 0
        assert "already holds preprocessed orders" in capsys.readouterr().out
        assert _count(url, S.mart_order_item) == items and len(submitted) == 1
        assert main(["--url", url, "status"]) == 0
        assert "mart_order_item" in capsys.readouterr().out
        # marts stamped by another version: the next start rebuilds them, keeping the raw data
        with make_engine(url).begin() as conn:
            conn.execute(S.de_meta.update().where(S.de_meta.c.key == S.META_MART_LAYOUT).values(value="older"))
        assert main(["--url", url, "ensure-demo", "--scale", "tiny"]) == 0
        assert "built by another version; rebuilding" in capsys.readouterr().out
        check_ready(make_engine(url))
        assert _count(url, S.mart_order_item) == items
    finally:
        drop_database(url)


def test_cli_reports_an_unreachable_database_without_a_traceback(capsys):
    assert main(["--url", "mysql+pymysql://root:pw@127.0.0.1:1/nope", "status"]) == 2
    err = capsys.readouterr().err
    assert "Cannot reach the DE database" in err and "pw@" not in err and "Traceback" not in err
