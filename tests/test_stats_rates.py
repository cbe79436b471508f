"""Clustered failure-rate intervals: Wilson bounds, design effect, coverage under clustering."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from certsentry_analysis.stats.rates import (
    clustered_rates,
    linearized_variance,
    ratio_estimate,
    wilson_interval,
)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_interval_contains_the_estimate(failures: int, extra: int) -> None:
    n = failures + extra
    p = failures / n
    low, high = wilson_interval(np.array([p]), np.array([float(n)]))
    assert 0.0 <= low[0] <= p <= high[0] <= 1.0


def test_zero_failures_give_a_zero_lower_bound_and_positive_upper_bound() -> None:
    est = ratio_estimate(np.zeros(50), np.full(50, 20.0), rng=np.random.default_rng(1))
    assert est["rate"] == 0.0
    assert est["ci_low"] == 0.0
    assert 0.0 < est["ci_high"] < 0.01


def test_clustered_failures_widen_the_interval() -> None:
    rng = np.random.default_rng(2)
    n = np.full(200, 50.0)
    independent = rng.binomial(50, 0.02, 200).astype(float)
    clustered = np.where(rng.random(200) < 0.02, 50.0, 0.0)  # all-or-nothing clients
    a = ratio_estimate(independent, n, rng=rng)
    b = ratio_estimate(clustered, n, rng=rng)
    assert a["deff"] < 2
    assert b["deff"] > 10
    assert (b["ci_high"] - b["ci_low"]) > 2 * (a["ci_high"] - a["ci_low"])


def test_linearized_variance_matches_the_bootstrap() -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(5, 100, 300).astype(float)
    f = rng.binomial(n.astype(int), rng.beta(1, 30, 300)).astype(float)
    boot = ratio_estimate(f, n, rng=rng, replicates=2000)
    lin = linearized_variance(f, n)
    boot_var = ((boot["boot_high"] - boot["boot_low"]) / (2 * 1.96)) ** 2
    assert 0.7 < boot_var / lin < 1.4


def test_cluster_bootstrap_intervals_cover_at_the_nominal_rate() -> None:
    # Clients with heterogeneous failure propensity (beta-binomial): 95% intervals
    # should cover the population rate in roughly 95% of repetitions.
    rng = np.random.default_rng(4)
    true_rate = 1 / 31
    covered = 0
    repetitions = 150
    for _ in range(repetitions):
        n = rng.integers(5, 60, 150).astype(float)
        f = rng.binomial(n.astype(int), rng.beta(1, 30, 150)).astype(float)
        est = ratio_estimate(f, n, rng=rng, replicates=300)
        covered += est["ci_low"] <= true_rate <= est["ci_high"]
    assert covered / repetitions >= 0.88


def test_clustered_rates_groups_and_sums_per_client() -> None:
    frame = pd.DataFrame(
        {
            "client": ["a", "a", "b", "c", "c"],
            "responder": ["x", "x", "x", "y", "y"],
            "failures": [1, 0, 0, 2, 1],
            "wire_checks": [10, 10, 5, 10, 10],
        }
    )
    out = clustered_rates(frame, ["responder"], "failures", "wire_checks", method="linear")
    rates = dict(zip(out["responder"], out["rate"], strict=True))
    assert rates == {"x": 1 / 25, "y": 3 / 20}
