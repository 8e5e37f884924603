"""The project's models against well-known references on public data: MovieLens-100K.

The data come from the recbole wheel, which ships MovieLens-100K in its atomic format; recbole is
never imported and is not a runtime dependency. Install it into the bench's environment once
(``make bench`` does it for you):

    .venv/bin/python -m pip install --no-deps recbole==1.2.1

What it does:

1. writes the ratings into a fresh DE database through the project's own schema
   (``kurrant_core.public_data``: one company, one maker, every movie a food on sale with its
   genres as tags, each rating a paid lunch order on its UTC day, every movie on every day's
   menu), then runs ``preprocess``;
2. splits at one global cutoff: the test window is the last 12.5 % of the timeline's span of
   days (first to last rating day, both included; 27 of 215 days for ML-100K), the training part
   everything before it;
3. evaluates every project model with the project's CLI, one call per model (``python -m
   kurrant_core --url URL evaluate --models M --cutoff D --horizon H --k 10 --format json
   --no-tradeoff --exclude-seen --tune --tune-metric catalog:ndcg@10``; the tuner's own grid,
   trial and time budget; flags this build lacks are left out and said so);
4. tunes and evaluates references on the same data: implicit's ALS and BPR and a time-decayed
   popularity, each with a small grid picked by NDCG@10 on the validation window (the H days
   before the cutoff, trained on everything before that window; the window length of the
   project's tuner), then refitted on everything before the cutoff;
5. prints one table on the test users with history before the cutoff (seen foods excluded, the
   project's metric code ``evaluation.protocols.catalog_accuracy`` for every row) and the ratio
   of the project's best learned model to the best reference on NDCG@10.

The CLI's catalog metrics also average over cold test users (no order before the cutoff; 159 of
238 on ML-100K); every metric there is a mean over users, so the figures of the users with history
are recovered exactly from the overall and the ``cold_`` figures.

    .venv/bin/python bench/bench_public_data.py                      # every model, ~7 min on 2 cores
    .venv/bin/python bench/bench_public_data.py --quick              # smoke run, ~1 min
    .venv/bin/python bench/bench_public_data.py --models als,hybrid
    .venv/bin/python bench/bench_public_data.py --url mysql+pymysql://root@127.0.0.1/kl_ml
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from kurrant_core import columns as C, public_data as P, schema as S  # noqa: E402
from kurrant_core.data import ITEM_IDX, TrainingData  # noqa: E402
from kurrant_core.db import make_engine  # noqa: E402
from kurrant_core.evaluation import (  # noqa: E402
    TimeSplit,
    names as N,
    resolve_models,
    split_data,
)
from kurrant_core.evaluation.protocols import catalog_accuracy, truth_of  # noqa: E402
from kurrant_core.models import BASELINE_NAMES, get_model_class  # noqa: E402
from kurrant_core.preprocess import preprocess  # noqa: E402

K = 10
TEST_SHARE = 0.125
SEED = 0
QUICK_USER_EVERY = 4
"""--quick keeps every 4th user (by id) and a few models."""
QUICK_MODELS = "popularity,history,als"
NDCG, RECALL, HR = N.at_k(N.NDCG, K), N.at_k(N.RECALL, K), N.at_k(N.HR, K)
SHOWN = [NDCG, RECALL, HR, N.MRR]
PROJECT, REFERENCE = "project", "reference"
LEARNED_REFERENCES = ("implicit ALS", "implicit BPR")

ALS_GRID = {"factors": [32, 64, 128], "regularization": [0.01, 0.1, 1.0], "alpha": [1.0, 10.0],
            "iterations": [15]}
BPR_GRID = {"factors": [32, 64, 128], "learning_rate": [0.01, 0.05], "regularization": [0.001, 0.01],
            "iterations": [100]}
POPULARITY_GRID = {"half_life_days": [1.0, 3.0, 7.0, 14.0, 30.0, 90.0, float("inf")]}
QUICK_GRIDS = {"als": {"factors": [32, 64], "regularization": [0.1], "alpha": [1.0], "iterations": [15]},
               "bpr": {"factors": [32, 64], "learning_rate": [0.05], "regularization": [0.01], "iterations": [50]},
               "popularity": {"half_life_days": [7.0, float("inf")]}}


@dataclass
class Row:
    """One line of the table: a model's test figures on the users with history."""

    kind: str
    model: str
    params: str
    metrics: dict[str, float]
    fit_seconds: float
    wall_seconds: float
    n_users: int
    note: str = ""
    menu: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ data
def load_movielens(url: str, quick: bool) -> P.Ratings:
    """MovieLens-100K from the recbole wheel, written into ``url`` and preprocessed."""
    folder = P.recbole_movielens_folder()
    data = P.read_movielens(folder)
    if quick:
        keep = data.ratings[P.USER] % QUICK_USER_EVERY == 0
        data = P.Ratings(data.ratings[keep].reset_index(drop=True), data.items)
    engine = make_engine(url)
    started = time.perf_counter()
    counts = P.load_ratings(engine, data)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    preprocess(engine)
    print(f"MovieLens-100K from {folder}: {len(data.ratings):,} ratings, "
          f"{data.ratings[P.USER].nunique():,} users, {len(data.items):,} movies; "
          f"{counts[S.daily_food.name]:,} menu rows; written in {loaded:.1f} s, preprocessed in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    engine.dispose()
    return data


# ------------------------------------------------------------------------------------ project models
def cli_flags() -> list[str]:
    """The optional evaluate flags this build has: ``--exclude-seen``, ``--tune`` and, with it,
    ``--tune-metric`` set to this bench's target (catalog NDCG@k, as for the references)."""
    done = subprocess.run([sys.executable, "-m", "kurrant_core", "evaluate", "--help"], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`python -m kurrant_core evaluate --help` failed:\n{done.stderr[-3000:]}")
    flags = [flag for flag in ("--exclude-seen", "--tune") if flag in done.stdout]
    if "--tune" in flags and "--tune-metric" in done.stdout:
        flags += ["--tune-metric", f"{N.CATALOG}:{NDCG}"]
    return flags


def warm(metrics: dict, keys: list[str], n_key: str) -> dict[str, float]:
    """The figures of the users (or events) with history: every metric is a mean over users, so
    warm = (all x n - cold x n_cold) / (n - n_cold)."""
    n, n_cold = metrics.get(n_key) or 0, metrics.get(N.cold(n_key)) or 0
    if n - n_cold <= 0:
        return {key: float("nan") for key in keys}
    return {key: ((metrics.get(key) or 0.0) * n - (metrics.get(N.cold(key)) or 0.0) * n_cold) / (n - n_cold)
            for key in keys}


def run_params(url: str, run_id: int, model: str, tuning: dict | None) -> str:
    """The run's main hyper-parameters (from ``rec_run.params``) and whether the tuner chose them."""
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(S.rec_run.c.params).where(S.rec_run.c[C.RUN_ID] == run_id)).scalar()
    engine.dispose()
    params = json.loads(stored or "{}")
    main = {key: params[key] for key in get_model_class(model).MAIN_PARAMS if key in params}
    if not isinstance(tuning, dict) or not isinstance(tuning.get("chosen"), dict):
        return format_params(main)
    chosen = tuning["chosen"]
    if not chosen:     # the defaults of the parameters the tuner tried
        from kurrant_core.evaluation.tuning import GRIDS
        tried = {key: value for key, value in main.items() if key in GRIDS.get(model, {})}
        return f"defaults won: {format_params(tried or main)}"
    return format_params(chosen)


def format_params(params: dict) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) or "-"


def evaluate_project_model(url: str, model: str, split: TimeSplit, flags: list[str],
                           artifacts: str) -> Row | str:
    """One model through the CLI; its row, or the error tail when it failed."""
    command = [sys.executable, "-m", "kurrant_core", "--url", url, "evaluate", "--models", model,
               "--cutoff", split.cutoff.isoformat(), "--horizon", str(split.horizon_days), "--k", str(K),
               "--format", "json", "--no-tradeoff", *flags]
    env = dict(os.environ, KURRANT_ARTIFACT_DIR=artifacts)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return "\n".join(done.stderr.strip().splitlines()[-25:])
    rows = {row[C.PROTOCOL]: row for row in json.loads(done.stdout) if row[C.MODEL] == model}
    catalog, menu = rows[N.CATALOG][N.METRICS], rows[N.DAILY_MENU][N.METRICS]
    hr1 = N.at_k(N.HR, 1)
    params = run_params(url, rows[N.CATALOG][C.RUN_ID], model, rows[N.CATALOG].get(N.TUNING))
    return Row(PROJECT, model, params,
               warm(catalog, SHOWN, N.N_USERS), catalog.get(N.FIT_SECONDS) or float("nan"), wall,
               int((catalog.get(N.N_USERS) or 0) - (catalog.get(N.cold(N.N_USERS)) or 0)),
               menu=warm(menu, [hr1, N.MRR], N.N_EVENTS))


# ------------------------------------------------------------------------------------ references
@dataclass
class Window:
    """A training part and the warm users' truth after it, with what each user has seen."""

    data: TrainingData
    truth: pd.DataFrame
    users: np.ndarray          # user indices of the warm truth users

    @classmethod
    def at(cls, engine: sa.Engine, split: TimeSplit) -> Window:
        data, test = split_data(engine, split)
        truth = truth_of(test, data, exclude_seen=True)
        u = data.user_indices(truth[C.USER_ID].unique())
        users = u[~data.cold[u]]
        truth = truth[truth[C.USER_ID].isin(data.user_ids[users])].reset_index(drop=True)
        return cls(data, truth, users)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """users x foods, 1 where the user had the food before the cutoff."""
        binary = self.data.counts.astype(np.float32, copy=True)
        binary.data[:] = 1.0
        return binary.tocsr()

    def accuracy(self, scores: np.ndarray) -> dict[str, float]:
        """``catalog_accuracy`` of the top-k of ``scores`` (warm users x every food) over the
        catalog, the foods each user had before the cutoff excluded."""
        data, items = self.data, self.data.catalog
        s = scores[:, items].astype(np.float64, copy=True)
        seen = self.matrix[self.users][:, items]
        s[seen.nonzero()] = -np.inf
        top = np.argsort(-s, axis=1, kind="stable")[:, :K]
        top_scores = np.take_along_axis(s, top, axis=1)
        valid = np.isfinite(top_scores)
        recs = pd.DataFrame({
            C.USER_ID: np.repeat(data.user_ids[self.users], K)[valid.ravel()],
            C.FOOD_ID: data.food_ids[items[top]][valid],
            C.RANK: np.tile(np.arange(1, K + 1), len(self.users))[valid.ravel()],
            C.SCORE: top_scores[valid]})
        return catalog_accuracy(recs, self.truth, K)


Fit = Callable[[Window, dict], np.ndarray]
"""(window, params) -> scores of the window's warm users x every food."""


def fit_als(window: Window, params: dict) -> np.ndarray:
    from implicit.cpu.als import AlternatingLeastSquares
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=params["factors"], regularization=params["regularization"],
                                        alpha=params["alpha"], iterations=params["iterations"],
                                        random_state=SEED, num_threads=1)
        model.fit(window.matrix, show_progress=False)
        return np.asarray(model.user_factors)[window.users] @ np.asarray(model.item_factors).T


def fit_bpr(window: Window, params: dict) -> np.ndarray:
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    with threadpool_limits(1, "blas"):
        model = BayesianPersonalizedRanking(factors=params["factors"], learning_rate=params["learning_rate"],
                                            regularization=params["regularization"],
                                            iterations=params["iterations"], random_state=SEED, num_threads=1)
        model.fit(window.matrix, show_progress=False)
        return np.asarray(model.user_factors)[window.users] @ np.asarray(model.item_factors).T


def fit_popularity(window: Window, params: dict) -> np.ndarray:
    data, half_life = window.data, params["half_life_days"]
    weights = np.ones(len(data.orders)) if np.isinf(half_life) else data.decay_weights(half_life)
    popularity = np.bincount(data.orders[ITEM_IDX].to_numpy(), weights=weights, minlength=data.n_foods)
    return np.repeat(popularity[None, :], len(window.users), axis=0)


def tune_reference(name: str, fit: Fit, grid: dict[str, list], validation: Window, test: Window) -> Row:
    """Pick the grid point with the best validation NDCG@k, refit before the cutoff, test it."""
    started = time.perf_counter()
    best, best_ndcg = None, -1.0
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        ndcg = validation.accuracy(fit(validation, params))[NDCG]
        if ndcg > best_ndcg:
            best, best_ndcg = params, ndcg
    fit_started = time.perf_counter()
    scores = fit(test, best)
    fit_seconds = time.perf_counter() - fit_started
    metrics = test.accuracy(scores)
    shown = {k: v for k, v in best.items() if len(grid[k]) > 1}
    return Row(REFERENCE, name, format_params(shown), {k: metrics[k] for k in SHOWN}, fit_seconds,
               time.perf_counter() - started, int(metrics[N.N_USERS]),
               note=f"val ndcg {best_ndcg:.4f} ({int(np.prod([len(v) for v in grid.values()]))} points)")


REFERENCES: list[tuple[str, Fit, dict, dict]] = [
    ("implicit ALS", fit_als, ALS_GRID, QUICK_GRIDS["als"]),
    ("implicit BPR", fit_bpr, BPR_GRID, QUICK_GRIDS["bpr"]),
    ("decayed popularity", fit_popularity, POPULARITY_GRID, QUICK_GRIDS["popularity"]),
]
"""Name, fit, grid and --quick grid of each reference."""


# ------------------------------------------------------------------------------------ printing
def print_table(rows: list[Row]) -> None:
    frame = pd.DataFrame([{"kind": r.kind, C.MODEL: r.model, **{k: r.metrics[k] for k in SHOWN},
                           "fit s": r.fit_seconds, "wall s": r.wall_seconds, "users": r.n_users,
                           "params": r.params} for r in rows])
    frame = frame.sort_values(["kind", NDCG], ascending=[True, False])
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 90,
                           "display.float_format", "{:.4f}".format):
        print(frame.to_string(index=False))


def print_comparison(rows: list[Row]) -> None:
    """The project's best learned model against the best reference, and the best learned one."""
    learned = [r for r in rows if r.kind == PROJECT and r.model not in BASELINE_NAMES]
    references = [r for r in rows if r.kind == REFERENCE]
    if not learned or not references:
        print("\n(no learned project model or no reference: nothing to compare)")
        return
    ours = max(learned, key=lambda r: r.metrics[NDCG])
    print()
    for label, pool in (("best reference", references),
                        ("best learned reference", [r for r in references if r.model in LEARNED_REFERENCES])):
        theirs = max(pool, key=lambda r: r.metrics[NDCG])
        print(f"best learned project model {ours.model} NDCG@{K} {ours.metrics[NDCG]:.4f} vs {label} "
              f"{theirs.model} {theirs.metrics[NDCG]:.4f}: x{ours.metrics[NDCG] / theirs.metrics[NDCG]:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="DE database to fill (default: a temporary SQLite file); its raw "
                        "tables are replaced")
    parser.add_argument("--models", help="project models, comma-separated (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: every {QUICK_USER_EVERY}th user, {QUICK_MODELS}, small grids")
    parser.add_argument("--no-project", dest="project", action="store_false", help="references only")
    args = parser.parse_args()
    if P.recbole_movielens_folder() is None:
        print(f"MovieLens-100K comes with the recbole wheel, which is not installed: {P.RECBOLE_INSTALL}")
        return 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kl_public_") as scratch:
        url = args.url or f"sqlite:///{Path(scratch) / 'movielens.sqlite'}"
        data = load_movielens(url, args.quick)
        cutoff, horizon = P.tail_split(data.ratings, TEST_SHARE)
        split = TimeSplit(cutoff, horizon)
        days = P.service_dates(data.ratings)
        first, last = pd.Timestamp(days.min()).date(), pd.Timestamp(days.max()).date()
        print(f"timeline {first} .. {last} ({(last - first).days + 1} days); test = the last "
              f"{TEST_SHARE:.1%} of its span: {horizon} days [{cutoff}, {last}]; validation (references) "
              f"= the {horizon} days [{cutoff - timedelta(days=horizon)}, {cutoff - timedelta(days=1)}]")
        rows: list[Row] = []
        failures: dict[str, str] = {}
        if args.project:
            flags = cli_flags()
            missing = {"--exclude-seen", "--tune"} - set(flags)
            print(f"project models via `evaluate {' '.join(flags)}`"
                  + (f" (this build lacks {', '.join(sorted(missing))})" if missing else ""), flush=True)
            names = resolve_models(args.models or (QUICK_MODELS if args.quick else "all"))
            for name in names:
                result = evaluate_project_model(url, name, split, flags, str(Path(scratch) / "artifacts"))
                if isinstance(result, str):
                    failures[name] = result
                    print(f"  {name:<11} FAILED", flush=True)
                else:
                    rows.append(result)
                    print(f"  {name:<11} ndcg@{K} {result.metrics[NDCG]:.4f}  ({result.wall_seconds:.0f} s)",
                          flush=True)
        engine = make_engine(url)
        test, validation = Window.at(engine, split), Window.at(engine, TimeSplit(cutoff - timedelta(days=horizon),
                                                                                horizon))
        engine.dispose()
        print(f"references: {len(validation.users)} validation users, {len(test.users)} test users with history",
              flush=True)
        for name, fit, grid, quick_grid in REFERENCES:
            row = tune_reference(name, fit, quick_grid if args.quick else grid, validation, test)
            rows.append(row)
            print(f"  {name:<18} ndcg@{K} {row.metrics[NDCG]:.4f}  {row.note}  ({row.wall_seconds:.0f} s)",
                  flush=True)
    print(f"\ncatalog protocol, k = {K}, test users with history before {cutoff}, seen foods excluded "
          f"(recall@{K} = hits / min(|relevant|, {K}); MRR within the top {K}; fit s = the final fit; "
          "wall s = tuning + fit + scoring, for project models the whole CLI call)")
    print_table(rows)
    menu_rows = [r for r in rows if r.menu]
    if menu_rows:
        print("\ndaily-menu protocol, secondary here (every movie is on every day's menu and seen foods "
              "stay in it; events of users with history):")
        for r in menu_rows:
            print(f"  {r.model:<11} HR@1 {r.menu[N.at_k(N.HR, 1)]:.4f}  MRR {r.menu[N.MRR]:.4f}")
    print_comparison(rows)
    for name, tail in failures.items():
        print(f"\n{name} failed:\n{tail}")
    print(f"\nwhole bench {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
