"""Attribution of failed wire checks to the server side or the client side.

Unit: one (client, responder, time bin) cell with at least one failed wire check.
Client-side evidence: within +-CLIENT_WINDOW_BINS the same client failed against
other responders (outside detected outages) at least as widely as it got answers
from others (captive portal, a proxy blocking OCSP, a skewed clock); or over the
day it failed most checks at two or more responders; or the failure is an HTTP
status a forward proxy sends (403, 407). Server-side evidence: the responder is in
a detected outage, or in that bin at least BURST_MIN_CLIENTS clients without
client-side evidence failed there, being at least BURST_MIN_SHARE of its clients.
One kind of evidence decides; both give "ambiguous" (counted half to the server).
A failure with neither is "isolated": if the responder answered with an error
(HTTP, OCSP protocol status, malformed, bad signature or stale response) it is the
server's; a network failure (DNS, connect, reset, timeout) with no pattern is the
client's (everyday flakiness is far more common than a responder's background
network failures, which this rule therefore misses: see docs/methods.md).
"""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pandas as pd

from certsentry_analysis.rollups import BIN_MINUTES, bin_start
from certsentry_analysis.stats.outages import detect_outages, in_outage

log = logging.getLogger(__name__)

ATTRIBUTION_BIN_MINUTES = BIN_MINUTES
CLIENT_WINDOW_BINS = 6
BURST_MIN_CLIENTS = 3
BURST_MIN_SHARE = 0.3
DAY_FAIL_SHARE = 0.8
SIDES = ("server", "client", "ambiguous")
_KEY = ["client", "responder", "bin"]


def prepare_cells(rollup_client_bins: pd.DataFrame) -> pd.DataFrame:
    """(client, responder, bin_start) cells summed over methods, with an integer bin index."""
    cells = rollup_client_bins.assign(bin_start=bin_start(rollup_client_bins))
    cells = cells.groupby(["client", "responder", "bin_start"], as_index=False)[
        ["wire_checks", "failures", "failures_answer", "failures_proxy"]
    ].sum()
    cells["bin"] = (cells["bin_start"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(
        minutes=BIN_MINUTES
    )

    return cells


def client_evidence(cells: pd.DataFrame, outage: np.ndarray | None = None) -> pd.DataFrame:
    """Failed cells with other_failed / other_ok responder counts and client_evidence."""
    flag = np.zeros(len(cells), bool) if outage is None else np.asarray(outage, bool)
    failed = cells[cells["failures"] > 0]
    targets = failed[_KEY]
    fail_ev = cells[(cells["failures"] > 0) & ~flag]
    ok_ev = cells[cells["wire_checks"] > cells["failures"]]
    out = targets.set_index(_KEY)
    out = out.join(_other_responders(targets, fail_ev, "other_failed"))
    out = out.join(_other_responders(targets, ok_ev, "other_ok")).fillna(0).reset_index()
    out = out.merge(
        failed[
            [*_KEY, "bin_start", "wire_checks", "failures", "failures_answer", "failures_proxy"]
        ],
        on=_KEY,
    )
    out["day"] = out["bin_start"].dt.normalize()
    out = out.merge(_day_pattern(cells), on=["client", "day"], how="left")
    wide = out["day_client_wide"].fillna(False).astype(bool)
    out["client_evidence"] = (
        ((out["other_failed"] >= 1) & (out["other_failed"] >= out["other_ok"]))
        | wide
        | (out["failures_proxy"] > 0)
    )

    return out.drop(columns=["day", "day_client_wide"])


def _other_responders(targets: pd.DataFrame, evidence: pd.DataFrame, name: str) -> pd.Series:
    """Distinct responders other than the target's within the window of each target cell."""
    w = CLIENT_WINDOW_BINS
    ev = evidence[["client", "responder", "bin"]].rename(columns={"responder": "r2"})
    # Shift the (few) failed target cells over the window, not the (many) evidence cells.
    t = targets.rename(columns={"bin": "target_bin"})
    shifted = pd.concat([t.assign(bin=t["target_bin"] + d) for d in range(-w, w + 1)])
    hits = shifted.merge(ev, on=["client", "bin"])
    hits = hits[hits["r2"] != hits["responder"]]
    counts = hits.groupby(["client", "responder", "target_bin"])["r2"].nunique()
    counts.index = counts.index.set_names(_KEY)

    return counts.rename(name)


def _day_pattern(cells: pd.DataFrame) -> pd.DataFrame:
    """Per client and day: failing most checks at two or more responders (a proxy, a portal)."""
    day = cells.assign(day=cells["bin_start"].dt.normalize())
    per = day.groupby(["client", "day", "responder"], as_index=False)[
        ["wire_checks", "failures"]
    ].sum()
    per["bad"] = (per["failures"] >= DAY_FAIL_SHARE * per["wire_checks"]) & (per["failures"] >= 2)
    agg = per.groupby(["client", "day"], as_index=False).agg(
        bad_responders=("bad", "sum"),
        failures=("failures", "sum"),
        wire_checks=("wire_checks", "sum"),
    )
    agg["day_client_wide"] = (agg["bad_responders"] >= 2) & (
        agg["failures"] >= DAY_FAIL_SHARE * agg["wire_checks"]
    )

    return agg[["client", "day", "day_client_wide"]]


def clean_responder_bins(cells: pd.DataFrame, evidence: pd.DataFrame) -> pd.DataFrame:
    """Per responder and bin: clients checking, and those failing without client evidence."""
    flagged = evidence.loc[evidence["client_evidence"], _KEY].assign(excluded=True)
    c = cells.merge(flagged, on=_KEY, how="left")
    c["excluded"] = c["excluded"].fillna(False).astype(bool)
    c["counted_fail"] = (c["failures"] > 0) & ~c["excluded"]
    c["counted_failures"] = c["failures"].where(~c["excluded"], 0)

    return c.groupby(["responder", "bin_start"], as_index=False).agg(
        wire_checks=("wire_checks", "sum"),
        failures=("counted_failures", "sum"),
        clients=("client", "nunique"),
        failing_clients=("counted_fail", "sum"),
    )


def attribute(
    rollup_client_bins: pd.DataFrame, outages: pd.DataFrame | None = None, *, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attributed failed cells and the outages used (detected here unless given)."""
    cells = prepare_cells(rollup_client_bins)
    if outages is None:
        first = client_evidence(cells)
        outages = detect_outages(clean_responder_bins(cells, first), rollup_client_bins, seed=seed)
    outage = in_outage(cells, outages).to_numpy()
    evidence = client_evidence(cells, outage)
    bins = clean_responder_bins(cells, evidence)
    burst = (bins["failing_clients"] >= BURST_MIN_CLIENTS) & (
        bins["failing_clients"] >= BURST_MIN_SHARE * bins["clients"]
    )
    hot = bins.loc[burst, ["responder", "bin_start"]].assign(burst=True)
    failed = evidence.merge(hot, on=["responder", "bin_start"], how="left")
    failed["burst"] = failed["burst"].fillna(False).astype(bool)
    in_out = cells.loc[outage, _KEY].assign(outage=True)
    failed = failed.merge(in_out, on=_KEY, how="left")
    failed["outage"] = failed["outage"].fillna(False).astype(bool)
    failed["server_evidence"] = failed["outage"] | failed["burst"]

    isolated = ~failed["server_evidence"] & ~failed["client_evidence"]
    failed["isolated"] = isolated
    failed["server_prob"] = np.select(
        [failed["server_evidence"] & failed["client_evidence"], failed["server_evidence"]],
        [0.5, 1.0],
        default=0.0,
    )
    share = failed["failures_answer"] / failed["failures"]
    failed.loc[isolated, "server_prob"] = share[isolated].to_numpy()
    failed["side"] = np.where(
        failed["server_prob"] > 0.5,
        "server",
        np.where(failed["server_prob"] < 0.5, "client", "ambiguous"),
    )
    columns = [
        "client",
        "responder",
        "bin_start",
        "side",
        "server_prob",
        "failures",
        "failures_answer",
        "wire_checks",
        "server_evidence",
        "client_evidence",
        "isolated",
        "other_failed",
        "other_ok",
    ]
    log.info(
        "attribution: %d failed cells, %d failures, %d isolated; %d outages",
        len(failed),
        int(failed["failures"].sum()),
        int(failed.loc[isolated, "failures"].sum()),
        len(outages),
    )

    return failed[columns].reset_index(drop=True), outages


def attribute_failures(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Side of every failed (client, responder, bin_start) cell, computed from the warehouse.

    `con` is a DuckDB connection to the warehouse; bins are ATTRIBUTION_BIN_MINUTES
    wide, aligned to the hour (UTC). Columns: client, responder, bin_start, side
    ('server' | 'client' | 'ambiguous'), server_prob, failures, wire_checks, evidence.
    """
    from certsentry_analysis.rollups import run_rollups_duckdb

    tables = run_rollups_duckdb(con, names=("rollup_client_bins",))

    return attribute(tables["rollup_client_bins"])[0]


def attribution_summary(cells: pd.DataFrame, operators: pd.DataFrame) -> pd.DataFrame:
    """Failures per responder by attributed side (and an all-responder row)."""
    pivot = cells.pivot_table(
        index="responder", columns="side", values="failures", aggfunc="sum", fill_value=0
    )
    pivot = pivot.reindex(columns=list(SIDES), fill_value=0)
    pivot = pivot.rename(columns={s: f"{s}_failures" for s in SIDES}).reset_index()
    expected = (cells["failures"] * cells["server_prob"]).groupby(cells["responder"]).sum()
    pivot["expected_server_failures"] = pivot["responder"].map(expected)
    clients = cells.groupby("responder")["client"].nunique().rename("failing_clients")
    pivot = pivot.merge(clients.reset_index(), on="responder", how="left")
    total = pivot.drop(columns="responder").sum().to_frame().T
    total.insert(0, "responder", "(all)")
    total["failing_clients"] = cells["client"].nunique()
    out = pd.concat([pivot, total], ignore_index=True)
    out["failures"] = out[[f"{s}_failures" for s in SIDES]].sum(axis=1)
    for s in SIDES:
        out[f"{s}_share"] = out[f"{s}_failures"] / out["failures"].where(out["failures"] > 0)
    out.columns.name = None

    return out.merge(operators[["responder", "operator"]], on="responder", how="left")
