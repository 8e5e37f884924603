"""The ``sequential`` recommender: a small SASRec over each user's order history, in torch.

The score of a food for day ``as_of`` is log P(the user picks it next | their last foods before
the cutoff, how long ago each was eaten, the days since the last order). Trained on choices
from real menus, it learns taste, variety seeking and recency; see ``sasrec`` for the network.

Repeat-aware beyond the window: the network sees the last ``max_len`` foods (its repeat head scores
each by how long ago it was eaten); a history term adds ``history_weight`` x the user's own
recency-decayed share of the food over their whole history. Trained to choose from a menu, it
answers a date-free catalog list with log P(on the user's menu) added (the group's recent offer
rate of the food).

A second expert, a menu choice logit (``torch_support.fit_choice_logit``), models the same
choices the econometric way: each user's own taste over the food's attributes (``choice_attributes``:
cuisine, main ingredient, spiciness, price), shrunk towards the population's by an empirical-Bayes
prior, a per-user habit slope on log(1 + times eaten), and the variety terms of the previous service
days. The network learns from the last ``max_len`` foods and a low-rank taste vector; the logit
weighs every menu a user ever chose from, and on the demo world it ranks the day's menu better.
The two are pooled log-linearly: (network + ``choice_weight`` x logit) / (1 + ``choice_weight``),
a weighted geometric mean of the two menu-choice probabilities (a per-user constant apart), so the
date-free list's log P(on the user's menu) keeps its scale. Data without food attributes that vary
(e.g. MovieLens, where every movie is one "food" of one maker at one price) or ``choice_weight`` 0:
the network alone.
"""
from __future__ import annotations

import copy
from datetime import date
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from kurrant_core import columns as C
from kurrant_core.data import USER_IDX, TrainingData
from kurrant_core.errors import KurrantError
from kurrant_core.models.choice_features import (
    RecentMeals,
    food_attribute_design,
    group_offer_rates,
    history_term,
    menu_choices,
    offer_rates_of,
    own_history,
)
from kurrant_core.models.sasrec import SASRec, fit_sasrec
from kurrant_core.models.torch_support import (
    CHOICE_LOGIT_ITERATIONS,
    VALIDATION_DAYS,
    EarlyStopping,
    TorchRecommender,
    fit_choice_logit,
    number_meals,
    resolve_seed,
    scaled,
    torch_session,
    validation_orders,
)

OBJECTIVES = ("menu", "catalog")
"""Softmax over the menu each food was chosen from, or over the whole catalog."""
SCORE_CHUNK_USERS = 512
"""Users per forward pass when scoring."""
DEFAULT_CHOICE_ATTRIBUTES = ("cuisine", "main_ingredient", "spiciness", "price")
"""The taste axes of the choice logit (``choice_features.CHOICE_ATTRIBUTES`` names, and price)."""
CHOICE_MAX_SETS = 200_000
"""Newest menus the choice logit is fitted on (bounds its fit on a large world)."""
LARGE_CHOICE_ITERATIONS = 30
"""L-BFGS iterations per stage of the choice logit on a large world (``LARGE_WORLD_ORDERS``; 60
elsewhere): its 200,000 menus took 56 s of the large world's 130 s fit at 60. Fewer menus instead
(the newest 60,000) cost the large world's daily-menu MRR 0.025: every user needs their own."""
SMALL_DEFAULTS = {"epochs": 30, "batch_size": 128, "max_len": 30, "epoch_examples": 0}
LARGE_DEFAULTS = {"epochs": 8, "batch_size": 512, "max_len": 20, "epoch_examples": 40_000}
"""Defaults of the parameters left None, by the data's scale (``torch_support.LARGE_WORLD_ORDERS``
paid items): epochs is the most early stopping allows; a large world gets bigger batches, shorter
windows (the attention costs the square of their length) and a fresh sample of at most
``epoch_examples`` windows per epoch (0 = all: the fit's time stops growing with the data)."""
UNSTOPPED_EPOCHS = 10
"""Epochs when ``epochs`` is None and the data is too short to hold out a validation window."""


class SequentialRecommender(TorchRecommender):
    """SASRec scores: log P(next food = f | the user's last foods, days since the last one)."""

    name: ClassVar[str] = "sequential"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {
        "hidden": (int, 32), "patience": (int, 2), "lr": (float, 0.01),
        "dropout": (float, 0.3), "history_weight": (float, 1.0), "choice_weight": (float, 4.0),
        "choice_l2": (float, 1.0)}

    def __init__(self, *, max_len: int | None = None, hidden: int = 32, layers: int = 1, heads: int = 1,
                 dropout: float = 0.3, epochs: int | None = None, patience: int = 2, lr: float = 0.01,
                 batch_size: int | None = None, epoch_examples: int | None = None,
                 objective: str = "menu", user_embeddings: bool = True, food_features: bool = True,
                 history_weight: float = 1.0, history_half_life_days: float = 365.0,
                 choice_weight: float = 4.0, choice_l2: float = 1.0,
                 choice_attributes: tuple[str, ...] = DEFAULT_CHOICE_ATTRIBUTES,
                 random_state: int | None = 0):
        """``max_len``, ``epochs``, ``batch_size`` and ``epoch_examples`` None: chosen from the data's size
        (``SMALL_DEFAULTS``/``LARGE_DEFAULTS``). ``epochs`` is the most; training stops earlier
        when ``patience`` epochs in a row do not improve the network's MRR of the validation window
        (the last 14 days before the cutoff, whose orders are held out of the loss while it runs)."""
        self.max_len = max_len
        self.hidden = hidden
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.epochs = epochs
        self.patience = patience
        self.lr = lr
        self.batch_size = batch_size
        self.epoch_examples = epoch_examples
        self.objective = objective
        self.user_embeddings = user_embeddings
        self.food_features = food_features
        self.history_weight = history_weight
        self.history_half_life_days = history_half_life_days
        self.choice_weight = choice_weight
        self.choice_l2 = choice_l2
        self.choice_attributes = choice_attributes
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        if self.objective not in OBJECTIVES:
            raise KurrantError(f"objective must be one of {', '.join(OBJECTIVES)}, "
                               f"not {self.objective!r}.")
        days = order_days(data)
        self.fit_params_ = {k: scaled(getattr(self, k), len(data.orders), SMALL_DEFAULTS[k], LARGE_DEFAULTS[k])
                            for k in SMALL_DEFAULTS}
        meals, menus = None, None
        if self.objective == "menu":
            numbered = number_meals(data)
            meals, menus = split_by_user(data, numbered.of_order), numbered.menus
        stopping, validation_from = None, None
        if validation_orders(data) is not None:    # early stopping on the last days before the cutoff
            stopping = EarlyStopping(self.patience)
            validation_from = _day_number(data.cutoff) - VALIDATION_DAYS
        elif self.epochs is None:
            self.fit_params_["epochs"] = UNSTOPPED_EPOCHS
        self.net_, self.loss_history_ = fit_sasrec(
            data.sequences, data.n_foods, days, meals=meals, menus=menus, hidden=self.hidden,
            layers=self.layers, heads=self.heads, dropout=self.dropout, lr=self.lr,
            user_embeddings=self.user_embeddings, item_features=self._item_features(),
            seed=resolve_seed(self.random_state), validation_from=validation_from, stopping=stopping,
            **self.fit_params_)
        self.validation_history_ = stopping.scores if stopping is not None else []
        self.best_epoch_ = stopping.best_epoch if stopping is not None else len(self.loss_history_) - 1
        # the repeat head has the variety rule; the history term only adds the long-run share
        self.history_ = own_history(data, self.history_half_life_days, 0, self.random_state)
        self.offer_groups_, self.offer_rates_ = group_offer_rates(data)
        self._fit_choice_logit(data)

    def _fit_choice_logit(self, data: TrainingData) -> None:
        """The menu choice logit beside the network (``choice_weight`` > 0, menu objective, food
        attributes that vary): per-user taste over the attributes, habit and variety."""
        design, _ = food_attribute_design(data, tuple(self.choice_attributes))
        if not self.choice_weight or self.objective != "menu" or design.shape[1] == 0:
            return
        choices = menu_choices(data, max_sets=CHOICE_MAX_SETS, seed=resolve_seed(self.random_state))
        if len(choices.user) == 0:
            return
        logit = fit_choice_logit(choices, design, data.n_users, l2=self.choice_l2,
                                 max_iter=scaled(None, len(data.orders), CHOICE_LOGIT_ITERATIONS,
                                                 LARGE_CHOICE_ITERATIONS),
                                 seed=resolve_seed(self.random_state))
        self.choice_design_ = design
        self.choice_bias_, self.choice_coef_ = logit.bias, logit.coef
        self.choice_habit_, self.choice_variety_ = logit.habit, logit.variety

    def choice_utility(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        """``len(u) x len(i)`` utilities of the choice logit for day ``as_of`` (zeros when it
        was not fitted): taste + habit + the variety terms known from the orders before the cutoff."""
        if not hasattr(self, "choice_coef_"):
            return np.zeros((len(u), len(i)))
        data = self.data_
        # float64: a float32 product would round differently with the size of the block scored
        out = (self.choice_coef_[u].astype(np.float64) @ self.choice_design_[i].T.astype(np.float64)
               + self.choice_bias_[i][None, :])
        out += self.choice_habit_[u][:, None] * np.log1p(data.counts[u][:, i].toarray())
        day = np.full(len(u), _day_number(data.cutoff if as_of is None else as_of))
        out += self._recent_meals().flags(u, i, day).astype(np.float64) @ self.choice_variety_
        return out

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        target = _day_number(self.data_.cutoff if as_of is None else as_of)
        net, tokens, days, last = self._encoded()
        out = np.empty((len(u), len(i)), dtype=np.float64)
        with torch_session():
            for start in range(0, len(u), SCORE_CHUNK_USERS):
                chunk = u[start:start + SCORE_CHUNK_USERS]
                rows = torch.tensor(chunk, dtype=torch.long)     # a copy: ``u`` may be read-only
                log_probs = net.log_probs_after(last[rows], tokens[rows], days[rows], target,
                                                chunk if self.user_embeddings else None)
                out[start:start + len(chunk)] = log_probs[:, i]
        out += history_term(self.history_, u, i, as_of, self.history_weight, 0.0)
        if hasattr(self, "choice_coef_"):   # log-linear pool of the two menu-choice experts
            weight = float(self.choice_weight)
            out = (out + weight * self.choice_utility(u, i, as_of)) / (1.0 + weight)
        if as_of is None:       # a date-free list: weigh by P(on the user's menu)
            out += np.log(offer_rates_of(self.offer_groups_, self.offer_rates_, self.data_.user_group, u, i))
        return out

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        """The learned repeat score when the food is in the recent history ("had it yesterday"
        lowers it, an old favourite raises it), and the recent food the sequence attends to
        that is most like the candidate."""
        data = self.data_
        history, days = data.sequences[u][-self._max_len():], self._order_days()[u][-self._max_len():]
        today = _day_number(data.cutoff)
        with torch_session():
            attention, repeat = self.net_.explain_terms(history, days, today)
        emb = self.net_.item_vectors().detach().numpy()[1:]
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        pull = attention[None, :] * (emb[i] @ emb[history].T)      # candidates x recent positions
        names = data.foods[C.FOOD_NAME].to_numpy()
        lines = []
        for row, f in enumerate(i):
            p = int(np.argmax(pull[row]))
            line = f"follows your recent {names[history[p]]} ({_days_ago(today - days[p])})"
            eaten = np.flatnonzero(history == f)
            if len(eaten):
                effect = float(repeat[eaten].sum())
                kind = "variety lowers it" if effect < 0 else "habit raises it"
                line = f"you had it {_days_ago(today - days[eaten[-1]])} ({kind}, {effect:+.2f}); " + line
            lines.append(line)
        return lines

    def _order_days(self) -> list[np.ndarray]:
        """``order_days`` of the data the model was fitted on, computed once per data set: the
        pipeline scores one group-day block at a time, thousands of calls on a large world."""
        cached = getattr(self, "_days_of", None)
        if cached is None or cached[0] is not self.data_:
            self._days_of = (self.data_, order_days(self.data_))
        return self._days_of[1]

    def _encoded(self) -> tuple[SASRec, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The scoring network and every user's window (tokens, days) and newest hidden state,
        computed once per fitted network and data: a user's state does not depend on the day
        ranked, and the pipeline scores thousands of small group-day blocks. The network scores in
        float64: in float32 a user's scores would change in the last digits with how many users
        are scored together (the matrix kernels' blocking)."""
        cached = getattr(self, "_encoded_of", None)
        if cached is None or cached[0] is not self.net_ or cached[1] is not self.data_:
            net = copy.deepcopy(self.net_).double().eval()
            tokens, days = net.recent_windows(self.data_.sequences, self._order_days())
            with torch_session():
                last = torch.cat([net.last_hidden(tokens[s:s + SCORE_CHUNK_USERS])
                                  for s in range(0, len(tokens), SCORE_CHUNK_USERS)])
            self._encoded_of = (self.net_, self.data_, net, tokens, days, last)
        return self._encoded_of[2:]

    def _recent_meals(self) -> RecentMeals:
        """The variety terms' lookup of the data the model was fitted on, built once per data set."""
        cached = getattr(self, "_meals_of", None)
        if cached is None or cached[0] is not self.data_:
            self._meals_of = (self.data_, RecentMeals(self.data_))
        return self._meals_of[1]

    def _item_features(self) -> np.ndarray | None:
        """The food-feature matrix the network reads (dense), or None when it learns ids alone."""
        return self.data_.food_features.toarray() if self.food_features else None

    def _max_len(self) -> int:
        """The window length the network was fitted with (chosen from the data when ``max_len`` is None)."""
        return int(getattr(self, "fit_params_", {}).get("max_len") or self.max_len or SMALL_DEFAULTS["max_len"])

    def _new_net(self) -> SASRec:
        return SASRec(self.data_.n_foods, self._max_len(), self.hidden, self.layers, self.heads, self.dropout,
                      n_users=self.data_.n_users if self.user_embeddings else 0,
                      item_features=self._item_features())


def _day_number(day: date | pd.Timestamp) -> int:
    """Days since 1970-01-01: integer dates for gap arithmetic."""
    return int(np.datetime64(pd.Timestamp(day).date(), "D").astype(np.int64))


def _days_ago(n: int) -> str:
    return "1 day ago" if n == 1 else f"{n} days ago"


def split_by_user(data: TrainingData, values: np.ndarray) -> list[np.ndarray]:
    """One value per ``orders`` row, cut per user index (aligned with ``data.sequences``)."""
    bounds = np.searchsorted(data.orders[USER_IDX].to_numpy(), np.arange(data.n_users + 1))
    return [values[bounds[k]:bounds[k + 1]] for k in range(data.n_users)]


def order_days(data: TrainingData) -> list[np.ndarray]:
    """Per user index, the day numbers of their paid items, aligned with ``data.sequences``."""
    days = data.orders[C.SERVICE_DATE].to_numpy().astype("datetime64[D]").astype(np.int64)
    return split_by_user(data, days)
