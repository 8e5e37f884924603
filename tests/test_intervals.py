"""The paired bootstrap interval and the baseline comparison, against cases worked out by hand."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from kurrant_core.evaluation import names as N
from kurrant_core.evaluation.baselines import compare_protocol
from kurrant_core.evaluation.intervals import paired_bootstrap


def test_equal_differences_give_a_point_interval():
    # every user gains exactly 0.1: any resample's mean difference is 0.1
    interval = paired_bootstrap(np.array([0.5, 0.7, 0.2]), np.array([0.4, 0.6, 0.1]))
    assert (interval.diff, interval.low, interval.high) == pytest.approx((0.1, 0.1, 0.1))
    assert interval.above_zero


def test_two_users_interval_matches_the_exact_resampling_distribution():
    # differences 0 and 1: a resample of 2 users has mean 0 (prob 1/4), 1/2 (1/2) or 1 (1/4);
    # the 2.5 % and 97.5 % quantiles of that distribution are 0 and 1, the observed mean 1/2
    interval = paired_bootstrap(np.array([1.0, 1.0]), np.array([1.0, 0.0]), n_samples=4000)
    assert interval.diff == pytest.approx(0.5)
    assert interval.low == pytest.approx(0.0) and interval.high == pytest.approx(1.0)
    assert not interval.above_zero


def test_three_users_quantiles_against_enumeration():
    # differences 0.3, -0.1, 0.4: enumerate all 27 equally likely resamples by hand
    d = np.array([0.3, -0.1, 0.4])
    means = np.sort([np.mean(d[list(idx)]) for idx in itertools.product(range(3), repeat=3)])
    # the lowest resample mean is -0.1 (prob 1/27 = 3.7 % > 2.5 %), the highest 0.4 (3.7 %)
    assert means[0] == pytest.approx(-0.1) and means[-1] == pytest.approx(0.4)
    interval = paired_bootstrap(d, np.zeros(3), n_samples=20000)
    assert interval.low == pytest.approx(-0.1) and interval.high == pytest.approx(0.4)
    assert interval.diff == pytest.approx(0.2)


def test_weights_make_it_a_ratio_of_sums():
    # user A: 3 events, model sums 3 hits, baseline 0; user B: 1 event, both 0.
    # observed: 3/4 - 0/4 = 0.75; a resample of only B gives 0, only A gives 1
    interval = paired_bootstrap(np.array([3.0, 0.0]), np.array([0.0, 0.0]), np.array([3.0, 1.0]),
                                n_samples=4000)
    assert interval.diff == pytest.approx(0.75)
    assert interval.low == pytest.approx(0.0) and interval.high == pytest.approx(1.0)


def test_the_seed_is_fixed():
    rng = np.random.default_rng(1)
    a, b = rng.random(50), rng.random(50)
    assert paired_bootstrap(a, b) == paired_bootstrap(a, b)


def test_empty_input_is_undefined_not_an_error():
    interval = paired_bootstrap(np.array([]), np.array([]))
    assert np.isnan(interval.diff) and not interval.above_zero


def test_compare_picks_the_best_baseline_per_metric():
    users = [1, 2, 3, 4]
    frames = {
        "popularity": pd.DataFrame({"m": [0.1, 0.1, 0.1, 0.1]}, index=users),
        "history": pd.DataFrame({"m": [0.5, 0.5, 0.5, 0.5]}, index=users),
        N.RANDOM: pd.DataFrame({"m": [0.05] * 4}, index=users),
        "model": pd.DataFrame({"m": [0.6, 0.6, 0.6, 0.6]}, index=users),
        "weak": pd.DataFrame({"m": [0.9, 0.1, 0.9, 0.1]}, index=users),
    }
    versus, random = compare_protocol(frames, ["m"], None)
    assert versus["model"]["m"][N.REFERENCE] == "history"
    assert versus["model"]["m"]["diff"] == pytest.approx(0.1)
    assert versus["model"]["m"][N.BEATS_BASELINES]
    assert not versus["weak"]["m"][N.BEATS_BASELINES]         # +0.4 / -0.4 per user: straddles 0
    assert versus["history"]["m"]["diff"] == pytest.approx(0.0)
    assert random == {"m": pytest.approx(0.05)}
