"""Best-CA counterfactual: if every responder behaved like the best CA's, would hard-fail work?

Criterion for "best": among CA organisations whose live checks came from at least
MIN_CLIENTS clients and MIN_POSITIONS positions, the lowest share of live checks that
got no answer within the policy's timeout (client-side failures removed when the
attribution is available); ties go to the lower median answer time. Counterfactual:
every live check of every validation fails independently with the best CA's share of
checks failing at T among clients of the same region (its latency and failure
behaviour, region-matched; the pooled share where a region has too few checks);
retries succeed with the best CA's share answering within T.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from certsentry_analysis.breakage.policy import Policy
from certsentry_analysis.breakage.replay import UNITS, finite, ratio_interval, stapled
from certsentry_analysis.breakage.world import ClientSide, World

log = logging.getLogger(__name__)

MIN_CLIENTS = 10
MIN_POSITIONS = 200
MIN_REGION_POSITIONS = 100
CRITERION = (
    "lowest share of live checks unanswered within the policy timeout "
    f"(>= {MIN_CLIENTS} clients, >= {MIN_POSITIONS} live checks; ties: lower median time)"
)


def _unanswered(crit: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Share of `crit` above each timeout of `grid` (survival function on the grid)."""
    if len(crit) == 0:
        return np.zeros(len(grid))

    return 1.0 - np.searchsorted(np.sort(crit), finite(grid), side="right") / len(crit)


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

    grid, G = world.grid, world.pop.size
    variant = world.variant(policy.fallback_to_crl, side)
    pos = variant.arrays
    in_scope = world.in_scope(policy, side)
    org_of = dict(zip(world.issuers["issuer_sha1"], world.issuers["organization"], strict=True))
    is_best = np.array([org_of.get(i) == best for i in pos.issuer]) & pos.live
    # Q[r, j]: share of the best CA's live checks in region r unanswered within T_j.
    pooled = _unanswered(pos.crit[is_best], grid)
    regions = sorted(set(pos.region) | set(world.validations(policy, side).region))
    Q = np.stack(
        [
            _unanswered(pos.crit[is_best & (pos.region == r)], grid)
            if (is_best & (pos.region == r)).sum() >= MIN_REGION_POSITIONS else pooled
            for r in regions
        ]
    )
    retry_fail = pooled ** policy.retries

    vals = world.validations(policy, side)
    keep = vals.client_day >= 0
    live = vals.live.copy()
    # A stapled validation makes no live check for its end entity.
    leaf_live = vals.crit_leaf > 0
    live = live - (stapled(vals.staple_u, policy) & leaf_live)
    region_index = {r: i for i, r in enumerate(regions)}
    val_region = np.array([region_index[r] for r in vals.region], dtype=np.int64)
    p_live = in_scope & pos.live & ~(pos.leaf & stapled(pos.staple_u, policy))
    pos_region = np.array([region_index[r] for r in pos.region[p_live]], dtype=np.int64)
    cd_client = world.pop.cd_keys["client_idx"].to_numpy(dtype=np.int64)
    n_cd = len(cd_client)
    matrices = {u: np.zeros((G, len(grid))) for u in UNITS}
    with np.errstate(divide="ignore"):
        for j in range(len(grid)):
            q_j = Q[:, j] * retry_fail[j]
            log_intact = live * np.log1p(-q_j[val_region])
            broken = (1.0 - np.exp(log_intact))[keep]
            matrices["validation"][:, j] = np.bincount(vals.client[keep], broken, minlength=G)
            day = np.bincount(vals.client_day[keep], log_intact[keep], minlength=n_cd)
            matrices["client_day"][:, j] = np.bincount(cd_client, 1.0 - np.exp(day), minlength=G)
            matrices["check"][:, j] = np.bincount(
                pos.client[p_live], q_j[pos_region], minlength=G
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
                    "timeout_ms": grid,
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
