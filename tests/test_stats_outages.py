"""Outage detection on synthetic bins: finds planted outages, stays quiet under the null."""

from __future__ import annotations

import numpy as np
import pandas as pd

from certsentry_analysis.stats.outages import (
    _segments,
    detect_outages,
    in_outage,
    outage_minutes,
)


def _bins(rng: np.random.Generator, outage: tuple[int, int] | None, share: float) -> pd.DataFrame:
    t = pd.date_range("2012-06-04", periods=288 * 3, freq="5min")
    clients = rng.poisson(6, len(t))
    failing = rng.binomial(clients, 0.01)
    if outage is not None:
        start, end = outage
        failing[start:end] = rng.binomial(clients[start:end], share)
    return pd.DataFrame(
        {
            "responder": "ocsp.example",
            "bin_start": t,
            "clients": clients,
            "failing_clients": failing,
            "wire_checks": clients * 2,
            "failures": failing * 2,
        }
    )


def test_a_planted_outage_is_found_with_its_extent() -> None:
    rng = np.random.default_rng(1)
    out = detect_outages(_bins(rng, (300, 312), 0.6), seed=1)
    assert len(out) == 1
    row = out.iloc[0]
    assert abs((row["start"] - pd.Timestamp("2012-06-05 01:00")).total_seconds()) <= 900
    assert 40 <= row["minutes"] <= 80


def test_no_outage_means_few_false_alarms() -> None:
    alarms = sum(
        len(detect_outages(_bins(np.random.default_rng(s), None, 0), seed=s)) for s in range(20)
    )
    # stated familywise false-alarm probability 0.05 per responder and period
    assert alarms <= 3


def test_segments_end_at_the_peak_and_restart() -> None:
    llr = np.array([-1, 5, 5, -2, -9, 0, 4, 4, -20.0])
    assert _segments(llr, 6) == [(1, 2, 10.0), (6, 7, 8.0)]


def test_segments_never_loop_on_a_zero_threshold() -> None:
    assert _segments(np.array([-1.0, -1.0]), 0.0) == []


def test_in_outage_and_minutes() -> None:
    outages = pd.DataFrame(
        {
            "responder": ["r"],
            "start": [pd.Timestamp("2012-06-04 10:00")],
            "end": [pd.Timestamp("2012-06-04 10:30")],
            "minutes": [30.0],
        }
    )
    frame = pd.DataFrame(
        {
            "responder": ["r", "r", "s"],
            "bin_start": pd.to_datetime(
                ["2012-06-04 10:25", "2012-06-04 10:30", "2012-06-04 10:10"]
            ),
        }
    )
    assert in_outage(frame, outages).tolist() == [True, False, False]
    assert outage_minutes(outages).to_dict("records") == [
        {"responder": "r", "outage_minutes": 30.0, "outages": 1}
    ]
