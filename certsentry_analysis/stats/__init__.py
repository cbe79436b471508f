"""The statistics layer: rollups in the engine, then rates, latency, outages,
attribution and the league table in pandas/scipy. `compute_all` is the stage that
`certsentry analyze` runs; each table is documented in docs/methods.md."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from certsentry_analysis.rollups import bin_start, run_rollups_duckdb
from certsentry_analysis.stats.attribution import attribute, attribution_summary
from certsentry_analysis.stats.latency import (
    compare_operators,
    crl_size_latency,
    latency_ecdf,
    latency_fits,
    latency_quantiles,
)
from certsentry_analysis.stats.league import crl_sizes, league_table
from certsentry_analysis.stats.operators import responder_operators
from certsentry_analysis.stats.outages import outage_minutes
from certsentry_analysis.stats.rates import failure_rate_table
from certsentry_analysis.stats.suppression import DEFAULT_K, suppress
from certsentry_analysis.stats.taxonomy import failure_taxonomy

log = logging.getLogger(__name__)

__all__ = ["compute_all", "per_client_counts"]


def per_client_counts(
    rollup_client_responder: pd.DataFrame,
    rollup_client_bins: pd.DataFrame,
    cells: pd.DataFrame,
) -> pd.DataFrame:
    """rollup_client_responder plus attributed failures per (client, responder, method, day).

    server_failures: failures times the cell's server_prob (1 server, 0 client, 0.5
    ambiguous; for isolated cells the failures where the responder answered with an
    error); client_failures the rest; ambiguous_failures those in ambiguous cells.
    """
    keys = ["client", "responder", "method", "day"]
    bins = rollup_client_bins[rollup_client_bins["failures"] > 0]
    bins = bins.assign(bin_start=bin_start(bins))
    flags = cells[["client", "responder", "bin_start", "side", "server_prob", "isolated"]]
    b = bins.merge(flags, on=["client", "responder", "bin_start"], how="left")
    isolated = b["isolated"].fillna(False).astype(bool)
    b["server_failures"] = np.where(
        isolated, b["failures_answer"], b["failures"] * b["server_prob"].fillna(0.5)
    )
    b["ambiguous_failures"] = b["failures"].where(b["side"] == "ambiguous", 0)
    by_side = b.groupby(keys, as_index=False)[["server_failures", "ambiguous_failures"]].sum()
    by_side["day"] = pd.to_datetime(by_side["day"])
    out = rollup_client_responder.assign(day=pd.to_datetime(rollup_client_responder["day"]))
    out = out.merge(by_side, on=keys, how="left")
    for column in ("server_failures", "ambiguous_failures"):
        out[column] = out[column].fillna(0.0)
    out["client_failures"] = out["failures"] - out["server_failures"]

    return out


def compute_all(
    con: duckdb.DuckDBPyConnection,
    *,
    raw_dir: Path | None = None,
    k: int = DEFAULT_K,
    replicates: int = 1000,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Every statistics table over the warehouse's current checks, small cells suppressed.

    raw_dir is not needed (CRL sizes come from the bytes of logged CRL fetches).
    k=0 turns suppression off (validation against truth).
    """
    started = time.perf_counter()
    roll = run_rollups_duckdb(con)
    operators = responder_operators(con, roll["rollup_checks"])
    cells, outages = attribute(roll["rollup_client_bins"], seed=seed)
    per_client = per_client_counts(
        roll["rollup_client_responder"], roll["rollup_client_bins"], cells
    )
    per_client = per_client.merge(operators[["responder", "operator"]], on="responder", how="left")

    rates = _rate_levels(per_client, replicates=replicates, seed=seed)
    daily = failure_rate_table(per_client, ["responder", "method", "day"], method="linear")
    daily = daily.merge(operators[["responder", "operator"]], on="responder", how="left")
    quantiles = latency_quantiles(
        roll["rollup_latency"], roll["rollup_client_responder"], operators, seed=seed
    )
    clients = quantiles[quantiles["level"] == "responder"][["name", "method", "clients"]]
    clients = clients.rename(columns={"name": "responder"})
    ecdf = latency_ecdf(roll["rollup_latency"]).merge(
        clients, on=["responder", "method"], how="left"
    )
    fits = latency_fits(roll["rollup_latency"], seed=seed).merge(
        clients, on=["responder", "method"], how="left"
    )
    comparisons = compare_operators(
        roll["rollup_client_responder"], roll["rollup_latency"], operators, seed=seed
    )
    if not comparisons.empty:
        comparisons["clients"] = comparisons[["clients_a", "clients_b"]].min(axis=1)
    else:
        comparisons = pd.DataFrame({"clients": pd.Series(dtype="int64")})
    crl = crl_sizes(roll["rollup_crl"], operators)
    league = league_table(rates, quantiles, outage_minutes(outages), crl, operators, k=k)
    summary = attribution_summary(cells, operators).merge(
        rates[rates["level"] == "responder"]
        .groupby("name")["clients"]
        .sum()
        .rename("clients")
        .reset_index()
        .rename(columns={"name": "responder"}),
        on="responder",
        how="left",
    )
    summary.loc[summary["responder"] == "(all)", "clients"] = per_client["client"].nunique()

    tables = {
        # Per (client, responder, 5-minute bin) sides for the breakage replay. Internal: it
        # carries pseudonymous client ids like `checks` does, and no document prints it.
        "attribution_cells": cells[
            ["client", "responder", "bin_start", "side", "server_prob", "failures"]
        ],
        "league_table": league,
        "failure_rates": suppress(rates, k=k),
        "failure_rates_daily": suppress(daily, k=k),
        "failure_taxonomy": suppress(failure_taxonomy(roll["rollup_checks"], operators), k=k),
        "latency_quantiles": suppress(quantiles, k=k),
        "latency_ecdf": suppress(ecdf, k=k, keep=("lat_bin",)),
        "latency_fits": suppress(fits, k=k),
        "latency_comparisons": suppress(comparisons, k=k),
        "crl_size_latency": suppress(
            crl_size_latency(roll["rollup_crl"], roll["rollup_client_responder"]), k=k
        ),
        "outages": suppress(
            outages,
            clients="clients_affected",
            k=k,
            keep=("minutes", "bins", "threshold", "peak_statistic", "baseline_share"),
        ),
        "attribution_summary": suppress(summary, k=k),
        "responder_operators": operators,
    }
    log.info(
        "stats: %d tables from %d client-responder rows in %.1f s",
        len(tables),
        len(per_client),
        time.perf_counter() - started,
    )

    return tables


def _rate_levels(per_client: pd.DataFrame, *, replicates: int, seed: int) -> pd.DataFrame:
    frames = []
    for level, by in (
        ("responder", ["responder", "method"]),
        ("operator", ["operator", "method"]),
        ("method", ["method"]),
    ):
        table = failure_rate_table(per_client, by, replicates=replicates, seed=seed)
        table.insert(0, "level", level)
        table.insert(1, "name", table[by[0]] if level != "method" else "(all)")
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    operator_of = per_client.drop_duplicates("responder").set_index("responder")["operator"]
    is_responder = out["level"] == "responder"
    out.loc[is_responder, "operator"] = out.loc[is_responder, "name"].map(operator_of)

    return out.drop(columns=["responder"])
