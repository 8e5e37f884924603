"""Issue 18: nothing mixed, nothing empty, no traceback, no silent empty database, no orphaned run.

Marts after ``preprocess`` equal a full rebuild whatever happened to the raw mirror (rows deleted,
a new world, watermarks moved back); readers see the old marts or the new ones during a rebuild;
every user error of the CLI is one line on stderr and exit code 2; only the commands that create a
DE database may create a SQLite file; runs survive a moved artifact root.
"""
from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import APP_PATH, build_tiny_world, run_script
from sqlalchemy import event

from kurrant_core import codes, columns as C, compare, config, preprocess as P, runs, schema as S
from kurrant_core.cli import main
from kurrant_core.db import check_ready, make_engine, read_meta
from kurrant_core.demo import generate_demo_world


# ------------------------------------------------------------------------------------ helpers
def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _marts_by_key(engine) -> dict[str, pd.DataFrame]:
    out = {}
    with engine.connect() as conn:
        for t in S.MART_TABLES:
            frame = pd.read_sql(sa.select(t), conn)
            out[t.name] = frame.sort_values(t.primary_key.columns.keys()).reset_index(drop=True)
    return out


def assert_marts_equal_a_full_rebuild(engine) -> None:
    """The marts as they are now equal what ``preprocess --full`` builds from the same raw mirror."""
    now = _marts_by_key(engine)
    P.preprocess(engine, incremental=False)
    for name, full in _marts_by_key(engine).items():
        pd.testing.assert_frame_equal(now[name], full, obj=name, check_dtype=False)


@pytest.fixture
def tiny(writable_tiny_url):
    engine = make_engine(writable_tiny_url)
    yield engine
    engine.dispose()


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


# ------------------------------------------------- defect 1: marts mixing two worlds
def _delete_order_items(conn, n: int) -> list[int]:
    """Delete the raw rows of ``n`` order items (item, its menu line, its reviews); their ids."""
    ids = [r[0] for r in conn.execute(sa.select(S.order_item_dailyfood.c.id)
                                      .order_by(S.order_item_dailyfood.c.id).limit(n))]
    conn.execute(S.review.delete().where(S.review.c.order_item_id.in_(ids)))
    conn.execute(S.order_item_dailyfood.delete().where(S.order_item_dailyfood.c.id.in_(ids)))
    conn.execute(S.order_item.delete().where(S.order_item.c.id.in_(ids)))
    return ids


def test_deleted_raw_order_items_leave_the_marts(tiny):
    """The colleague's case: 954 raw items -> 904, and a default preprocess must drop the 50."""
    with tiny.begin() as conn:
        ids = _delete_order_items(conn, 50)
    raw = _count(tiny, S.order_item_dailyfood)
    P.preprocess(tiny)
    assert _count(tiny, S.mart_order_item) == raw
    with tiny.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(S.mart_item_slim)
                            .where(S.mart_item_slim.c[C.ORDER_ITEM_ID].in_(ids))).scalar_one()
    assert left == 0
    assert_marts_equal_a_full_rebuild(tiny)


def test_a_deleted_review_leaves_the_marts(tiny):
    with tiny.connect() as conn:
        item = conn.execute(sa.select(S.review.c.order_item_id).where(S.review.c.is_delete == sa.false())
                            .order_by(S.review.c.id).limit(1)).scalar_one()
    with tiny.begin() as conn:
        conn.execute(S.review.delete().where(S.review.c.order_item_id == item))
    P.preprocess(tiny)
    with tiny.connect() as conn:
        kept = conn.execute(sa.select(S.mart_order_item.c[C.SATISFACTION])
                            .where(S.mart_order_item.c[C.ORDER_ITEM_ID] == item)).scalar_one()
    assert kept is None
    assert_marts_equal_a_full_rebuild(tiny)


def test_a_replaced_raw_mirror_gives_the_marts_of_a_fresh_full_build(tiny, backend, tmp_path):
    """A new world over the old one (`demo-data` again): no row of the old world may stay."""
    generate_demo_world(tiny, scale="tiny", seed=7)
    P.preprocess(tiny)
    assert read_meta(tiny, P.META_MODE) == P.FULL
    assert _count(tiny, S.mart_order_item) == _count(tiny, S.order_item_dailyfood)
    got = _marts_by_key(tiny)
    # the same world built into a brand-new database
    from conftest import drop_database, new_database_url
    url = new_database_url(backend, tmp_path)
    fresh = make_engine(url)
    try:
        from kurrant_core.db import init_db
        init_db(fresh)
        generate_demo_world(fresh, scale="tiny", seed=7)
        P.preprocess(fresh)
        for name, expected in _marts_by_key(fresh).items():
            pd.testing.assert_frame_equal(got[name], expected, obj=name, check_dtype=False)
    finally:
        fresh.dispose()
        drop_database(url)


def test_a_watermark_that_moved_back_forces_a_rebuild(tiny):
    """The latest raw order items rewritten with an older updated time (a restored backup)."""
    oi = S.order_item
    latest = sa.select(sa.func.max(oi.c.updated_date_time)).scalar_subquery()
    with tiny.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.select(oi.c.id).where(oi.c.updated_date_time == latest))]
        older = pd.Timestamp(conn.execute(sa.select(latest)).scalar_one()).to_pydatetime() - timedelta(days=40)
    assert ids
    with tiny.begin() as conn:
        conn.execute(oi.update().where(oi.c.id.in_(ids))
                     .values(e_order_status=codes.ORDER_CANCELLED, updated_date_time=older))
    P.preprocess(tiny)
    assert read_meta(tiny, P.META_MODE) == P.FULL
    assert_marts_equal_a_full_rebuild(tiny)


def test_a_small_change_is_still_patched(tiny):
    """The incremental path stays for what it is for: a few changed items after a sync."""
    oi = S.order_item
    with tiny.connect() as conn:
        latest = conn.execute(sa.select(sa.func.max(oi.c.updated_date_time))).scalar_one()
        ids = [r[0] for r in conn.execute(sa.select(oi.c.id).order_by(oi.c.id).limit(3))]
    later = pd.Timestamp(latest).to_pydatetime() + timedelta(hours=1)
    with tiny.begin() as conn:
        conn.execute(oi.update().where(oi.c.id.in_(ids))
                     .values(e_order_status=codes.ORDER_CANCELLED, updated_date_time=later))
    P.preprocess(tiny)
    assert read_meta(tiny, P.META_MODE) == P.INCREMENTAL
    assert_marts_equal_a_full_rebuild(tiny)


def test_a_food_edit_reaches_its_order_items(tiny):
    """A food moved to another maker: the patch must carry the change into the items' maker."""
    f = S.food
    with tiny.connect() as conn:
        latest = conn.execute(sa.select(sa.func.max(f.c.updated_date_time))).scalar_one()
        food_id, maker = conn.execute(
            sa.select(S.mart_order_item.c[C.FOOD_ID], S.mart_order_item.c[C.MAKERS_ID])
            .group_by(S.mart_order_item.c[C.FOOD_ID], S.mart_order_item.c[C.MAKERS_ID])
            .order_by(sa.func.count()).limit(1)).one()
        other = conn.execute(sa.select(S.makers.c.id).where(S.makers.c.id != maker).limit(1)).scalar_one()
    later = pd.Timestamp(latest).to_pydatetime() + timedelta(hours=1)
    with tiny.begin() as conn:
        conn.execute(f.update().where(f.c.id == food_id).values(makers_id=other, updated_date_time=later))
    P.preprocess(tiny)
    with tiny.connect() as conn:
        makers = {r[0] for r in conn.execute(sa.select(S.mart_order_item.c[C.MAKERS_ID])
                                             .where(S.mart_order_item.c[C.FOOD_ID] == food_id))}
    assert makers == {other}
    assert_marts_equal_a_full_rebuild(tiny)


def test_demo_data_then_preprocess_through_the_cli_shows_only_the_new_world(writable_tiny_url, capsys):
    assert _cli(capsys, "--url", writable_tiny_url, "demo-data", "--scale", "tiny", "--seed", "3")[0] == 0
    assert _cli(capsys, "--url", writable_tiny_url, "preprocess")[0] == 0
    engine = make_engine(writable_tiny_url)
    assert _count(engine, S.mart_order_item) == _count(engine, S.order_item_dailyfood)
    assert _count(engine, S.mart_item_slim) == _count(engine, S.order_item_dailyfood)
    engine.dispose()


# ------------------------------------------------- defect 2: empty page during a full rebuild
def test_readers_see_the_old_marts_or_the_new_ones_during_a_full_rebuild(writable_tiny_url):
    """Before every statement of ``preprocess --full``, a second connection reads like a page: it must
    find the marts ready, each holding the old rows or the new ones, never none."""
    writer, reader = make_engine(writable_tiny_url), make_engine(writable_tiny_url)
    with writer.begin() as conn:                 # old and new marts differ: 40 items fewer
        _delete_order_items(conn, 40)
    before = {t.name: _count(reader, t) for t in S.MART_TABLES}
    seen: list[dict[str, int]] = []
    problems: list[str] = []

    def read_like_a_page(conn, cursor, statement, parameters, context, executemany):
        try:
            check_ready(reader)
            with reader.connect() as rconn:
                seen.append({t.name: rconn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                             for t in S.MART_TABLES})
        except Exception as exc:            # noqa: BLE001 - any failure is what the test reports
            problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]} (before {statement[:60]!r})")

    event.listen(writer, "before_cursor_execute", read_like_a_page)
    try:
        P.preprocess(writer, incremental=False)
    finally:
        event.remove(writer, "before_cursor_execute", read_like_a_page)
    after = {t.name: _count(reader, t) for t in S.MART_TABLES}
    assert before[S.mart_order_item.name] != after[S.mart_order_item.name]
    assert not problems, problems[:3]
    assert len(seen) > 20
    for counts in seen:
        for name, n in counts.items():
            assert n in (before[name], after[name]), (name, n, before[name], after[name])
    writer.dispose()
    reader.dispose()


# ------------------------------------------------- defect 3: CLI tracebacks
@pytest.mark.parametrize("url, needle", [
    ("postgresql://kurrant:secret@db:5432/kurrant_de", "SQLite or MySQL"),
    ("not a url", "malformed"),
    ("mysql+nosuchdriver://root@127.0.0.1/x", "driver"),
], ids=["postgresql", "not-a-url", "unknown-driver"])
def test_a_bad_url_on_the_command_line_is_one_line(capsys, url, needle):
    code, _, err = _cli(capsys, "--url", url, "status")
    assert_one_line_error(code, err, needle)
    assert "secret" not in err


def test_a_bad_url_in_the_environment_is_one_line_too(capsys, monkeypatch):
    monkeypatch.setenv(config.ENV_DE_URL, "postgresql://kurrant@db/kurrant_de")
    code, _, err = _cli(capsys, "status")
    assert_one_line_error(code, err, "SQLite or MySQL")


@pytest.fixture
def done_run(writable_tiny_url, tmp_path, monkeypatch) -> tuple[str, int]:
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(tmp_path / "artifacts"))
    engine = make_engine(writable_tiny_url)
    run_id = runs.train_and_write(engine, "popularity", k=3, dates=[])
    engine.dispose()
    return writable_tiny_url, run_id


def test_export_into_a_path_that_cannot_be_made_is_one_line(done_run, capsys, tmp_path):
    url, run_id = done_run
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("not a folder")
    for out in (a_file, a_file / "below", "/proc/kurrant_export"):
        code, _, err = _cli(capsys, "--url", url, "export", "--run", run_id, "--out", out)
        assert_one_line_error(code, err, str(out))
    assert a_file.read_text() == "not a folder"
    code, out, err = _cli(capsys, "--url", url, "export", "--run", run_id, "--out", tmp_path / "fine" / "deep")
    assert code == 0, err


# ------------------------------------------------- defect 4: silent empty databases
@pytest.mark.parametrize("where", ["file", "folder"])
@pytest.mark.parametrize("command", [["status"], ["preprocess"], ["train", "--model", "popularity"],
                                     ["runs"], ["sync-status"]], ids=lambda c: c[0])
def test_a_missing_sqlite_file_is_refused_not_created(capsys, tmp_path, where, command):
    path = tmp_path / "typo.sqlite" if where == "file" else tmp_path / "no_such_folder" / "de.sqlite"
    code, _, err = _cli(capsys, "--url", f"sqlite:///{path}", *command)
    assert_one_line_error(code, err, str(path), "init-db")
    assert not path.exists() and path.parent.exists() == (where == "file")


def test_the_dashboard_refuses_a_missing_sqlite_file(monkeypatch, tmp_path):
    path = tmp_path / "missing" / "kurrant_de.sqlite"
    at = run_script(monkeypatch, f"sqlite:///{path}", APP_PATH)
    assert not at.exception
    assert at.error and str(path) in at.error[0].value
    assert not path.parent.exists()


def test_the_creating_commands_may_create_the_file(capsys, tmp_path):
    path = tmp_path / "new" / "de.sqlite"
    code, out, err = _cli(capsys, "--url", f"sqlite:///{path}", "init-db")
    assert code == 0, err
    assert path.exists()
    code, out, err = _cli(capsys, "--url", f"sqlite:///{path}", "status")
    assert code == 0, err
    other = tmp_path / "other" / "de.sqlite"
    code, out, err = _cli(capsys, "--url", f"sqlite:///{other}", "demo-data", "--scale", "tiny")
    assert code == 0, err
    assert other.exists()


# ------------------------------------------------- defect 5: unchecked arguments
def test_train_refuses_a_cutoff_after_the_last_order(writable_tiny_url, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(tmp_path / "artifacts"))
    engine = make_engine(writable_tiny_url)
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(S.mart_order_item.c[C.SERVICE_DATE]))).scalar_one()
    last = pd.Timestamp(last).date()
    late = last + timedelta(days=30)
    for command in ("train", "retrain"):
        argv = ["--url", writable_tiny_url, command, "--cutoff", late.isoformat()]
        argv += ["--model", "popularity"] if command == "train" else ["--models", "popularity"]
        code, _, err = _cli(capsys, *argv)
        assert_one_line_error(code, err, "after the last order", last.isoformat())
    assert _count(engine, S.rec_run) == 0
    engine.dispose()


def test_train_refuses_a_k_above_the_catalogue(writable_tiny_url, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(tmp_path / "artifacts"))
    engine = make_engine(writable_tiny_url)
    n_foods = _count(engine, S.mart_food)
    for k in (n_foods + 1, 0):
        code, _, err = _cli(capsys, "--url", writable_tiny_url, "train", "--model", "popularity", "--k", k)
        assert_one_line_error(code, err, "--k")
    code, _, err = _cli(capsys, "--url", writable_tiny_url, "retrain", "--models", "popularity",
                        "--k", n_foods + 1)
    assert_one_line_error(code, err, f"{n_foods} foods")
    assert _count(engine, S.rec_run) == 0
    engine.dispose()


# ------------------------------------------------- defect 6: runs tied to one folder
def test_a_moved_artifact_root_still_loads_every_run(writable_tiny_url, tmp_path, monkeypatch):
    old_root, new_root = tmp_path / "old" / "artifacts", tmp_path / "new" / "artifacts"
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(old_root))
    engine = make_engine(writable_tiny_url)
    run_ids = [runs.train_and_write(engine, model, k=3, dates=[]) for model in ("popularity", "history")]
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.select(S.rec_run.c.run_id, S.rec_run.c.artifact_path)).all())
    for run_id in run_ids:
        assert not Path(stored[run_id]).is_absolute(), stored[run_id]
    new_root.parent.mkdir(parents=True)
    shutil.move(str(old_root), str(new_root))
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(new_root))
    for run_id in run_ids:
        run = runs.get_run(engine, run_id)
        assert Path(run.artifact_path).parent == new_root / runs.instance_id(engine)
        assert compare.load_run_model(engine, run_id).name == run.model
    engine.dispose()


def test_a_run_stored_with_an_absolute_path_of_an_old_root_is_found_under_the_new_one(
        writable_tiny_url, tmp_path, monkeypatch):
    """Runs written before paths became relative keep working after the folder moved."""
    old_root, new_root = tmp_path / "old", tmp_path / "new"
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(old_root))
    engine = make_engine(writable_tiny_url)
    run_id = runs.train_and_write(engine, "popularity", k=3, dates=[])
    _store_in_old_layout(engine, run_id, str(old_root / f"run_{run_id}"))
    shutil.move(str(old_root), str(new_root))
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(new_root))
    assert runs.get_run(engine, run_id).artifact_path == str(new_root / f"run_{run_id}")
    compare.load_run_model(engine, run_id)
    engine.dispose()


def _store_in_old_layout(engine, run_id: int, stored: str) -> None:
    """Make a run look written before instance folders: its folder ``<root>/run_<id>``, stored as
    ``stored`` (relative ``run_<id>``, or absolute before paths were relative)."""
    shutil.move(str(runs.artifact_folder(engine, run_id)), str(config.artifact_root() / f"run_{run_id}"))
    with engine.begin() as conn:
        conn.execute(S.rec_run.update().where(S.rec_run.c.run_id == run_id).values(artifact_path=stored))


def test_two_databases_sharing_an_artifact_root_each_load_their_own_artifacts(
        writable_tiny_url, tmp_path, monkeypatch):
    """Run ids restart at 1 in every database: each keeps its artifacts in its own folder."""
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(tmp_path / "shared_artifacts"))
    other_url = f"sqlite:///{tmp_path / 'other_de.sqlite'}"
    build_tiny_world(other_url)
    first, other = make_engine(writable_tiny_url), make_engine(other_url)
    popular = runs.train_and_write(first, "popularity", k=3, dates=[])
    content = runs.train_and_write(other, "content", k=3, dates=[])
    assert popular == content                          # the same run id in both databases
    assert runs.instance_id(first) != runs.instance_id(other)
    assert read_meta(first, runs.META_INSTANCE_ID) == runs.instance_id(first)    # kept, not redrawn
    paths = runs.get_run(first, popular).artifact_path, runs.get_run(other, content).artifact_path
    assert paths[0] != paths[1] and all(Path(p).is_dir() for p in paths)
    assert compare.load_run_model(first, popular).name == "popularity"
    assert compare.load_run_model(other, content).name == "content"
    first.dispose()
    other.dispose()


def test_a_run_stored_in_the_old_artifact_layout_still_loads(writable_tiny_url, tmp_path, monkeypatch):
    """Runs written before instance folders (``<root>/run_<id>``) load; new runs go to the folder."""
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(tmp_path / "artifacts"))
    engine = make_engine(writable_tiny_url)
    old = runs.train_and_write(engine, "history", k=3, dates=[])
    _store_in_old_layout(engine, old, f"run_{old}")
    assert runs.get_run(engine, old).artifact_path == str(config.artifact_root() / f"run_{old}")
    assert compare.load_run_model(engine, old).name == "history"
    new = runs.train_and_write(engine, "popularity", k=3, dates=[])
    assert Path(runs.get_run(engine, new).artifact_path) == runs.artifact_folder(engine, new)
    assert runs.artifact_folder(engine, new).parent.name == runs.instance_id(engine)
    assert compare.load_run_model(engine, new).name == "popularity"
    engine.dispose()


# ------------------------------------------------- load: shared work happens once per server
def test_two_sessions_of_compare_load_each_model_and_score_each_pool_once(tmp_path, monkeypatch):
    """Streamlit's caches are per process: a second session on the same user and day reuses the first
    one's loaded models, scored candidates and figures (keyed by run and data version)."""
    import streamlit as st
    from conftest import build_tiny_world, new_database_url
    from streamlit.testing.v1 import AppTest
    url = new_database_url("sqlite", tmp_path)
    build_tiny_world(url)
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(tmp_path / "artifacts"))
    engine = make_engine(url)
    run_ids = [runs.train_and_write(engine, model, k=5, dates=[]) for model in ("popularity", "history")]
    engine.dispose()
    monkeypatch.setenv(config.ENV_DE_URL, url)
    st.cache_resource.clear()
    st.cache_data.clear()
    calls = {"load": 0, "score": 0, "pick": 0}
    load, score, pick = compare.load_run_model, compare.score_candidates, compare.pick_user

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped
    monkeypatch.setattr(compare, "load_run_model", counting("load", load))
    monkeypatch.setattr(compare, "score_candidates", counting("score", score))
    monkeypatch.setattr(compare.lists, "score_candidates", counting("score", score))
    monkeypatch.setattr(compare, "pick_user", counting("pick", pick))      # the default user
    after_first = None
    for _ in range(2):                               # two people open the page
        at = AppTest.from_file(str(Path(APP_PATH).parent / "pages" / "compare.py"), default_timeout=120)
        at.run()
        assert not at.exception and not at.error
        # each list's figures (a list identical to an earlier one shows none) and the replay's hit rates
        assert len(at.metric) >= len(compare.REPORT_METRICS)
        after_first = after_first or dict(calls)
    # the first session loads each model once and scores each pool (the day and the replay's days)
    # once; the second session reuses all of it
    assert after_first["load"] == len(run_ids) and after_first["pick"] == 1
    assert after_first["score"] >= len(run_ids) and after_first["score"] % len(run_ids) == 0
    assert calls == after_first


def test_compare_lists_are_computed_once_per_runs_user_knobs_and_data_version(tmp_path, monkeypatch):
    """app_support.compare_view / compare_replay share one answer between sessions asking the same
    question, and compute a new one when the runs, the knobs or the data version change."""
    import streamlit as st
    from conftest import new_database_url

    import app_support
    url = new_database_url("sqlite", tmp_path)
    build_tiny_world(url)
    monkeypatch.setenv(config.ENV_ARTIFACTS, str(tmp_path / "artifacts"))
    engine = make_engine(url)
    run_ids = [runs.train_and_write(engine, model, k=5, dates=[]) for model in ("popularity", "history")]
    user = compare.pick_user(engine, compare.HEAVY)
    history = compare.user_history(engine, user)
    day = compare.replay_days(history, codes.LUNCH, pd.Timestamp.max.date(), 1000)[-1]
    engine.dispose()
    monkeypatch.setenv(config.ENV_DE_URL, url)
    st.cache_resource.clear()
    st.cache_data.clear()
    calls = {"lists": 0, "replay": 0, "score": 0}
    lists, replay, score = compare.compare_lists, compare.replay_runs, compare.score_candidates

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped
    monkeypatch.setattr(compare, "compare_lists", counting("lists", lists))
    monkeypatch.setattr(compare, "replay_runs", counting("replay", replay))
    monkeypatch.setattr(compare.lists, "score_candidates", counting("score", score))
    knobs = compare.Policy.from_knobs(k=5)

    def view(run_ids=run_ids, knobs=knobs, version="v1"):
        return app_support.compare_view(run_ids, user, day, codes.LUNCH, knobs, lang="ko", version=version)

    first = view()
    assert calls == {"lists": 1, "replay": 0, "score": len(run_ids)}
    assert view(knobs=compare.Policy.from_knobs(k=5.0)) is first, "a second session gets the same answer"
    assert calls["lists"] == 1 and calls["score"] == len(run_ids)

    moved = view(knobs=compare.Policy.from_knobs(k=5, mmr_lambda=0.3))
    assert moved is not first and calls["lists"] == 2 and calls["score"] == len(run_ids), "a knob only re-ranks"
    one_run = view(run_ids=run_ids[:1])
    assert calls["lists"] == 3 and [c.run_id for c in one_run.view.columns] == run_ids[:1]
    fresh = view(version="v2")                                 # preprocess rebuilt the marts
    assert fresh is not first and calls["lists"] == 4 and calls["score"] == 2 * len(run_ids)
    assert [c.food_ids for c in fresh.view.columns] == [c.food_ids for c in first.view.columns]

    strip = app_support.compare_replay(run_ids, user, codes.LUNCH, day, 3, knobs, version="v1")
    assert app_support.compare_replay(run_ids, user, codes.LUNCH, day, 3, knobs, version="v1") is strip
    assert calls["replay"] == 1 and len(strip.days) == 3 and strip.days[-1] == day
    app_support.compare_replay(run_ids, user, codes.LUNCH, day, 3, knobs, version="v2")
    assert calls["replay"] == 2
