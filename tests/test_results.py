"""Shared output format v1 on both backends, with hand-made marts and recommendation lists."""
from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import team_person

from kurrant_core import columns as C, runs, schema
from kurrant_core.codes import LUNCH
from kurrant_core.errors import KurrantError
from kurrant_core.runs import shared_format
from kurrant_core.schema import RUN_DONE, RUN_FAILED, RUN_LEARNING, RUN_STOPPED

DAY = date(2024, 5, 2)
CUTOFF = date(2024, 5, 1)
# food id -> (maker, allergy tags); 8001 = 난류, 8004 = 땅콩, 8006 = 밀
FOODS = {101: (1, ""), 102: (1, "8001"), 103: (2, "8006"), 104: (2, ""), 105: (3, "8001,8004")}
# user id -> (group, allergy tags)
USERS = {1: (10, "8001"), 2: (10, ""), 3: (20, "8006")}


def _food_row(food_id: int, maker: int, allergy: str) -> dict:
    return {C.FOOD_ID: food_id, C.FOOD_NAME: f"food {food_id}", C.MAKERS_ID: maker,
            C.MAKERS_NAME: f"maker {maker}", C.MAKERS_SERVICE_TYPE: 0, C.FOOD_STATUS: 1,
            C.PRICE: 8000, C.SUPPLY_PRICE: 6000, C.FOOD_TAGS: allergy, C.CUISINE_LABEL: "한식",
            C.MAIN_INGREDIENT_LABEL: "미상", C.SPICINESS_LABEL: "미상", C.FOOD_TYPE_LABEL: "미상",
            C.ALLERGY_TAGS: allergy, C.CREATED_AT: datetime(2024, 1, 1)}


def _user_row(user_id: int, group: int, allergy: str) -> dict:
    return {C.USER_ID: user_id, C.GROUP_ID: group, C.JOINED_ON: date(2024, 1, 1),
            C.USER_STATUS: 1, C.IS_MEMBERSHIP: False, C.HAS_SURVEY: bool(allergy),
            C.FAVORITE_TAGS: "", C.ALLERGY_TAGS: allergy, C.IS_VEGAN: False, C.N_ITEMS: 0}


@pytest.fixture
def engine(empty_engine):
    with empty_engine.begin() as conn:
        conn.execute(schema.mart_food.insert(), [_food_row(f, m, a) for f, (m, a) in FOODS.items()])
        conn.execute(schema.mart_user.insert(), [_user_row(u, g, a) for u, (g, a) in USERS.items()])
    return empty_engine


def _list(user: int, foods: list[int], service_date: date | None = None, group: int | None = None):
    return [{C.USER_ID: user, C.GROUP_ID: group if group is not None else USERS[user][0],
             C.SERVICE_DATE: service_date, C.DINING_TYPE: LUNCH if service_date else None,
             C.FOOD_ID: f, C.MAKERS_ID: FOODS[f][0], C.RANK: r, C.SCORE: 1.0 / r,
             C.IS_COLD_START: False} for r, f in enumerate(foods, start=1)]


def good_recs() -> pd.DataFrame:
    """12 rows: three catalog lists and three lists for DAY's lunch menus (groups 10 and 20)."""
    return pd.DataFrame(_list(1, [101, 103, 104]) + _list(2, [102, 101]) + _list(3, [104])
                        + _list(1, [104, 101], DAY) + _list(2, [102, 104], DAY)
                        + _list(3, [101, 104], DAY), columns=C.RECOMMEND_COLUMNS)


def _start(engine, model: str = "popularity") -> int:
    return runs.start_run(engine, model, {"half_life_days": 30.0}, data_cutoff=CUTOFF,
                          train_start=date(2024, 1, 2), train_end=date(2024, 4, 30),
                          triggered_by="test")


def _done_run(engine, recs: pd.DataFrame | None = None, model: str = "popularity") -> int:
    run_id = _start(engine, model)
    runs.write_recommendations(engine, run_id, good_recs() if recs is None else recs)
    runs.finish_run(engine, run_id, n_users=3, n_items=5, artifact_path=None)
    return run_id


def _stored_rows(engine, run_id: int) -> int:
    """Rows physically in rec_user_recommend for the run, visible or not."""
    t = schema.rec_user_recommend
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(t.c.run_id == run_id)).scalar()


def test_rows_become_visible_only_when_the_run_is_done(engine):
    run_id = _start(engine)
    assert runs.write_recommendations(engine, run_id, good_recs()) == 12
    assert _stored_rows(engine, run_id) == 12
    assert runs.read_recommendations(engine, run_id).empty
    runs.finish_run(engine, run_id, n_users=3, n_items=5, artifact_path="/tmp/x",
                    metrics={"ndcg@10": 0.25})
    rows = runs.read_recommendations(engine, run_id)
    assert list(rows.columns) == C.REC_COLUMNS and len(rows) == 12
    assert rows.loc[rows[C.USER_ID] == 1, C.FOOD_ID].tolist() == [101, 103, 104, 104, 101]
    day = runs.read_recommendations(engine, run_id, user_id=3, service_date=DAY)
    assert day[C.FOOD_ID].tolist() == [101, 104] and day[C.RANK].tolist() == [1, 2]
    assert set(day[C.SERVICE_DATE]) == {DAY}
    catalog = runs.read_recommendations(engine, run_id, catalog_only=True, with_names=True)
    assert catalog[C.SERVICE_DATE].isna().all() and len(catalog) == 6
    assert catalog.loc[catalog[C.FOOD_ID] == 103, C.FOOD_NAME].item() == "food 103"
    run = runs.get_run(engine, run_id)
    assert (run.status, run.n_users, run.metrics, run.params) == (
        RUN_DONE, 3, {"ndcg@10": 0.25}, {"half_life_days": 30.0})
    assert run.data_cutoff == CUTOFF and run.code_version


def _gap(df):                      # user 1's catalog ranks 1, 2, 4
    df.loc[2, C.RANK] = 4
    return df


def _duplicate(df):                # user 2's catalog lists food 102 twice
    df.loc[4, [C.FOOD_ID, C.MAKERS_ID]] = [102, 1]
    return df


def _unknown_food(df):
    df.loc[0, C.FOOD_ID] = 999
    return df


def _nan_score(df):
    df.loc[1, C.SCORE] = np.nan
    return df


def _allergen(df):                 # food 105 carries 8001, user 1 is allergic to 8001
    df.loc[2, [C.FOOD_ID, C.MAKERS_ID]] = [105, 3]
    return df


@pytest.mark.parametrize("spoil, rule", [
    (_gap, "ranks 1..k without gaps per list"),
    (_duplicate, "no duplicate food in a list"),
    (_unknown_food, "every food exists in mart_food"),
    (_nan_score, "finite scores"),
    (_allergen, "no food with one of the user's allergy tags"),
], ids=["rank-gap", "duplicate-food", "unknown-food", "nan-score", "allergen"])
def test_validation_rejects_a_broken_run(engine, spoil, rule):
    run_id = _start(engine)
    with pytest.raises(runs.RecommendationFormatError) as caught:
        runs.write_recommendations(engine, run_id, spoil(good_recs()))
    assert caught.value.rule == rule and rule in str(caught.value)
    assert caught.value.example is not None and caught.value.example[C.USER_ID] in USERS
    assert _stored_rows(engine, run_id) == 0


def test_a_run_failing_after_the_first_chunk_leaves_no_visible_rows(engine, monkeypatch):
    original, calls = shared_format._insert_chunk, []

    def insert_then_crash(eng, sql, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        original(eng, sql, rows)

    monkeypatch.setattr(shared_format, "_insert_chunk", insert_then_crash)
    run_id = _start(engine)
    with pytest.raises(RuntimeError):
        runs.write_recommendations(engine, run_id, good_recs(), chunk_size=4)
    assert _stored_rows(engine, run_id) == 4                  # the first chunk did commit ...
    assert runs.read_recommendations(engine, run_id).empty  # ... but is not visible
    runs.fail_run(engine, run_id, RuntimeError("disk full"))
    run = runs.get_run(engine, run_id)
    assert run.status == RUN_FAILED and "disk full" in run.error and run.finished_at is not None
    assert _stored_rows(engine, run_id) == 0
    with pytest.raises(KurrantError, match="only a done run"):
        runs.activate_run(engine, run_id, by=team_person())


def test_a_stopped_run_is_kept_apart_from_a_failed_one(engine):
    run_id = _start(engine)
    runs.write_recommendations(engine, run_id, good_recs())
    runs.fail_run(engine, run_id, "cancelled by the user", status=RUN_STOPPED)
    assert runs.get_run(engine, run_id).status == RUN_STOPPED
    assert _stored_rows(engine, run_id) == 0


def test_a_done_run_cannot_be_written_to_or_failed(engine):
    run_id = _done_run(engine)
    with pytest.raises(KurrantError, match="is done"):
        runs.write_recommendations(engine, run_id, good_recs())
    with pytest.raises(KurrantError, match="already done"):
        runs.fail_run(engine, run_id, "late error")
    assert len(runs.read_recommendations(engine, run_id)) == 12


def _backend_rows(engine) -> pd.DataFrame:
    t = schema.recommend_user_recommends
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*[t.c[c] for c in C.BACKEND_COLUMNS])
                            .order_by(t.c.group_id, t.c.user_id, t.c.rank)).all()
    return pd.DataFrame(rows, columns=C.BACKEND_COLUMNS)


def test_publish_writes_the_backend_columns_and_republishing_does_not_duplicate(engine):
    columns = [c["name"] for c in sa.inspect(engine).get_columns(schema.recommend_user_recommends.name)]
    assert sorted(columns) == sorted(["id"] + C.BACKEND_COLUMNS)
    run_id = _done_run(engine)
    with pytest.raises(KurrantError, match="not the active"):
        runs.publish_run(engine, run_id, by=team_person())
    runs.activate_run(engine, run_id, by=team_person())
    assert runs.publish_run(engine, run_id, by=team_person()) == 6
    published = _backend_rows(engine)
    expected = good_recs().dropna(subset=[C.SERVICE_DATE])[C.BACKEND_COLUMNS].astype(
        {C.DINING_TYPE: "int64"})
    expected = expected.sort_values([C.GROUP_ID, C.USER_ID, C.RANK]).reset_index(drop=True)
    assert published.astype(str).equals(expected.astype(str))
    assert runs.publish_run(engine, run_id, by=team_person()) == 6
    assert len(_backend_rows(engine)) == 6


def test_publishing_a_new_run_replaces_only_its_own_slots(engine):
    first = _done_run(engine)
    runs.activate_run(engine, first, by=team_person())
    runs.publish_run(engine, first, by=team_person())
    # the new run only covers group 10 on DAY: group 20's rows must survive
    second = _done_run(engine, pd.DataFrame(_list(1, [101], DAY) + _list(2, [101, 104], DAY)))
    runs.activate_run(engine, second, by=team_person())
    assert runs.publish_run(engine, second, by=team_person()) == 3
    published = _backend_rows(engine)
    assert published.loc[published[C.GROUP_ID] == 10, C.FOOD_ID].tolist() == [101, 101, 104]
    assert published.loc[published[C.GROUP_ID] == 20, C.FOOD_ID].tolist() == [101, 104]


def test_activate_keeps_one_active_run_per_model(engine):
    pops = [_done_run(engine) for _ in range(3)]
    als = _done_run(engine, model="als")
    runs.activate_run(engine, als, by=team_person())
    for run_id in [pops[0], pops[2], pops[1]]:
        runs.activate_run(engine, run_id, by=team_person())
        listed = runs.list_runs(engine)
        active = listed.loc[listed[schema.rec_run.c.is_active.name].astype(bool)]
        assert sorted(active[C.RUN_ID].tolist()) == sorted([run_id, als])
    assert runs.list_runs(engine, model="popularity")[C.RUN_ID].tolist() == sorted(pops)[::-1]
    learning = _start(engine)
    with pytest.raises(KurrantError, match="is learning"):
        runs.activate_run(engine, learning, by=team_person())
    assert runs.get_run(engine, pops[1]).is_active


def test_export_round_trips_and_detects_tampering(engine, tmp_path):
    run_id = _done_run(engine)
    manifest_path = runs.export_run(engine, run_id, tmp_path / "out")
    manifest, rows = runs.load_export(tmp_path / "out")
    assert manifest_path.name == "manifest.json"
    assert manifest["format_version"] == schema.FORMAT_VERSION and manifest["rows"] == 12
    assert manifest["run"]["run_id"] == run_id and manifest["run"]["data_cutoff"] == CUTOFF.isoformat()
    assert json.loads(manifest_path.read_text())["sha256"] == manifest["sha256"]
    pd.testing.assert_frame_equal(rows, runs.read_recommendations(engine, run_id))
    (tmp_path / "out" / manifest["file"]).write_bytes(b"not parquet")
    with pytest.raises(KurrantError, match="sha256"):
        runs.load_export(tmp_path / "out")


def test_unknown_and_unfinished_runs_are_refused(engine, tmp_path):
    with pytest.raises(KurrantError, match="does not exist"):
        runs.get_run(engine, 12345)
    run_id = _start(engine)
    assert runs.get_run(engine, run_id).status == RUN_LEARNING
    with pytest.raises(KurrantError, match="only a done run can be exported"):
        runs.export_run(engine, run_id, tmp_path)


# --------------------------------------------------------------- the pipeline on the tiny world
def test_train_and_write_fails_or_stops_without_touching_the_active_run(
        writable_tiny_url, tmp_path, monkeypatch):
    from kurrant_core.data import build_training_data
    from kurrant_core.db import make_engine
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    engine = make_engine(writable_tiny_url)
    data = build_training_data(engine)
    stages: list[tuple[str, float]] = []
    good = runs.train_and_write(engine, "popularity", {}, k=3, data=data, triggered_by="test",
                                progress=lambda stage, f: stages.append((stage, f)))
    runs.activate_run(engine, good, by=team_person())
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(stage.startswith("writing lists for") for stage, _ in stages)
    n_good = len(runs.read_recommendations(engine, good))
    active_users = set(runs.active_user_ids(data).tolist())
    catalog = runs.read_recommendations(engine, good, catalog_only=True)
    assert set(catalog[C.USER_ID]) == active_users and catalog[C.RANK].max() == 3

    original, calls = shared_format._insert_chunk, []

    def insert_then_crash(eng, sql, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        original(eng, sql, rows)

    monkeypatch.setattr(shared_format, "_insert_chunk", insert_then_crash)
    with pytest.raises(RuntimeError, match="connection lost"):
        runs.train_and_write(engine, "popularity", {}, k=3, data=data, triggered_by="test")
    monkeypatch.setattr(shared_format, "_insert_chunk", original)
    stopped_after_fit = iter([False, False, True])
    with pytest.raises(runs.RunCancelled):
        runs.train_and_write(engine, "popularity", {}, k=3, data=data, triggered_by="test",
                             should_stop=lambda: next(stopped_after_fit))

    listed = runs.list_runs(engine, model="popularity").set_index(C.RUN_ID)
    status, error, active = (schema.rec_run.c.status.name, schema.rec_run.c.error.name,
                             schema.rec_run.c.is_active.name)
    failed, stopped = sorted(set(listed.index) - {good})
    assert listed.loc[failed, status] == RUN_FAILED and "connection lost" in listed.loc[failed, error]
    assert listed.loc[stopped, status] == RUN_STOPPED
    for run_id in (failed, stopped):
        assert _stored_rows(engine, run_id) == 0
        assert not runs.artifact_folder(engine, run_id).exists()
    assert Path(runs.get_run(engine, good).artifact_path) == runs.artifact_folder(engine, good)
    assert runs.artifact_folder(engine, good).is_dir()
    assert listed.loc[good, active] and len(runs.read_recommendations(engine, good)) == n_good
    engine.dispose()
