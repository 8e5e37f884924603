"""Client groups, their spots, and the users with their latent tastes and taste survey.

Users are numbered in sign-up order, as production's auto-increment ids are. About 60% exist before
the world starts and the rest join over time; about 15% leave. Every user draws latent tastes
(cuisine and main-ingredient weights, spice tolerance, price sensitivity, variety seeking, habit
strength, order rate) that the choice model uses and that ``demo__user_taste`` records as ground
truth.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from kurrant_core import codes
from kurrant_core.demo import catalog as cat
from kurrant_core.demo.foods import ALLERGY_CODES, CUISINES, INGREDIENTS
from kurrant_core.demo.scales import DemoScale

DINING_PATTERNS = ["2", "1,2", "2,3"]
DINING_PATTERN_SHARE = [0.7, 0.15, 0.15]
GROUP_TYPE_SHARE = [0.7, 0.15, 0.15]            # 기업, 오픈그룹, 마이스팟존

CUISINE_PRIOR = np.array([0.24, 0.13, 0.14, 0.15, 0.15, 0.10, 0.09])
CUISINE_CONCENTRATION = 1.2                     # low: most users clearly prefer one cuisine
INGREDIENT_PRIOR = np.array([0.12, 0.16, 0.16, 0.04, 0.02, 0.10, 0.10, 0.07, 0.06, 0.07, 0.03, 0.04, 0.04])
INGREDIENT_CONCENTRATION = 4.0
ALLERGY_PRIOR = {"새우": 0.16, "게": 0.10, "복숭아": 0.06, "땅콩": 0.10, "우유": 0.08, "난류": 0.09, "고등어": 0.06,
                 "밀": 0.05, "대두": 0.03, "호두": 0.05, "오징어": 0.06, "돼지고기": 0.04, "쇠고기": 0.02,
                 "토마토": 0.05, "메밀": 0.05}
SHARE_EXISTING, SHARE_LEAVING, SHARE_WITHDRAWN = 0.60, 0.15, 0.55
SHARE_SURVEY, SHARE_ALLERGIC, SHARE_VEGAN, SHARE_MEMBERSHIP = 0.40, 0.15, 0.03, 0.35
ORDER_RATE_MIX = [(0.45, 9.0, 1.5), (0.35, 5.0, 3.0), (0.20, 1.5, 5.0)]   # (share, beta a, beta b)

_SECOND = np.timedelta64(1, "s")
_DAY = np.timedelta64(86400, "s")
_NO_MEAT_BY_VEGAN_LEVEL = {   # vegan_level -> ingredients the user (almost) never eats
    1: (), 2: ("소고기", "돼지고기", "오리고기", "양고기"), 3: cat.MEATS, 4: cat.MEATS + ("생선", "해산물"),
    5: cat.MEATS + ("생선", "해산물", "달걀", "유제품"),
}


@dataclass
class Groups:
    ids: np.ndarray
    names: list[str]
    dtype: np.ndarray
    dining_types: list[str]
    spot_ids: np.ndarray
    spot_group: np.ndarray              # group position of each spot
    spot_names: list[str]


@dataclass
class Users:
    """Users in id order; times are datetime64[s], leave is NaT for users who stay."""

    ids: np.ndarray
    group: np.ndarray                   # group position
    spot: np.ndarray                    # spot position
    created: np.ndarray
    leave: np.ndarray
    withdrawn: np.ndarray               # left the service entirely (e_user_status 0)
    role: np.ndarray
    membership: np.ndarray
    recent_login: np.ndarray
    cuisine_w: np.ndarray               # (n, 7)
    ingredient_w: np.ndarray            # (n, 13)
    spice_tolerance: np.ndarray
    price_sensitivity: np.ndarray
    variety_seeking: np.ndarray
    habit_strength: np.ndarray
    order_rate: np.ndarray
    allergy: np.ndarray                 # bool (n, 22)
    vegan_level: np.ndarray             # 0 = not vegetarian
    has_survey: np.ndarray
    favorites: list[list[int]]


def build_groups(rng: np.random.Generator, scale: DemoScale) -> Groups:
    """Client groups (mostly companies) with one or more delivery spots each."""
    n = scale.n_groups
    dtype = rng.choice(len(GROUP_TYPE_SHARE), size=n, p=GROUP_TYPE_SHARE)
    dtype[0] = codes.CORPORATION
    patterns = list(rng.permutation(DINING_PATTERNS))[:n]
    patterns += rng.choice(DINING_PATTERNS, size=n - len(patterns), p=DINING_PATTERN_SHARE).tolist()
    names: list[str] = []
    for kind in dtype:
        if kind == codes.CORPORATION:
            base = (f"{cat.COMPANY_PREFIXES[int(rng.integers(len(cat.COMPANY_PREFIXES)))]}"
                    f"{cat.COMPANY_SUFFIXES[int(rng.integers(len(cat.COMPANY_SUFFIXES)))]}")
        else:
            area = cat.AREAS[int(rng.integers(len(cat.AREAS)))]
            base = f"{area} {codes.GROUP_TYPE[int(kind)]}"
        name, k = base, 2
        while name in names:
            name, k = f"{base} {k}", k + 1
        names.append(name)
    lo, hi = scale.spots_per_group
    n_spots = rng.integers(lo, hi + 1, n)
    spot_group = np.repeat(np.arange(n), n_spots)
    spot_names = [f"{names[g]} {cat.SPOT_NAMES[j] if dtype[g] == codes.CORPORATION else f'{j + 1}번 스팟'}"
                  for g in range(n) for j in range(n_spots[g])]
    return Groups(ids=np.arange(1, n + 1), names=names, dtype=dtype, dining_types=[str(p) for p in patterns],
                  spot_ids=np.arange(1, len(spot_group) + 1), spot_group=spot_group, spot_names=spot_names)


def build_users(rng: np.random.Generator, scale: DemoScale, groups: Groups) -> Users:
    """Users with join/leave times, spots, latent tastes, allergies and survey answers."""
    n, n_groups = scale.n_users, len(groups.ids)
    start, end = np.datetime64(scale.start, "s"), np.datetime64(scale.end, "s")
    snapshot = np.datetime64(scale.snapshot, "s")

    existing = rng.random(n) < SHARE_EXISTING
    before = start - (rng.integers(3 * 86400, 400 * 86400, n)) * _SECOND
    span = int((end - start) / _SECOND) - 5 * 86400
    after = start + rng.integers(0, span, n) * _SECOND
    created = np.sort(np.where(existing, before, after))          # ids follow sign-up order

    min_size = max(2, min(5, n // n_groups // 2))
    sizes = min_size + rng.multinomial(n - min_size * n_groups, rng.dirichlet(np.full(n_groups, 1.5)))
    group = rng.permutation(np.repeat(np.arange(n_groups), sizes))
    spot = np.empty(n, dtype=int)
    for g in range(n_groups):
        members, spots = np.flatnonzero(group == g), np.flatnonzero(groups.spot_group == g)
        spot[members] = rng.choice(spots, size=len(members), p=rng.dirichlet(np.full(len(spots), 2.0)))

    leave = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    earliest = np.maximum(created, start) + 14 * _DAY
    can_leave = earliest < end - _DAY
    leaving = can_leave & (rng.random(n) < SHARE_LEAVING / max(can_leave.mean(), 1e-9))
    room = ((end - _DAY - earliest) / _SECOND).astype(np.int64)
    offset = (rng.random(leaving.sum()) * room[leaving]).astype(np.int64)
    leave[leaving] = earliest[leaving] + offset * _SECOND
    withdrawn = leaving & (rng.random(n) < SHARE_WITHDRAWN)
    last_seen = np.where(leaving, leave, snapshot)
    recent_login = np.maximum(created, last_seen - rng.integers(0, 10 * 86400, n) * _SECOND)

    role = np.zeros(n, dtype=int)
    for g in range(n_groups):
        role[np.flatnonzero(group == g)[0]] = 2                  # one manager per group

    tastes = _draw_tastes(rng, n)
    favorites = _survey(rng, tastes["cuisine_w"], tastes["has_survey"])
    return Users(ids=np.arange(1, n + 1), group=group, spot=spot, created=created, leave=leave,
                 withdrawn=withdrawn, role=role, membership=rng.random(n) < SHARE_MEMBERSHIP,
                 recent_login=recent_login, favorites=favorites, **tastes)


def _draw_tastes(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    cuisine_w = rng.dirichlet(CUISINE_PRIOR * CUISINE_CONCENTRATION, size=n)
    ingredient_w = rng.dirichlet(INGREDIENT_PRIOR * INGREDIENT_CONCENTRATION, size=n)
    vegan_level = np.where(rng.random(n) < SHARE_VEGAN, rng.integers(1, 6, n), 0)
    ingredient_labels = [codes.FOOD_TAG[c] for c in INGREDIENTS]
    for level, avoided in _NO_MEAT_BY_VEGAN_LEVEL.items():
        cols = [ingredient_labels.index(a) for a in avoided]
        ingredient_w[np.ix_(vegan_level == level, cols)] *= 0.02
    ingredient_w /= ingredient_w.sum(axis=1, keepdims=True)

    share, a, b = map(np.array, zip(*ORDER_RATE_MIX))
    component = rng.choice(len(share), size=n, p=share)
    order_rate = rng.beta(a[component], b[component])

    allergy = np.zeros((n, len(ALLERGY_CODES)), dtype=bool)
    allergic = np.flatnonzero(rng.random(n) < SHARE_ALLERGIC)
    names, p = zip(*ALLERGY_PRIOR.items())
    cols = np.array([ALLERGY_CODES.index(cat.tag_code(codes.ALLERGY, x)) for x in names])
    p = np.array(p) / sum(p)
    for u in allergic:
        k = 1 if rng.random() < 0.7 else 2
        allergy[u, rng.choice(cols, size=k, replace=False, p=p)] = True
    return {
        "cuisine_w": cuisine_w, "ingredient_w": ingredient_w,
        "spice_tolerance": 3.0 * rng.beta(2.0, 1.7, n),
        "price_sensitivity": rng.lognormal(np.log(0.5), 0.5, n),
        "variety_seeking": 0.3 + 1.4 * rng.beta(2.0, 2.0, n),
        "habit_strength": 0.8 * rng.beta(2.0, 3.0, n),
        "order_rate": order_rate, "allergy": allergy, "vegan_level": vegan_level,
        "has_survey": rng.random(n) < SHARE_SURVEY,
    }


def _survey(rng: np.random.Generator, cuisine_w: np.ndarray, answered: np.ndarray) -> list[list[int]]:
    """Favourite cuisines each user ticks (1-3): mostly what they like, with some noise."""
    p = 0.8 * cuisine_w + 0.2 / cuisine_w.shape[1]
    ranked = np.argsort(-(np.log(p) + rng.gumbel(size=p.shape)), axis=1)     # sampling without replacement
    k = rng.choice([1, 2, 3], size=len(p), p=[0.4, 0.4, 0.2])
    cuisines = np.array(CUISINES)[ranked]
    return [cuisines[u, :k[u]].tolist() if answered[u] else [] for u in range(len(p))]


def taste_records(users: Users) -> dict[str, list]:
    """Columns of ``demo__user_taste``: the ground truth a test or a notebook can compare with."""
    taste_json = [
        json.dumps({"cuisine": {str(c): round(float(w), 4) for c, w in zip(CUISINES, cw)},
                    "ingredient": {str(c): round(float(w), 4) for c, w in zip(INGREDIENTS, iw)},
                    "habit_strength": round(float(h), 4), "vegan_level": int(v),
                    "allergies": [ALLERGY_CODES[i] for i in np.flatnonzero(a)]}, ensure_ascii=False)
        for cw, iw, h, v, a in zip(users.cuisine_w, users.ingredient_w, users.habit_strength,
                                   users.vegan_level, users.allergy)]
    return {
        "top_cuisine": (np.array(CUISINES)[users.cuisine_w.argmax(axis=1)]).tolist(),
        "top_ingredient": (np.array(INGREDIENTS)[users.ingredient_w.argmax(axis=1)]).tolist(),
        "taste_json": taste_json,
    }


def survey_time(rng: np.random.Generator, users: Users, snapshot: datetime) -> np.ndarray:
    """When each user last saved their preferences: within a week of signing up."""
    t = users.created + rng.integers(600, 7 * 86400, len(users.ids)) * _SECOND
    return np.minimum(t, np.datetime64(snapshot, "s"))
