"""The assignment at the heart of auto-order: one food per user, within every capacity, best in total.

A :class:`Problem` is the feasible (user, food) pairs of one service date and dining type, each with
a value (the user's preference, variety already counted), plus the remaining portions of each food
and each maker and a spread rule per group. The objective is

    sum of the chosen pairs' values  +  COVER_BONUS per planned user
    - spread_penalty x (users beyond the group's free share who got the same food)

``solve_optimal`` maximises it exactly with scipy's HiGHS. The constraint matrix is totally
unimodular (each pair sits in its user's row and in a chain of nested rows: its group-and-food cell,
its food, its maker; the spread's excess variables add identity columns), so a vertex of the linear
programme is already integral: the dual simplex solves the LP and we check integrality, falling back
to branch and bound (``milp``) should a fractional answer ever come back. ``solve_greedy`` is the
baseline it must beat: users in order of their best value, each takes the best food that still has room.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from kurrant_core.errors import KurrantError

COVER_BONUS = 10.0
"""Worth of planning a user at all; larger than any preference or spread difference, so the plan
first feeds as many users as the capacities allow, then feeds them as well as it can."""
UNLIMITED = np.iinfo(np.int64).max // 4
INTEGRAL_TOL = 1e-6


@dataclass(frozen=True)
class Problem:
    """Feasible pairs of one date and meal; positions index users, foods, makers and groups."""

    user: np.ndarray              # pair -> user position
    food: np.ndarray              # pair -> food position
    value: np.ndarray             # pair -> preference (higher is better), variety included
    user_group: np.ndarray        # user position -> group position
    food_maker: np.ndarray        # food position -> maker position
    food_room: np.ndarray         # food position -> portions left (UNLIMITED when no limit)
    maker_room: np.ndarray        # maker position -> portions left
    spread_free: np.ndarray       # group position -> users who may share a food before it costs
    spread_penalty: float = 0.0

    @property
    def n_users(self) -> int:
        return len(self.user_group)

    def __post_init__(self) -> None:
        n = len(self.user)
        if not (len(self.food) == len(self.value) == n):
            raise KurrantError("user, food and value must have one entry per pair.")
        if n and (self.user.max() >= self.n_users or self.food.max() >= len(self.food_maker)):
            raise KurrantError("a pair points at an unknown user or food.")
        if np.any(self.food_room < 0) or np.any(self.maker_room < 0):
            raise KurrantError("remaining capacity cannot be negative.")


def _group_food(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(pair -> (group, food) cell, cell -> group) for the spread term."""
    n_foods = len(problem.food_maker)
    key = problem.user_group[problem.user].astype(np.int64) * n_foods + problem.food
    cells, pair_cell = np.unique(key, return_inverse=True)
    return pair_cell.ravel(), cells // n_foods


def objective(problem: Problem, chosen: np.ndarray) -> float:
    """The plan's objective for the chosen pair positions (what both solvers maximise)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    total = float(problem.value[chosen].sum()) + COVER_BONUS * len(chosen)
    if problem.spread_penalty and len(chosen):
        pair_cell, cell_group = _group_food(problem)
        counts = np.bincount(pair_cell[chosen], minlength=len(cell_group))
        excess = np.maximum(0, counts - problem.spread_free[cell_group])
        total -= problem.spread_penalty * float(excess.sum())
    return total


def violations(problem: Problem, chosen: np.ndarray) -> dict[str, int]:
    """How often a set of chosen pairs breaks a hard rule (all zero for a valid plan)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    per_user = np.bincount(problem.user[chosen], minlength=problem.n_users)
    per_food = np.bincount(problem.food[chosen], minlength=len(problem.food_maker))
    per_maker = np.bincount(problem.food_maker[problem.food[chosen]], minlength=len(problem.maker_room))
    return {"users_with_two_picks": int((per_user > 1).sum()),
            "food_over_capacity": int(np.maximum(0, per_food - problem.food_room).sum()),
            "maker_over_capacity": int(np.maximum(0, per_maker - problem.maker_room).sum())}


def solve_optimal(problem: Problem, *, time_limit_s: float = 60.0) -> np.ndarray:
    """The chosen pair positions that maximise :func:`objective` (HiGHS branch and bound)."""
    n = len(problem.user)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    pair_cell, cell_group = _group_food(problem)
    n_cells = len(cell_group) if problem.spread_penalty else 0
    rows = np.arange(n)
    blocks, upper = [], []

    def add(row_of_pair: np.ndarray, n_rows: int, cap: np.ndarray) -> None:
        keep = cap < n                       # a cap no plan can reach needs no row
        if not keep.any():
            return
        index = np.cumsum(keep) - 1
        mask = keep[row_of_pair]
        blocks.append(sp.csr_matrix((np.ones(mask.sum()), (index[row_of_pair[mask]], rows[mask])),
                                    shape=(int(keep.sum()), n + n_cells)))
        upper.append(cap[keep].astype(float))

    add(problem.user, problem.n_users, np.ones(problem.n_users, dtype=np.int64))
    add(problem.food, len(problem.food_maker), problem.food_room)
    add(problem.food_maker[problem.food], len(problem.maker_room), problem.maker_room)
    if n_cells:
        # x summed per (group, food) cell minus the cell's excess e stays within the free share
        x_part = sp.csr_matrix((np.ones(n), (pair_cell, rows)), shape=(n_cells, n))
        e_part = -sp.identity(n_cells, format="csr")
        blocks.append(sp.hstack([x_part, e_part], format="csr"))
        upper.append(problem.spread_free[cell_group].astype(float))
    cost = np.concatenate([-(problem.value + COVER_BONUS), np.full(n_cells, problem.spread_penalty)])
    matrix, ub = sp.vstack(blocks, format="csr"), np.concatenate(upper)
    lp = linprog(cost, A_ub=matrix, b_ub=ub, bounds=(0, None), method="highs-ds",
                 options={"time_limit": time_limit_s})
    x = lp.x if lp.status == 0 else None
    if x is None or np.any(np.abs(x[:n] - np.round(x[:n])) > INTEGRAL_TOL):
        result = milp(cost, constraints=LinearConstraint(matrix, -np.inf, ub),
                      integrality=np.concatenate([np.ones(n), np.zeros(n_cells)]),
                      bounds=Bounds(0, np.inf), options={"time_limit": time_limit_s, "disp": False})
        if result.x is None:
            raise KurrantError(f"The planner's solver found no plan ({result.message}).")
        x = result.x
    return np.flatnonzero(x[:n] > 0.5)


def solve_greedy(problem: Problem) -> np.ndarray:
    """Users by their best value, each takes their best food with room, the spread's marginal cost
    counted; the baseline the optimiser must beat on the same objective."""
    n = len(problem.user)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    pair_cell, cell_group = _group_food(problem)
    best = np.full(problem.n_users, -np.inf)
    np.maximum.at(best, problem.user, problem.value)
    food_left = problem.food_room.astype(np.int64).copy()
    maker_left = problem.maker_room.astype(np.int64).copy()
    cell_count = np.zeros(len(cell_group), dtype=np.int64)
    free = problem.spread_free[cell_group]
    by_user = np.argsort(problem.user, kind="stable")
    starts = np.searchsorted(problem.user[by_user], np.arange(problem.n_users + 1))
    chosen = []
    for u in np.argsort(-best, kind="stable"):
        pairs = by_user[starts[u]:starts[u + 1]]
        if len(pairs) == 0:
            continue
        gain = problem.value[pairs] - problem.spread_penalty * (cell_count[pair_cell[pairs]] >= free[pair_cell[pairs]])
        room = (food_left[problem.food[pairs]] > 0) & (maker_left[problem.food_maker[problem.food[pairs]]] > 0)
        if not room.any():
            continue
        p = pairs[np.flatnonzero(room)[np.argmax(gain[room])]]
        chosen.append(p)
        food_left[problem.food[p]] -= 1
        maker_left[problem.food_maker[problem.food[p]]] -= 1
        cell_count[pair_cell[p]] += 1
    return np.sort(np.array(chosen, dtype=np.int64))
