"""The league table: one row per responder, ranked, with intervals and attribution.

In the spirit of Netcraft's 2013 monthly OCSP responder tables, but each rate and
latency carries its 95% interval and the ranking uses the CA-attributable failure
rate (client-side failures such as captive portals are not the CA's doing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from certsentry_analysis.stats.suppression import DEFAULT_K, suppress


def crl_sizes(rollup_crl: pd.DataFrame, operators: pd.DataFrame) -> pd.DataFrame:
    """Median CRL size (bytes, weighted by fetches) per CRL endpoint and per operator."""
    per = rollup_crl.groupby(["responder", "bytes"], as_index=False)["fetches"].sum()
    out = per.groupby("responder").apply(_weighted_median, include_groups=False)
    sizes = out.rename("crl_bytes").reset_index()

    return sizes.merge(operators[["responder", "operator"]], on="responder", how="left")


def _weighted_median(g: pd.DataFrame) -> float:
    g = g.sort_values("bytes")
    cumulative = g["fetches"].cumsum().to_numpy()

    return float(g["bytes"].to_numpy()[np.searchsorted(cumulative, cumulative[-1] / 2)])


def league_table(
    failure_rates: pd.DataFrame,
    latency_quantiles: pd.DataFrame,
    outage_minutes: pd.DataFrame,
    crl: pd.DataFrame,
    operators: pd.DataFrame,
    *,
    k: int = DEFAULT_K,
) -> pd.DataFrame:
    """Per responder and method: rank, checks, clients, raw and attributable failure rates
    with CIs, p50/p95/p99 latency with CIs, outage minutes, CRL size; small cells suppressed.

    Rank (within a method, 1 = best) orders by attributable failure rate, then p50.
    The CRL size of an OCSP responder is the median size of its operator's CRLs.
    """
    rates = failure_rates[failure_rates["level"] == "responder"].rename(
        columns={"name": "responder"}
    )
    lat = latency_quantiles[latency_quantiles["level"] == "responder"].rename(
        columns={"name": "responder"}
    )
    lat_cols = [
        "responder",
        "method",
        *[f"p{q}_{s}" for q in (50, 95, 99) for s in ("ms", "low", "high")],
    ]
    table = rates[
        [
            "responder",
            "method",
            "wire_checks",
            "cache_checks",
            "clients",
            "failures",
            "failure_rate",
            "failure_ci_low",
            "failure_ci_high",
            "server_failures",
            "attributable_rate",
            "attributable_ci_low",
            "attributable_ci_high",
        ]
    ].merge(lat[lat_cols], on=["responder", "method"], how="left")
    table = table.merge(operators[["responder", "operator", "issuer"]], on="responder", how="left")
    table = table.merge(outage_minutes, on="responder", how="left")
    table["outage_minutes"] = table["outage_minutes"].fillna(0.0)
    table["outages"] = table["outages"].fillna(0).astype("int64")

    own = crl[["responder", "crl_bytes"]]
    by_operator = crl.groupby("operator")["crl_bytes"].median().rename("operator_crl_bytes")
    table = table.merge(own, on="responder", how="left").merge(
        by_operator.reset_index(), on="operator", how="left"
    )
    table["crl_bytes"] = table["crl_bytes"].fillna(table.pop("operator_crl_bytes"))

    table = suppress(table, k=k)
    table = table.sort_values(
        ["method", "suppressed", "attributable_rate", "p50_ms"], na_position="last"
    )
    table["rank"] = table.groupby("method").cumcount() + 1
    table.loc[table["suppressed"], "rank"] = np.nan
    first = ["method", "rank", "responder", "operator", "issuer"]

    return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)
