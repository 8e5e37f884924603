"""A small SASRec (Kang & McAuley 2018) over each user's order history, in torch.

Causal self-attention over the last ``max_len`` foods (with positional embeddings) predicts the
next food with a full softmax over the catalog, which is cheap at a few hundred to a few thousand
foods. The prediction is also told how many days separate the last order from the day being
ranked (bucketed), so "had it yesterday" and "had it a month ago" can weigh differently: this is
how the model learns variety seeking and recency from the data instead of from a rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from kurrant_core import columns as C
from kurrant_core.data import USER_IDX, TrainingData
from kurrant_core.errors import KurrantError
from kurrant_core.models.base import Recommender
from kurrant_core.models.torch_support import (load_state, number_meals, resolve_seed, save_state,
                                               torch_session)

PAD = 0
"""Input token of an empty position; food index ``i`` is token ``i + 1``."""

GAP_EDGES = np.array([1, 2, 3, 4, 7, 14, 30])
"""Day-gap bucket edges: 0 same day, 1, 2, 3, 4–6, 7–13, 14–29, 30+ days."""


OBJECTIVES = ("menu", "catalog")
"""Softmax over the menu each food was chosen from, or over the whole catalog."""
SCORE_CHUNK_USERS = 512
"""Users per forward pass when scoring."""
EXPLAIN_RECENT_DAYS = 14
"""An explanation mentions the food's own last order when it is at most this many days old."""


def gap_buckets(days: np.ndarray) -> np.ndarray:
    """Bucket index of each day gap (negative gaps count as same day)."""
    return np.searchsorted(GAP_EDGES, np.maximum(np.asarray(days), 0), side="right")


class CausalBlock(nn.Module):
    """Pre-norm self-attention + feed-forward block that can hand back its attention weights."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm_attn = nn.LayerNorm(hidden)
        # dropout only on the residual branches: CPU random masks cost more than the attention itself
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(hidden)
        self.ff = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.norm_attn(x)
        attended, weights = self.attn(h, h, h, attn_mask=mask.repeat_interleave(self.heads, dim=0),
                                      need_weights=need_weights)
        x = x + self.drop(attended)
        return x + self.drop(self.ff(self.norm_ff(x))), weights


class SASRec(nn.Module):
    """Item + position embeddings, causal blocks, and a gap-aware query against item embeddings."""

    def __init__(self, n_items: int, max_len: int = 50, hidden: int = 64, layers: int = 2,
                 heads: int = 2, dropout: float = 0.2, n_users: int = 0):
        super().__init__()
        self.max_len = max_len
        self.user_emb = nn.Embedding(n_users, hidden) if n_users else None
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=PAD)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.gap_emb = nn.Embedding(len(GAP_EDGES) + 1, hidden)
        self.blocks = nn.ModuleList(CausalBlock(hidden, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.query = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.drop = nn.Dropout(dropout)
        nn.init.normal_(self.item_emb.weight, std=hidden ** -0.5)
        if self.user_emb is not None:
            nn.init.normal_(self.user_emb.weight, std=0.01)
        with torch.no_grad():
            self.item_emb.weight[PAD].zero_()

    def encode(self, tokens: torch.Tensor,
               need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hidden state at every position of left-padded ``tokens`` [B, L]; last block's attention."""
        length = tokens.shape[1]
        real = tokens != PAD
        # a query may see itself and earlier real foods; a padded query sees only itself (no NaNs)
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        mask = causal[None] | ~real[:, None, :]
        mask &= ~torch.eye(length, dtype=torch.bool)[None]
        positions = torch.arange(self.max_len - length, self.max_len)
        x = self.item_emb(tokens) * math.sqrt(self.item_emb.embedding_dim) + self.pos_emb(positions)
        x = self.drop(x) * real[..., None]
        weights = None
        for block in self.blocks:
            x, weights = block(x, mask, need_weights)
            x = x * real[..., None]
        return self.norm(x), weights

    def logits(self, hidden: torch.Tensor, gaps: torch.Tensor,
               users: torch.Tensor | None = None) -> torch.Tensor:
        """Next-food logits over the catalog for hidden states and the day-gap bucket to that food
        (plus the user's own taste vector when the network has user embeddings)."""
        q = hidden + self.query(torch.cat([hidden, self.gap_emb(gaps)], dim=-1))
        if self.user_emb is not None and users is not None:
            q = q + self.user_emb(users)
        return q @ self.item_emb.weight[1:].T

    @torch.no_grad()
    def next_item_log_probs(self, histories: list[np.ndarray], gaps: np.ndarray,
                            users: np.ndarray | None = None) -> np.ndarray:
        """log P(next food) over the catalog for each history (food indices, oldest first)."""
        self.eval()
        tokens = torch.as_tensor(left_pad([h[-self.max_len:] + 1 for h in histories], self.max_len))
        hidden, _ = self.encode(tokens)
        logits = self.logits(hidden[:, -1], torch.as_tensor(gap_buckets(gaps), dtype=torch.long),
                             None if users is None else torch.as_tensor(users, dtype=torch.long))
        return F.log_softmax(logits, dim=-1).numpy()

    @torch.no_grad()
    def last_attention(self, history: np.ndarray) -> np.ndarray:
        """Attention of the newest position over the last ``max_len`` foods (head mean), oldest first."""
        self.eval()
        recent = history[-self.max_len:]
        tokens = torch.as_tensor(left_pad([recent + 1], self.max_len))
        _, weights = self.encode(tokens, need_weights=True)
        assert weights is not None
        return weights[0, -1, -len(recent):].numpy()


def left_pad(rows: list[np.ndarray], length: int, fill: int = PAD) -> np.ndarray:
    """Stack rows right-aligned into a ``len(rows) × length`` int64 array."""
    out = np.full((len(rows), length), fill, dtype=np.int64)
    for r, row in enumerate(rows):
        if len(row):
            out[r, -len(row):] = row[-length:]
    return out


@dataclass(frozen=True)
class Windows:
    """Next-food training examples, one row per window of ``max_len`` positions (left-padded)."""

    tokens: np.ndarray
    """Input tokens (food index + 1; 0 pads)."""
    targets: np.ndarray
    """Food index to predict at each position (-100 where there is none)."""
    gaps: np.ndarray
    """Day-gap bucket from each input to its target."""
    meals: np.ndarray
    """Meal number of each target (its menu), -1 when unknown or padded."""
    users: np.ndarray
    """Position of each window's sequence in the input list (the user index)."""


def training_windows(sequences: list[np.ndarray], days: list[np.ndarray] | None, max_len: int,
                     meals: list[np.ndarray] | None = None) -> Windows:
    """Cut each sequence from its end into windows of next-food examples.

    Every target appears once. The earliest window of a long sequence is stretched to a full
    ``max_len`` inputs (its later targets, already taught by the next window, are blanked), so
    no window starts with little context.
    """
    tokens, targets, gaps, target_meals, users = [], [], [], [], []
    for s, seq in enumerate(sequences):
        d = days[s] if days is not None else np.arange(len(seq))
        m = meals[s] if meals is not None else np.full(len(seq), -1)
        for end in range(len(seq) - 1, 0, -max_len):
            start, stop = max(0, end - max_len), end
            if start == 0:
                stop = min(max_len, len(seq) - 1)
            tokens.append(seq[start:stop] + 1)
            target = seq[start + 1:stop + 1].copy()
            target[end - start:] = -100
            targets.append(target)
            gaps.append(gap_buckets(d[start + 1:stop + 1] - d[start:stop]))
            target_meals.append(m[start + 1:stop + 1])
            users.append(s)
    return Windows(left_pad(tokens, max_len), left_pad(targets, max_len, -100), left_pad(gaps, max_len),
                   left_pad(target_meals, max_len, -1), np.array(users, dtype=np.int64))


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Window indices in batches of similar length (little padding), the batches in random order."""
    by_length = np.lexsort((rng.random(len(lengths)), lengths))
    batches = np.array_split(by_length, max(1, -(-len(lengths) // batch_size)))
    return [batches[b] for b in rng.permutation(len(batches))]


def menu_mask(menus: sp.csr_matrix, meals: np.ndarray, targets: np.ndarray) -> torch.Tensor:
    """Which foods each target competed with: its meal's menu (the whole catalog when unknown).

    The target itself is always allowed, so an order whose food is missing from the menu table
    cannot make the loss infinite.
    """
    known = meals >= 0
    allowed = np.ones((len(meals), menus.shape[1]), dtype=bool)
    allowed[known] = menus[meals[known]].toarray()
    allowed[np.arange(len(meals)), targets] = True
    return torch.as_tensor(allowed)


def fit_sasrec(sequences: list[np.ndarray], n_items: int, days: list[np.ndarray] | None = None, *,
               meals: list[np.ndarray] | None = None, menus: sp.csr_matrix | None = None,
               max_len: int = 50, hidden: int = 64, layers: int = 2, heads: int = 2,
               dropout: float = 0.2, epochs: int = 6, lr: float = 0.003, batch_size: int = 128,
               user_embeddings: bool = False, seed: int = 0) -> tuple[SASRec, list[float]]:
    """Train SASRec by next-food cross-entropy with Adam.

    ``sequences`` hold food indices per user in time order; ``days`` the matching day numbers
    (None: one day apart). With ``meals`` (meal number per order, aligned with ``sequences``) and
    ``menus`` (meals x foods), the softmax runs over the menu each food was chosen from: the
    model learns to choose from a menu, not to guess which foods were on it. Without them it is
    a full softmax over the catalog. Returns the network (eval mode) and each epoch's mean loss.
    """
    windows = training_windows(sequences, days, max_len, meals)
    if len(windows.tokens) == 0:
        raise KurrantError("The sequential model needs users with at least two paid orders before "
                           "the cutoff; move the cutoff later or load more data.")
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    with torch_session(seed):
        net = SASRec(n_items, max_len, hidden, layers, heads, dropout,
                     n_users=len(sequences) if user_embeddings else 0)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        net.train()
        lengths = (windows.tokens != PAD).sum(axis=1)
        for _ in range(epochs):
            total, count = 0.0, 0
            for batch in length_batches(lengths, batch_size, rng):
                cols = slice(-int(lengths[batch].max()), None)   # left padding: drop empty columns
                hidden_states, _ = net.encode(torch.as_tensor(windows.tokens[batch, cols]))
                valid = windows.targets[batch, cols] >= 0
                goal = torch.as_tensor(windows.targets[batch, cols][valid])
                window_users = np.broadcast_to(windows.users[batch, None], valid.shape)[valid]
                logits = net.logits(hidden_states[torch.as_tensor(valid)],
                                    torch.as_tensor(windows.gaps[batch, cols][valid]),
                                    torch.as_tensor(window_users))
                if menus is not None:
                    allowed = menu_mask(menus, windows.meals[batch, cols][valid], goal.numpy())
                    logits = logits.masked_fill(~allowed, float("-inf"))
                loss = F.cross_entropy(logits, goal)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(goal)
                count += len(goal)
            losses.append(total / max(count, 1))
    return net.eval(), losses


# ====================================================================== the recommender
class SequentialRecommender(Recommender):
    """SASRec scores: log P(next food = f | the user's last foods, days since the last one)."""

    name: ClassVar[str] = "sequential"
    MAIN_PARAMS: ClassVar[dict[str, tuple]] = {
        "max_len": (int, 50), "hidden": (int, 64), "epochs": (int, 6), "lr": (float, 0.003),
        "dropout": (float, 0.2)}

    def __init__(self, *, max_len: int = 50, hidden: int = 64, layers: int = 2, heads: int = 2,
                 dropout: float = 0.2, epochs: int = 6, lr: float = 0.003, batch_size: int = 128,
                 objective: str = "menu", user_embeddings: bool = True, random_state: int | None = 0):
        self.max_len = max_len
        self.hidden = hidden
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.objective = objective
        self.user_embeddings = user_embeddings
        self.random_state = random_state

    def _fit(self, data: TrainingData) -> None:
        if self.objective not in OBJECTIVES:
            raise KurrantError(f"objective must be one of {', '.join(OBJECTIVES)}, "
                               f"not {self.objective!r}.")
        days = order_days(data)
        meals, menus = None, None
        if self.objective == "menu":
            numbered = number_meals(data)
            meals, menus = split_by_user(data, numbered.of_order), numbered.menus
        self.net_, self.loss_history_ = fit_sasrec(
            data.sequences, data.n_foods, days, meals=meals, menus=menus, max_len=self.max_len,
            hidden=self.hidden, layers=self.layers, heads=self.heads, dropout=self.dropout,
            epochs=self.epochs, lr=self.lr, batch_size=self.batch_size,
            user_embeddings=self.user_embeddings, seed=resolve_seed(self.random_state))
        self.last_day_ = np.array([d[-1] if len(d) else -1 for d in days], dtype=np.int64)

    def _score(self, u: np.ndarray, i: np.ndarray, as_of: date | None) -> np.ndarray:
        target = _day_number(self.data_.cutoff if as_of is None else as_of)
        gaps = target - self.last_day_[u]
        sequences = self.data_.sequences
        out = np.empty((len(u), len(i)), dtype=np.float64)
        with torch_session():
            for start in range(0, len(u), SCORE_CHUNK_USERS):
                chunk = u[start:start + SCORE_CHUNK_USERS]
                log_probs = self.net_.next_item_log_probs([sequences[x] for x in chunk],
                                                          gaps[start:start + SCORE_CHUNK_USERS], chunk)
                out[start:start + len(chunk)] = log_probs[:, i]
        return out

    def _explain(self, u: int, i: np.ndarray) -> list[str]:
        """Name the recent food the newest position attends to that is most like each candidate."""
        data = self.data_
        history = data.sequences[u][-self.max_len:]
        days = order_days(data)[u][-self.max_len:]
        with torch_session():
            attention = self.net_.last_attention(history)
        emb = self.net_.item_emb.weight.detach().numpy()[1:]
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        pull = attention[None, :] * (emb[i] @ emb[history].T)      # candidates x recent positions
        today = _day_number(data.cutoff)
        names = data.foods[C.FOOD_NAME].to_numpy()
        lines = []
        for row, f in enumerate(i):
            p = int(np.argmax(pull[row]))
            line = f"follows your recent {names[history[p]]} ({_days_ago(today - days[p])})"
            eaten = np.flatnonzero(history == f)
            if len(eaten) and today - days[eaten[-1]] <= EXPLAIN_RECENT_DAYS:
                line = f"you had it {_days_ago(today - days[eaten[-1]])} (variety lowers it); " + line
            lines.append(line)
        return lines

    def _learned_state(self) -> dict[str, Any]:
        return {k: v for k, v in super()._learned_state().items() if k != "net_"}

    def _save_state(self, folder: Path) -> None:
        super()._save_state(folder)
        save_state(self.net_, folder)

    def _load_state(self, folder: Path) -> None:
        super()._load_state(folder)
        net = SASRec(self.data_.n_foods, self.max_len, self.hidden, self.layers, self.heads, self.dropout,
                     n_users=self.data_.n_users if self.user_embeddings else 0)
        self.net_ = load_state(net, folder)


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
