"""The model registry: names -> recommender classes, imported lazily.

Each model lives in ``kurrant_core.models.<name>`` and defines one ``Recommender`` subclass whose
``name`` is the module's name. Modules are imported only when their model is asked for, so torch
and implicit load only when a torch or ALS model is used.
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from kurrant_core.errors import KurrantError
from kurrant_core.models.base import Recommender

MODEL_NAMES = ["popularity", "content", "als", "hybrid", "ncf", "sequential", "history", "tifu"]
BASELINE_NAMES = ("popularity", "history")
"""Registered models that are baselines (the random ranking is the third, computed, not fitted)."""

__all__ = ["BASELINE_NAMES", "MODEL_NAMES", "Recommender", "get_model_class", "make_model", "model_available"]


def get_model_class(name: str) -> type[Recommender]:
    """The recommender class registered as ``name``; unknown names raise KurrantError."""
    if name not in MODEL_NAMES:
        raise KurrantError(f"Unknown model {name!r}. Choose one of: {', '.join(MODEL_NAMES)}.")
    module_name = f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise KurrantError(f"The {name} model is not installed in this build ({module_name} is "
                           "missing).") from None
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, Recommender) and obj.__module__ == module_name
             and getattr(obj, "name", None) == name]
    if len(found) != 1:
        raise KurrantError(f"{module_name} must define exactly one Recommender named {name!r}.")
    return found[0]


def make_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted ``name`` model with ``params`` (defaults for the rest)."""
    cls = get_model_class(name)
    unknown = set(params) - set(cls._param_names())
    if unknown:
        raise KurrantError(f"The {name} model has no parameter {', '.join(sorted(unknown))}; it takes "
                           f"{', '.join(cls._param_names())}.")
    return cls(**params)


def model_available(name: str) -> bool:
    """True when ``name``'s module exists in this build (it may still need torch or implicit)."""
    return importlib.util.find_spec(f"{__name__}.{name}") is not None
