"""Failure rates with intervals that respect clustering of checks within clients.

A rate is a ratio estimator R = sum(f_i) / sum(n_i) over clients i (f failures,
n wire checks). Checks of one client are correlated (a flaky network, a captive
portal), so the binomial variance R(1-R)/N understates the uncertainty. We estimate
the variance of R by a cluster bootstrap (resampling clients with replacement) or,
for the many small cells of the daily table, by the linearisation (sandwich)
estimator; their ratio to the binomial variance is the design effect deff >= 1.
The interval is the Wilson score interval on the effective sample size N / deff,
which keeps sensible bounds at R = 0 or tiny rates where the percentile bootstrap
degenerates. The percentile bootstrap bounds are reported alongside.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

log = logging.getLogger(__name__)

DEFAULT_REPLICATES = 1000
LEVEL = 0.95
# Bootstrap replicates are drawn in chunks so memory stays at chunk x clients floats.
_CHUNK = 250


def wilson_interval(
    p: np.ndarray, n_eff: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for proportions p observed on effective sample sizes n_eff."""
    z = sps.norm.ppf(0.5 + level / 2)
    p = np.asarray(p, dtype=float)
    n = np.maximum(np.asarray(n_eff, dtype=float), 1e-12)
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z / denom * np.sqrt(np.maximum(p * (1 - p) / n + z**2 / (4 * n**2), 0.0))

    # At p = 0 (or 1) the bound is exactly 0 (or 1); rounding must not move it inwards.
    low = np.where(p <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(p >= 1, 1.0, np.clip(centre + half, 0.0, 1.0))

    return low, high


def bootstrap_ratios(
    num: np.ndarray, den: np.ndarray, replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """Ratios sum(w*num)/sum(w*den) under multinomial cluster weights, one per replicate."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    k = len(num)
    out = np.empty(replicates)
    done = 0
    while done < replicates:
        size = min(_CHUNK, replicates - done)
        weights = rng.multinomial(k, np.full(k, 1.0 / k), size=size).astype(float)
        totals = weights @ den
        out[done : done + size] = np.divide(
            weights @ num, totals, out=np.full(size, np.nan), where=totals > 0
        )
        done += size

    return out


def linearized_variance(num: np.ndarray, den: np.ndarray) -> float:
    """Sandwich variance of the ratio sum(num)/sum(den) with clients as clusters."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    k = len(num)
    total = den.sum()
    if k < 2 or total <= 0:
        return float("nan")

    ratio = num.sum() / total
    resid = num - ratio * den

    return float(k / (k - 1) * np.sum(resid**2) / total**2)


def ratio_estimate(
    num: np.ndarray,
    den: np.ndarray,
    *,
    method: str = "bootstrap",
    replicates: int = DEFAULT_REPLICATES,
    rng: np.random.Generator | None = None,
    level: float = LEVEL,
) -> dict[str, float]:
    """Point estimate, design effect and intervals of one clustered ratio.

    Args:
        num, den: per-client numerator (failures) and denominator (wire checks).
        method: "bootstrap" (cluster bootstrap) or "linear" (sandwich variance).
    """
    if method not in {"bootstrap", "linear"}:
        raise ValueError(f"method must be 'bootstrap' or 'linear', got {method!r}")

    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    total = float(den.sum())
    if total <= 0:
        nan = float("nan")
        return {
            "rate": nan,
            "ci_low": nan,
            "ci_high": nan,
            "deff": nan,
            "boot_low": nan,
            "boot_high": nan,
        }

    rate = float(num.sum()) / total
    boot_low = boot_high = float("nan")
    if method == "bootstrap" and len(num) >= 2:
        ratios = bootstrap_ratios(num, den, replicates, rng or np.random.default_rng(0))
        variance = float(np.nanvar(ratios, ddof=1))
        tail = (1 - level) / 2
        boot_low, boot_high = (float(x) for x in np.nanquantile(ratios, [tail, 1 - tail]))
    else:
        variance = linearized_variance(num, den)

    # A numerator of expected counts can be negative for a group: the interval is for
    # a rate in [0, 1], with the variance judged at a rate of at least half a check.
    floor = min(max(rate, 0.5 / total), 0.5)
    binomial = floor * (1 - floor) / total
    deff = max(1.0, variance / binomial) if np.isfinite(variance) else 1.0
    low, high = wilson_interval(
        np.array([min(max(rate, 0.0), 1.0)]), np.array([total / deff]), level
    )

    return {
        "rate": rate,
        "ci_low": float(low[0]),
        "ci_high": float(high[0]),
        "deff": deff,
        "boot_low": boot_low,
        "boot_high": boot_high,
    }


def clustered_rates(
    per_client: pd.DataFrame,
    by: Sequence[str],
    num: str,
    den: str,
    *,
    method: str = "bootstrap",
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    prefix: str = "",
) -> pd.DataFrame:
    """Ratio num/den with clustered intervals for each group `by` of per-client rows.

    `per_client` must have one row per (client, *by) (rows are summed per client first).
    Output columns: *by, {prefix}rate, {prefix}ci_low, {prefix}ci_high, {prefix}deff,
    {prefix}boot_low, {prefix}boot_high.
    """
    summed = per_client.groupby([*by, "client"], as_index=False, observed=True)[[num, den]].sum()
    rng = np.random.default_rng(seed)
    rows = []
    for key, group in summed.groupby(list(by), observed=True, sort=True):
        estimate = ratio_estimate(
            group[num].to_numpy(),
            group[den].to_numpy(),
            method=method,
            replicates=replicates,
            rng=rng,
        )
        keys = key if isinstance(key, tuple) else (key,)
        named = {prefix + k: v for k, v in estimate.items()}
        rows.append({**dict(zip(by, keys, strict=True)), **named})

    columns = [
        *by,
        *(prefix + c for c in ("rate", "ci_low", "ci_high", "deff", "boot_low", "boot_high")),
    ]

    return pd.DataFrame(rows, columns=columns)


SUM_COLUMNS = (
    "wire_checks",
    "failures",
    "server_failures",
    "client_failures",
    "ambiguous_failures",
    "cache_checks",
    "staple_checks",
    "revoked",
    "unknown",
)


def failure_rate_table(
    per_client: pd.DataFrame,
    by: Sequence[str],
    *,
    method: str = "bootstrap",
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> pd.DataFrame:
    """Raw and CA-attributable failure rates of wire checks per group, with intervals.

    `per_client` has one row per client and finer keys, with the SUM_COLUMNS counts.
    failure_rate = failures / wire_checks; attributable_rate = server_failures /
    wire_checks (failures attributed to the server side). Cache and staple answers
    are counted beside, never in the rate. revoked_share and unknown_share are
    answers (not failures) per wire check.
    """
    wire = per_client[per_client["wire_checks"] > 0]
    sums = per_client.groupby(list(by), as_index=False, observed=True)[list(SUM_COLUMNS)].sum()
    clients = wire.groupby(list(by), observed=True)["client"].nunique().rename("clients")
    raw = clustered_rates(
        wire,
        by,
        "failures",
        "wire_checks",
        method=method,
        replicates=replicates,
        seed=seed,
        prefix="failure_",
    )
    attributable = clustered_rates(
        wire,
        by,
        "server_failures",
        "wire_checks",
        method=method,
        replicates=replicates,
        seed=seed + 1,
        prefix="attributable_",
    )
    out = sums.merge(clients.reset_index(), on=list(by), how="left")
    out = out.merge(raw, on=list(by), how="left").merge(attributable, on=list(by), how="left")
    out = out.rename(
        columns={"failure_rate": "failure_rate", "attributable_rate": "attributable_rate"}
    )
    out["clients"] = out["clients"].fillna(0).astype("int64")
    denominator = out["wire_checks"].where(out["wire_checks"] > 0)
    out["revoked_share"] = out["revoked"] / denominator
    out["unknown_share"] = out["unknown"] / denominator
    total = out["wire_checks"] + out["cache_checks"] + out["staple_checks"]
    out["cache_share"] = out["cache_checks"] / total.where(total > 0)

    return out
