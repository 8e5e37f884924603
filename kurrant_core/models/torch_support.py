"""What the two torch recommenders share: a seeded, thread-limited session and state files, and
the menu choice logit that ``sequential`` pools with its network (``fit_choice_logit``).

Imported only by ``ncf`` and ``sequential``, so torch is loaded when one of them is used and
never at package import. The session keeps torch's global RNG and thread count as they were, so
fitting a model inside the dashboard or the retrain job leaves nothing changed behind it.
"""
from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from kurrant_core import columns as C
from kurrant_core.data import CHOSEN, ITEM_IDX, TrainingData, meal_numbers, meals_of
from kurrant_core.errors import KurrantError
from kurrant_core.models.base import Recommender
from kurrant_core.models.choice_features import MenuChoices


def free_cores() -> int:
    """The cores this process may run on (its affinity, else ``os.cpu_count()``), less those the
    machine is already busy with (the 1-minute load average), at least 1; ``KURRANT_TORCH_THREADS``
    overrides it."""
    if os.environ.get("KURRANT_TORCH_THREADS", "").strip().isdigit():
        return max(1, int(os.environ["KURRANT_TORCH_THREADS"]))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                  # not Linux
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


TORCH_THREADS = free_cores()
"""Threads a torch fit or score runs on: the machine's free cores, fixed once per process (so a
model scores with the thread count it was fitted with, and float reductions repeat exactly). Set
only inside ``torch_session``, so nothing else in the process is changed. Not simply every core:
measured on the shared 2-core workbench under load, NeuMF on 2 threads ran 10-16x slower than on 1
(OpenMP threads spinning for a core a neighbour holds); on an idle many-core machine it gets them."""
VALIDATION_DAYS = 14
"""The validation window of early stopping: the last 14 days before the cutoff, as the evaluation's
validation window (``evaluation.tuning``: the horizon, 14 days by default, before the cutoff)."""
MAX_VALIDATION_SHARE = 0.25
"""Early stopping holds the validation window out only when it is at most this share of the paid
items: with less history the model trains its full ``epochs`` on everything instead."""
MIN_VALIDATION_ORDERS = 20
"""Fewest validation orders (with a known menu) that early stopping can judge an epoch on."""
MAX_VALIDATION_ORDERS = 20_000
"""Validation orders an epoch is judged on at most (a seeded sample): bounds the check's cost."""
FULL_SOFTMAX_MAX_ITEMS = 5_000
"""Largest catalogue a softmax runs over whole; above it, sampled foods stand in for the rest."""
LARGE_WORLD_ORDERS = 1_000_000
"""Paid items from which a torch model takes its large-world defaults (epochs, batch size, sequence
length, negatives): fewer passes over more data each."""

STATE_FILE = "state_dict.pt"


def resolve_seed(random_state: int | None) -> int:
    """The seed a fit uses: ``random_state`` itself, or fresh entropy when it is None."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    return int(random_state)


@contextmanager
def torch_session(seed: int | None = None) -> Iterator[None]:
    """Run torch work on ``TORCH_THREADS`` threads, with torch's RNG seeded privately when given.

    Global RNG state and the thread count are restored on exit; scoring runs with the same thread
    count as fitting, so float reductions (and therefore scores) are reproducible.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(previous)


def effective_batch_size(n_examples: int, batch_size: int, min_steps: int) -> int:
    """``batch_size``, or smaller when an epoch would otherwise make fewer than ``min_steps``
    optimizer updates: on a small data set big batches would leave the network untrained."""
    return max(1, min(batch_size, -(-n_examples // min_steps)))


def save_state(net: torch.nn.Module, folder: Path) -> None:
    """Write the network's weights (``state_dict``) into a model folder."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), folder / STATE_FILE)


def load_state(net: torch.nn.Module, folder: Path) -> torch.nn.Module:
    """Fill a freshly built network with the weights saved by ``save_state``; returns it in eval mode."""
    net.load_state_dict(torch.load(folder / STATE_FILE, weights_only=True))
    return net.eval()


@dataclass(frozen=True)
class Meals:
    """The menus users chose from: meal numbers that link ``orders`` rows to ``exposures`` rows."""

    of_order: np.ndarray
    """Meal number of each ``data.orders`` row (-1 when that day's menu is not known)."""
    menus: sp.csr_matrix
    """meals x foods, True where the food was on that meal's menu."""
    unchosen: sp.csr_matrix
    """meals x foods, True where the food was on the menu and the user did not order it."""


def number_meals(data: TrainingData) -> Meals:
    """Number every meal in ``data.exposures`` and find each order's meal."""
    exposures = data.exposures
    meal = meal_numbers(exposures)
    items = exposures[ITEM_IDX].to_numpy()
    shape = (int(meal.max()) + 1 if len(meal) else 0, data.n_foods)
    unchosen = ~exposures[CHOSEN].to_numpy(dtype=bool)
    menus = sp.csr_matrix((np.ones(len(meal), dtype=bool), (meal, items)), shape=shape)
    others = sp.csr_matrix((np.ones(int(unchosen.sum()), dtype=bool), (meal[unchosen], items[unchosen])),
                           shape=shape)
    return Meals(of_order=meals_of(data.orders, exposures, meal), menus=menus, unchosen=others)


def validation_orders(data: TrainingData, seed: int = 0) -> np.ndarray | None:
    """Boolean mask of the ``orders`` rows in the validation window (the last ``VALIDATION_DAYS``
    before the cutoff), or None when the data is too short to spare it (see
    ``MAX_VALIDATION_SHARE`` and ``MIN_VALIDATION_ORDERS``): then a fit trains without early
    stopping. The model only ever sees its ``TrainingData``: the window is cut from it."""
    start = np.datetime64(data.cutoff, "D") - np.timedelta64(VALIDATION_DAYS, "D")
    held = data.orders[C.SERVICE_DATE].to_numpy().astype("datetime64[D]") >= start
    n_held = int(held.sum())
    if n_held < MIN_VALIDATION_ORDERS or n_held > MAX_VALIDATION_SHARE * len(held):
        return None
    return held


def sample_rows(mask: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of the True rows of ``mask``, a seeded sample of ``limit`` of them when there are more."""
    rows = np.flatnonzero(mask)
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))
    return rows


def candidate_matrix(targets: np.ndarray, menus: sp.csr_matrix | None, meals: np.ndarray | None,
                     n_items: int, n_sampled: int, rng: np.random.Generator) -> np.ndarray:
    """rows x width food indices each target competes with: the target in column 0, then the other
    foods of its meal's menu (``menus`` row ``meals[r]``), padded with -1.

    A target whose menu is unknown (``meals`` -1, or no ``menus``: the catalog objective) competes
    with the whole catalog when it has at most ``FULL_SOFTMAX_MAX_ITEMS`` foods, else with
    ``n_sampled`` foods drawn uniformly (sampled softmax: a large catalogue's full softmax costs
    more than the rest of the network).
    """
    targets = np.asarray(targets, dtype=np.int64)
    n = len(targets)
    known = np.zeros(n, dtype=bool) if menus is None or meals is None else np.asarray(meals) >= 0
    rows = menus[np.asarray(meals)[known]] if known.any() else sp.csr_matrix((0, n_items))
    counts = np.zeros(n, dtype=np.int64)
    counts[known] = np.diff(rows.indptr)
    unknown = ~known
    fill = n_items if n_items <= FULL_SOFTMAX_MAX_ITEMS else int(n_sampled)
    counts[unknown] = fill
    out = np.full((n, 1 + int(counts.max(initial=0))), -1, dtype=np.int64)
    out[:, 0] = targets
    where = np.flatnonzero(known)
    k = np.diff(rows.indptr)
    out[np.repeat(where, k), 1 + np.arange(rows.nnz) - np.repeat(rows.indptr[:-1], k)] = rows.indices
    if unknown.any():
        where = np.flatnonzero(unknown)
        foods = (np.broadcast_to(np.arange(n_items), (len(where), n_items)) if fill == n_items
                 else rng.integers(0, n_items, size=(len(where), fill)))
        out[where, 1:1 + fill] = foods
    out[:, 1:][out[:, 1:] == targets[:, None]] = -1          # the target competes once
    return out


def candidate_mrr(scores: np.ndarray) -> float:
    """Mean reciprocal rank of column 0 among each row's scores (-inf pads, ties do not count against
    it): the daily-menu MRR of ``candidate_matrix`` rows."""
    if len(scores) == 0:
        return 0.0
    rank = 1 + (scores[:, 1:] > scores[:, :1]).sum(axis=1)
    return float(np.mean(1.0 / rank))


log = logging.getLogger("kurrant_core.models.training")


class EpochLog:
    """One log line per epoch (loss, validation MRR, seconds): a retrain's log tail, which the job's
    heartbeat shows on Retrain & runs, moves with every epoch of a long fit."""

    def __init__(self, model: str, epochs: int):
        self.model, self.epochs, self.started = model, epochs, time.perf_counter()

    def epoch(self, n: int, loss: float, validation: float | None = None) -> None:
        checked = "" if validation is None else f", validation MRR {validation:.4f}"
        log.info("%s epoch %d/%d: loss %.4f%s (%.0f s)", self.model, n + 1, self.epochs, loss, checked,
                 time.perf_counter() - self.started)


def scaled(value, n_examples: int, small, large):
    """``value`` when given; else the default of the data's scale (``LARGE_WORLD_ORDERS``)."""
    if value is not None:
        return value
    return small if n_examples < LARGE_WORLD_ORDERS else large


class EarlyStopping:
    """Keeps the weights of the best epoch on validation and says when ``patience`` epochs in a row
    have not beaten it (by more than ``min_delta``); ``restore`` puts the best weights back."""

    def __init__(self, patience: int, min_delta: float = 1e-4):
        if patience < 1:
            raise KurrantError(f"patience must be at least 1 epoch, not {patience}.")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.scores: list[float] = []
        self.best_epoch = -1
        self._best_state: dict | None = None

    def should_stop(self, score: float, net: torch.nn.Module) -> bool:
        """Record one epoch's validation score (higher is better); True when training should stop."""
        self.scores.append(float(score))
        if self.best_epoch < 0 or score > self.scores[self.best_epoch] + self.min_delta:
            self.best_epoch = len(self.scores) - 1
            self._best_state = copy.deepcopy(net.state_dict())
        return len(self.scores) - 1 - self.best_epoch >= self.patience

    def restore(self, net: torch.nn.Module) -> None:
        if self._best_state is not None:
            net.load_state_dict(self._best_state)


class TorchRecommender(Recommender):
    """A recommender whose learned network ``net_`` is saved as a state dict beside the base's files.

    Subclasses say how to build an untrained network of the fitted shape (:meth:`_new_net`); saving,
    loading and keeping the network out of the base's generic state live here once.
    """

    def _new_net(self) -> torch.nn.Module:
        raise NotImplementedError

    def _learned_state(self) -> dict:
        return {k: v for k, v in super()._learned_state().items() if k != "net_"}

    def _save_state(self, folder: Path) -> None:
        super()._save_state(folder)
        save_state(self.net_, folder)

    def _load_state(self, folder: Path) -> None:
        super()._load_state(folder)
        self.net_ = load_state(self._new_net(), folder)


# ====================================================================== the menu choice logit
CHOICE_LOGIT_ITERATIONS = 60
"""L-BFGS iterations per fit of the choice logit (two fits: isotropic prior, then per-column);
preconditioned, it has converged by then on the demo world (150 gives the same ranking)."""


@dataclass(frozen=True)
class ChoiceLogit:
    """A conditional logit of menu choices with per-user taste (numpy arrays, ready to save).

    utility(u, f) = bias[f] + coef[u] . design[f] + habit[u] x log(1 + times u ate f)
                    + variety . (the variety terms of u, f on that day)
    """

    bias: np.ndarray        # [foods]
    coef: np.ndarray        # [users, columns]: the population's taste plus the user's own
    habit: np.ndarray       # [users]
    variety: np.ndarray     # [len(VARIETY_TERMS)]


def fit_choice_logit(choices: MenuChoices, design: np.ndarray, n_users: int, *, l2: float = 1.0, habit_l2: float = 10.0,
                     max_iter: int = CHOICE_LOGIT_ITERATIONS, seed: int = 0) -> ChoiceLogit:
    """Fit the menu choice logit on ``choices`` (``choice_features.menu_choices``) and the foods'
    ``design`` (``choice_features.food_attribute_design``) by penalised maximum likelihood (L-BFGS,
    full batch).

    Each user's taste is the population's (unpenalised) plus their own deviation under a Gaussian
    prior: the user's deviation costs ``l2`` x precision_c x coef^2 per column c (summed over
    users, relative to the number of menus). Empirical Bayes chooses the precisions: a first fit
    with every precision 1, then precision_c = 1 / the users' mean squared deviation in column c
    (scaled to a geometric mean of 1) and a second fit from the first. Columns along which users
    really differ are shrunk little, columns of noise a lot (automatic relevance determination).
    The habit slope is the population's plus a user deviation under ``habit_l2``.
    """
    n_sets = len(choices.user)
    X = torch.as_tensor(np.asarray(design, dtype=np.float32))
    n_foods, n_cols = X.shape
    foods = torch.as_tensor(np.maximum(choices.foods, 0))
    users = torch.as_tensor(choices.user)
    chosen = torch.as_tensor(choices.chosen)[:, None]
    habit = torch.as_tensor(choices.habit)
    variety = torch.as_tensor(choices.variety)
    padding = torch.as_tensor(np.where(choices.foods >= 0, 0.0, -1e4).astype(np.float32))
    # the taste match per user x food (time users x foods x columns) or per menu position (memory
    # sets x width x columns): whichever is smaller
    per_user = n_users * n_foods <= foods.numel()
    pairs = (users[:, None] * n_foods + foods).reshape(-1) if per_user else foods.reshape(-1)
    X_menu = None if per_user else X[foods]
    # diagonal preconditioning: the loss is a mean over menus, so a user's (a food's) parameters
    # get curvature ~ their share of the menus; scaling each by 1 / sqrt(that share) makes every
    # direction about equally curved, and L-BFGS converges in far fewer steps
    n_user_sets = np.bincount(choices.user, minlength=n_users).astype(np.float32)
    n_food_sets = np.bincount(np.maximum(choices.foods, 0)[choices.foods >= 0], minlength=n_foods)
    user_scale = torch.as_tensor(np.sqrt(max(n_sets, 1) / (n_user_sets + float(l2) + 1.0)))
    food_scale = torch.as_tensor(np.sqrt(max(n_sets, 1) / (n_food_sets.astype(np.float32) + 1.0)))
    with torch_session(seed):
        raw_bias = torch.zeros(n_foods, requires_grad=True)
        base = torch.zeros(n_cols, requires_grad=True)
        raw_own = torch.zeros(n_users, n_cols, requires_grad=True)
        slope = torch.zeros(1, requires_grad=True)
        raw_own_slope = torch.zeros(n_users, requires_grad=True)
        gamma = torch.zeros(variety.shape[-1], requires_grad=True)
        params = [raw_bias, base, raw_own, slope, raw_own_slope, gamma]

        def loss_of(precision: torch.Tensor) -> torch.Tensor:
            bias, own = raw_bias * food_scale, raw_own * user_scale[:, None]
            own_slope = raw_own_slope * user_scale
            if per_user:    # index_select: its backward is a fast index_add
                taste = ((base + own) @ X.T + bias).reshape(-1).index_select(0, pairs).view(foods.shape)
            else:
                taste = ((X_menu * (base + own.index_select(0, users))[:, None, :]).sum(-1)
                         + bias.index_select(0, pairs).view(foods.shape))
            logits = (taste + (slope + own_slope.index_select(0, users))[:, None] * habit
                      + variety @ gamma + padding)
            log_lik = logits.gather(1, chosen).squeeze(1) - torch.logsumexp(logits, dim=1)
            prior = float(l2) * (own ** 2 * precision).sum() + float(habit_l2) * (own_slope ** 2).sum()
            return (prior - log_lik.sum()) / max(n_sets, 1)

        def fit(precision: torch.Tensor, iterations: int) -> None:
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations, history_size=20,
                                    line_search_fn="strong_wolfe", tolerance_grad=1e-6,
                                    tolerance_change=1e-9)

            def closure() -> torch.Tensor:
                opt.zero_grad()
                loss = loss_of(precision)
                loss.backward()
                return loss
            opt.step(closure)

        if n_sets:
            fit(torch.ones(n_cols), int(max_iter))
            if n_cols:
                seen = torch.zeros(n_users, dtype=torch.bool)
                seen[users] = True
                spread = ((raw_own * user_scale[:, None]).detach()[seen] ** 2).mean(0) + 1e-3
                precision = 1.0 / spread
                fit(precision / precision.log().mean().exp(), int(max_iter))
    with torch.no_grad():
        return ChoiceLogit(bias=(raw_bias * food_scale).numpy().copy(),
                           coef=(base + raw_own * user_scale[:, None]).numpy().copy(),
                           habit=(slope + raw_own_slope * user_scale).numpy().copy(),
                           variety=gamma.numpy().copy())
