"""SASRec (Kang & McAuley 2018) for menu choices: the network, its training windows and loop.

Causal self-attention over the last ``max_len`` foods (with positional embeddings) predicts the
next food. The softmax runs over the menu the food was chosen from when menus are given (the
production task: pick from today's menu), else over the whole catalog, cheap at a few hundred to
a few thousand foods. Two additions make time count: the query is told how many days separate
the last order from the day being ranked, and a repeat head adds a learned score per "eaten d
days before" bucket to every food in the window. Together they learn variety seeking
(yesterday's food goes down) and habit (a food eaten now and then goes up) from the data
instead of from a rule. An optional per-user taste vector holds what the window is too short to
show. Optional food features (tags, maker, price, ...) add a learned projection to each food's
embedding, so a food's taste is shared with the foods like it (a user's taste vector then weighs
features, as a discrete-choice model over attributes does). Works on index arrays only;
``sequential`` wraps it as a recommender.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from kurrant_core.errors import ModelNotApplicable
from kurrant_core.models.torch_support import (
    MAX_VALIDATION_ORDERS,
    EarlyStopping,
    EpochLog,
    candidate_matrix,
    candidate_mrr,
    effective_batch_size,
    torch_session,
)

PAD = 0
"""Input token of an empty position; food index ``i`` is token ``i + 1``."""
GAP_EDGES = np.array([1, 2, 3, 4, 7, 14, 30])
"""Day-gap bucket edges: 0 same day, 1, 2, 3, 4–6, 7–13, 14–29, 30+ days."""
MIN_STEPS_PER_EPOCH = 20
"""Smallest number of Adam updates per epoch (small data sets get smaller batches)."""
SAMPLED_SOFTMAX_FOODS = 512
"""Foods a target competes with when its menu is unknown and the catalogue is too large for a full
softmax (``torch_support.FULL_SOFTMAX_MAX_ITEMS``)."""


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
    """Item + position embeddings and causal blocks, read out by a gap-aware query against the item
    embeddings, plus a repeat head: a learned score per "eaten d days before" bucket that is added
    to every food in the window, so variety seeking (yesterday's food goes down) and habit (a food
    eaten now and then goes up) are learned directly."""

    def __init__(self, n_items: int, max_len: int = 30, hidden: int = 32, layers: int = 1,
                 heads: int = 1, dropout: float = 0.2, n_users: int = 0,
                 item_features: np.ndarray | None = None):
        super().__init__()
        self.max_len = max_len
        self.user_emb = nn.Embedding(n_users, hidden) if n_users else None
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=PAD)
        self.feature_proj = None
        if item_features is not None:       # n_items x F, row k = food index k
            self.register_buffer("item_features", torch.as_tensor(np.asarray(item_features, dtype=np.float32)))
            self.feature_proj = nn.Linear(self.item_features.shape[1], hidden, bias=False)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.gap_emb = nn.Embedding(len(GAP_EDGES) + 1, hidden)
        self.repeat_bias = nn.Parameter(torch.zeros(len(GAP_EDGES) + 1))
        self.blocks = nn.ModuleList(CausalBlock(hidden, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.query = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.drop = nn.Dropout(dropout)
        nn.init.normal_(self.item_emb.weight, std=hidden ** -0.5)
        if self.user_emb is not None:
            nn.init.normal_(self.user_emb.weight, std=0.01)
        with torch.no_grad():
            self.item_emb.weight[PAD].zero_()

    def item_vectors(self) -> torch.Tensor:
        """[n_items + 1, hidden]: each token's embedding (+ its features' projection); PAD is zero."""
        if self.feature_proj is None:
            return self.item_emb.weight
        projected = self.feature_proj(self.item_features)
        return self.item_emb.weight + torch.cat([projected.new_zeros(1, projected.shape[1]), projected])

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
        x = self.item_vectors()[tokens] * math.sqrt(self.item_emb.embedding_dim) + self.pos_emb(positions)
        x = self.drop(x) * real[..., None]
        weights = None
        for block in self.blocks:
            x, weights = block(x, mask, need_weights)
            x = x * real[..., None]
        return self.norm(x), weights

    def repeat_terms(self, tokens: torch.Tensor, days: torch.Tensor,
                     target_days: torch.Tensor) -> torch.Tensor:
        """[B, T, L] repeat score of each window position for the last T positions' targets
        (zero for later or padded positions)."""
        length, queries = tokens.shape[1], target_days.shape[1]
        gap = (target_days[:, :, None] - days[:, None, :]).clamp(min=0)
        bucket = torch.bucketize(gap, torch.as_tensor(GAP_EDGES, dtype=gap.dtype), right=True)
        earlier = torch.arange(length)[None, :] <= torch.arange(length - queries, length)[:, None]
        seen = earlier[None] & (tokens != PAD)[:, None, :]
        return self.repeat_bias[bucket] * seen

    def repeat_scores(self, tokens: torch.Tensor, days: torch.Tensor,
                      target_days: torch.Tensor) -> torch.Tensor:
        """[B, T, n_items]: the repeat terms summed per food (a food eaten twice counts twice)."""
        terms = self.repeat_terms(tokens, days, target_days)
        index = tokens[:, None, :].expand_as(terms)
        out = torch.zeros(*terms.shape[:2], self.item_emb.num_embeddings, dtype=terms.dtype)
        return out.scatter_add_(2, index, terms)[..., 1:]

    def queries(self, hidden: torch.Tensor, gaps: torch.Tensor, users: torch.Tensor | None) -> torch.Tensor:
        """The query of each target: hidden state, day gap to the target, the user's taste vector."""
        q = hidden + self.query(torch.cat([hidden, self.gap_emb(gaps)], dim=-1))
        if self.user_emb is not None and users is not None:
            q = q + self.user_emb(users)
        return q

    def logits(self, hidden: torch.Tensor, gaps: torch.Tensor, users: torch.Tensor | None,
               repeat: torch.Tensor) -> torch.Tensor:
        """Next-food logits over the catalog: the query (hidden state, day gap to the target, the
        user's own taste vector if any) against item embeddings, plus the repeat scores."""
        return self.queries(hidden, gaps, users) @ self.item_vectors()[1:].T + repeat

    def candidate_logits(self, queries: torch.Tensor, candidates: torch.Tensor, tokens: torch.Tensor,
                         terms: torch.Tensor) -> torch.Tensor:
        """[N, W] logits of each target's candidate foods only (``candidate_matrix``, -1 pads give
        -inf): query . food vector + the repeat terms of the window positions holding that food.
        ``tokens`` [N, L] and ``terms`` [N, L] are each target's window and its repeat terms."""
        safe = candidates.clamp(min=0) + 1                                     # as tokens
        items = self.item_vectors()
        if 4 * candidates.shape[1] > items.shape[0]:    # wide rows: one product with the catalog, then pick
            full = (queries @ items.T).scatter_add(1, tokens, terms)    # PAD positions carry no term
            out = full.gather(1, safe)
        else:
            out = (items[safe] * queries[:, None, :]).sum(-1)                       # [N, W]
            match = (tokens[:, None, :] == safe[:, :, None]).to(terms.dtype)       # [N, W, L]
            out = out + (match * terms[:, None, :]).sum(-1)
        return out.masked_fill(candidates < 0, float("-inf"))

    @torch.no_grad()
    def next_item_log_probs(self, histories: list[np.ndarray], history_days: list[np.ndarray],
                            target_day: int | np.ndarray, users: np.ndarray | None = None) -> np.ndarray:
        """log P(next food) over the catalog on ``target_day`` (one, or one per history) for each
        history (food indices and day numbers, oldest first)."""
        tokens, days = self.recent_windows(histories, history_days)
        return self.log_probs_after(self.last_hidden(tokens), tokens, days, target_day, users)

    @torch.no_grad()
    def last_hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, hidden] state at the newest position of each left-padded window (``recent_windows``):
        what a history says whatever the day being ranked, so a caller may compute it once."""
        self.eval()
        hidden, _ = self.encode(tokens)
        return hidden[:, -1]

    @torch.no_grad()
    def log_probs_after(self, last: torch.Tensor, tokens: torch.Tensor, days: torch.Tensor,
                        target_day: int | np.ndarray, users: np.ndarray | None = None) -> np.ndarray:
        """``next_item_log_probs`` from the windows' ``last_hidden`` states: the day gap, the repeat
        head and the users' taste vectors for ``target_day``."""
        self.eval()
        target_days = np.full(len(tokens), target_day, dtype=np.int64)
        repeat = self.repeat_scores(tokens, days, torch.as_tensor(target_days)[:, None])[:, 0]
        gaps = torch.as_tensor(gap_buckets(target_days - days[:, -1].numpy()), dtype=torch.long)
        logits = self.logits(last, gaps, None if users is None else torch.tensor(users, dtype=torch.long),
                             repeat)
        return F.log_softmax(logits, dim=-1).numpy()

    @torch.no_grad()
    def explain_terms(self, history: np.ndarray, history_days: np.ndarray,
                      target_day: int) -> tuple[np.ndarray, np.ndarray]:
        """For the last ``max_len`` foods: the newest position's attention (head mean) and each
        food's repeat term for ``target_day``, oldest first."""
        self.eval()
        tokens, days = self.recent_windows([history], [history_days])
        _, weights = self.encode(tokens, need_weights=True)
        assert weights is not None
        terms = self.repeat_terms(tokens, days, torch.full((1, 1), target_day, dtype=torch.long))
        n = min(len(history), self.max_len)
        return weights[0, -1, -n:].numpy(), terms[0, 0, -n:].numpy()

    def recent_windows(self, histories: list[np.ndarray],
                       history_days: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """The last ``max_len`` foods (as tokens) and their days of each history, left-padded."""
        tokens = left_pad([h[-self.max_len:] + 1 for h in histories], self.max_len)
        days = left_pad([d[-self.max_len:] for d in history_days], self.max_len)
        return torch.as_tensor(tokens), torch.as_tensor(days)


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
    days: np.ndarray
    """Day number of each input."""
    targets: np.ndarray
    """Food index to predict at each position (-100 where there is none)."""
    target_days: np.ndarray
    """Day number of each target."""
    meals: np.ndarray
    """Meal number of each target (its menu), -1 when unknown or padded."""
    users: np.ndarray
    """Position of each window's sequence in the input list (the user index)."""

    @property
    def gaps(self) -> np.ndarray:
        """Day-gap bucket from each input to its target."""
        return gap_buckets(self.target_days - self.days)


def training_windows(sequences: list[np.ndarray], days: list[np.ndarray] | None, max_len: int,
                     meals: list[np.ndarray] | None = None) -> Windows:
    """Cut each sequence from its end into windows of next-food examples.

    Every target appears once. The earliest window of a long sequence is stretched to a full
    ``max_len`` inputs (its later targets, already taught by the next window, are blanked), so
    no window starts with little context. ``days`` None: one day apart.
    """
    fields = ("tokens", "days", "targets", "target_days", "meals")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in fields}
    users = []
    for s, seq in enumerate(sequences):
        d = days[s] if days is not None else np.arange(len(seq))
        m = meals[s] if meals is not None else np.full(len(seq), -1)
        for end in range(len(seq) - 1, 0, -max_len):
            start, stop = max(0, end - max_len), end
            if start == 0:
                stop = min(max_len, len(seq) - 1)
            target = seq[start + 1:stop + 1].copy()
            target[end - start:] = -100
            parts["tokens"].append(seq[start:stop] + 1)
            parts["days"].append(d[start:stop])
            parts["targets"].append(target)
            parts["target_days"].append(d[start + 1:stop + 1])
            parts["meals"].append(m[start + 1:stop + 1])
            users.append(s)
    fills = {"targets": -100, "meals": -1}
    return Windows(**{k: left_pad(v, max_len, fills.get(k, PAD)) for k, v in parts.items()},
                   users=np.array(users, dtype=np.int64))


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
               max_len: int = 30, hidden: int = 32, layers: int = 1, heads: int = 1,
               dropout: float = 0.2, epochs: int = 6, lr: float = 0.01, batch_size: int = 128,
               user_embeddings: bool = False, item_features: np.ndarray | None = None,
               seed: int = 0, validation_from: int | None = None,
               stopping: EarlyStopping | None = None, epoch_examples: int = 0) -> tuple[SASRec, list[float]]:
    """Train SASRec by next-food cross-entropy with Adam (``epoch_examples`` > 0: a fresh sample of
    that many training windows per epoch, when there are more).

    ``sequences`` hold food indices per user in time order; ``days`` the matching day numbers
    (None: one day apart). With ``meals`` (meal number per order, aligned with ``sequences``) and
    ``menus`` (meals x foods), the softmax runs over the menu each food was chosen from: the
    model learns to choose from a menu, not to guess which foods were on it. Without them it is
    a softmax over the catalog (sampled when the catalogue is large: ``candidate_matrix``). Either
    way only each target's candidates are scored. ``user_embeddings`` adds a learned taste vector
    per sequence; ``item_features`` (foods x features) adds their learned projection to each food's
    embedding.

    With ``validation_from`` (a day number) and ``stopping``: targets from that day on are held
    out of the loss (they are still context for nothing earlier: attention is causal), each epoch
    ends by measuring the MRR of up to ``MAX_VALIDATION_ORDERS`` of them among their menus,
    training stops when ``stopping`` says so and the best epoch's weights are kept. Returns the
    network (eval mode) and each epoch's mean training loss.
    """
    w = training_windows(sequences, days, max_len, meals)
    if len(w.tokens) == 0:
        raise ModelNotApplicable("nobody has two paid orders before the cutoff, so there is no "
                                 "sequence to learn; move the cutoff later or load more data.")
    gaps = w.gaps
    rng = np.random.default_rng(seed)
    targets = w.targets >= 0
    held = np.zeros_like(targets)
    if validation_from is not None and stopping is not None:
        held = targets & (w.target_days >= validation_from)
        if menus is not None:
            held &= w.meals >= 0
        chosen = np.flatnonzero(held.reshape(-1))
        if len(chosen) > MAX_VALIDATION_ORDERS:
            chosen = np.random.default_rng(seed).choice(chosen, size=MAX_VALIDATION_ORDERS, replace=False)
        judged = np.zeros(held.size, dtype=bool)
        judged[chosen] = True
        judged = judged.reshape(held.shape)
        targets &= ~held
    losses: list[float] = []
    with torch_session(seed):
        net = SASRec(n_items, max_len, hidden, layers, heads, dropout,
                     n_users=len(sequences) if user_embeddings else 0, item_features=item_features)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        net.train()
        lengths = (w.tokens != PAD).sum(axis=1)
        trained = np.flatnonzero(targets.any(axis=1))
        size = effective_batch_size(len(trained), batch_size, MIN_STEPS_PER_EPOCH)
        epoch_log = EpochLog("sequential", epochs)
        for n_epoch in range(epochs):
            total, count = 0.0, 0
            epoch = trained
            if 0 < epoch_examples < len(trained):
                epoch = np.sort(rng.choice(trained, epoch_examples, replace=False))
            for batch in length_batches(lengths[epoch], size, rng):
                batch = epoch[batch]
                logits = _batch_logits(net, w, gaps, batch, targets, menus, n_items, rng)
                goal = torch.zeros(len(logits), dtype=torch.long)      # the target is candidate 0
                loss = F.cross_entropy(logits, goal)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(goal)
                count += len(goal)
            losses.append(total / max(count, 1))
            if stopping is not None and held.any():
                score = _validation_mrr(net, w, gaps, judged, menus, n_items, seed)
                epoch_log.epoch(n_epoch, losses[-1], score)
                if stopping.should_stop(score, net):
                    break
                net.train()
            else:
                epoch_log.epoch(n_epoch, losses[-1])
        if stopping is not None and held.any():
            stopping.restore(net)
    return net.eval(), losses


def _batch_logits(net: SASRec, w: Windows, gaps: np.ndarray, batch: np.ndarray, targets: np.ndarray,
                  menus: sp.csr_matrix | None, n_items: int, rng: np.random.Generator) -> torch.Tensor:
    """[targets of the batch, candidates] logits, each row's own target in column 0."""
    lengths = (w.tokens[batch] != PAD).sum(axis=1)
    cols = slice(-int(lengths.max()), None)            # left padding: drop empty columns
    tokens = torch.as_tensor(w.tokens[batch, cols])
    hidden_states, _ = net.encode(tokens)
    valid = targets[batch, cols]
    mask = torch.as_tensor(valid)
    goal = w.targets[batch, cols][valid]
    users = np.broadcast_to(w.users[batch, None], valid.shape)[valid]
    queries = net.queries(hidden_states[mask], torch.as_tensor(gaps[batch, cols][valid]), torch.as_tensor(users))
    candidates = torch.as_tensor(candidate_matrix(goal, menus, w.meals[batch, cols][valid], n_items,
                                                  SAMPLED_SOFTMAX_FOODS, rng))
    terms = net.repeat_terms(tokens, torch.as_tensor(w.days[batch, cols]),
                             torch.as_tensor(w.target_days[batch, cols]))[mask]          # [N, L]
    rows = np.broadcast_to(np.arange(len(batch))[:, None], valid.shape)[valid]
    return net.candidate_logits(queries, candidates, tokens[torch.as_tensor(rows)], terms)


@torch.no_grad()
def _validation_mrr(net: SASRec, w: Windows, gaps: np.ndarray, judged: np.ndarray,
                    menus: sp.csr_matrix | None, n_items: int, seed: int) -> float:
    """MRR of the held-out targets marked in ``judged`` among their menus (eval mode)."""
    net.eval()
    rng = np.random.default_rng(seed)             # the same sampled foods every epoch
    windows = np.flatnonzero(judged.any(axis=1))
    scores = [_batch_logits(net, w, gaps, windows[s:s + 256], judged, menus, n_items, rng).numpy()
              for s in range(0, len(windows), 256)]
    if not scores:
        return 0.0
    width = max(x.shape[1] for x in scores)
    return candidate_mrr(np.concatenate([np.pad(x, ((0, 0), (0, width - x.shape[1])),
                                                constant_values=-np.inf) for x in scores]))
