"""What the two torch recommenders share: a seeded, thread-limited session and state files.

Imported only by ``ncf`` and ``sequential``, so torch is loaded when one of them is used and
never at package import. The session keeps torch's global RNG and thread count as they were, so
fitting a model inside the dashboard or the retrain job leaves nothing changed behind it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

TORCH_THREADS = 2
"""Threads per torch model: the workbench shares a small machine with the dashboard and jobs."""

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


def save_state(net: torch.nn.Module, folder: Path) -> None:
    """Write the network's weights (``state_dict``) into a model folder."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), folder / STATE_FILE)


def load_state(net: torch.nn.Module, folder: Path) -> torch.nn.Module:
    """Fill a freshly built network with the weights saved by ``save_state``; returns it in eval mode."""
    net.load_state_dict(torch.load(folder / STATE_FILE, weights_only=True))
    return net.eval()
