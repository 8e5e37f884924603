"""``train``, ``recommend``, ``publish`` and ``export`` end to end through the CLI on the tiny world."""
from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import team_person

from kurrant_core import columns as C, runs, schema
from kurrant_core.cli import main
from kurrant_core.db import make_engine
from kurrant_core.schema import RUN_DONE

K = 4


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    folder = tmp_path / "artifacts"
    monkeypatch.setenv("KURRANT_ARTIFACT_DIR", str(folder))
    return folder


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _menu(engine) -> pd.DataFrame:
    m = schema.mart_daily_menu
    with engine.connect() as conn:
        rows = conn.execute(sa.select(m.c[C.GROUP_ID], m.c[C.SERVICE_DATE], m.c[C.DINING_TYPE],
                                      m.c[C.FOOD_ID])).all()
    return pd.DataFrame(rows, columns=[C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE, C.FOOD_ID])


def _names(engine) -> dict[int, str]:
    f = schema.mart_food
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(f.c[C.FOOD_ID], f.c[C.FOOD_NAME])).all())


def test_train_recommend_publish_export_end_to_end(writable_tiny_url, artifacts, capsys, tmp_path):
    code, out, err = _run(capsys, "--url", writable_tiny_url, "train", "--model", "popularity",
                          "--k", str(K), "--param", "half_life_days=14")
    assert code == 0, err
    run_id = int(out.strip().splitlines()[-1])
    engine = make_engine(writable_tiny_url)
    run = runs.get_run(engine, run_id)
    assert run.status == RUN_DONE and run.triggered_by.startswith("cli:")
    assert run.params["half_life_days"] == 14 and run.train_end < run.data_cutoff
    assert (artifacts / runs.instance_id(engine) / f"run_{run_id}").is_dir()
    assert run.params["policy"]["name"] == "varied"             # popularity's own default policy

    rows = runs.read_recommendations(engine, run_id)
    catalog = rows[rows[C.SERVICE_DATE].isna()]
    assert catalog.groupby(C.USER_ID)[C.RANK].max().max() == K
    dated = rows[rows[C.SERVICE_DATE].notna()].copy()
    days = sorted(dated[C.SERVICE_DATE].unique())
    assert len(days) == runs.DEFAULT_DAYS and days[0] >= run.data_cutoff
    # every dated recommendation is on its group's menu that day and meal
    menu = _menu(engine)
    on_menu = dated.merge(menu, on=[C.GROUP_ID, C.SERVICE_DATE, C.DINING_TYPE, C.FOOD_ID], how="left",
                          indicator=True)
    assert (on_menu["_merge"] == "both").all()

    user = int(catalog[C.USER_ID].iloc[0])
    code, out, err = _run(capsys, "--url", writable_tiny_url, "recommend", "--run", str(run_id),
                          "--user", str(user))
    assert code == 0, err
    names = _names(engine)
    expected = catalog.loc[catalog[C.USER_ID] == user].sort_values(C.RANK)[C.FOOD_ID]
    printed = [line for line in out.splitlines()[2:]]
    assert len(printed) == len(expected)
    for line, food_id in zip(printed, expected):
        assert names[food_id] in line

    day_user = dated.iloc[0]
    code, out, err = _run(capsys, "--url", writable_tiny_url, "recommend", "--run", str(run_id),
                          "--user", str(day_user[C.USER_ID]), "--date", str(day_user[C.SERVICE_DATE]))
    assert code == 0, err
    assert names[day_user[C.FOOD_ID]] in out

    code, out, err = _run(capsys, "--url", writable_tiny_url, "publish", "--run", str(run_id))
    assert code == 2 and "activate" in err
    runs.activate_run(engine, run_id, by=team_person())
    for _ in range(2):
        code, out, err = _run(capsys, "--url", writable_tiny_url, "publish", "--run", str(run_id))
        assert code == 0 and f"published {len(dated)} rows" in out
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(schema.recommend_user_recommends)).scalar()
    assert n == len(dated)

    code, out, err = _run(capsys, "--url", writable_tiny_url, "export", "--run", str(run_id),
                          "--out", str(tmp_path / "export"))
    assert code == 0, err
    manifest, exported = runs.load_export(tmp_path / "export")
    assert manifest["rows"] == len(rows) and manifest["run"]["model"] == "popularity"
    pd.testing.assert_frame_equal(exported, rows)
    engine.dispose()


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "nope"], "Unknown model 'nope'"),
    (["train", "--model", "popularity", "--cutoff", "2026-13-01"], "is not a date"),
    (["train", "--model", "popularity", "--dates", "2026-11-05:2026-11-02"], "ends before it starts"),
    (["train", "--model", "popularity", "--param", "colour=red"], "KEY one of"),
    (["recommend", "--run", "999", "--user", "1"], "Run 999 does not exist"),
    (["publish", "--run", "999"], "Run 999 does not exist"),
], ids=["unknown-model", "bad-date", "reversed-range", "unknown-param", "unknown-run", "publish-unknown"])
def test_bad_input_is_a_clear_error(tiny_sqlite_url, artifacts, capsys, argv, message):
    code, out, err = _run(capsys, "--url", tiny_sqlite_url, *argv)
    assert code == 2 and message in err and "Traceback" not in err
