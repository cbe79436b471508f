"""The viability frontier: the smallest timeout that keeps breakage within a budget.

Default budget: at most 1 in 10,000 chain validations and at most 1 % of client-days
broken. Per policy from the curves; per CA by replaying hard-fail for that CA's
issuing CAs alone, measured on the validations that involved the CA (would its own
customers' sites work?) and on all validations (does it alone break the budget?).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from certsentry_analysis.breakage.inputs import reduce_validations
from certsentry_analysis.breakage.policy import Policy
from certsentry_analysis.breakage.replay import breakage_matrices, ratio_interval
from certsentry_analysis.breakage.world import ClientSide, World

log = logging.getLogger(__name__)

MIN_CLIENTS = 10


@dataclass(frozen=True)
class Budget:
    """Largest acceptable breakage: share of validations and share of client-days."""

    validations: float = 1e-4
    client_days: float = 0.01

    def __post_init__(self) -> None:
        for name in ("validations", "client_days"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"budget {name} must lie in [0, 1], got {value}")


def _smallest_meeting(timeouts: np.ndarray, ok: np.ndarray) -> float:
    """Smallest T from which the budget holds at every larger T (NaN when never)."""
    if not ok[-1]:
        return float("nan")
    failing = np.flatnonzero(~ok)
    first = failing[-1] + 1 if len(failing) else 0

    return float(timeouts[first])


def viability_frontier(
    curves: pd.DataFrame, waiting: pd.DataFrame, budget: Budget
) -> pd.DataFrame:
    """Per policy and client-side reading: smallest T within budget and the rates there.

    Where no T of the grid meets the budget, the rates are those at the largest T (the
    floor set by failures no timeout cures) and `viable` is false.
    """
    rows = []
    for (policy, side), frame in curves.groupby(["policy", "client_side"], sort=False):
        unit = {u: f.sort_values("timeout_ms") for u, f in frame.groupby("unit")}
        val, day, check = unit["validation"], unit["client_day"], unit["check"]
        T = val["timeout_ms"].to_numpy()
        ok = (val["breakage"].to_numpy() <= budget.validations) & (
            day["breakage"].to_numpy() <= budget.client_days
        )
        ok_upper = (val["ci_high"].to_numpy() <= budget.validations) & (
            day["ci_high"].to_numpy() <= budget.client_days
        )
        chosen = _smallest_meeting(T, ok)
        at = len(T) - 1 if np.isnan(chosen) else int(np.searchsorted(T, chosen))
        wait = waiting[waiting["policy"] == policy].sort_values("timeout_ms")
        rows.append(
            {
                "policy": policy,
                "client_side": side,
                "budget_validations": budget.validations,
                "budget_client_days": budget.client_days,
                "viable": bool(not np.isnan(chosen)),
                "timeout_ms": chosen,
                "timeout_ms_conservative": _smallest_meeting(T, ok_upper),
                "evaluated_at_ms": float(T[at]),
                "check_breakage": float(check["breakage"].iloc[at]),
                "validation_breakage": float(val["breakage"].iloc[at]),
                "validation_ci_low": float(val["ci_low"].iloc[at]),
                "validation_ci_high": float(val["ci_high"].iloc[at]),
                "client_day_breakage": float(day["breakage"].iloc[at]),
                "client_day_ci_low": float(day["ci_low"].iloc[at]),
                "client_day_ci_high": float(day["ci_high"].iloc[at]),
                "mean_wait_ms": float(wait["mean_wait_ms"].iloc[at]) if len(wait) else np.nan,
                "p95_wait_ms": float(wait["p95_wait_ms"].iloc[at]) if len(wait) else np.nan,
            }
        )

    return pd.DataFrame(rows)


def ca_scope(world: World) -> pd.DataFrame:
    """Every issuer of the dimension keyed by its organisation (one scope per CA)."""
    issuers = world.issuers.dropna(subset=["organization"])

    return pd.DataFrame(
        {"issuer_sha1": issuers["issuer_sha1"], "scope_key": issuers["organization"]}
    )


def frontier_by_ca(world: World, policy: Policy, budget: Budget, side: ClientSide) -> pd.DataFrame:
    """Per CA organisation: hard-fail for its issuers alone, against the budget."""
    base = replace(policy, scope="all", issuer_organizations=())
    variant = world.variant(base.fallback_to_crl, side)
    # Organisations as integer codes (-1: none), so each CA's masks are integer compares.
    scope = ca_scope(world)
    org_of = dict(zip(scope["issuer_sha1"], scope["scope_key"], strict=True))
    issuer_idx, issuers = pd.factorize(variant.arrays.issuer)  # -1: no issuer
    issuer_org = [org_of.get(i) for i in issuers]
    orgs = sorted({o for o in issuer_org if o is not None})
    code_of = {org: k for k, org in enumerate(orgs)}
    pos_org = np.array([*(code_of.get(o, -1) for o in issuer_org), -1])[issuer_idx]
    grid, G = world.grid, world.pop.size
    rows = []
    for code, org in enumerate(orgs):
        in_scope = pos_org == code
        mine = reduce_validations(variant.arrays, in_scope, variant.client_day, org)
        clients = len(np.unique(mine.client))
        m = breakage_matrices(base, world.pop, mine, variant.arrays, in_scope, grid, variant.retry)
        own_den = np.bincount(mine.client[mine.client >= 0], minlength=G).astype(np.float64)
        own, own_low, own_high = ratio_interval(m["validation"], own_den, world.weights)
        every, _, _ = ratio_interval(m["validation"], world.pop.validations, world.weights)
        days, _, _ = ratio_interval(m["client_day"], world.pop.client_days, world.weights)
        chosen = _smallest_meeting(grid, own <= budget.validations)
        at = len(grid) - 1 if np.isnan(chosen) else int(np.searchsorted(grid, chosen))
        suppressed = clients < MIN_CLIENTS
        rows.append(
            {
                "policy": policy.name,
                "client_side": side,
                "ca": org,
                "clients": clients,
                "validations": int(own_den.sum()),
                "suppressed": suppressed,
                "viable": bool(not np.isnan(chosen)) and not suppressed,
                "timeout_ms": np.nan if suppressed else chosen,
                "evaluated_at_ms": float(grid[at]),
                "own_validation_breakage": np.nan if suppressed else float(own[at]),
                "own_ci_low": np.nan if suppressed else float(own_low[at]),
                "own_ci_high": np.nan if suppressed else float(own_high[at]),
                "all_validation_breakage_max_t": float(every[-1]),
                "client_day_breakage_max_t": float(days[-1]),
                "breaks_budget_alone": bool(
                    every[-1] > budget.validations or days[-1] > budget.client_days
                ),
            }
        )

    return pd.DataFrame(rows)
