"""What the two torch recommenders share: a seeded, thread-limited session and state files.

Imported only by ``ncf`` and ``sequential``, so torch is loaded when one of them is used and
never at package import. The session keeps torch's global RNG and thread count as they were, so
fitting a model inside the dashboard or the retrain job leaves nothing changed behind it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from kurrant_core import columns as C
from kurrant_core.data import CHOSEN, ITEM_IDX, USER_IDX, TrainingData
from kurrant_core.models.base import Recommender

TORCH_THREADS = 1
"""Threads per torch model. The workbench shares a small machine with the dashboard and jobs;
measured on 2 busy cores, two OpenMP threads made these small networks 10-20x slower (threads
waiting on each other), one thread never did."""

STATE_FILE = "state_dict.pt"
MEAL_KEYS = [USER_IDX, C.SERVICE_DATE, C.DINING_TYPE]
"""One meal = one user's order from one day's menu for one dining type."""
_MEAL = "meal"
"""Scratch column holding a meal's number while matching orders to exposures."""


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
    meal = exposures.groupby(MEAL_KEYS, sort=True).ngroup().to_numpy()
    items = exposures[ITEM_IDX].to_numpy()
    shape = (int(meal.max()) + 1 if len(meal) else 0, data.n_foods)
    unchosen = ~exposures[CHOSEN].to_numpy(dtype=bool)
    menus = sp.csr_matrix((np.ones(len(meal), dtype=bool), (meal, items)), shape=shape)
    others = sp.csr_matrix((np.ones(int(unchosen.sum()), dtype=bool), (meal[unchosen], items[unchosen])),
                           shape=shape)
    table = exposures[MEAL_KEYS].assign(**{_MEAL: meal}).drop_duplicates(MEAL_KEYS)
    of_order = data.orders[MEAL_KEYS].merge(table, on=MEAL_KEYS, how="left")[_MEAL]
    return Meals(of_order=of_order.fillna(-1).to_numpy(dtype=np.int64), menus=menus, unchosen=others)


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
