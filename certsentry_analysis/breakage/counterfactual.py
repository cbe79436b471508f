"""Best-CA counterfactual: if every responder behaved like the best CA's, would hard-fail work?

Criterion for "best": among CA organisations whose live checks came from at least
MIN_CLIENTS clients and MIN_POSITIONS positions, the lowest share of live checks that
got no answer within the policy's timeout; ties go to the lower median answer time.
Counterfactual: every live check keeps its rank within its own responder's checks from
the same client region and takes the best CA's critical time at that rank (quantile
mapping: latency and failures together, client-region differences kept); retries
succeed as often as the best CA's do. The replay then runs unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd

from certsentry_analysis.breakage.inputs import (
    RETRY_PRIOR_ATTEMPTS,
    Positions,
    RetryModel,
    Validations,
)
from certsentry_analysis.breakage.policy import Policy
from certsentry_analysis.breakage.replay import UNITS, breakage_matrices, ratio_interval
from certsentry_analysis.breakage.world import ClientSide, World

log = logging.getLogger(__name__)

MIN_CLIENTS = 10
MIN_POSITIONS = 200
MIN_REGION_POSITIONS = 100
CRITERION = (
    "lowest share of live checks unanswered within the policy timeout "
    f"(>= {MIN_CLIENTS} clients, >= {MIN_POSITIONS} live checks; ties: lower median time)"
)


def mapped_critical_times(pos: Positions, is_best: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each live check's critical time moved to the same quantile of the best CA's.

    Ranks are taken within the check's own responder and client region (ties, such as
    the never-answered checks, broken at random), so a check that was slow for its
    responder stays slow; the best CA's distribution comes from the same region when it
    has MIN_REGION_POSITIONS live checks there, else from all its live checks.
    """
    rng = np.random.default_rng(seed)
    out = pos.crit.copy()
    live = np.flatnonzero(pos.live)
    if len(live) == 0 or not is_best.any():
        return out
    regions, region_idx = np.unique(pos.region, return_inverse=True)
    pooled = np.sort(pos.crit[is_best])
    targets = []
    for r in range(len(regions)):
        mine = np.sort(pos.crit[is_best & (region_idx == r)])
        targets.append(mine if len(mine) >= MIN_REGION_POSITIONS else pooled)

    key = pos.responder[live].astype(np.int64) * len(regions) + region_idx[live]
    order = np.lexsort((rng.random(len(live)), pos.crit[live], key))
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    group = np.repeat(np.arange(len(starts)), sizes)
    rank = np.arange(len(order)) - starts[group]
    quantile = (rank + 0.5) / sizes[group]
    for r in range(len(regions)):
        in_region = region_idx[live][order] == r
        target = targets[r]
        at = np.minimum((quantile[in_region] * len(target)).astype(np.int64), len(target) - 1)
        out[live[order][in_region]] = target[at]

    return out


def _validations_of(
    pos: Positions, in_scope: np.ndarray, world: World, frame: pd.DataFrame
) -> Validations:
    """The validation reduction of validations_sql, in numpy, over modified positions."""
    n = int(pos.validation.max()) + 1 if len(pos.validation) else 0
    needed = in_scope & pos.live
    crit_leaf, crit_upper = np.zeros(n), np.zeros(n)
    np.maximum.at(crit_leaf, pos.validation[needed & pos.leaf], pos.crit[needed & pos.leaf])
    np.maximum.at(crit_upper, pos.validation[needed & ~pos.leaf], pos.crit[needed & ~pos.leaf])
    per_val = lambda values, fill: _scatter(n, pos.validation, values, fill)  # noqa: E731
    cd = world.pop.client_day_index(frame["client"], frame["vday"])

    return Validations(
        client=per_val(pos.client, 0),
        client_day=per_val(cd, -1),
        crit_leaf=crit_leaf,
        crit_upper=crit_upper,
        responder_leaf=np.zeros(n, dtype=np.int64),
        responder_upper=np.zeros(n, dtype=np.int64),
        issuer_leaf=np.full(n, "", dtype=object),
        issuer_upper=np.full(n, "", dtype=object),
        live=np.bincount(pos.validation, needed.astype(np.float64), minlength=n),
        staple_u=per_val(pos.staple_u, 1.0),
        region=per_val(pos.region, ""),
        failure_mode=per_val(pos.failure_mode, 0),
        scope_key=np.full(n, "counterfactual", dtype=object),
    )


def _scatter(n: int, index: np.ndarray, values: np.ndarray, fill: object) -> np.ndarray:
    out = np.full(n, fill, dtype=values.dtype)
    out[index] = values

    return out


def _best_retry(retry: RetryModel, responders: np.ndarray) -> RetryModel:
    """The retry model with every responder retrying like the best CA's (pair-weighted)."""
    weights = retry.pairs[responders] + RETRY_PRIOR_ATTEMPTS
    row = (retry.retry_success[responders] * weights[:, None]).sum(axis=0) / weights.sum()

    return replace(retry, retry_success=np.tile(row, (len(retry.responders) + 1, 1)))


def best_ca(world: World, policy: Policy, side: ClientSide) -> tuple[str | None, pd.DataFrame]:
    """The best CA organisation by CRITERION, and the per-CA ranking."""
    pos = world.variant(policy.fallback_to_crl, side).arrays
    org_of = dict(zip(world.issuers["issuer_sha1"], world.issuers["organization"], strict=True))
    frame = pd.DataFrame(
        {
            "ca": [org_of.get(i) for i in pos.issuer],
            "client": pos.client,
            "crit": pos.crit,
            "live": pos.live,
        }
    )
    frame = frame[frame["live"] & frame["ca"].notna()]
    frame["failed"] = frame["crit"] > policy.timeout_ms
    ranking = frame.groupby("ca").agg(
        clients=("client", "nunique"),
        positions=("crit", "size"),
        unanswered_share=("failed", "mean"),
        median_ms=("crit", "median"),
    )
    eligible = ranking[
        (ranking["clients"] >= MIN_CLIENTS) & (ranking["positions"] >= MIN_POSITIONS)
    ]
    if eligible.empty:
        return None, ranking.reset_index()
    best = eligible.sort_values(["unanswered_share", "median_ms"]).index[0]

    return str(best), ranking.reset_index()


def best_ca_counterfactual(
    world: World, policy: Policy, observed: pd.DataFrame, side: ClientSide
) -> pd.DataFrame:
    """Observed breakage curves next to the best-CA counterfactual, per unit and T."""
    best, _ = best_ca(world, policy, side)
    if best is None or not policy.hard:
        return pd.DataFrame()

    variant = world.variant(policy.fallback_to_crl, side)
    pos = variant.arrays
    org_of = dict(zip(world.issuers["issuer_sha1"], world.issuers["organization"], strict=True))
    is_best = np.array([org_of.get(i) == best for i in pos.issuer], dtype=bool) & pos.live
    mapped = replace(pos, crit=mapped_critical_times(pos, is_best))
    vals = _validations_of(mapped, world.in_scope(policy, side), world, variant.frame)
    retry = _best_retry(variant.retry, np.unique(pos.responder[is_best]))
    matrices = breakage_matrices(
        policy, world.pop, vals, mapped, world.in_scope(policy, side), world.grid, retry
    )
    denominators = {
        "check": world.pop.positions,
        "validation": world.pop.validations,
        "client_day": world.pop.client_days,
    }
    frames = []
    for unit in UNITS:
        point, low, high = ratio_interval(matrices[unit], denominators[unit], world.weights)
        seen = observed[
            (observed["policy"] == policy.name)
            & (observed["client_side"] == side)
            & (observed["unit"] == unit)
        ].sort_values("timeout_ms")
        frames.append(
            pd.DataFrame(
                {
                    "policy": policy.name,
                    "client_side": side,
                    "unit": unit,
                    "timeout_ms": world.grid,
                    "observed": seen["breakage"].to_numpy(),
                    "observed_ci_low": seen["ci_low"].to_numpy(),
                    "observed_ci_high": seen["ci_high"].to_numpy(),
                    "counterfactual": point,
                    "ci_low": low,
                    "ci_high": high,
                    "best_ca": best,
                    "criterion": CRITERION,
                }
            )
        )

    return pd.concat(frames, ignore_index=True)
