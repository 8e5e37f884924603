"""Diversity re-ranking of one user's candidate list, on any model's scores (pure numpy).

``rerank(candidates, settings)`` runs, in this order:

1. the allergy mask — always, whatever the settings say;
2. the repeat window — drop exactly the foods eaten in the N days before the service date
   (1 <= days_since_eaten <= N; the service date itself is not "before", matching
   ``metrics.repeat_rate``, so an evaluation never hides the very order it is scoring);
3. relevance normalised per list, min-max to [0, 1] by default (or z-score), so that lambda
   mixes it with cosine similarity and KL divergence on a like-for-like scale whatever the
   model's score units;
4. the popularity penalty: w - beta * minmax(log(1 + popularity)), not re-normalised, so
   beta = 1 costs the most popular food the whole relevance range;
5. seeded exploration: w + tau * Gumbel noise; ordering by the noisy scores is a Plackett-Luce
   sample with weights exp(w / tau), and tau = 0 leaves w untouched;
6. one greedy pass: each step adds the admissible food with the largest sum of the enabled
   objectives' marginal gains — MMR, DPP, calibration (relevance alone when none is on) —
   skipping foods whose category or maker is at its cap. With one objective on this is exactly
   that objective's published greedy algorithm; ties go to the more relevant food.

Each step is also a function of its own (``admissible``, ``normalise_relevance``,
``penalise_popularity``, ``explore``, the objective classes and ``greedy_select``), and
``list_report`` measures what a list costs and gains.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from kurrant_core.errors import KurrantError
from kurrant_core.metrics import CALIBRATION_ALPHA, pairwise_diversity, popularity_share, smoothed_kl

NORMALISATIONS = ("minmax", "zscore")
DPP_JITTER = 1e-6
"""Added to the similarity kernel's diagonal so exact duplicates keep a tiny, finite gain."""
_TIE = 1e-12


POLICY_VERSION = 1
"""Version of a policy's stored shape: a stored policy of another version is refused, not guessed."""
OFF = "off"
"""The name of the policy that re-ranks nothing: the model's own top-k."""
DEFAULT_POOL = 50
"""Candidates a policy chooses from: enough room for diversity, small enough to stay fast."""
_NEUTRAL_KNOBS = {"mmr_lambda": 1.0, "dpp_theta": 1.0, "calibration_lambda": 0.0, "max_per_category": 0,
                  "max_per_maker": 0, "repeat_window_days": 0}
"""The widget value at which each optional step is off (the Compare page's sliders)."""


@dataclass(frozen=True)
class Policy:
    """A diversity policy: the re-rank settings as one validated, versioned value.

    The Compare page's knobs, a run's stored policy and the default policy are all this type.
    ``None`` (or 0 for beta and tau) switches a step off. ``k`` is the list length (a run sets its
    own); ``pool`` the model's top candidates the policy chooses from; ``spread_max_share`` the
    population option: on one group's menu day, at most this share of the users get the same #1
    pick (None = off, the per-user view). ``cap_by_history``: no category fills more of a list than
    the user's most-ordered category fills their orders (``history_cap``), so a list is never less
    varied than the user's own history; it only moves foods down, never shortens a list.
    """

    name: str = OFF
    k: int = 10
    mmr_lambda: float | None = None          # 1 = relevance order, 0 = diversity only
    dpp_theta: float | None = None           # Chen et al.'s theta: 1 = relevance order
    calibration_lambda: float | None = None  # Steck's lambda: 0 = relevance order
    max_per_category: int | None = None
    max_per_maker: int | None = None
    repeat_window_days: int | None = None
    popularity_penalty: float = 0.0          # beta
    explore_temperature: float = 0.0         # tau
    seed: int | None = 0
    normalisation: str = "minmax"
    pool: int = DEFAULT_POOL
    spread_max_share: float | None = None
    cap_by_history: bool = False             # no category above the user's own top share
    version: int = POLICY_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 64:
            raise KurrantError(f"A policy needs a name of 1 to 64 characters, not {self.name!r}.",
                               key="err.policy_name", name=self.name)
        if self.version != POLICY_VERSION:
            raise KurrantError(f"Policy {self.name!r} is of version {self.version}; this build reads "
                               f"version {POLICY_VERSION}. Save it again from the Compare page.",
                               key="err.policy_version", name=self.name, version=self.version, supported=POLICY_VERSION)
        for name in ("k", "pool"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise KurrantError(f"{name} must be a whole number of at least 1, not {value!r}.",
                                   key="err.policy_whole", name=name, value=value)
        for name in ("mmr_lambda", "dpp_theta", "calibration_lambda"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise KurrantError(f"{name} must lie between 0 and 1 (or be off), not {value}.",
                                   key="err.policy_unit", name=name, value=value)
        for name in ("max_per_category", "max_per_maker"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise KurrantError(f"{name} must be at least 1 (or off), not {value}.",
                                   key="err.policy_at_least_one", name=name, value=value)
        if self.repeat_window_days is not None and self.repeat_window_days < 0:
            raise KurrantError("repeat_window_days must be 0 or more days (or off).", key="err.policy_window")
        if self.popularity_penalty < 0 or self.explore_temperature < 0:
            raise KurrantError("popularity_penalty and explore_temperature must be 0 or more.",
                               key="err.policy_non_negative")
        if self.normalisation not in NORMALISATIONS:
            raise KurrantError(f"normalisation must be one of {NORMALISATIONS}, "
                               f"not {self.normalisation!r}.", key="err.policy_normalisation",
                               choices=", ".join(NORMALISATIONS), value=self.normalisation)
        if not isinstance(self.cap_by_history, bool):
            raise KurrantError(f"cap_by_history must be true or false, not {self.cap_by_history!r}.",
                               key="err.policy_setting_type", name="cap_by_history", kind="bool",
                               value=self.cap_by_history)
        if self.spread_max_share is not None and not 0.0 < self.spread_max_share <= 1.0:
            raise KurrantError(f"spread_max_share must lie in (0, 1] (or be off), not {self.spread_max_share}.",
                               key="err.policy_spread", value=self.spread_max_share)

    # ------------------------------------------------------------------ what it does
    @property
    def reranks(self) -> bool:
        """False when the policy leaves the model's order alone (every step off)."""
        steps = (self.mmr_lambda, self.dpp_theta, self.calibration_lambda, self.max_per_category,
                 self.max_per_maker, self.repeat_window_days, self.spread_max_share)
        return (any(v is not None for v in steps) or self.popularity_penalty > 0 or self.explore_temperature > 0
                or self.cap_by_history)

    def steps_text(self) -> str:
        """The steps that are on, e.g. ``calibration 0.3 · max 2 per maker · repeat window 1 d``."""
        parts = [f"MMR λ {self.mmr_lambda}" if self.mmr_lambda is not None else "",
                 f"DPP θ {self.dpp_theta}" if self.dpp_theta is not None else "",
                 f"calibration {self.calibration_lambda}" if self.calibration_lambda is not None else "",
                 f"max {self.max_per_category} per category" if self.max_per_category else "",
                 f"max {self.max_per_maker} per maker" if self.max_per_maker else "",
                 "no category above the user's own top share" if self.cap_by_history else "",
                 f"repeat window {self.repeat_window_days} d" if self.repeat_window_days is not None else "",
                 f"popularity penalty {self.popularity_penalty}" if self.popularity_penalty else "",
                 f"exploration {self.explore_temperature}" if self.explore_temperature else "",
                 f"≤ {self.spread_max_share:.0%} of a group on one pick" if self.spread_max_share else ""]
        return " · ".join(p for p in parts if p) or "no re-ranking (the model's own order)"

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> Policy:
        """A policy from stored or typed values; unknown or mistyped keys are refused clearly."""
        if not isinstance(values, Mapping):
            raise KurrantError(f"A policy is a JSON object of settings, not {type(values).__name__}.",
                               key="err.policy_object", kind=type(values).__name__)
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise KurrantError(f"Unknown policy setting {', '.join(unknown)}; a policy takes "
                               f"{', '.join(known)}.", key="err.policy_unknown_setting",
                               names=", ".join(unknown), known=", ".join(known))
        typed = {}
        for key, value in values.items():
            default = known[key].default
            if value is None or isinstance(default, str) and isinstance(value, str) \
                    or isinstance(default, bool) and isinstance(value, bool):
                typed[key] = value
                continue
            kind = int if key in _WHOLE_SETTINGS else float if key in _REAL_SETTINGS else type(default)
            try:
                if isinstance(value, bool) or kind is bool or (kind is int and float(value) != int(float(value))):
                    raise ValueError
                typed[key] = kind(value)
            except (TypeError, ValueError):
                raise KurrantError(f"Policy setting {key} must be a {kind.__name__}, not {value!r}.",
                                   key="err.policy_setting_type", name=key, kind=kind.__name__,
                                   value=value) from None
        return cls(**typed)

    # ------------------------------------------------------------------ the Compare page's widgets
    def knobs(self) -> dict[str, float | int]:
        """The settings as slider values: an off step at its neutral value (MMR 1, caps 0, ...)."""
        values = {name: getattr(self, name) for name in KNOB_NAMES}
        for name, neutral in _NEUTRAL_KNOBS.items():
            if values[name] is None:
                values[name] = neutral
        values["seed"] = 0 if values["seed"] is None else values["seed"]
        return values

    @classmethod
    def from_knobs(cls, name: str = "custom", **knobs: float | int) -> Policy:
        """The policy of slider values: a knob at its neutral value switches its step off (MMR at
        lambda 1 alone is relevance order, but summed with DPP it would reweight it)."""
        values = dict(knobs)
        for key, neutral in _NEUTRAL_KNOBS.items():
            if key in values and values[key] == neutral:
                values[key] = None
        return cls.from_dict({"name": name, **values})


KNOB_NAMES = ("k", "mmr_lambda", "dpp_theta", "calibration_lambda", "max_per_category", "max_per_maker",
              "cap_by_history", "repeat_window_days", "popularity_penalty", "explore_temperature", "seed")
"""The settings the Compare page shows as sliders."""
_WHOLE_SETTINGS = {"k", "pool", "max_per_category", "max_per_maker", "repeat_window_days", "seed",
                   "version"}
_REAL_SETTINGS = {"mmr_lambda", "dpp_theta", "calibration_lambda", "popularity_penalty",
                  "explore_temperature", "spread_max_share"}
RerankSettings = Policy
"""The re-ranker's historical name for the same type."""


@dataclass(frozen=True, eq=False)
class CandidateSet:
    """One user's candidates (a day's menu or the catalog) with everything the steps need.

    ``features`` rows are L2-normalised here (cosine = dot product); ``category`` and ``maker``
    are integer codes (use -1 for unknown); ``popularity`` = order counts; ``days_since_eaten``
    = days from the user's last order of that food to the service date (inf = never);
    ``user_category_mix`` = category code -> share of the user's orders (empty for a cold user:
    calibration is then skipped); ``allergen`` = True
    where the food carries one of the user's allergy tags; ``user_id`` seeds exploration per user.
    """

    food_ids: np.ndarray
    relevance: np.ndarray
    features: np.ndarray
    category: np.ndarray
    maker: np.ndarray
    popularity: np.ndarray | None = None
    days_since_eaten: np.ndarray | None = None
    user_category_mix: Mapping[int, float] | None = None
    allergen: np.ndarray | None = None
    user_id: int | None = None

    def __post_init__(self) -> None:
        n = len(self.food_ids)
        features = self.features.toarray() if sp.issparse(self.features) else self.features
        features = np.asarray(features, dtype=float).reshape(n, -1)
        norms = np.linalg.norm(features, axis=1)
        arrays = {
            "food_ids": np.asarray(self.food_ids),
            "relevance": np.asarray(self.relevance, dtype=float),
            "features": features / np.where(norms > 0, norms, 1.0)[:, None],
            "category": np.asarray(self.category),
            "maker": np.asarray(self.maker),
            "popularity": np.zeros(n) if self.popularity is None
            else np.asarray(self.popularity, dtype=float),
            "days_since_eaten": np.full(n, np.inf) if self.days_since_eaten is None
            else np.asarray(self.days_since_eaten, dtype=float),
            "allergen": np.zeros(n, bool) if self.allergen is None
            else np.asarray(self.allergen, dtype=bool),
            "user_category_mix": {int(c): float(s) for c, s
                                  in dict(self.user_category_mix or {}).items() if s > 0},
        }
        for name, value in arrays.items():
            if isinstance(value, np.ndarray) and value.shape[0] != n:
                raise ValueError(f"{name} has {value.shape[0]} rows for {n} candidates")
            object.__setattr__(self, name, value)
        if not np.all(np.isfinite(self.relevance)):
            raise ValueError("relevance must be finite")

    def __len__(self) -> int:
        return len(self.food_ids)


@dataclass(frozen=True)
class RerankResult:
    """The re-ranked list: ``positions`` index the CandidateSet, best first."""

    positions: np.ndarray
    food_ids: np.ndarray
    scores: np.ndarray        # working relevance (normalised, penalised, explored) of the picks
    n_allergen_removed: int
    n_recent_removed: int
    shortfall: int            # k minus the list's length
    note: str                 # why the list is shorter than k; "" when it is not


@dataclass(frozen=True)
class ListReport:
    """What one list costs and gains (see ``list_report``)."""

    intra_list_diversity: float
    category_coverage: float
    novelty: float
    calibration_error: float
    relevance_change: float
    relevance_ratio: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# ---------------------------------------------------------------- score transforms

def admissible(candidates: CandidateSet, repeat_window_days: int | None = None) -> np.ndarray:
    """Mask of foods that may be shown: no allergen, and not eaten in the repeat window."""
    keep = ~candidates.allergen
    if repeat_window_days is not None:
        days = candidates.days_since_eaten
        keep &= ~((days >= 1) & (days <= repeat_window_days))
    return keep


def normalise_relevance(relevance: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Min-max to [0, 1] or z-score within the list; a constant list becomes all zeros."""
    r = np.asarray(relevance, dtype=float)
    if r.size == 0:
        return r
    if method == "zscore":
        spread = r.std()
        return (r - r.mean()) / spread if spread > 0 else np.zeros_like(r)
    spread = r.max() - r.min()
    return (r - r.min()) / spread if spread > 0 else np.zeros_like(r)


def penalise_popularity(relevance: np.ndarray, popularity: np.ndarray, beta: float) -> np.ndarray:
    """w - beta * minmax(log(1 + popularity)): the most popular food loses beta."""
    if beta == 0:
        return relevance
    return relevance - beta * normalise_relevance(np.log1p(popularity))


def explore(relevance: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """w + tau * Gumbel(0, 1) (Gumbel-max trick: argsort is a Plackett-Luce draw, weights
    exp(w / tau)); tau = 0 returns w unchanged and draws nothing."""
    if temperature == 0:
        return relevance
    return relevance + temperature * rng.gumbel(size=relevance.shape)


# ---------------------------------------------------------------- greedy objectives

class Objective(Protocol):
    """A greedy objective: marginal gains of adding each candidate, and the state update."""

    def gains(self) -> np.ndarray: ...

    def add(self, i: int) -> None: ...


class MMR:
    """Carbonell & Goldstein (1998): lambda * rel_i - (1 - lambda) * max_{j in S} sim(i, j)."""

    def __init__(self, relevance: np.ndarray, features: np.ndarray, lam: float) -> None:
        self.relevance, self.lam, self.features = relevance, lam, features
        self.max_sim: np.ndarray | None = None

    def gains(self) -> np.ndarray:
        penalty = 0.0 if self.max_sim is None else self.max_sim
        return self.lam * self.relevance - (1.0 - self.lam) * penalty

    def add(self, i: int) -> None:
        row = self.features @ self.features[i]  # cosine to the new pick; O(n d) per step
        self.max_sim = row.copy() if self.max_sim is None else np.maximum(self.max_sim, row)


class DPP:
    """Greedy MAP for a DPP (Chen, Zhang & Zhou, NeurIPS 2018), fast Cholesky updates.

    Kernel L = diag(q) S diag(q), q = exp(alpha * rel), alpha = theta / (2 (1 - theta)). The
    marginal gain log det L_{S+i} - log det L_S = 2 alpha rel_i + log d_i^2, where d_i^2 is the
    Cholesky residual of S (+ jitter on the diagonal). We rank by (1 - theta) times that,
    theta * rel_i + (1 - theta) * log d_i^2: the same argmax, no overflow, and theta = 1 is
    relevance order. d_i^2 is updated per pick: e_i = (S_ji - <c_j, c_i>) / d_j, d_i^2 -= e_i^2.
    """

    def __init__(self, relevance: np.ndarray, features: np.ndarray, theta: float,
                 max_picks: int) -> None:
        self.relevance, self.theta, self.features = relevance, theta, features
        self.d2 = np.einsum("ij,ij->i", features, features) + DPP_JITTER
        self.c = np.zeros((max_picks, len(relevance)))
        self.n_picked = 0

    def gains(self) -> np.ndarray:
        log_d2 = np.log(np.maximum(self.d2, 1e-300))
        return self.theta * self.relevance + (1.0 - self.theta) * log_d2

    def add(self, j: int) -> None:
        d_j = np.sqrt(max(self.d2[j], 1e-300))
        s_j = self.features @ self.features[j]
        s_j[j] += DPP_JITTER
        c = self.c[:self.n_picked]
        e = (s_j - c.T @ c[:, j]) / d_j
        self.c[self.n_picked] = e
        self.n_picked += 1
        self.d2 = self.d2 - e * e


class Calibration:
    """Steck (2018): greedily maximise (1 - lambda) sum rel - lambda KL(p || q~) with p the
    user's category mix and q~ = (1 - a) q + a p the smoothed mix of the list, a = 0.01."""

    def __init__(self, relevance: np.ndarray, category: np.ndarray,
                 user_mix: Mapping[int, float], lam: float,
                 alpha: float = CALIBRATION_ALPHA) -> None:
        self.relevance, self.lam, self.alpha = relevance, lam, alpha
        cats, self.cat_idx = np.unique(np.concatenate([np.asarray(category),
                                                       np.fromiter(user_mix, int)]),
                                       return_inverse=True)
        self.cat_idx = self.cat_idx[:len(category)]
        p = np.array([user_mix.get(int(c), 0.0) for c in cats], dtype=float)
        self.p = p / p.sum()
        self.counts = np.zeros(cats.size)
        self.one_more = np.eye(cats.size)

    def gains(self) -> np.ndarray:
        # row g: the list's mix if a food of category g were added next
        mixes = (self.counts[None, :] + self.one_more) / (self.counts.sum() + 1.0)
        kl_if_added = smoothed_kl(self.p[None, :], mixes, self.alpha)
        return (1.0 - self.lam) * self.relevance - self.lam * kl_if_added[self.cat_idx]

    def add(self, i: int) -> None:
        self.counts[self.cat_idx[i]] += 1


def history_cap(user_mix: Mapping[int, float] | None, k: int) -> int | None:
    """Slots one category may fill in a list of ``k`` under ``cap_by_history``: the user's top
    category's share of their orders times k, rounded down (at least 1); None for a cold user."""
    shares = np.fromiter((s for s in dict(user_mix or {}).values() if s > 0), float)
    if shares.size == 0:
        return None
    return max(1, int(np.floor(k * shares.max() / shares.sum() + 1e-9)))


def greedy_select(relevance: np.ndarray, k: int, objectives: Sequence[Objective] = (), *,
                  category: np.ndarray | None = None, maker: np.ndarray | None = None,
                  max_per_category: int | None = None,
                  max_per_maker: int | None = None, soft_category_cap: int | None = None) -> np.ndarray:
    """Pick up to k positions, each step the admissible one with the largest summed gain.

    A food is admissible while its category and maker are below their caps; when none is left
    the list stops short. (With both caps on, another order could occasionally fit one more.)
    The soft category cap only prefers: a food of a category at it is taken only when no other
    admissible food is left, so it reorders a list but never shortens it.
    """
    n = len(relevance)
    free = np.ones(n, bool)
    caps = [(np.unique(codes, return_inverse=True)[1], cap) for codes, cap
            in ((category, max_per_category), (maker, max_per_maker)) if cap is not None]
    counts = [np.zeros(idx.max(initial=-1) + 1, int) for idx, _ in caps]
    soft = None
    if soft_category_cap is not None and category is not None:
        soft_idx = np.unique(category, return_inverse=True)[1]
        soft = (soft_idx, np.zeros(soft_idx.max(initial=-1) + 1, int))
    picks: list[int] = []
    while len(picks) < k:
        allowed = free.copy()
        for (idx, cap), used in zip(caps, counts):
            allowed &= used[idx] < cap
        if not allowed.any():
            break
        if soft is not None:
            preferred = allowed & (soft[1][soft[0]] < soft_category_cap)
            allowed = preferred if preferred.any() else allowed
        gain = sum(o.gains() for o in objectives) if objectives else relevance
        gain = np.where(allowed, gain, -np.inf)
        tied = np.flatnonzero(gain >= gain.max() - _TIE)
        best = int(tied[np.argmax(relevance[tied])])
        picks.append(best)
        free[best] = False
        for o in objectives:
            o.add(best)
        for (idx, _), used in zip(caps, counts):
            used[idx[best]] += 1
        if soft is not None:
            soft[1][soft[0][best]] += 1
    return np.array(picks, dtype=int)


# ---------------------------------------------------------------- the pipeline

def _rng(settings: RerankSettings, candidates: CandidateSet) -> np.random.Generator:
    if settings.seed is None or candidates.user_id is None:
        return np.random.default_rng(settings.seed)
    return np.random.default_rng([settings.seed, int(candidates.user_id)])


def rerank(candidates: CandidateSet, settings: RerankSettings) -> RerankResult:
    """Re-rank one user's candidates with the knobs in ``settings`` (see the module docstring)."""
    keep = admissible(candidates, settings.repeat_window_days)
    pos = np.flatnonzero(keep)
    w = normalise_relevance(candidates.relevance[pos], settings.normalisation)
    w = penalise_popularity(w, candidates.popularity[pos], settings.popularity_penalty)
    w = explore(w, settings.explore_temperature, _rng(settings, candidates))
    features, category = candidates.features[pos], candidates.category[pos]
    objectives: list[Objective] = []
    if settings.mmr_lambda is not None:
        objectives.append(MMR(w, features, settings.mmr_lambda))
    if settings.dpp_theta is not None:
        objectives.append(DPP(w, features, settings.dpp_theta, settings.k))
    if settings.calibration_lambda is not None and candidates.user_category_mix:
        objectives.append(Calibration(w, category, candidates.user_category_mix,
                                      settings.calibration_lambda))
    local = greedy_select(w, settings.k, objectives, category=category,
                          maker=candidates.maker[pos],
                          max_per_category=settings.max_per_category,
                          max_per_maker=settings.max_per_maker,
                          soft_category_cap=history_cap(candidates.user_category_mix, settings.k)
                          if settings.cap_by_history else None)
    return _result(candidates, settings, keep, pos, w, local)


def _result(candidates: CandidateSet, settings: RerankSettings, keep: np.ndarray, pos: np.ndarray,
            w: np.ndarray, local: np.ndarray) -> RerankResult:
    """The re-rank result of the picks ``local`` (into the admissible positions ``pos``)."""
    shortfall = settings.k - local.size
    note = ""
    if shortfall and pos.size < settings.k:
        note = (f"only {pos.size} of {len(candidates)} foods are left after the allergy filter "
                f"and the repeat window; the list has {local.size} of the {settings.k} asked")
    elif shortfall:
        caps = " and ".join(f"at most {cap} per {what}" for what, cap in (
            ("category", settings.max_per_category), ("maker", settings.max_per_maker)) if cap is not None)
        note = f"the caps ({caps}) leave only {local.size} of the {settings.k} asked"
    chosen = pos[local]
    return RerankResult(positions=chosen, food_ids=candidates.food_ids[chosen], scores=w[local],
                        n_allergen_removed=int(candidates.allergen.sum()),
                        n_recent_removed=int(np.sum(~candidates.allergen & ~keep)),
                        shortfall=shortfall, note=note)


def rerank_many(pools: Sequence[CandidateSet], settings: RerankSettings,
                ks: Sequence[int]) -> list[RerankResult]:
    """``rerank(pool, replace(settings, k=k))`` for every pool, computed together: the same lists.

    A run re-ranks thousands of short lists; one at a time, numpy's per-call cost dominates. Here
    each list is prepared exactly as ``rerank`` prepares it (admissible foods, normalised,
    penalised, explored relevance; its calibration state), then lists of the same length and
    category count take their greedy steps together, as rows of one array, with the same gains,
    caps and tie rule. MMR and DPP (kernel products whose summation order a batch would change)
    go one list at a time.
    """
    if settings.mmr_lambda is not None or settings.dpp_theta is not None:
        return [rerank(pool, replace(settings, k=int(k))) for pool, k in zip(pools, ks)]
    prepared, blocks = [], {}
    for n, (pool, k) in enumerate(zip(pools, ks)):
        keep = admissible(pool, settings.repeat_window_days)
        pos = np.flatnonzero(keep)
        w = normalise_relevance(pool.relevance[pos], settings.normalisation)
        w = penalise_popularity(w, pool.popularity[pos], settings.popularity_penalty)
        if settings.explore_temperature:
            w = explore(w, settings.explore_temperature, _rng(settings, pool))
        calibration = None
        if settings.calibration_lambda is not None and pool.user_category_mix:
            calibration = Calibration(w, pool.category[pos], pool.user_category_mix,
                                      settings.calibration_lambda)
        prepared.append((keep, pos, w, calibration))
        shape = (len(pool), calibration.p.size if calibration is not None else 0)
        blocks.setdefault(shape, []).append(n)
    out: list[RerankResult | None] = [None] * len(pools)
    with_k = {k: replace(settings, k=k) for k in {int(k) for k in ks}}     # validated once per length
    for (size, n_categories), members in blocks.items():
        picks = _greedy_block([pools[n] for n in members], [prepared[n] for n in members],
                              [int(ks[n]) for n in members], size, n_categories, settings)
        for n, local in zip(members, picks):
            keep, pos, w, _ = prepared[n]
            out[n] = _result(pools[n], with_k[int(ks[n])], keep, pos, w, local)
    return out


def _greedy_block(pools: Sequence[CandidateSet], prepared: Sequence[tuple], ks: Sequence[int], size: int,
                  n_categories: int, settings: RerankSettings) -> list[np.ndarray]:
    """``greedy_select`` for lists of one length, one row each (see ``rerank_many``); the picks of
    each list as positions into its admissible foods, as ``greedy_select`` returns them."""
    rows = len(pools)
    relevance = np.zeros((rows, size))
    allowed = np.zeros((rows, size), bool)
    for r, (keep, pos, w, _) in enumerate(prepared):
        relevance[r, pos] = w
        allowed[r] = keep
    calibration = None
    if n_categories > 0:
        cat_idx = np.zeros((rows, size), np.int64)
        target = np.empty((rows, n_categories))
        for r, (_, pos, _, cal) in enumerate(prepared):
            cat_idx[r, pos] = cal.cat_idx
            target[r] = cal.p
        calibration = (cat_idx, target, np.full(rows, prepared[0][3].lam), prepared[0][3].alpha)
    soft_cap = None
    if settings.cap_by_history:
        soft_cap = np.array([NO_CAP if c is None else c for c in
                             (history_cap(p.user_category_mix, kk) for p, kk in zip(pools, ks))], np.int64)
    picks = greedy_rows(relevance, allowed, np.asarray(ks, np.int64), calibration=calibration,
                        category=np.stack([p.category for p in pools]),
                        maker=np.stack([p.maker for p in pools]),
                        max_per_category=settings.max_per_category, max_per_maker=settings.max_per_maker,
                        soft_cap=soft_cap)
    out = []
    for (_, pos, _, _), row in zip(prepared, picks):
        local = np.searchsorted(pos, row[row >= 0])     # full -> admissible index
        out.append(local.astype(int))
    return out


NO_CAP = np.iinfo(np.int64).max
"""A per-row cap that never binds (a cold user under the history cap)."""


def greedy_rows(relevance: np.ndarray, allowed: np.ndarray, k: np.ndarray, *,
                calibration: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None,
                category: np.ndarray | None = None, maker: np.ndarray | None = None,
                max_per_category: int | None = None, max_per_maker: int | None = None,
                soft_cap: np.ndarray | None = None) -> np.ndarray:
    """``greedy_select`` for many lists at once, one padded row each: the same gains, caps, soft
    cap and tie rule, each step taken by every row together. Rows x ``k.max()`` positions into the
    rows, best first, -1 after a row's last pick.

    ``allowed`` masks what a row may show (admissible, not padding); ``k`` is each row's length;
    ``calibration`` = (category column of each cell, each row's target mix over those columns, each
    row's lambda (0 for a row without calibration), alpha); ``soft_cap`` = each row's history cap
    (``NO_CAP`` for none), counted on ``category``.
    """
    rows, size = relevance.shape
    k = np.asarray(k, np.int64)
    caps = [(codes, cap) for codes, cap in ((category, max_per_category), (maker, max_per_maker))
            if cap is not None]
    used = [np.zeros((rows, size), np.int64) for _ in caps]
    if calibration is not None:
        cat_idx, target, lam, alpha = calibration
        lam = np.asarray(lam, float)[:, None]
        n_categories = target.shape[1]
        counts = np.zeros((rows, n_categories))
        one_more = np.eye(n_categories)
    if soft_cap is not None:
        category_used = np.zeros((rows, size), np.int64)
    free = allowed.copy()
    picks = np.full((rows, int(k.max(initial=0))), -1, np.int64)
    n_picked = np.zeros(rows, np.int64)
    every = np.arange(rows)
    for _ in range(picks.shape[1]):
        allowed = free & (n_picked < k)[:, None]
        for (_, cap), count in zip(caps, used):
            allowed &= count < cap
        if soft_cap is not None:
            preferred = allowed & (category_used < soft_cap[:, None])
            allowed = np.where(preferred.any(axis=1)[:, None], preferred, allowed)
        live = allowed.any(axis=1)
        if not live.any():
            break
        if calibration is not None:
            mixes = (counts[:, None, :] + one_more) / (counts.sum(axis=1)[:, None, None] + 1.0)
            kl_if_added = smoothed_kl(target[:, None, :], mixes, alpha)
            gain = (1.0 - lam) * relevance - lam * np.take_along_axis(kl_if_added, cat_idx, axis=1)
        else:
            gain = relevance
        gain = np.where(allowed, gain, -np.inf)
        best_gain = gain.max(axis=1, keepdims=True)
        tied = gain >= best_gain - _TIE
        best = np.argmax(np.where(tied, relevance, -np.inf), axis=1)
        rows_live = every[live]
        chosen = best[live]
        free[rows_live, chosen] = False
        picks[rows_live, n_picked[rows_live]] = chosen
        n_picked[rows_live] += 1
        if calibration is not None:
            counts[rows_live, cat_idx[rows_live, chosen]] += 1
        for (codes, _), count in zip(caps, used):
            count[rows_live] += codes[rows_live] == codes[rows_live, chosen][:, None]
        if soft_cap is not None:
            category_used[rows_live] += category[rows_live] == category[rows_live, chosen][:, None]
    return picks


# ---------------------------------------------------------------- what a list costs

def list_report(candidates: CandidateSet, positions: np.ndarray,
                k: int | None = None, n_categories: int | None = None) -> ListReport:
    """Beyond-accuracy figures of one re-ranked list (``positions`` into ``candidates``).

    - intra-list diversity: mean pairwise 1 - cosine of the features (nan below two foods);
    - category coverage: distinct categories in the list / min(list length, distinct categories
      on offer), so 1 is always reachable; "on offer" is ``n_categories`` when given (lists of
      several models measured against one common pool, so their coverages compare), else the
      distinct categories among this pool's allergen-free candidates;
    - novelty: mean -log2 p(i), p = Laplace-smoothed popularity share among those candidates;
    - calibration error: KL(user mix || smoothed list mix), alpha = 0.01 (nan without a mix);
    - relevance change: mean model relevance of the list minus that of the model's own top-k
      (allergen-free candidates by relevance; k defaults to the list's length), and the share of
      that top-k's relevance the list keeps, after min-max scaling over those candidates (sums
      over the k slots, so a list cut short by the caps keeps less, and 1 = nothing lost is the
      maximum; scaling keeps it meaningful for models whose scores can be negative).
    """
    positions = np.asarray(positions, dtype=int)
    nan = float("nan")
    if positions.size == 0:
        return ListReport(nan, nan, nan, nan, nan, nan)
    pool = np.flatnonzero(~candidates.allergen)
    k = positions.size if k is None else k
    original = pool[np.argsort(-candidates.relevance[pool], kind="stable")[:k]]
    cats = candidates.category
    on_offer = np.unique(cats[pool]).size if n_categories is None else max(int(n_categories), 1)
    coverage = min(np.unique(cats[positions]).size / min(positions.size, on_offer), 1.0)
    share = np.zeros(len(candidates))
    share[pool] = popularity_share(candidates.popularity[pool])
    mix = candidates.user_category_mix
    calibration = nan
    if mix:
        universe = np.union1d(np.fromiter(mix, int), cats[positions])
        p = np.array([mix.get(int(c), 0.0) for c in universe])
        q = np.array([np.mean(cats[positions] == c) for c in universe])
        calibration = smoothed_kl(p / p.sum(), q)
    rel = candidates.relevance
    scaled = np.zeros(len(candidates))
    scaled[pool] = normalise_relevance(rel[pool])
    base = scaled[original].sum()
    return ListReport(
        intra_list_diversity=pairwise_diversity(candidates.features[positions]),
        category_coverage=float(coverage),
        novelty=float(np.mean(-np.log2(share[positions]))),
        calibration_error=calibration,
        relevance_change=float(rel[positions].mean() - rel[original].mean()),
        relevance_ratio=float(min(scaled[positions].sum() / base, 1.0)) if base > 0 else nan,
    )


# ---------------------------------------------------------------- overlap between two lists

def jaccard(a: Sequence, b: Sequence) -> float:
    """|A & B| / |A | B| of the two lists as sets; 1.0 for two empty lists."""
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def rbo(a: Sequence, b: Sequence, p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap (Webber, Moffat & Zobel 2010, eq. 32), lists of any length.

    With S the shorter list (length s), L the longer (length l) and X_d the overlap of their
    first d items (S contributes at most its s):
    RBO_ext = (1-p)/p [sum_{d=1}^{l} X_d/d p^d + sum_{d=s+1}^{l} X_s (d-s)/(s d) p^d]
              + [(X_l - X_s)/l + X_s/s] p^l.
    Identical lists give 1, disjoint lists 0; two empty lists 1, one empty list 0.
    """
    if not 0 < p < 1:
        raise ValueError("p must lie strictly between 0 and 1")
    short, long_ = (list(a), list(b)) if len(a) <= len(b) else (list(b), list(a))
    if len(set(short)) != len(short) or len(set(long_)) != len(long_):
        raise ValueError("rbo needs lists without repeated items")
    s, l = len(short), len(long_)  # noqa: E741 (the paper's s and l)
    if l == 0:
        return 1.0
    if s == 0:
        return 0.0
    overlap = np.zeros(l + 1)  # overlap[d] = X_d
    seen_short: set = set()
    seen_long: set = set()
    for d in range(1, l + 1):
        y = long_[d - 1]
        seen_long.add(y)
        overlap[d] = overlap[d - 1] + (y in seen_short)
        if d <= s:
            z = short[d - 1]
            seen_short.add(z)
            overlap[d] += z in seen_long
    depth = np.arange(1, l + 1)
    weight = p ** depth
    x_s, x_l = overlap[s], overlap[l]
    tail = depth > s
    summed = np.sum(overlap[1:] / depth * weight) + np.sum(
        x_s * (depth[tail] - s) / (s * depth[tail]) * weight[tail])
    return float((1 - p) / p * summed + ((x_l - x_s) / l + x_s / s) * p ** l)
