"""The block re-ranker ships exactly the lists of the one-list re-ranker, for many users at once."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_rerank import _random_pools

from kurrant_core import columns as C
from kurrant_core.data import build_training_data
from kurrant_core.db import make_engine
from kurrant_core.models import make_model
from kurrant_core.policies import BUILTIN, _apply_in_block, _apply_per_list, apply_policy, spread_first_picks
from kurrant_core.rerank import CandidateSet, Policy, rerank, rerank_many
from kurrant_core.rerank_block import BlockLists, CandidateBlock, rerank_block, spread_block
from kurrant_core.runs.pipeline import active_user_ids, upcoming_menu_dates

BATCHED = [
    Policy(), Policy(calibration_lambda=0.1, max_per_maker=3),
    Policy(calibration_lambda=1.0, max_per_category=1, repeat_window_days=5),
    Policy(max_per_maker=1, popularity_penalty=0.5, explore_temperature=0.3, seed=4),
    Policy(calibration_lambda=0.4, normalisation="zscore", max_per_maker=2, max_per_category=2),
    Policy(calibration_lambda=0.1, cap_by_history=True, max_per_maker=2),
    Policy(cap_by_history=True, max_per_category=2),
    BUILTIN["default"], BUILTIN["varied"]]


def block_of(pools: list[CandidateSet]) -> CandidateBlock:
    """The pools as one padded block (what ``candidates.candidate_block`` builds from a model)."""
    width = max(len(p) for p in pools)
    mixes = [dict(p.user_category_mix or {}) for p in pools]
    axis = np.unique(np.concatenate([np.concatenate([p.category for p in pools]),
                                     np.array([c for m in mixes for c in m], dtype=int)]))

    def padded(field: str, fill, dtype) -> np.ndarray:
        out = np.full((len(pools), width), fill, dtype=dtype)
        for r, p in enumerate(pools):
            out[r, :len(p)] = getattr(p, field)
        return out

    mix = np.zeros((len(pools), len(axis)))
    for r, m in enumerate(mixes):
        for code, share in m.items():
            mix[r, np.searchsorted(axis, code)] = share
    valid = np.zeros((len(pools), width), bool)
    for r, p in enumerate(pools):
        valid[r, :len(p)] = True
    return CandidateBlock(
        user_ids=np.array([p.user_id for p in pools]), food_ids=padded("food_ids", -1, np.int64), valid=valid,
        relevance=padded("relevance", 0.0, float), category=padded("category", axis[0], np.int64),
        maker=padded("maker", -1, np.int64), popularity=padded("popularity", 0.0, float),
        days_since_eaten=padded("days_since_eaten", np.inf, float), allergen=padded("allergen", False, bool),
        mix=mix, category_axis=axis)


@pytest.mark.parametrize("policy", BATCHED, ids=lambda p: p.steps_text()[:60] or "plain")
def test_a_block_of_pools_gets_the_lists_of_rerank_many(policy):
    pools = _random_pools(11)
    ks = np.array([max(1, min(len(p), 2 + i % 9)) for i, p in enumerate(pools)])
    block = rerank_block(block_of(pools), policy, ks)
    alone = rerank_many(pools, policy, ks.tolist())
    for r, (pool, want) in enumerate(zip(pools, alone)):
        got = block.positions[r][block.positions[r] >= 0]
        if policy.max_per_category is None and policy.max_per_maker is None:
            assert got.tolist() == want.positions.tolist()
            assert np.array_equal(block.scores[r, :len(got)], want.scores)
        else:                                  # the caps' top-up (policies._filled) comes after
            assert got[:len(want.positions)].tolist() == want.positions.tolist()
    assert (block.positions[:, 1:] >= 0).any()       # real lists, not single picks


def test_mmr_and_dpp_are_refused_by_the_block():
    with pytest.raises(ValueError, match="MMR or DPP"):
        rerank_block(block_of(_random_pools(3, n_pools=4)), Policy(mmr_lambda=0.5), np.full(4, 3))


def test_the_block_tops_up_a_list_the_caps_cut_short():
    """One maker, at most 2 per maker, k = 4: two greedy picks, then the admissible rest in the
    model's order (the allergen stays out), each scored below the last pick."""
    pool = CandidateSet(food_ids=np.array([10, 11, 12, 13, 14]), relevance=np.array([0.9, 0.8, 0.7, 0.6, 0.5]),
                        features=np.eye(5), category=np.zeros(5, int), maker=np.ones(5, int),
                        allergen=np.array([False, False, True, False, False]), user_id=1)
    lists = rerank_block(block_of([pool]), Policy(max_per_maker=2), np.array([4]))
    assert pool.food_ids[lists.positions[0]].tolist() == [10, 11, 13, 14]
    assert list(lists.scores[0]) == sorted(lists.scores[0], reverse=True)


def test_the_block_spread_moves_the_users_who_give_up_least():
    # as test_policies' hand case: four users put food 1 first, margins 0.5, 0.1, 0.3, 0.05; at
    # most 2 keep it: users 4 and 2 (the smallest margins) move to their #2.
    foods = {1: [1, 2], 2: [1, 3], 3: [1, 2], 4: [1, 3]}
    scores = {1: [1.0, 0.5], 2: [1.0, 0.9], 3: [1.0, 0.7], 4: [1.0, 0.95]}
    pools = [CandidateSet(food_ids=np.array(foods[u]), relevance=np.array(scores[u]), features=np.eye(2),
                          category=np.zeros(2, int), maker=np.array(foods[u]), user_id=u) for u in (3, 1, 4, 2)]
    block = block_of(pools)
    lists = BlockLists(np.tile([0, 1], (4, 1)), np.array([scores[u] for u in (3, 1, 4, 2)]))
    out = spread_block(block, lists, np.full(4, 7), 0.5)
    firsts = {int(u): int(block.food_ids[r, out.positions[r, 0]]) for r, u in enumerate(block.user_ids)}
    assert firsts == {1: 1, 2: 3, 3: 1, 4: 3}
    assert out.scores[3].tolist() == [0.9, 1.0]             # user 2's list: the same foods, swapped


def test_the_block_spread_equals_the_per_user_spread_on_random_groups():
    rng = np.random.default_rng(5)
    pools, picks = [], {}
    for user in range(40):
        first = 100 if user % 4 else 101                    # most users of a group agree on #1
        foods = np.r_[first, rng.permutation([f for f in range(100, 106) if f != first])[:3]]
        relevance = np.sort(rng.random(4))[::-1] if user % 5 else np.array([1.0, 1.0, 0.5, 0.5])
        pool = CandidateSet(food_ids=foods, relevance=relevance, features=np.eye(4), category=np.zeros(4, int),
                            maker=foods, user_id=user)
        pools.append(pool)
        picks[user] = (pool, rerank(pool, Policy(k=4)))
    groups = np.arange(40) % 3

    class Data:                            # the bits of TrainingData the spread reads
        user_ids, user_group = np.arange(40), groups

        @staticmethod
        def user_indices(ids):
            return np.asarray(ids)

    per_user = spread_first_picks(picks, Data, 0.4)
    block = block_of(pools)
    lists = BlockLists(np.array([r.positions for _, r in picks.values()]),
                       np.array([r.scores for _, r in picks.values()]))
    out = spread_block(block, lists, groups, 0.4)
    for r, user in enumerate(block.user_ids):
        assert out.positions[r].tolist() == per_user[int(user)][1].positions.tolist()
    moved = sum(out.positions[r, 0] != lists.positions[r, 0] for r in range(40))
    assert moved > 0                                        # the case did spread someone


@pytest.fixture(scope="module")
def tiny_fitted(tiny_sqlite_url):
    data = build_training_data(make_engine(tiny_sqlite_url))
    return data, {name: make_model(name).fit(data) for name in ("popularity", "content")}


@pytest.mark.parametrize("policy", BATCHED[1:], ids=lambda p: p.steps_text()[:60])
@pytest.mark.parametrize("name", ["popularity", "content"])
def test_shipped_lists_from_the_block_equal_the_per_list_path(tiny_fitted, name, policy):
    """Every active user's catalog list and a menu day's ranking with the spread: the same rows
    (users, foods, ranks, scores, raw scores) either way."""
    data, models = tiny_fitted
    users = active_user_ids(data)
    day = upcoming_menu_dates(data)[0]
    spread = dataclasses.replace(policy, spread_max_share=0.3)
    for pol, service_date, dining_type in ((policy, None, None), (spread, day, None)):
        block = _apply_in_block(models[name], data, users, 10, pol, service_date, dining_type, None)
        per_list = _apply_per_list(models[name], data, users, 10, pol, service_date, dining_type, None)
        assert len(block) > 0
        pd.testing.assert_frame_equal(block.reset_index(drop=True), per_list.reset_index(drop=True))


def test_apply_policy_takes_the_block_without_mmr_and_the_per_list_path_with_it(tiny_fitted, monkeypatch):
    data, models = tiny_fitted
    import kurrant_core.policies as policies
    taken = []
    monkeypatch.setattr(policies, "_apply_in_block", lambda *a: taken.append("block") or pd.DataFrame())
    monkeypatch.setattr(policies, "_apply_per_list", lambda *a: taken.append("per list") or pd.DataFrame())
    users = data.user_ids[:5]
    apply_policy(models["content"], data, users, 5, BUILTIN["varied"])
    apply_policy(models["content"], data, users, 5, Policy(mmr_lambda=0.5))
    assert taken == ["block", "per list"]
    assert C.RAW_SCORE in apply_policy(models["content"], data, users, 5, BUILTIN["off"]).columns


def test_a_batch_where_nobody_has_candidates_ships_no_rows(tiny_fitted):
    """A menu day with no menu for anyone: no pools, no rows, no error (as the per-list path)."""
    data, models = tiny_fitted
    users = active_user_ids(data)
    no_menu_day = (pd.Timestamp(data.cutoff) - pd.Timedelta(days=3650)).date()
    got = _apply_in_block(models["popularity"], data, users, 10, BUILTIN["varied"], no_menu_day, None, None)
    want = _apply_per_list(models["popularity"], data, users, 10, BUILTIN["varied"], no_menu_day, None, None)
    assert got.empty and want.empty and list(got.columns) == list(want.columns)
