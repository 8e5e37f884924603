"""AppTest of the leaderboard page: evaluated runs become a ranked table and a trade-off chart;
a database without evaluations says which command to run."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, build_tiny_world, new_database_url, run_script
from kurrant_core.db import make_engine
from kurrant_core.evaluation import evaluate

PAGE = str(ROOT / "pages" / "leaderboard.py")


@pytest.fixture(scope="module")
def evaluated_url(tmp_path_factory) -> str:
    """A tiny-world SQLite copy holding evaluated popularity and content runs."""
    folder = tmp_path_factory.mktemp("leaderboard")
    url = new_database_url("sqlite", folder)
    build_tiny_world(url)
    mp = pytest.MonkeyPatch()
    mp.setenv("KURRANT_ARTIFACT_DIR", str(folder / "artifacts"))
    engine = make_engine(url)
    evaluate(engine, ["popularity", "content"])
    engine.dispose()
    mp.undo()
    return url


def run_page(monkeypatch, url: str) -> AppTest:
    return run_script(monkeypatch, url, PAGE)


def test_leaderboard_ranks_the_evaluated_models(monkeypatch, evaluated_url):
    at = run_page(monkeypatch, evaluated_url)
    assert not at.exception and not at.error
    menu_board = at.dataframe[0].value
    assert sorted(menu_board["model"]) == ["content", "history", "popularity", "random"]
    assert menu_board["mrr"].is_monotonic_decreasing
    assert "hr@1" in menu_board.columns and "fit_seconds" in menu_board.columns
    marks = menu_board.set_index("model")["baseline"].to_dict()
    assert marks == {"content": False, "history": True, "popularity": True, "random": True}
    low = menu_board.set_index("model")["mrr low"]
    verdict = at.success[0].value if low["content"] > 0 else at.warning[0].value
    assert ("content" in verdict) == (low["content"] > 0)
    assert "paired bootstrap" in " ".join(c.value for c in at.caption)
    catalog_board = at.dataframe[2].value                 # [1] is the daily menu's full table
    assert "ndcg@10" in catalog_board.columns and "coverage" in catalog_board.columns
    assert len(at.get("plotly_chart")) == 1
    costs = at.dataframe[4].value if len(at.dataframe) > 4 else None    # after both tabs' two tables
    assert costs is not None and sorted(costs["model"]) == ["content", "history", "popularity"]
    assert (costs["policy"] == "default").all() and "mrr change" in costs.columns
    assert "cutoff" in at.selectbox(key="lb_split").format_func(0)


def test_leaderboard_without_evaluations_says_what_to_run(monkeypatch, tiny_sqlite_url):
    at = run_page(monkeypatch, tiny_sqlite_url)
    assert not at.exception
    assert at.info and "python -m kurrant_core evaluate" in at.info[0].value
