"""NeuMF (He et al. 2017): a GMF tower and an MLP tower over user and food embeddings, in torch.

Trained as binary classification of (user, food) pairs: every paid order item is a positive;
negatives are drawn partly from the menu the user ordered from that day (foods they saw and did
not choose: the realistic negatives) and partly from the whole catalog.

Repeat-aware: the logit gets a history term, ``history_weight`` x (the user's own recency-decayed
share of the food, minus ``variety_strength`` when they ate it on the last ``variety_days``
service days), as residual on what the embeddings already say. Trained on menu choices, the
network answers "which of today's foods?"; a date-free catalog list also needs "will it be on
their menu?", so it adds the log of the group's recent offer rate of the food.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from kurrant_core import columns as C
from kurrant_core.data import ITEM_IDX, USER_IDX, TrainingData
from kurrant_core.models.choice_features import group_offer_rates, history_term, offer_rates_of, own_history
from kurrant_core.models.torch_support import (
    MAX_VALIDATION_ORDERS,
    EarlyStopping,
    EpochLog,
    Meals,
    TorchRecommender,
    candidate_matrix,
    candidate_mrr,
    effective_batch_size,
    number_meals,
    resolve_seed,
    sample_rows,
    scaled,
    torch_session,
    validation_orders,
)

SCORE_CHUNK_PAIRS = 262_144
"""Pairs per forward pass when scoring a users × foods matrix (bounds memory)."""
MIN_STEPS_PER_EPOCH = 50
"""Smallest number of Adam updates per epoch (small data sets get smaller batches)."""
EXPLAIN_NEIGHBOURS = 20
"""Most similar users (by NeuMF user embedding) an explanation counts."""
SMALL_DEFAULTS = {"epochs": 20, "batch_size": 8192, "n_negatives": 8, "epoch_examples": 0, "refit": True}
LARGE_DEFAULTS = {"epochs": 8, "batch_size": 32768, "n_negatives": 4, "epoch_examples": 1_000_000, "refit": False}
"""Defaults of the parameters left None, by the data's scale (``torch_support.LARGE_WORLD_ORDERS``
paid items): epochs is the most early stopping allows; a large world gets bigger batches, fewer
negatives per positive, a fresh sample of at most ``epoch_examples`` orders per epoch (0 = all: the
fit's time stops growing with the data) and no refit (its held-out days are a small share of the
orders there, and the refit would double the fit)."""
UNSTOPPED_EPOCHS = 4
"""Epochs when ``epochs`` is None and the data is too short to hold out a validation window."""


class NeuMF(nn.Module):
    """GMF (element-wise product) and MLP towers fused by one linear layer into a logit."""

    def __init__(self, n_users: int, n_items: int, factors: int = 32,
                 mlp_layers: Sequence[int] = (64, 32, 16)):
        super().__init__()
        half = mlp_layers[0] // 2
        self.gmf_user = nn.Embedding(n_users, factors)
        self.gmf_item = nn.Embedding(n_items, factors)
        self.mlp_user = nn.Embedding(n_users, half)
        self.mlp_item = nn.Embedding(n_items, half)
        layers: list[nn.Module] = []
        width = 2 * half
        for out in mlp_layers[1:]:
            layers += [nn.Linear(width, out), nn.ReLU()]
            width = out
        self.mlp = nn.Sequential(*layers)
        self.head = nn.Linear(factors + width, 1)
        for emb in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            nn.init.normal_(emb.weight, std=0.01)
        for lin in [m for m in self.mlp if isinstance(m, nn.Linear)] + [self.head]:
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        gmf = self.gmf_user(u) * self.gmf_item(i)
        mlp = self.mlp(torch.cat([self.mlp_user(u), self.mlp_item(i)], dim=-1))
        return self.head(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    @torch.no_grad()
    def score_matrix(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Logits for every (user, food) pair, ``len(u) × len(i)``, in eval mode.

        Same numbers as ``forward`` on every pair, computed without materialising the pairs'
        embeddings: the GMF tower is one matrix product, and the MLP's first layer is split into
        a user part and a food part that are added (the costly layer runs once per user and food).
        The products run in float64 on a copy of the network: in float32 a user's logits changed
        in the fifth digit with how many users shared the block (the CPU's matrix kernels differ
        by shape), so lists depended on how they were batched.
        """
        twin = self.__dict__.get("_float64_twin")
        if twin is None:                 # kept out of the module tree (not saved, not a submodule)
            twin = copy.deepcopy(self).double()
            self.__dict__["_float64_twin"] = twin
        return twin._score_matrix(u, i)

    def _score_matrix(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        self.eval()
        out = np.empty((len(u), len(i)), dtype=np.float32)
        if len(u) == 0 or len(i) == 0:
            return out
        factors = self.gmf_item.embedding_dim
        half = self.mlp_item.embedding_dim
        w_gmf, w_mlp = self.head.weight[0, :factors], self.head.weight[0, factors:]
        items = torch.tensor(i, dtype=torch.long)
        gmf_items = self.gmf_item(items).T                                  # [F, I]
        mlp_items = self.mlp_item(items)                                    # [I, half]
        layers = list(self.mlp)
        first = layers.pop(0) if layers else None
        if first is not None:
            mlp_items = mlp_items @ first.weight[:, half:].T + first.bias    # [I, H1]
        rows_per_chunk = max(1, SCORE_CHUNK_PAIRS // len(i))
        for start in range(0, len(u), rows_per_chunk):
            users = torch.tensor(u[start:start + rows_per_chunk], dtype=torch.long)
            logits = (self.gmf_user(users) * w_gmf) @ gmf_items + self.head.bias
            mlp_users = self.mlp_user(users)
            if first is None:                       # no hidden layer: the head reads both halves
                logits += (mlp_users @ w_mlp[:half])[:, None] + (mlp_items @ w_mlp[half:])[None, :]
            else:
                hidden = torch.relu((mlp_users @ first.weight[:, :half].T)[:, None, :] + mlp_items[None])
                for layer in layers[1:]:            # layers[0] is the first layer's ReLU, applied above
                    hidden = layer(hidden)
                logits += hidden @ w_mlp
            out[start:start + len(users)] = logits.numpy()
        return out

    @torch.no_grad()
    def item_vectors(self) -> np.ndarray:
        """Both towers' food embeddings side by side (for "similar foods" explanations)."""
        return torch.cat([self.gmf_item.weight, self.mlp_item.weight], dim=1).numpy()

    @torch.no_grad()
    def user_vectors(self) -> np.ndarray:
        """Both towers' user embeddings side by side (for "similar users" explanations)."""
        return torch.cat([self.gmf_user.weight, self.mlp_user.weight], dim=1).numpy()


@dataclass(frozen=True)
class MenuNegatives:
    """For each positive, the foods on the same menu that were not chosen: ``pool[start:start+count]``."""

    start: np.ndarray
    count: np.ndarray
    pool: np.ndarray

    @classmethod
    def none(cls, n_positives: int) -> MenuNegatives:
        """No menu information: every negative comes from the catalog."""
        zeros = np.zeros(n_positives, dtype=np.int64)
        return cls(zeros, zeros, np.zeros(0, dtype=np.int64))


def sample_negatives(pos_u: np.ndarray, menu: MenuNegatives, n_items: int, n_negatives: int,
                     menu_share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Users and foods of ``n_negatives`` negatives per positive.

    ``round(n_negatives * menu_share)`` of them come from the positive's menu (unchosen foods);
    the rest, and those whose menu had nothing else, are uniform over the catalog.
    """
    n_menu = int(round(n_negatives * menu_share))
    reps = np.repeat(np.arange(len(pos_u)), n_negatives)
    items = rng.integers(0, n_items, size=len(reps))
    if n_menu > 0 and len(menu.pool):
        # the first n_menu copies of each positive draw from its menu
        is_menu_slot = np.tile(np.arange(n_negatives) < n_menu, len(pos_u))
        slot_pos = reps[is_menu_slot]
        has_menu = menu.count[slot_pos] > 0
        pick = slot_pos[has_menu]
        offsets = (rng.random(len(pick)) * menu.count[pick]).astype(np.int64)
        menu_items = items[is_menu_slot]
        menu_items[has_menu] = menu.pool[menu.start[pick] + offsets]
        items[is_menu_slot] = menu_items
    return pos_u[reps], items


def fit_neumf(n_users: int, n_items: int, pos_u: np.ndarray, pos_i: np.ndarray,
              menu: MenuNegatives | None = None, *, factors: int = 32,
              mlp_layers: Sequence[int] = (64, 32, 16), epochs: int = 4, lr: float = 0.005,
              n_negatives: int = 4, menu_share: float = 0.75, batch_size: int = 8192,
              seed: int = 0, validation: tuple[np.ndarray, np.ndarray] | None = None,
              stopping: EarlyStopping | None = None, epoch_examples: int = 0) -> tuple[NeuMF, list[float]]:
    """Train NeuMF with BCE and Adam on positives plus freshly sampled negatives each epoch
    (``epoch_examples`` > 0: a fresh sample of that many positives per epoch, when there are more).

    With ``validation`` (users, and per user the ``candidate_matrix`` of a held-out order: its food
    first, then the rest of its menu) and ``stopping``, each epoch ends by measuring the network's
    MRR of those orders; training stops when ``stopping`` says so and the best epoch's weights are
    kept (``stopping.scores`` holds each epoch's MRR). Returns the network (eval mode) and the mean
    training loss of each epoch.
    """
    menu = menu if menu is not None else MenuNegatives.none(len(pos_u))
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    with torch_session(seed):
        net = NeuMF(n_users, n_items, factors, mlp_layers)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        loss_fn = nn.BCEWithLogitsLoss()
        net.train()
        epoch_log = EpochLog("ncf", epochs)
        for epoch in range(epochs):
            ep_u, ep_i, ep_menu = pos_u, pos_i, menu
            if 0 < epoch_examples < len(pos_u):
                some = np.sort(rng.choice(len(pos_u), epoch_examples, replace=False))
                ep_u, ep_i, ep_menu = pos_u[some], pos_i[some], MenuNegatives(menu.start[some], menu.count[some],
                                                                             menu.pool)
            neg_u, neg_i = sample_negatives(ep_u, ep_menu, n_items, n_negatives, menu_share, rng)
            u = torch.as_tensor(np.concatenate([ep_u, neg_u]), dtype=torch.long)
            i = torch.as_tensor(np.concatenate([ep_i, neg_i]), dtype=torch.long)
            y = torch.cat([torch.ones(len(ep_u)), torch.zeros(len(neg_u))])
            order = torch.as_tensor(rng.permutation(len(u)))
            size = effective_batch_size(len(u), batch_size, MIN_STEPS_PER_EPOCH)
            total = 0.0
            for start in range(0, len(u), size):
                batch = order[start:start + size]
                opt.zero_grad()
                loss = loss_fn(net(u[batch], i[batch]), y[batch])
                loss.backward()
                opt.step()
                total += loss.item() * len(batch)
            losses.append(total / max(len(u), 1))
            if validation is not None and stopping is not None:
                score = validation_mrr(net, *validation)
                epoch_log.epoch(epoch, losses[-1], score)
                if stopping.should_stop(score, net):
                    break
                net.train()
            else:
                epoch_log.epoch(epoch, losses[-1])
        if validation is not None and stopping is not None:
            stopping.restore(net)
    return net.eval(), losses


@torch.no_grad()
def validation_mrr(net: NeuMF, users: np.ndarray, candidates: np.ndarray) -> float:
    """The network's MRR of held-out orders: each row's food (column 0) among its menu."""
    net.eval()
    flat = torch.as_tensor(np.maximum(candidates, 0).reshape(-1))
    who = torch.as_tensor(np.repeat(users, candidates.shape[1]))
    scores = net(who, flat).numpy().reshape(candidates.shape).astype(np.float64)
    return candidate_mrr(np.where(candidates >= 0, scores, -np.inf))


# ====================================================================== the recommender
class NCFRecommender(TorchRecommender):
    """NeuMF scores: the logit that the user orders the food (higher = more likely)."""

    name: ClassVar[str] = "ncf"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {
        "factors": (int, 32), "patience": (int, 2), "lr": (float, 0.005), "history_weight": (float, 10.0)}

    def __init__(self, *, factors: int = 32, mlp_layers: Sequence[int] = (64, 32, 16), epochs: int | None = None,
                 patience: int = 2, lr: float = 0.005, n_negatives: int | None = None, menu_share: float = 0.75,
                 batch_size: int | None = None, history_weight: float = 10.0,
                 history_half_life_days: float = 365.0, variety_days: int = 1, variety_strength: float = 0.5,
                 refit: bool | None = None, epoch_examples: int | None = None, random_state: int | None = 0):
        """``epochs``, ``batch_size``, ``n_negatives``, ``epoch_examples`` and ``refit`` None: chosen
        from the data's size (``SMALL_DEFAULTS``/``LARGE_DEFAULTS``). ``epochs`` is the most; training stops earlier
        when ``patience`` epochs in a row do not improve the MRR of the validation window (the last
        14 days before the cutoff, held out of the training data while it runs). ``refit``: then
        train afresh on every order for the best number of epochs (the held-out days are the
        newest tastes; without them the demo world's daily-menu MRR drops by 0.006)."""
        self.factors = factors
        self.mlp_layers = mlp_layers
        self.epochs = epochs
        self.patience = patience
        self.refit = refit
        self.epoch_examples = epoch_examples
        self.lr = lr
        self.n_negatives = n_negatives
        self.menu_share = menu_share
        self.batch_size = batch_size
        self.history_weight = history_weight
        self.history_half_life_days = history_half_life_days
        self.variety_days = variety_days
        self.variety_strength = variety_strength
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        seed = resolve_seed(self.random_state)
        n = len(data.orders)
        scale = {k: scaled(getattr(self, k), n, SMALL_DEFAULTS[k], LARGE_DEFAULTS[k]) for k in SMALL_DEFAULTS}
        self.refit_ = scale.pop("refit")
        self.fit_params_ = scale
        meals = number_meals(data)
        pos_u, pos_i = data.orders[USER_IDX].to_numpy(), data.orders[ITEM_IDX].to_numpy()
        menu = menu_negatives(data, meals)
        held = validation_orders(data)
        if held is None and self.epochs is None:
            self.fit_params_["epochs"] = UNSTOPPED_EPOCHS
        validation, stopping = None, None
        if held is not None:          # early stopping: the last days before the cutoff judge each epoch
            rows = sample_rows(held & (meals.of_order >= 0), MAX_VALIDATION_ORDERS, seed)
            validation = (pos_u[rows], candidate_matrix(pos_i[rows], meals.menus, meals.of_order[rows],
                                                         data.n_foods, 0, np.random.default_rng(seed)))
            stopping = EarlyStopping(self.patience)
            train = ~held
            pos_u, pos_i = pos_u[train], pos_i[train]
            menu = MenuNegatives(menu.start[train], menu.count[train], menu.pool)
        self.net_, self.loss_history_ = fit_neumf(
            data.n_users, data.n_foods, pos_u, pos_i, menu, factors=self.factors,
            mlp_layers=tuple(self.mlp_layers), lr=self.lr, menu_share=self.menu_share, seed=seed,
            validation=validation, stopping=stopping, **self.fit_params_)
        self.validation_history_ = stopping.scores if stopping is not None else []
        self.best_epoch_ = stopping.best_epoch if stopping is not None else len(self.loss_history_) - 1
        if stopping is not None and self.refit_:     # the best number of epochs, on every order
            self.net_, self.loss_history_ = fit_neumf(
                data.n_users, data.n_foods, data.orders[USER_IDX].to_numpy(), data.orders[ITEM_IDX].to_numpy(),
                menu_negatives(data, meals), factors=self.factors, mlp_layers=tuple(self.mlp_layers),
                lr=self.lr, menu_share=self.menu_share, seed=seed,
                **{**self.fit_params_, "epochs": self.best_epoch_ + 1})
        self.history_ = own_history(data, self.history_half_life_days, self.variety_days, self.random_state)
        self.offer_groups_, self.offer_rates_ = group_offer_rates(data)

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        """Logit + history term (variety rule for ``as_of``); date-free lists (``as_of`` None, the
        catalog) add log P(on the user's menu)."""
        with torch_session():
            out = self.net_.score_matrix(u, i).astype(np.float64)
        out += history_term(self.history_, u, i, as_of, self.history_weight, self.variety_strength)
        if as_of is None:
            out += np.log(offer_rates_of(self.offer_groups_, self.offer_rates_, self.data_.user_group, u, i))
        return out

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        data = self.data_
        users = _unit_rows(self.net_.user_vectors())
        warm = ~data.cold
        warm[u] = False
        similarity = np.where(warm, users @ users[u], -np.inf)
        neighbours = np.argsort(-similarity)[:min(EXPLAIN_NEIGHBOURS, int(warm.sum()))]
        ordered_by = (data.counts[neighbours][:, i] > 0).sum(axis=0).A1
        eaten = data.counts[u]
        foods = _unit_rows(self.net_.item_vectors())
        similar = foods[i] @ foods[eaten.indices].T
        similar[eaten.indices[None, :] == i[:, None]] = -np.inf     # the food itself is no reason
        names = data.foods[C.FOOD_NAME].to_numpy()
        lines = []
        for row, (f, n) in enumerate(zip(i, ordered_by)):
            line = f"{n} of the {len(neighbours)} users most like you ordered it"
            times = int(eaten[0, f])
            if times:
                line += f"; you ordered it {times}x"
            elif np.isfinite(similar[row]).any():
                line += f"; close to {names[eaten.indices[np.argmax(similar[row])]]}, which you ordered"
            lines.append(line)
        return lines

    def _new_net(self) -> NeuMF:
        return NeuMF(self.data_.n_users, self.data_.n_foods, self.factors, tuple(self.mlp_layers))


def menu_negatives(data: TrainingData, meals: Meals | None = None) -> MenuNegatives:
    """For each ``orders`` row, the foods on that meal's menu the user did not choose."""
    meals = number_meals(data) if meals is None else meals
    has_menu = meals.of_order >= 0
    start = np.zeros(len(meals.of_order), dtype=np.int64)
    count = np.zeros(len(meals.of_order), dtype=np.int64)
    start[has_menu] = meals.unchosen.indptr[meals.of_order[has_menu]]
    count[has_menu] = meals.unchosen.indptr[meals.of_order[has_menu] + 1] - start[has_menu]
    return MenuNegatives(start=start, count=count, pool=meals.unchosen.indices.astype(np.int64))


def _unit_rows(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
