"""The hard-fail breakage model: replay the observed checks under policies and timeouts.

`compute_all` is the stage `certsentry analyze` runs after the statistics layer; its
tables are documented in docs/methods.md ("Hard-fail breakage model").
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from certsentry_analysis.breakage.attribution import breakage_attribution
from certsentry_analysis.breakage.counterfactual import best_ca_counterfactual
from certsentry_analysis.breakage.frontier import Budget, frontier_by_ca, viability_frontier
from certsentry_analysis.breakage.natural_experiment import natural_experiment
from certsentry_analysis.breakage.policy import PRESETS, Policy, get_policy, timeout_grid
from certsentry_analysis.breakage.replay import sweep, waiting_time
from certsentry_analysis.breakage.security import soft_fail_hole
from certsentry_analysis.breakage.world import CLIENT_SIDES, ClientSide, World, load_world

log = logging.getLogger(__name__)

__all__ = [
    "PRESETS",
    "Budget",
    "Policy",
    "breakage_curves",
    "build_tables",
    "compute_all",
    "get_policy",
    "timeout_grid",
    "viability_frontier",
]

FRONTIER_POLICY = "hard-fail-all"


def breakage_curves(world: World, policies: list[Policy]) -> pd.DataFrame:
    """Breakage against T per policy, unit and client-side reading (with intervals)."""
    sides = CLIENT_SIDES if world.attribution_available else ("included",)
    frames = []
    for policy in policies:
        for side in sides:
            variant = world.variant(policy.fallback_to_crl, side)
            frames.append(
                sweep(
                    policy,
                    world.pop,
                    world.validations(policy, side),
                    variant.arrays,
                    world.in_scope(policy, side),
                    world.grid,
                    variant.retry,
                    world.weights,
                    client_side=side,
                )
            )

    return pd.concat(frames, ignore_index=True)


def waiting_times(world: World, policies: list[Policy]) -> pd.DataFrame:
    """Wait per validation against T per policy (client-side failures included)."""
    frames = []
    for policy in policies:
        variant = world.variant(policy.fallback_to_crl, "included")
        frames.append(
            waiting_time(
                policy,
                world.pop,
                variant.arrays,
                world.in_scope(policy, "included"),
                world.grid,
                variant.retry,
                world.weights,
            )
        )

    return pd.concat(frames, ignore_index=True)


def policy_table(world: World, policies: list[Policy]) -> pd.DataFrame:
    """The policies replayed, their parameters and resolved issuer scope."""
    rows = []
    for p in policies:
        _, note = world.scope(p)
        rows.append(
            {
                "policy": p.name,
                "mode": p.mode,
                "scope": p.scope,
                "scope_resolved": note,
                "timeout_ms": p.timeout_ms,
                "retries": p.retries,
                "backoff_ms": p.backoff_ms,
                "fallback_to_crl": p.fallback_to_crl,
                "stapling_share": p.stapling_share,
                "description": p.describe(),
                "attribution": world.attribution_note,
                "retry_pairs_observed": int(world.retry.pairs[-1]),
                "retry_success_at_t": float(
                    world.retry.retry_success[-1, np.searchsorted(world.model_grid, p.timeout_ms)]
                ),
            }
        )

    return pd.DataFrame(rows)


def build_tables(
    con: duckdb.DuckDBPyConnection,
    *,
    raw_dir: Path | None = None,
    policies: list[Policy] | None = None,
    grid: np.ndarray | None = None,
    budget: Budget | None = None,
    client_side: pd.DataFrame | Literal["auto"] | None = "auto",
    replicates: int = 200,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Every breakage table; `client_side` bins override the statistics-layer attribution."""
    started = time.perf_counter()
    policies = list(PRESETS.values()) if policies is None else policies
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ValueError(f"policy names must be unique, got {names}")
    grid = timeout_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    budget = budget or Budget()
    world = load_world(
        con, grid, policies, client_side=client_side, replicates=replicates, seed=seed
    )
    side: ClientSide = "removed" if world.attribution_available else "included"
    curves = breakage_curves(world, policies)
    waiting = waiting_times(world, policies)
    hard = [p for p in policies if p.hard]
    reference = next((p for p in hard if p.name == FRONTIER_POLICY), hard[0] if hard else None)
    presets = {p.name: p for p in policies}

    tables = {
        "breakage_policies": policy_table(world, policies),
        "breakage_curves": curves,
        "waiting_time": waiting,
        "viability_frontier": viability_frontier(curves, waiting, budget),
        "frontier_by_ca": (
            frontier_by_ca(world, reference, budget, side) if reference else pd.DataFrame()
        ),
        "breakage_attribution": pd.concat(
            [breakage_attribution(world, p) for p in hard] or [pd.DataFrame()],
            ignore_index=True,
        ),
        "best_ca_counterfactual": (
            best_ca_counterfactual(world, reference, curves, side) if reference else pd.DataFrame()
        ),
        "soft_fail_hole": soft_fail_hole(world, policies, raw_dir=raw_dir),
        "natural_experiment": natural_experiment(world, presets),
    }
    log.info(
        "breakage: %d tables, %d policies x %d timeouts in %.1f s",
        len(tables),
        len(policies),
        len(grid),
        time.perf_counter() - started,
    )

    return tables


def compute_all(
    con: duckdb.DuckDBPyConnection, *, raw_dir: Path | None = None
) -> dict[str, pd.DataFrame]:
    """The breakage stage of `certsentry analyze` (preset policies, default grid and budget)."""
    return build_tables(con, raw_dir=raw_dir)
