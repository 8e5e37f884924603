"""The pick of the day replayed, and list figures that can be compared across models (issue 16).

Hand-made pools and histories, answers computed by hand in the comments: the hit rate of the
replay strip, the ordered food marked in every list, identical lists detected, category coverage
against the categories all compared pools offer, "relevance kept" never above 100 %, the caps
note without Python's None; and the label catalogue's formats (9,000원, 0–100 match, Korean
why-lines, one timestamp style).
"""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from kurrant_core import codes, columns as C, compare, ui_text
from kurrant_core.rerank import CandidateSet, RerankSettings, list_report, rerank

KOREAN, CHINESE, WESTERN = 1, 3, 5
D1, D2, D3, D4 = date(2026, 10, 12), date(2026, 10, 13), date(2026, 10, 14), date(2026, 10, 15)


def pool(run_id: int, food_ids, relevance, category, *, label: str | None = None) -> compare.ScoredCandidates:
    n = len(food_ids)
    foods = pd.DataFrame({C.FOOD_ID: food_ids, C.FOOD_NAME: [f"food {f}" for f in food_ids],
                          C.MAKERS_NAME: "maker", C.CUISINE_LABEL: [codes.FOOD_TAG[c] for c in category],
                          C.SPICINESS_LABEL: "맵지 않음", C.PRICE: 9000, C.SCORE: relevance,
                          C.MODEL_RANK: np.argsort(np.argsort(-np.asarray(relevance))) + 1,
                          C.WHY: ["popular in your group lately"] * n})
    candidates = CandidateSet(food_ids=np.array(food_ids), relevance=np.array(relevance, float),
                              features=np.eye(n), category=np.array(category), maker=np.arange(n),
                              popularity=np.arange(n, 0, -1) * 10.0, user_id=1)
    return compare.ScoredCandidates(run_id, label or f"model #{run_id}", foods, candidates)


def history(rows) -> pd.DataFrame:
    """The user's paid items as ``compare.user_history`` returns them: (day, meal, food id)."""
    return pd.DataFrame({C.SERVICE_DATE: pd.to_datetime([d for d, _, _ in rows]),
                         C.DINING_TYPE: [m for _, m, _ in rows], C.FOOD_ID: [f for _, _, f in rows],
                         C.FOOD_NAME: [f"food {f}" for _, _, f in rows], C.CUISINE_LABEL: "한식"})


# ------------------------------------------------------------------------------ the replay
def test_hit_rate_by_hand():
    # day 1: picked 1, ordered 1 -> hit; day 2: picked 2, ordered 5 -> miss;
    # day 3: no pick (empty list) -> miss; day 4: picked 4, ordered 3 and 4 -> hit. 2 of 4.
    picks, ordered = [1, 2, None, 4], [{1}, {5}, {7}, {3, 4}]
    assert compare.hit_rate(picks, ordered) == pytest.approx(0.5)
    assert compare.hit_rate([9, 9], [{1}, {2}]) == 0.0
    assert math.isnan(compare.hit_rate([], []))
    with pytest.raises(ValueError):
        compare.hit_rate([1], [])


def test_replay_days_are_the_last_days_the_user_ordered_that_meal():
    h = history([(D1, codes.LUNCH, 1), (D2, codes.DINNER, 2), (D3, codes.LUNCH, 3), (D3, codes.LUNCH, 4),
                 (D4, codes.LUNCH, 5)])
    assert compare.replay_days(h, codes.LUNCH, D4, 2) == [D3, D4]
    assert compare.replay_days(h, codes.LUNCH, D3, 5) == [D1, D3]           # up to the date, inclusive
    assert compare.replay_days(h, codes.DINNER, D4, 5) == [D2]
    assert compare.ordered_foods(h, D3, codes.LUNCH) == [3, 4]
    assert compare.ordered_foods(h, D3, codes.DINNER) == []
    assert compare.ordered_foods(h, None, None) == []
    assert compare.history_before(h, D3)[C.FOOD_ID].tolist() == [1, 2]


def test_the_replay_strip_against_a_hand_computed_case():
    # the same pools every day: model A ranks 11 first, model B ranks 12 first (k = 2, knobs off).
    a = pool(1, [11, 12, 13], [1.0, 0.5, 0.0], [KOREAN, KOREAN, CHINESE], label="A")
    b = pool(2, [11, 12, 13], [0.2, 0.9, 0.1], [KOREAN, KOREAN, CHINESE], label="B")
    # ordered: D1 11 (A hits), D2 12 (B hits), D3 11 (A hits): A 2 of 3, B 1 of 3
    h = history([(D1, codes.LUNCH, 11), (D2, codes.LUNCH, 12), (D3, codes.LUNCH, 11)])
    days = compare.replay_days(h, codes.LUNCH, D4, 5)
    result = compare.replay([[a, b]] * len(days), days, compare.Policy.from_knobs(k=2), h, codes.LUNCH)
    assert result.days == [D1, D2, D3]
    assert result.hit_rates == {"A": pytest.approx(2 / 3), "B": pytest.approx(1 / 3)}
    assert result.hits == {"A": 2, "B": 1}
    assert result.table[C.ACTUAL_ORDER].tolist() == ["food 11", "food 12", "food 11"]
    assert result.table["A"].tolist() == ["✅ food 11", "❌ food 11", "✅ food 11"]
    assert result.table["B"].tolist() == ["❌ food 12", "✅ food 12", "❌ food 12"]


def test_the_ordered_food_is_marked_in_every_list_and_the_pick_is_rank_one():
    a = pool(1, [11, 12, 13], [1.0, 0.5, 0.0], [KOREAN, KOREAN, CHINESE])
    b = pool(2, [11, 12, 13], [0.2, 0.9, 0.1], [KOREAN, KOREAN, CHINESE])
    view = compare.side_by_side([a, b], compare.Policy.from_knobs(k=3), ordered=[12], lang=ui_text.KO)
    assert [c.pick for c in view.columns] == [11, 12]
    assert [c.rank_of([12]) for c in view.columns] == [2, 1]
    for column in view.columns:
        marked = column.items.loc[column.items[C.ORDERED], C.FOOD_ID].tolist()
        assert marked == [12]
        assert column.items.loc[column.items[C.FOOD_ID] == 12, C.MARKS].iloc[0].startswith("🛒 실제 주문")
    # match: 0-100 within each pool, 100 for the model's favourite
    assert view.columns[0].items[C.MATCH].tolist() == [100, 50, 0]


def test_identical_lists_are_detected_not_reported_as_equal_findings():
    a = pool(1, [11, 12], [1.0, 0.5], [KOREAN, CHINESE], label="A")
    same = pool(2, [11, 12], [0.9, 0.1], [KOREAN, CHINESE], label="B")
    swapped = pool(3, [11, 12], [0.1, 0.9], [KOREAN, CHINESE], label="C")
    view = compare.side_by_side([a, same, swapped], compare.Policy.from_knobs(k=10))
    assert view.identical_groups() == [(["A", "B", "C"], False)]        # one menu of 2 foods, k = 10
    assert compare.side_by_side([a, same], compare.Policy.from_knobs(k=10)).identical_groups() == [(["A", "B"], True)]
    other = pool(4, [13, 14], [1.0, 0.5], [KOREAN, CHINESE], label="D")
    assert compare.side_by_side([a, other], compare.Policy.from_knobs(k=10)).identical_groups() == []


# ------------------------------------------------------------------------------ comparable figures
def test_coverage_is_measured_against_the_categories_all_pools_offer():
    # A's pool holds only 양식, B's three categories: on A's own yardstick its list would cover
    # 1 of 1 = 100 %; against the common pool (3 categories, lists of 2) it covers 1 / min(2, 3) = 50 %.
    only_western = pool(1, [21, 22], [1.0, 0.5], [WESTERN, WESTERN])
    mixed = pool(2, [31, 32, 33], [1.0, 0.5, 0.2], [KOREAN, CHINESE, WESTERN])
    view = compare.side_by_side([only_western, mixed], compare.Policy.from_knobs(k=2))
    assert view.n_categories == 3
    assert view.columns[0].report.category_coverage == pytest.approx(0.5)
    assert view.columns[1].report.category_coverage == pytest.approx(1.0)     # 2 categories / 2
    alone = compare.side_by_side([only_western], compare.Policy.from_knobs(k=2))
    assert alone.columns[0].report.category_coverage == pytest.approx(1.0)   # nothing else on offer


def test_relevance_kept_never_exceeds_100_percent_when_caps_cut_the_list():
    # relevance (already 0..1) 1.0, 0.9, 0.8, 0.0; categories 1, 1, 1, 2. Own top-3 sums 2.7.
    # One per category: the list is [1.0 (cat 1), 0.0 (cat 2)] -> sum 1.0 -> kept 1.0 / 2.7.
    # (The old mean-based ratio gave 0.5 / 0.9; a list cut to its best food alone gave 1.0 / 0.9 = 111 %.)
    cands = CandidateSet(food_ids=np.array([1, 2, 3, 4]), relevance=np.array([1.0, 0.9, 0.8, 0.0]),
                         features=np.eye(4), category=np.array([1, 1, 1, 2]), maker=np.arange(4))
    result = rerank(cands, RerankSettings(k=3, max_per_category=1))
    report = list_report(cands, result.positions, 3)
    assert report.relevance_ratio == pytest.approx(1.0 / 2.7)
    best_alone = list_report(cands, np.array([0]), 3)
    assert best_alone.relevance_ratio == pytest.approx(1.0 / 2.7) and best_alone.relevance_ratio <= 1.0
    assert "None" not in result.note and "at most 1 per category" in result.note
    maker_only = rerank(CandidateSet(food_ids=np.array([1, 2]), relevance=np.array([1.0, 0.5]),
                                     features=np.eye(2), category=np.array([1, 2]), maker=np.array([7, 7])),
                        RerankSettings(k=2, max_per_maker=1))
    assert maker_only.note and "None" not in maker_only.note and "at most 1 per maker" in maker_only.note


# ------------------------------------------------------------------------------ the catalogue's formats
def test_prices_scores_and_timestamps_read_as_a_pm_expects():
    assert ui_text.won(9000) == "9,000원" and ui_text.won(12500.0) == "12,500원" and ui_text.won(None) == "–"
    assert ui_text.match_percent([2.0, 1.0, 0.0, 1.5]) == [100, 50, 0, 75]
    assert ui_text.match_percent([-3.0, -3.0]) == [100, 100]
    assert ui_text.timestamp(pd.Timestamp("2026-10-15 13:05:42.123")) == "2026-10-15 13:05"
    assert ui_text.timestamp(None) == "–"


@pytest.mark.parametrize("line, korean", [
    ("12.5% of your group's recent orders", "최근 고객사 주문의 12.5%"),
    ("new user: popular in your group lately", "신규 사용자: 최근 고객사에서 인기"),
    ("you ordered it 3 times (20% of your recent orders); had it on a recent service day, so it moves down "
     "for variety", "3번 주문함 (최근 주문의 20%); 최근에 드셔서 다양성을 위해 뒤로"),
    ("ate 제육볶음 3 times · you often eat 한식 (40%)", "제육볶음을(를) 3번 먹음 · 한식을(를) 자주 드심 (40%)"),
    ("follows your recent 김치찌개 (1 day ago)", "최근 드신 김치찌개 다음으로 (1일 전)"),
    ("shares 한식 · 돼지고기 with your past orders", "지난 주문과 공통점: 한식 · 돼지고기"),
])
def test_why_lines_read_in_korean(line, korean):
    assert ui_text.why_line(line) == korean
    assert ui_text.why_line(line, ui_text.EN) == line


def test_every_catalogue_entry_has_both_languages_and_formats():
    for key, (ko, en) in ui_text.TEXT.items():
        assert ko and en, key
        fields_ko = {f for f in __import__("string").Formatter().parse(ko) if f[1]}
        fields_en = {f for f in __import__("string").Formatter().parse(en) if f[1]}
        assert {f[1] for f in fields_ko} == {f[1] for f in fields_en}, key


def test_list_notes_read_in_korean():
    note = "User 5 is not in content #2's training data (cutoff 2026-10-17); retrain it to include them."
    assert ui_text.note_line(note) == ("사용자 5은(는) content #2의 학습 데이터에 없습니다 (기준일 2026-10-17). "
                                       "포함하려면 재학습하세요.")
    caps = "the caps (at most 1 per category and at most 2 per maker) leave only 3 of the 10 asked"
    assert ui_text.note_line(caps) == ("상한(카테고리당 최대 1개 · 메이커스당 최대 2개)때문에 "
                                       "요청한 10개 중 3개만 남습니다")
    assert ui_text.note_line(caps, ui_text.EN) == caps
