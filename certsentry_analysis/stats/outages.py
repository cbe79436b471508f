"""Responder outage detection: a CUSUM of failing clients per few-minute bin.

Per responder and bin t we see c_t clients that made wire checks and m_t of them
with at least one failure. Counting clients rather than checks keeps one client's
retries from looking like an outage. Under normal operation m_t ~ Binomial(c_t, q0)
with q0 the responder's baseline share of failing clients; during an outage the
share is at least q1. The CUSUM S_t = max(0, S_{t-1} + LLR_t) with the binomial
log-likelihood ratio LLR_t accumulates evidence over quiet, low-traffic bins too.
The threshold h is the (1 - FALSE_ALARM_PROB) quantile of max_t S_t under the null,
simulated on the responder's own traffic (its c_t series): the chance of any false
alarm for a responder over the whole study period is at most FALSE_ALARM_PROB.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
import pandas as pd

from certsentry_analysis.rollups import BIN_MINUTES, bin_start

log = logging.getLogger(__name__)

FALSE_ALARM_PROB = 0.05
NULL_REPLICATES = 200
# Smallest outage share of failing clients the detector is tuned for.
Q1_MIN = 0.25
# An outage needs at least this many distinct failing clients in total.
MIN_FAILING_CLIENTS = 2
# Smallest CUSUM threshold (log-likelihood ratio): evidence of at least 20:1.
MIN_THRESHOLD = float(np.log(20.0))
# Detected segments closer than this many bins are merged into one outage.
MERGE_GAP_BINS = 2


def _llr(m: np.ndarray, c: np.ndarray, q0: float, q1: float) -> np.ndarray:
    return m * np.log(q1 / q0) + (c - m) * np.log((1 - q1) / (1 - q0))


def _max_cusum(llr: np.ndarray) -> np.ndarray:
    """max_t S_t for each column of llr (rows are time)."""
    s = np.zeros(llr.shape[1])
    best = np.zeros(llr.shape[1])
    for row in llr:
        s = np.maximum(0.0, s + row)
        best = np.maximum(best, s)

    return best


def null_threshold(
    clients: np.ndarray,
    q0: float,
    q1: float,
    rng: np.random.Generator,
    replicates: int = NULL_REPLICATES,
    false_alarm_prob: float = FALSE_ALARM_PROB,
) -> float:
    """The CUSUM threshold whose familywise false-alarm chance over this series is the target."""
    c = clients[clients > 0].astype(np.int64)
    if len(c) == 0:
        return float("inf")

    m = rng.binomial(c[:, None], q0, size=(len(c), replicates))
    maxima = _max_cusum(_llr(m, c[:, None], q0, q1))

    # With little traffic the null maximum can be 0; a floor keeps single bins from alarming.
    return max(MIN_THRESHOLD, float(np.quantile(maxima, 1 - false_alarm_prob)))


def _segments(llr: np.ndarray, h: float) -> list[tuple[int, int, float]]:
    """(first, last, peak) index ranges of CUSUM excursions whose peak reaches h.

    An excursion runs from the bin where S leaves 0 to the bin of its maximum (the
    last bin of accumulating evidence); the search restarts right after that bin.
    """
    out = []
    s, start, peak, peak_at = 0.0, 0, 0.0, -1
    t = 0
    while t < len(llr):
        if s == 0.0:
            start, peak, peak_at = t, 0.0, -1
        s = max(0.0, s + llr[t])
        if s > peak:
            peak, peak_at = s, t
        if (s == 0.0 or t == len(llr) - 1) and peak >= h and peak_at >= 0:
            out.append((start, peak_at, peak))
            t, s = peak_at + 1, 0.0
            continue
        t += 1

    return out


def detect_outages(
    rollup_responder_bins: pd.DataFrame,
    rollup_client_bins: pd.DataFrame | None = None,
    *,
    seed: int = 0,
    false_alarm_prob: float = FALSE_ALARM_PROB,
) -> pd.DataFrame:
    """Detected outages: responder, start, end (UTC), minutes, clients affected, evidence.

    Input rows: responder, bin_start (or day/hour/minute), clients, failing_clients,
    wire_checks, failures; `rollup_client_bins` (optional) gives distinct clients affected.
    """
    rng = np.random.default_rng(seed)
    bins = rollup_responder_bins.copy()
    if "bin_start" not in bins.columns:
        bins["bin_start"] = bin_start(bins)
    step = pd.Timedelta(minutes=BIN_MINUTES)
    rows = []
    for responder, g in bins.groupby("responder"):
        g = g.sort_values("bin_start")
        c = g["clients"].to_numpy(dtype=np.int64)
        m = g["failing_clients"].to_numpy(dtype=np.int64)
        q0 = _baseline(m, c)
        q1 = min(0.9, max(Q1_MIN, 4 * q0))
        h = null_threshold(c, q0, q1, rng, false_alarm_prob=false_alarm_prob)
        llr = _llr(m, c, q0, q1)
        for first, last, peak in _merge(_segments(llr, h), g["bin_start"].to_numpy(), step):
            seg = g.iloc[first : last + 1]
            seg = seg[seg["failing_clients"] > 0]
            if seg.empty:
                continue
            rows.append(
                {
                    "responder": responder,
                    "start": seg["bin_start"].iloc[0],
                    "end": seg["bin_start"].iloc[-1] + step,
                    "peak_statistic": peak,
                    "threshold": h,
                    "baseline_share": q0,
                    "bins": len(seg),
                    "wire_checks": int(seg["wire_checks"].sum()),
                    "failures": int(seg["failures"].sum()),
                    "max_failing_clients": int(seg["failing_clients"].max()),
                }
            )
    out = pd.DataFrame(
        rows,
        columns=[
            "responder",
            "start",
            "end",
            "peak_statistic",
            "threshold",
            "baseline_share",
            "bins",
            "wire_checks",
            "failures",
            "max_failing_clients",
        ],
    )
    out["start"] = pd.to_datetime(out["start"])
    out["end"] = pd.to_datetime(out["end"])
    out["minutes"] = (out["end"] - out["start"]).dt.total_seconds() / 60
    out["fail_share"] = out["failures"] / out["wire_checks"].where(out["wire_checks"] > 0)
    out["clients_affected"] = _clients_affected(out, rollup_client_bins)
    out = out[out["clients_affected"] >= MIN_FAILING_CLIENTS].reset_index(drop=True)
    log.info("outages: %d detected over %d responders", len(out), bins["responder"].nunique())

    return out


def _baseline(m: np.ndarray, c: np.ndarray) -> float:
    """Share of failing clients per bin, re-estimated without bins that look like outages."""
    keep = np.ones(len(m), dtype=bool)
    q0 = 0.0
    for _ in range(2):
        total = c[keep].sum()
        q0 = m[keep].sum() / total if total > 0 else 0.0
        q0 = float(np.clip(q0, 1e-4, 0.2))
        keep = ~((m >= 2) & (m > c * max(Q1_MIN, 4 * q0)))

    return q0


def _merge(
    segments: list[tuple[int, int, float]], starts: np.ndarray, step: pd.Timedelta
) -> list[tuple[int, int, float]]:
    merged: list[tuple[int, int, float]] = []
    gap = step * (MERGE_GAP_BINS + 1)
    for first, last, peak in segments:
        if merged and pd.Timedelta(starts[first] - starts[merged[-1][1]]) <= gap:
            prev = merged[-1]
            merged[-1] = (prev[0], last, max(prev[2], peak))
        else:
            merged.append((first, last, peak))

    return merged


def _clients_affected(outages: pd.DataFrame, client_bins: pd.DataFrame | None) -> pd.Series:
    """Distinct clients with a failure at the responder during each outage."""
    if client_bins is None or outages.empty:
        return pd.Series(
            outages.get("max_failing_clients", pd.Series(dtype="int64")),
            index=outages.index,
            dtype="int64",
        )

    failed = client_bins[client_bins["failures"] > 0]
    failed = failed.assign(bin_start=bin_start(failed))[["client", "responder", "bin_start"]]
    joined = outages.reset_index().merge(failed, on="responder")
    inside = joined[
        (joined["bin_start"] >= joined["start"]) & (joined["bin_start"] < joined["end"])
    ]
    counts = inside.groupby("index")["client"].nunique()

    return counts.reindex(outages.index, fill_value=0).astype("int64")


def outage_minutes(outages: pd.DataFrame) -> pd.DataFrame:
    """Total detected outage minutes and outage count per responder."""
    if outages.empty:
        return pd.DataFrame(
            {
                "responder": pd.Series(dtype=str),
                "outage_minutes": pd.Series(dtype=float),
                "outages": pd.Series(dtype="int64"),
            }
        )

    return outages.groupby("responder", as_index=False).agg(
        outage_minutes=("minutes", "sum"), outages=("minutes", "size")
    )


def in_outage(
    frame: pd.DataFrame, outages: pd.DataFrame, pad: timedelta = timedelta(0)
) -> pd.Series:
    """Whether each row's (responder, bin_start) lies inside a detected outage (padded)."""
    if outages.empty or frame.empty:
        return pd.Series(False, index=frame.index)

    joined = (
        frame[["responder", "bin_start"]]
        .reset_index()
        .merge(outages[["responder", "start", "end"]], on="responder")
    )
    hit = joined[
        (joined["bin_start"] >= joined["start"] - pad)
        & (joined["bin_start"] < joined["end"] + pad)
    ]

    return pd.Series(frame.index.isin(hit["index"].unique()), index=frame.index)
