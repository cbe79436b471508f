"""Everything the breakage tables share: the reduced warehouse, per variant and policy.

A *variant* is one way of reading the checks: with client-side failures included (what
users saw) or removed (what CAs can be blamed for), and with or without OCSP-to-CRL
fallback. Positions are materialised once per variant; validations once per policy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from certsentry_analysis.breakage import validations as sql
from certsentry_analysis.breakage.inputs import (
    Population,
    Positions,
    RetryModel,
    Validations,
    population,
    positions_arrays,
    reduce_validations,
    retry_model,
)
from certsentry_analysis.breakage.policy import Policy, scope_issuers
from certsentry_analysis.breakage.replay import bootstrap_weights

log = logging.getLogger(__name__)

ClientSide = Literal["included", "removed"]
CLIENT_SIDES: tuple[ClientSide, ...] = ("included", "removed")


def client_side_bins(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame | None, str]:
    """Client-side attribution bins from the statistics layer, or None and why not.

    A results table the statistics stage stored with columns client, responder,
    bin_start and side is used when present; otherwise attribute_failures is run.
    """
    stored = con.execute(
        """SELECT table_name FROM information_schema.columns
           WHERE table_schema = 'results'
             AND column_name IN ('client', 'responder', 'bin_start', 'side')
           GROUP BY table_name HAVING COUNT(*) = 4 ORDER BY table_name"""
    ).fetchall()
    if stored:
        from certsentry_analysis.analysis import load_table

        cells = load_table(con, stored[0][0])
        minutes = _bin_minutes()
        if minutes is not None:
            return bins_from_cells(cells, minutes), f"results.{stored[0][0]}"

    try:
        from certsentry_analysis.stats.attribution import (
            ATTRIBUTION_BIN_MINUTES,
            attribute_failures,
        )
    except ImportError as exc:
        return None, f"attribution unavailable ({exc})"

    cells = attribute_failures(con)
    return bins_from_cells(cells, ATTRIBUTION_BIN_MINUTES), "statistics-layer attribution"


def _bin_minutes() -> int | None:
    try:
        from certsentry_analysis.stats.attribution import ATTRIBUTION_BIN_MINUTES
    except ImportError:
        return None

    return int(ATTRIBUTION_BIN_MINUTES)


def bins_from_cells(cells: pd.DataFrame, minutes: int) -> pd.DataFrame:
    """The client-side cells as (client, responder, bin_start, bin_end) rows."""
    client = cells[cells["side"] == "client"]
    start = pd.to_datetime(client["bin_start"])

    return pd.DataFrame(
        {
            "client": client["client"].to_numpy(),
            "responder": client["responder"].to_numpy(),
            "bin_start": start.to_numpy(),
            "bin_end": (start + pd.Timedelta(minutes=minutes)).to_numpy(),
        }
    )


@dataclass
class Variant:
    """Positions of one reading of the checks, with its retry model."""

    table: str
    frame: pd.DataFrame
    arrays: Positions
    retry: RetryModel
    client_day: np.ndarray  # per position: its validation's client-day (index in cd_keys)


@dataclass
class World:
    """The reduced warehouse shared by all breakage tables."""

    con: duckdb.DuckDBPyConnection
    grid: np.ndarray
    model_grid: np.ndarray  # grid plus every policy's own timeout
    issuers: pd.DataFrame
    pop: Population
    weights: np.ndarray
    client_side: pd.DataFrame | None
    attribution_note: str
    retry: RetryModel
    variants: dict[tuple[bool, ClientSide], Variant] = field(default_factory=dict)
    _validations: dict[tuple[str, ClientSide], Validations] = field(default_factory=dict)
    _in_scope: dict[tuple[str, ClientSide], np.ndarray] = field(default_factory=dict)

    @property
    def attribution_available(self) -> bool:
        """Whether client-side failures can be removed."""
        return self.client_side is not None

    def variant(self, fallback: bool, side: ClientSide) -> Variant:
        """Positions of a variant (materialised on first use)."""
        key = (fallback, side)
        if key not in self.variants:
            drop = side == "removed" and self.client_side is not None
            if drop:
                self.con.register(sql.CLIENT_SIDE, self.client_side)
            try:
                table = sql.materialise_positions(
                    self.con, fallback=fallback, drop_client_side=drop
                )
            finally:
                if drop:
                    self.con.unregister(sql.CLIENT_SIDE)
            frame = sql.load_positions(self.con, table)
            # One retry model for every variant: what a retry after any failure achieved.
            self.variants[key] = make_variant(table, frame, self.pop, self.retry)

        return self.variants[key]

    def scope(self, policy: Policy) -> tuple[frozenset[str] | None, str]:
        """Issuers in the policy's scope (None: all) and a note."""
        return scope_issuers(policy, self.issuers)

    def in_scope(self, policy: Policy, side: ClientSide) -> np.ndarray:
        """Boolean mask over the variant's positions: issuer in the policy's scope."""
        key = (f"{policy.scope}:{policy.fallback_to_crl}:{policy.issuer_organizations}", side)
        if key not in self._in_scope:
            issuers, _ = self.scope(policy)
            arrays = self.variant(policy.fallback_to_crl, side).arrays
            if issuers is None:
                mask = np.ones(len(arrays.crit), dtype=bool)
            else:
                # Test the few distinct issuers, not every position.
                index, distinct = pd.factorize(arrays.issuer)  # index -1: no issuer
                chosen = np.array([i in issuers for i in distinct] + [False], dtype=bool)
                mask = chosen[index]
            self._in_scope[key] = mask
            mask.setflags(write=False)

        return self._in_scope[key]

    def validations(self, policy: Policy, side: ClientSide) -> Validations:
        """Validations reduced over the policy's scope, as arrays.

        The reduction of validations_sql, run in numpy on the variant's positions already
        in memory (one SQL pass and fetch per policy cost more than the whole sweep).
        """
        key = (f"{policy.scope}:{policy.fallback_to_crl}:{policy.issuer_organizations}", side)
        if key not in self._validations:
            variant = self.variant(policy.fallback_to_crl, side)
            issuers, _ = self.scope(policy)
            self._validations[key] = reduce_validations(
                variant.arrays,
                self.in_scope(policy, side),
                variant.client_day,
                "all" if issuers is None else policy.name,
            )

        return self._validations[key]


def make_variant(table: str, frame: pd.DataFrame, pop: Population, retry: RetryModel) -> Variant:
    """A variant from its materialised positions table and their rows."""
    client_day = pop.client_day_index(frame["client"], frame["vday"])

    return Variant(table, frame, positions_arrays(frame, pop, retry), retry, client_day)


def load_world(
    con: duckdb.DuckDBPyConnection,
    grid: np.ndarray,
    policies: list[Policy],
    *,
    client_side: pd.DataFrame | Literal["auto"] | None = "auto",
    replicates: int = 200,
    seed: int = 0,
) -> World:
    """Reduce the warehouse once for every table of the breakage stage."""
    started = time.perf_counter()
    if isinstance(client_side, str):
        bins, note = client_side_bins(con)
    else:
        bins, note = client_side, "given" if client_side is not None else "not given"
    issuers = con.execute(
        """SELECT i.issuer_sha1, i.subject, i.organization, i.common_name,
                  COALESCE(n.checks, 0) AS checks
           FROM issuers AS i
           LEFT JOIN (SELECT issuer_sha1, COUNT(*) AS checks FROM current_checks
                      GROUP BY issuer_sha1) AS n ON n.issuer_sha1 = i.issuer_sha1"""
    ).df()
    model_grid = np.unique(np.concatenate([grid, [p.timeout_ms for p in policies]]))

    base = sql.materialise_positions(con, fallback=True, drop_client_side=False)
    frame = sql.load_positions(con, base)
    pop = population(frame)
    retry = retry_model(con, model_grid, drop_client_side=False)
    world = World(
        con=con,
        grid=np.asarray(grid, dtype=np.float64),
        model_grid=model_grid,
        issuers=issuers,
        pop=pop,
        weights=bootstrap_weights(pop.size, replicates, seed),
        client_side=bins,
        attribution_note=note,
        retry=retry,
    )
    world.variants[(True, "included")] = make_variant(base, frame, pop, retry)
    log.info(
        "breakage inputs: %d clients, %d validations, %d positions (%s) in %.1f s",
        pop.size,
        int(pop.validations.sum()),
        int(pop.positions.sum()),
        note,
        time.perf_counter() - started,
    )

    return world
