"""Latency: sketch quantiles, fits, ECDF and the two-CA comparison on known distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from certsentry_analysis.rollups import bin_of
from certsentry_analysis.stats.latency import (
    compare_operators,
    fit_models,
    hist_quantiles,
    latency_ecdf,
)


def _hist(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bins, counts = np.unique(bin_of(values), return_counts=True)
    return bins, counts


def test_sketch_quantiles_are_within_alpha_of_exact() -> None:
    rng = np.random.default_rng(1)
    values = np.exp(rng.normal(np.log(300), 0.8, 20000))
    bins, counts = _hist(values)
    qs = (0.5, 0.9, 0.95, 0.99)
    estimate = hist_quantiles(bins, counts, qs)
    exact = np.quantile(values, qs, method="lower")
    assert np.all(np.abs(estimate / exact - 1) <= 0.011)


def test_lognormal_data_choose_the_lognormal_model() -> None:
    rng = np.random.default_rng(2)
    fitted = fit_models(np.exp(rng.normal(5, 0.6, 3000)))
    chosen = fitted[fitted["chosen"]].iloc[0]
    assert chosen["model"] == "lognormal"
    assert abs(chosen["shape"] - 0.6) < 0.05
    assert chosen["ks_p"] > 0.01


def test_weibull_data_choose_the_weibull_model() -> None:
    rng = np.random.default_rng(3)
    fitted = fit_models(200 * rng.weibull(1.5, 3000))
    assert fitted.loc[fitted["chosen"], "model"].iloc[0] == "weibull"


def test_ecdf_ends_at_one_per_responder() -> None:
    rollup = pd.DataFrame(
        {
            "responder": ["a", "a", "b"],
            "issuer_spki_sha256": "i",
            "method": "OCSP",
            "day": "2012-06-04",
            "failed": [0, 0, 0],
            "lat_bin": [10, 20, 5],
            "checks": [3, 1, 2],
        }
    )
    ecdf = latency_ecdf(rollup)
    assert ecdf.groupby("responder")["ecdf"].max().tolist() == [1.0, 1.0]
    assert ecdf.loc[ecdf["responder"] == "a", "ecdf"].tolist() == [0.75, 1.0]


def _client_frame(rng: np.random.Generator, operator_shift: dict[str, float]) -> pd.DataFrame:
    rows = []
    for client in range(120):
        client_effect = rng.normal(0, 0.3)
        for responder, shift in operator_shift.items():
            values = np.exp(rng.normal(np.log(200) + shift + client_effect, 0.5, 20))
            b = bin_of(values)
            rows.append(
                {
                    "client": f"c{client}",
                    "responder": responder,
                    "method": "OCSP",
                    "answered": 20,
                    "lat_bin_sum": int(b.sum()),
                    "lat_bin_sumsq": int((b * b).sum()),
                }
            )
    return pd.DataFrame(rows)


def test_comparison_finds_a_real_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(4)
    per_client = _client_frame(rng, {"fast": 0.0, "slow": 0.3, "same": 0.0})
    operators = pd.DataFrame(
        {"responder": ["fast", "slow", "same"], "operator": ["Fast CA", "Slow CA", "Same CA"]}
    )
    latency = pd.DataFrame(columns=["responder", "method", "failed", "lat_bin", "checks"])
    out = compare_operators(per_client, latency, operators, replicates=300).set_index(
        ["operator_a", "operator_b"]
    )
    slow = out.loc[("Fast CA", "Slow CA")]
    assert slow["differ"]
    assert 1.2 < 1 / slow["gm_ratio"] < 1.5
    same = out.loc[("Fast CA", "Same CA")]
    assert not same["differ"]
