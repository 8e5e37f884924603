"""One user's lists side by side: candidates scored once, re-ranked live on every knob move.

Two steps with very different costs, so the page caches the slow one and repeats the fast one:

1. :func:`candidates_for_run` / :func:`score_candidates` load a run's model, score the user's
   candidate pool (a day's menu or the catalog, ~50 foods), and explain each food. The page
   caches the result per (run, user, date, meal).
2. :func:`side_by_side` re-ranks every pool with the sidebar's knobs (``kurrant_core.rerank``:
   the allergy filter always applies), measures each list against the model's own top-k, marks
   foods shared by several lists or eaten before, and computes the overlap between lists and
   their category mixes. It runs on every knob move (``bench/bench_compare.py`` times it).

A run whose saved model is gone still shows the list it stored in ``rec_user_recommend``; the
knobs cannot re-rank it, and its column says so.
"""
from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kurrant_core import columns as C, runs, schema as S, ui_text
from kurrant_core.candidates import DEFAULT_POOL, candidate_sets
from kurrant_core.compare.runs import load_run_model, run_label
from kurrant_core.errors import KurrantError
from kurrant_core.models import Recommender
from kurrant_core.rerank import CandidateSet, ListReport, Policy, jaccard, list_report, rbo, rerank
from kurrant_core.ui_text import match_percent

FOOD_FACTS = [C.FOOD_ID, C.FOOD_NAME, C.MAKERS_NAME, C.CUISINE_LABEL, C.SPICINESS_LABEL, C.PRICE]
CANDIDATE_COLUMNS = [*FOOD_FACTS, C.SCORE, C.MODEL_RANK, C.WHY]
"""One row per candidate of a ScoredCandidates, in CandidateSet order."""
ITEM_COLUMNS = [C.RANK, *FOOD_FACTS, C.SCORE, C.MODEL_RANK, C.MARKS, C.ORDERED, C.MATCH, C.WHY, C.N_LISTS,
                C.LAST_EATEN]
"""One row per food of a shown list, best first."""
HISTORY_LABEL = "Order history"
RBO_PERSISTENCE = 0.9
"""RBO's p: the top 10 ranks carry about 86% of the weight."""


# ------------------------------------------------------------------------------ scored pools
@dataclass(frozen=True, eq=False)
class ScoredCandidates:
    """A run's scored candidate pool for one user (``candidates`` None: only the stored list)."""

    run_id: int
    label: str
    foods: pd.DataFrame
    candidates: CandidateSet | None = None
    note: str = ""
    is_cold_start: bool = False

    @property
    def is_live(self) -> bool:
        return self.candidates is not None

    def column(self, name: str) -> pd.api.extensions.ExtensionArray:
        """One column of ``foods`` as a typed array (memoised: every knob move reads them again;
        taking rows from it keeps the dtype, so the shown frame is built without re-inference)."""
        cache = self.__dict__.setdefault("_columns", {})
        if name not in cache:
            cache[name] = self.foods[name].array
        return cache[name]

    def own_top_report(self, k: int, n_categories: int | None = None) -> ListReport | None:
        """The report of the model's own top-k (memoised per k and yardstick: the knobs do not move it)."""
        if self.candidates is None or len(self.candidates) == 0:
            return None
        cache = self.__dict__.setdefault("_own_top", {})
        if (k, n_categories) not in cache:
            cache[k, n_categories] = list_report(self.candidates, _own_top(self.candidates, k), k, n_categories)
        return cache[k, n_categories]

    def categories_on_offer(self) -> np.ndarray:
        """Category codes of the allergen-free candidates (empty for a stored list)."""
        if self.candidates is None:
            return np.array([], dtype=int)
        return np.unique(self.candidates.category[~self.candidates.allergen])


def _no_foods() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in CANDIDATE_COLUMNS})


def score_candidates(model: Recommender, user_id: int, *, run_id: int, label: str,
                     service_date: date | None = None, dining_type: int | None = None,
                     n: int = DEFAULT_POOL) -> ScoredCandidates:
    """Score the model's top-``n`` candidates for the user, with food facts and a why-line each.

    An empty pool (no menu, a user the run never saw, everything blocked by allergies) comes
    back with a note saying why, not as an error: the other columns can still be compared.
    """
    data = model.data_
    user_id = int(user_id)
    if user_id not in data.user_index:
        return ScoredCandidates(run_id, label, _no_foods(), note=(
            f"User {user_id} is not in {label}'s training data (cutoff {data.cutoff}); retrain it to "
            "include them."))
    pool = candidate_sets(data, model, [user_id], n=n, service_date=service_date,
                          dining_type=dining_type).get(user_id)
    if pool is None:
        return ScoredCandidates(run_id, label, _no_foods(), note=(
            f"{label} has nothing to rank here: the menu is empty or every food on it carries one of "
            "the user's allergies."))
    foods = data.foods.iloc[data.food_indices(pool.food_ids)][FOOD_FACTS].reset_index(drop=True)
    foods[C.SCORE] = pool.relevance
    foods[C.MODEL_RANK] = np.argsort(np.argsort(-pool.relevance, kind="stable"), kind="stable") + 1
    explain_in = getattr(model, "explain_in", None)      # an ensemble: where each member put the food
    foods[C.WHY] = (explain_in(user_id, pool.food_ids, service_date=service_date, dining_type=dining_type)
                    if explain_in else model.explain(user_id, pool.food_ids))
    return ScoredCandidates(run_id, label, foods, pool,
                            is_cold_start=data.is_cold(data.user_index[user_id]))


def food_facts(engine: sa.Engine, food_ids: Sequence[int]) -> pd.DataFrame:
    """FOOD_FACTS of the given foods from ``mart_food`` (for lists read back from a run)."""
    food = S.mart_food.c
    query = sa.select(*[food[name] for name in FOOD_FACTS]).where(food[C.FOOD_ID].in_([int(f) for f in food_ids]))
    with engine.connect() as conn:
        return pd.DataFrame([tuple(r) for r in conn.execute(query)], columns=FOOD_FACTS)


def stored_candidates(engine: sa.Engine, run_id: int, label: str, user_id: int, *,
                      service_date: date | None = None, dining_type: int | None = None,
                      why: str = "") -> ScoredCandidates:
    """The list the run stored for the user and setting, as a pool the knobs cannot re-rank."""
    rows = runs.read_recommendations(engine, run_id, user_id, service_date, dining_type=dining_type,
                                     catalog_only=service_date is None)
    stored = rows[[C.FOOD_ID, C.SCORE, C.RANK]].rename(columns={C.RANK: C.MODEL_RANK})
    foods = food_facts(engine, stored[C.FOOD_ID]).merge(stored, on=C.FOOD_ID).sort_values(C.MODEL_RANK)
    foods[C.WHY] = ""
    shown = ("Showing the list it stored; the knobs do not apply to it." if len(foods) else
             "It stored no list for this user and setting either.")
    return ScoredCandidates(run_id, label, foods[CANDIDATE_COLUMNS].reset_index(drop=True),
                            note=f"{why} {shown}".strip())


def candidates_for_run(engine: sa.Engine, run_id: int, user_id: int, *, service_date: date | None = None,
                       dining_type: int | None = None, n: int = DEFAULT_POOL,
                       load_model: Callable[[int], Recommender] | None = None) -> ScoredCandidates:
    """The run's scored pool for the user: live from its saved model (``load_model``, e.g. a cached
    loader; default :func:`load_run_model`), else the list it stored."""
    run = runs.get_run(engine, run_id)
    label = run_label(run.model, run_id)
    try:
        model = (load_model or (lambda rid: load_run_model(engine, rid)))(int(run_id))
    except KurrantError as exc:
        return stored_candidates(engine, run_id, label, user_id, service_date=service_date,
                                 dining_type=dining_type, why=str(exc))
    return score_candidates(model, user_id, run_id=int(run_id), label=label, service_date=service_date,
                            dining_type=dining_type, n=n)


# ------------------------------------------------------------------------------- side by side
@dataclass(frozen=True, eq=False)
class ColumnView:
    """One model's shown list and what it costs (``report``) against its own top-k (``baseline``)."""

    run_id: int
    label: str
    items: pd.DataFrame
    report: ListReport | None
    baseline: ListReport | None
    note: str
    is_live: bool
    is_cold_start: bool
    n_allergen_removed: int = 0
    n_recent_removed: int = 0

    @property
    def food_ids(self) -> list[int]:
        return [int(f) for f in self.items[C.FOOD_ID]]

    @property
    def pick(self) -> int | None:
        """The list's #1, the food the app shows as the AI pick of the day (None for an empty list)."""
        return int(self.items[C.FOOD_ID].iloc[0]) if len(self.items) else None

    def rank_of(self, food_ids: Iterable[int]) -> int | None:
        """The best rank (1 = first) of any of ``food_ids`` in the list; None when none is in it."""
        wanted = {int(f) for f in food_ids}
        ranks = [n for n, f in enumerate(self.food_ids, start=1) if f in wanted]
        return min(ranks) if ranks else None


@dataclass(frozen=True, eq=False)
class SideBySide:
    """Everything the comparison shows below the knobs."""

    columns: list[ColumnView]
    overlap: pd.DataFrame
    category_mix: pd.DataFrame
    n_categories: int | None = None
    """Distinct categories on offer in the union of the live pools: every list's coverage uses it."""

    def identical_groups(self) -> list[tuple[list[str], bool]]:
        """Lists that hold the same foods, as (labels, same order too), for two or more lists each.

        A menu shorter than k makes every model's list the whole menu: their list figures are then
        equal by construction, and the page says so instead of showing equal metrics as a finding.
        """
        groups: dict[frozenset[int], list[ColumnView]] = {}
        for column in self.columns:
            if len(column.items):
                groups.setdefault(frozenset(column.food_ids), []).append(column)
        return [([c.label for c in same], len({tuple(c.food_ids) for c in same}) == 1)
                for same in groups.values() if len(same) > 1]


@dataclass(frozen=True)
class _Ranked:
    positions: np.ndarray
    report: ListReport | None = None
    baseline: ListReport | None = None
    note: str = ""
    n_allergen_removed: int = 0
    n_recent_removed: int = 0


def _own_top(pool: CandidateSet, k: int) -> np.ndarray:
    """The model's own top-k: allergen-free candidates by relevance (ties: pool order)."""
    allowed = np.flatnonzero(~pool.allergen)
    return allowed[np.argsort(-pool.relevance[allowed], kind="stable")[:k]]


def _rank(scored: ScoredCandidates, settings: Policy, n_categories: int | None = None) -> _Ranked:
    """Re-rank a live pool (k capped at its size, so a short menu is not reported as a shortfall);
    a stored list keeps its order. ``n_categories``: the common yardstick of category coverage."""
    pool = scored.candidates
    if pool is None or len(pool) == 0:
        return _Ranked(np.arange(min(settings.k, len(scored.foods))), note=scored.note)
    k = min(settings.k, len(pool))
    result = rerank(pool, dataclasses.replace(settings, k=k))
    notes = " ".join(n for n in (scored.note, result.note) if n)
    return _Ranked(result.positions, list_report(pool, result.positions, k, n_categories),
                   scored.own_top_report(k, n_categories), notes, result.n_allergen_removed,
                   result.n_recent_removed)


def last_eaten(history: pd.DataFrame | None) -> dict[int, date]:
    """Food id -> the last service date the user ate it, from :func:`users.user_history`."""
    if history is None or history.empty:
        return {}
    days = history[C.SERVICE_DATE].to_numpy().astype("datetime64[D]")
    order = np.argsort(days, kind="stable")       # later dates overwrite earlier ones below
    return dict(zip(history[C.FOOD_ID].to_numpy()[order].tolist(), days[order].astype(object)))


def marks_text(n_lists: int, n_columns: int, eaten: date | None, ordered: bool = False,
               lang: str = ui_text.EN) -> str:
    """The marks next to a food: what the user really ordered that day, shared by several lists,
    eaten before (and when), in ``lang``."""
    parts = [ui_text.text("mark.ordered", lang)] if ordered else []
    if n_lists > 1:
        parts.append(ui_text.text("mark.shared", lang, n=n_lists, total=n_columns))
    if eaten is not None:
        parts.append(ui_text.text("mark.eaten", lang, day=eaten.isoformat()))
    return " · ".join(parts)


def side_by_side(scored: Sequence[ScoredCandidates], settings: Policy,
                 history: pd.DataFrame | None = None, ordered: Iterable[int] = (),
                 lang: str = ui_text.EN) -> SideBySide:
    """Re-rank every pool with ``settings`` and assemble the comparison (see the module docstring).

    ``history`` is the user's paid orders before the service date (:func:`users.user_history`):
    it marks foods eaten before and is the first bar of the category mix. ``ordered``: the foods
    the user really ordered in this setting (a past day's menu), marked in every list (ORDERED).
    ``lang``: the language of the marks and of the history's label in the category mix.
    Category coverage is measured against the categories on offer in all live pools together, so
    a list is not "complete" just because its own pool held one category.
    """
    on_offer = [s.categories_on_offer() for s in scored if s.is_live]
    n_categories = int(np.unique(np.concatenate(on_offer)).size) if on_offer else None
    ranked = [_rank(s, settings, n_categories) for s in scored]
    ordered = {int(f) for f in ordered}
    lists = [np.asarray(s.column(C.FOOD_ID))[r.positions].astype(int).tolist() for s, r in zip(scored, ranked)]
    shared = Counter(f for foods in lists for f in set(foods))
    eaten = last_eaten(history)
    columns = []
    for s, r, foods in zip(scored, ranked, lists):
        match = np.asarray(match_percent(s.column(C.SCORE)), dtype=int)
        items = pd.DataFrame({
            C.RANK: np.arange(1, len(foods) + 1),
            **{name: s.column(name).take(r.positions) for name in CANDIDATE_COLUMNS if name != C.WHY},
            C.MARKS: [marks_text(shared[f], len(scored), eaten.get(f), f in ordered, lang) for f in foods],
            C.ORDERED: [f in ordered for f in foods],
            C.MATCH: match[r.positions] if len(match) else np.zeros(0, dtype=int),
            C.WHY: s.column(C.WHY).take(r.positions),
            C.N_LISTS: [shared[f] for f in foods],
            C.LAST_EATEN: [eaten.get(f) for f in foods]})
        columns.append(ColumnView(s.run_id, s.label, items, r.report, r.baseline, r.note,
                                  s.is_live, s.is_cold_start, r.n_allergen_removed, r.n_recent_removed))
    return SideBySide(columns, overlap_table([c.label for c in columns], lists),
                      category_mix(history, columns, ui_text.text("cmp.history_label", lang)),
                      n_categories or None)


def overlap_table(labels: Sequence[str], lists: Sequence[Sequence[int]],
                  p: float = RBO_PERSISTENCE) -> pd.DataFrame:
    """Jaccard and rank-biased overlap of every pair of lists (LIST_LABEL, OTHER_LIST, JACCARD, RBO).

    Jaccard sees the lists as sets (1 for two rankings of the same menu); RBO also weighs where
    they agree, top ranks first, so it still tells two orderings of one menu apart.
    """
    rows = [(labels[a], labels[b], jaccard(lists[a], lists[b]), rbo(lists[a], lists[b], p))
            for a, b in combinations(range(len(lists)), 2)]
    return pd.DataFrame(rows, columns=[C.LIST_LABEL, C.OTHER_LIST, C.JACCARD, C.RBO])


def category_mix(history: pd.DataFrame | None, columns: Sequence[ColumnView],
                 history_label: str = HISTORY_LABEL) -> pd.DataFrame:
    """Share of each category (LIST_LABEL, CUISINE_LABEL, SHARE): the user's paid items first, then
    each list, so calibration (how closely a list follows the user's mix) is visible."""
    parts = [(history_label, history)] if history is not None and not history.empty else []
    parts += [(column.label, column.items) for column in columns if not column.items.empty]
    rows = []
    for label, frame in parts:
        counts = Counter(frame[C.CUISINE_LABEL].astype(str).tolist())
        total = sum(counts.values())
        rows += [(label, category, n / total) for category, n in counts.most_common()]
    return pd.DataFrame(rows, columns=[C.LIST_LABEL, C.CUISINE_LABEL, C.SHARE])


# --------------------------------------------------------------------------- per-list metrics
@dataclass(frozen=True)
class ReportMetric:
    """One figure of a ListReport as the page shows it, with its change against the model's own
    top-k (the same list with every knob off)."""

    field: str
    label: str
    fmt: str
    delta_fmt: str
    help: str
    lower_is_better: bool = False

    @property
    def key(self) -> str:
        """Its name in the label catalogue (``ui_text``: ``metric.<key>`` and ``metric.<key>_help``)."""
        return _METRIC_KEYS[self.field]

    def display(self, report: ListReport | None, baseline: ListReport | None) -> tuple[str, str | None]:
        """(value, change) as text; "–" for a figure that does not exist (one food, a cold user),
        no change when the knobs left it where it was."""
        value = getattr(report, self.field) if report is not None else math.nan
        if value is None or math.isnan(value):
            return "–", None
        base = getattr(baseline, self.field) if baseline is not None else math.nan
        change = None if base is None or math.isnan(base) or abs(value - base) < 1e-9 else value - base
        return self.fmt.format(value), None if change is None else self.delta_fmt.format(change)


_METRIC_KEYS = {"intra_list_diversity": "diversity", "category_coverage": "coverage", "novelty": "novelty",
                "calibration_error": "calibration", "relevance_ratio": "relevance"}

REPORT_METRICS: tuple[ReportMetric, ...] = (
    ReportMetric("intra_list_diversity", "Diversity", "{:.2f}", "{:+.2f}",
                 "Intra-list diversity: mean pairwise 1 − cosine similarity of the foods' features."),
    ReportMetric("category_coverage", "Coverage", "{:.0%}", "{:+.0%}",
                 "Distinct categories in the list / the most a list of its length could hold from the "
                 "categories on offer in all compared pools together."),
    ReportMetric("novelty", "Novelty", "{:.2f}", "{:+.2f}",
                 "Mean −log2 popularity share among the candidates (bits): higher = less mainstream."),
    ReportMetric("calibration_error", "Calib. error", "{:.2f}", "{:+.2f}",
                 "KL divergence of the user's category mix from the list's: lower = closer to their "
                 "taste.", lower_is_better=True),
    ReportMetric("relevance_ratio", "Relevance kept", "{:.0%}", "{:+.0%}",
                 "The list's model relevance (min-max scaled over the pool) against the model's own "
                 "top-k, summed over its k places: 100% = nothing given up, the maximum."),
)
