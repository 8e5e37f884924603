"""AppTest of the leaderboard page: evaluated runs become a ranked table and a trade-off chart;
a database without evaluations says which command to run."""
from __future__ import annotations

import pytest
from conftest import ROOT, build_tiny_world, new_database_url, run_script
from streamlit.testing.v1 import AppTest

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
    assert "부트스트랩" in " ".join(c.value for c in at.caption)
    catalog_board = next(df.value for df in at.dataframe if "ndcg@10" in df.value.columns)
    assert "coverage" in catalog_board.columns
    assert len(at.get("plotly_chart")) == 3, "each protocol's interval chart and the trade-off curve"
    costs = next((df.value for df in at.dataframe if "policy" in df.value.columns and "mrr change" in df.value.columns),
                 None)
    assert costs is not None and sorted(costs["model"]) == ["content", "history", "popularity"]
    assert costs.set_index("model")["policy"].to_dict() == {"content": "default", "history": "default",
                                                            "popularity": "varied"}      # each model's default
    assert "기준일" in at.selectbox(key="lb_split").format_func(0)


def test_leaderboard_without_evaluations_says_what_to_run(monkeypatch, tiny_sqlite_url):
    at = run_page(monkeypatch, tiny_sqlite_url)
    assert not at.exception
    assert at.info and "python -m kurrant_core evaluate" in at.info[0].value


def test_leaderboard_reads_for_a_pm(monkeypatch, evaluated_url):
    """Plain names with a direction on every metric, cold_* folded away, one verdict sentence per
    protocol that matches the stored intervals, and each model's interval drawn."""
    import json

    from kurrant_core import ui_text
    from kurrant_core.evaluation import readable
    at = run_page(monkeypatch, evaluated_url)
    assert not at.exception and not at.error
    menu_board = at.dataframe[0].value
    assert not [c for c in menu_board.columns if c.startswith("cold_")], "cold_* is folded away"
    assert any(c.startswith("cold_") for df in at.dataframe[1:3] for c in df.value.columns)
    verdicts = [m.value for m in (*at.success, *at.warning)]
    assert len(verdicts) == 2
    expected = readable.verdict(menu_board, "mrr")
    assert expected in verdicts
    status = {c.model: c.status for c in readable.comparisons(menu_board, "mrr")}
    assert set(status) == {"content"}
    assert ui_text.text(f"lb.verdict.{status['content']}", model="content", reference="", metric="", diff="",
                        low="", high="")[:8] in expected
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["data"][0]["y"] == ["content"] and chart["data"][0]["error_x"]["array"]


def test_every_headline_metric_has_a_name_a_meaning_and_a_direction():
    from kurrant_core import ui_text
    from kurrant_core.evaluation import headline_keys, readable
    for protocol in ("daily_menu", "catalog"):
        for metric in headline_keys(protocol, 10):
            assert ui_text.metric_name(metric) != metric and ui_text.metric_meaning(metric), metric
            assert ui_text.metric_name(metric, ui_text.EN) != metric
            assert metric.startswith("cold_") or readable.base_name(metric) in readable.DIRECTION, metric
    assert readable.direction("exposure_gini") == readable.LOWER and readable.direction("hr@1") == readable.HIGHER
