"""Exposure windows: from a revocation to the moment a client is protected, per mechanism.

- Online checking: a client holding a cached "good" answer stays exposed until that
  answer expires; the next check after expiry sees the revocation. The window is at
  most the answer's validity (nextUpdate - thisUpdate, observed per issuer in the
  warehouse) and half of it on average for a revocation at a uniform moment of the
  cache lifetime. Hard-fail keeps that window under a blocking attacker; soft-fail
  accepts the blocked check, so the window never closes.
- CRLSet: the crawl delay plus the push delay for carried revocations; never otherwise.
- CRLite: the publication interval plus the push delay for every revocation.
- OCSP stapling: as online checking (the staple is a cached answer) without an attacker;
  never under a blocking attacker, who omits the staple (no must-staple assumed).
The CA is assumed to publish a revocation at once (OCSP answers and the next CRL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd

INF = float("inf")


@dataclass(frozen=True)
class Delays:
    """Delay assumptions: a fixed crawl delay, and intervals (push, CRLite publication)
    whose worst case is the full interval and whose expected value is half of it."""

    crawl: timedelta = timedelta(hours=4)
    push: timedelta = timedelta(hours=12)
    crlite_publish: timedelta = timedelta(hours=6)

    def describe(self) -> str:
        """One line naming the assumed delays."""
        return (
            f"assumed: CRLSet crawl delay {self.crawl.total_seconds() / 3600:g} h, "
            f"client push interval {self.push.total_seconds() / 3600:g} h, CRLite "
            f"publication interval {self.crlite_publish.total_seconds() / 3600:g} h"
        )


def validity_by_issuer(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Median validity (hours) of wire answers per issuer, from the warehouse."""
    return con.execute(
        """
        SELECT issuer_spki_sha256,
               median(epoch(next_update - this_update)) / 3600.0 AS validity_hours,
               count(*) AS answers
        FROM current_checks
        WHERE source = 'wire' AND this_update IS NOT NULL AND next_update IS NOT NULL
          AND next_update > this_update
        GROUP BY issuer_spki_sha256
        """
    ).df()


def _row(
    mechanism: str, attacker: str, worst: np.ndarray, expected: np.ndarray, assumption: str
) -> dict[str, object]:
    finite = np.isfinite(worst)
    n = len(worst)

    def pct(q: float) -> float:
        # inverted_cdf never interpolates, so infinite windows give inf, not NaN.
        return float(np.quantile(worst, q, method="inverted_cdf")) if n else float("nan")

    return {
        "mechanism": mechanism,
        "attacker": attacker,
        "revocations": n,
        "share_protected": float(finite.mean()) if n else float("nan"),
        "median_worst_hours": pct(0.5),
        "p90_worst_hours": pct(0.9),
        "max_worst_hours": float(worst.max()) if n else float("nan"),
        "mean_expected_hours_protected": (
            float(expected[finite].mean()) if finite.any() else float("nan")
        ),
        "assumption": assumption,
    }


def exposure_table(
    revocations: pd.DataFrame, carried: pd.Series, validity: pd.DataFrame, delays: Delays
) -> pd.DataFrame:
    """Exposure windows (hours) per mechanism and attacker model over the revocations.

    `carried` is a boolean per revocation (carried by the CRLSet); `validity` comes
    from validity_by_issuer. Issuers never seen online get the median validity over all.
    """
    hours = {
        name: d.total_seconds() / 3600
        for name, d in (
            ("crawl", delays.crawl),
            ("push", delays.push),
            ("publish", delays.crlite_publish),
        )
    }
    fallback = float(validity["validity_hours"].median()) if len(validity) else float("nan")
    v_map = dict(zip(validity["issuer_spki_sha256"], validity["validity_hours"], strict=True))
    v = np.array([v_map.get(i, fallback) for i in revocations["issuer_spki_sha256"]], dtype=float)
    never = np.full(len(revocations), INF)
    is_carried = carried.to_numpy(dtype=bool)

    crlset_worst = np.where(is_carried, hours["crawl"] + hours["push"], INF)
    crlset_expected = np.where(is_carried, hours["crawl"] + hours["push"] / 2, INF)
    crlite_worst = np.full(len(revocations), hours["publish"] + hours["push"])
    crlite_expected = crlite_worst / 2
    online_note = (
        "cached answer valid until nextUpdate (median observed validity per issuer; "
        f"{fallback:.1f} h for issuers not seen online)"
    )
    rows = [
        _row("online soft-fail", "none", v, v / 2, online_note),
        _row(
            "online soft-fail",
            "blocking",
            never,
            never,
            "a blocked check is accepted: never protected",
        ),
        _row("online hard-fail", "none", v, v / 2, online_note),
        _row(
            "online hard-fail",
            "blocking",
            v,
            v / 2,
            online_note + "; a blocked check fails the connection",
        ),
        _row(
            "CRLSet",
            "none",
            crlset_worst,
            crlset_expected,
            delays.describe() + "; never for revocations the CRLSet does not carry",
        ),
        _row(
            "CRLSet",
            "blocking",
            crlset_worst,
            crlset_expected,
            "pushed ahead of the connection, so blocking the connection's checks does not "
            "matter; never for revocations not carried",
        ),
        _row(
            "OCSP stapling",
            "none",
            v,
            v / 2,
            "the server staples a cached answer, valid until its nextUpdate (as online)",
        ),
        _row(
            "OCSP stapling",
            "blocking",
            never,
            never,
            "without must-staple an attacker omits the staple and the client falls back to "
            "soft-fail: never protected",
        ),
        _row("CRLite", "none", crlite_worst, crlite_expected, delays.describe()),
        _row(
            "CRLite",
            "blocking",
            crlite_worst,
            crlite_expected,
            "pushed ahead of the connection; every revocation is enrolled",
        ),
    ]

    return pd.DataFrame(rows)
