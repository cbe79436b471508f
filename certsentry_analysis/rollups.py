"""Engine-neutral rollup SQL: the one heavy reduction from checks to compact tables.

Every query reads a relation named `checks` with the columns of the warehouse view
`current_checks`; `render` substitutes the real relation (and transpiles with sqlglot
for another engine). The definitions use only functions DuckDB and Spark SQL share,
and every output column is an exact integer, date or string, so both engines produce
identical tables: latency bins come from integer tenths of a millisecond and a
boundary set that no integer input lies within 1e-11 of (see `check_bin_margin`).
Spark must run with `spark.sql.session.timeZone=UTC` so day/hour/minute match.

Statistics below the rollups (`certsentry_analysis.stats`) run in pandas on these tables.
"""

# The SQL f-strings interpolate only module constants (bin width, gamma), never data.
# ruff: noqa: S608

from __future__ import annotations

import logging
import math
import time

import duckdb
import numpy as np
import pandas as pd
import sqlglot
from sqlglot import exp

from certsentry_analysis.logformat import ERROR_CODES

log = logging.getLogger(__name__)

# Relative accuracy of the latency histogram (DDSketch-style log-spaced bins).
SKETCH_ALPHA = 0.01
# gamma = (1 + alpha) / (1 - alpha), written as the literal both engines parse.
GAMMA_LITERAL = "1.0202020202020202"
GAMMA = float(GAMMA_LITERAL)
LN_GAMMA = math.log(GAMMA)
# Bin of latencies below 0.1 ms (integer tenths = 0), where the logarithm is undefined.
ZERO_BIN = -1
# Minutes per time bin of the outage and attribution rollups.
BIN_MINUTES = 5
RELATION = "checks"

# Derived columns shared by every rollup. Tenths of a millisecond are floored to an
# integer first so the logarithm sees identical input in every engine.
_BASE = f"""
SELECT
    client, responder, issuer_spki_sha256, method, source, outcome, error, region, process,
    bytes, http_status,
    CAST(ts AS DATE) AS day,
    CAST(EXTRACT(HOUR FROM ts) AS INT) AS hour,
    CAST(EXTRACT(MINUTE FROM ts) AS INT)
        - CAST(EXTRACT(MINUTE FROM ts) AS INT) % {BIN_MINUTES} AS minute,
    CASE WHEN outcome = 'error' THEN 1 ELSE 0 END AS failed,
    CASE
        WHEN latency_ms IS NULL THEN NULL
        WHEN FLOOR(latency_ms * 10) < 1 THEN {ZERO_BIN}
        ELSE CAST(CEIL(LN(FLOOR(latency_ms * 10)) / LN({GAMMA_LITERAL})) AS INT)
    END AS lat_bin
FROM {RELATION}
"""

_WIRE_OK = "source = 'wire' AND outcome <> 'error' AND lat_bin IS NOT NULL"


# HTTP statuses a forward proxy answers with when it blocks or wants credentials.
PROXY_STATUSES = (403, 407)
# Failures where the responder (or something answering for it) sent a bad answer:
# HTTP errors other than proxy statuses, protocol errors and stale responses.
ANSWER_CLASSES = ("http", "protocol", "freshness")
ANSWER_ERRORS = tuple(code for code, e in ERROR_CODES.items() if e.failure_class in ANSWER_CLASSES)
_PROXY_STATUS = (
    "error = 'HTTP_STATUS_ERROR' AND http_status IN ("
    + ", ".join(str(s) for s in PROXY_STATUSES)
    + ")"
)
_ANSWERED_ERROR = (
    "error IN (" + ", ".join(f"'{code}'" for code in ANSWER_ERRORS) + ")"
    f" AND NOT ({_PROXY_STATUS})"
)


def _sum(value: str, condition: str) -> str:
    # DuckDB sums integers to HUGEINT (a float in pandas); the cast keeps BIGINT everywhere.
    return f"CAST(SUM(CASE WHEN {condition} THEN {value} ELSE 0 END) AS BIGINT)"


ROLLUPS: dict[str, str] = {
    # Main rollup: counts and distinct clients per fine cell, every source and outcome.
    "rollup_checks": f"""
SELECT responder, issuer_spki_sha256, method, day, hour, region, process, source, outcome,
       error,
       COUNT(*) AS checks,
       COUNT(DISTINCT client) AS clients,
       CAST(SUM(CAST(bytes AS BIGINT)) AS BIGINT) AS bytes_sum
FROM ({_BASE}) AS b
GROUP BY responder, issuer_spki_sha256, method, day, hour, region, process, source, outcome,
         error
""",
    # Mergeable latency histogram of wire checks (answers and failures kept apart).
    "rollup_latency": f"""
SELECT responder, issuer_spki_sha256, method, day, failed, lat_bin, COUNT(*) AS checks
FROM ({_BASE}) AS b
WHERE source = 'wire' AND lat_bin IS NOT NULL
GROUP BY responder, issuer_spki_sha256, method, day, failed, lat_bin
""",
    # Clusters for the bootstrap: one row per client, responder, method and day.
    "rollup_client_responder": f"""
SELECT client, responder, method, day,
       {_sum("1", "source = 'wire'")} AS wire_checks,
       {_sum("failed", "source = 'wire'")} AS failures,
       {_sum("1", "source = 'cache'")} AS cache_checks,
       {_sum("1", "source = 'staple'")} AS staple_checks,
       {_sum("1", "source = 'wire' AND outcome = 'revoked'")} AS revoked,
       {_sum("1", "source = 'wire' AND outcome = 'unknown'")} AS unknown,
       {_sum("1", _WIRE_OK)} AS answered,
       {_sum("CAST(lat_bin AS BIGINT)", _WIRE_OK)} AS lat_bin_sum,
       {_sum("CAST(lat_bin AS BIGINT) * lat_bin", _WIRE_OK)} AS lat_bin_sumsq
FROM ({_BASE}) AS b
GROUP BY client, responder, method, day
""",
    # Outage detection: per responder and time bin, how many clients checked and failed.
    "rollup_responder_bins": f"""
SELECT responder, day, hour, minute,
       COUNT(*) AS wire_checks,
       CAST(SUM(failed) AS BIGINT) AS failures,
       COUNT(DISTINCT client) AS clients,
       COUNT(DISTINCT CASE WHEN failed = 1 THEN client END) AS failing_clients
FROM ({_BASE}) AS b
WHERE source = 'wire'
GROUP BY responder, day, hour, minute
""",
    # Attribution: per client, responder and time bin, wire checks and failures.
    "rollup_client_bins": f"""
SELECT client, responder, method, day, hour, minute,
       COUNT(*) AS wire_checks,
       CAST(SUM(failed) AS BIGINT) AS failures,
       {_sum("failed", _ANSWERED_ERROR)} AS failures_answer,
       {_sum("failed", _PROXY_STATUS)} AS failures_proxy
FROM ({_BASE}) AS b
WHERE source = 'wire'
GROUP BY client, responder, method, day, hour, minute
""",
    # CRL size against fetch latency (answered wire CRL fetches with a body).
    "rollup_crl": f"""
SELECT responder, day, CAST(bytes AS BIGINT) AS bytes, lat_bin, COUNT(*) AS fetches,
       COUNT(DISTINCT client) AS clients
FROM ({_BASE}) AS b
WHERE method = 'CRL' AND {_WIRE_OK} AND bytes IS NOT NULL
GROUP BY responder, day, CAST(bytes AS BIGINT), lat_bin
""",
}

# Sort keys that make every rollup's row order deterministic across engines.
ORDER_BY: dict[str, tuple[str, ...]] = {
    "rollup_checks": (
        "responder",
        "issuer_spki_sha256",
        "method",
        "day",
        "hour",
        "region",
        "process",
        "source",
        "outcome",
        "error",
    ),
    "rollup_latency": ("responder", "issuer_spki_sha256", "method", "day", "failed", "lat_bin"),
    "rollup_client_responder": ("client", "responder", "method", "day"),
    "rollup_responder_bins": ("responder", "day", "hour", "minute"),
    "rollup_client_bins": ("client", "responder", "method", "day", "hour", "minute"),
    "rollup_crl": ("responder", "day", "bytes", "lat_bin"),
}


def render(name: str, relation: str = "current_checks", dialect: str = "duckdb") -> str:
    """The SQL of rollup `name` reading `relation`, in `dialect` (any sqlglot dialect)."""
    if name not in ROLLUPS:
        raise KeyError(f"unknown rollup {name!r}; known: {sorted(ROLLUPS)}")

    tree = sqlglot.parse_one(ROLLUPS[name], read="duckdb")
    replacement = sqlglot.parse_one(relation, into=exp.Table, read=dialect)
    for table in tree.find_all(exp.Table):
        if table.name == RELATION and not table.db:
            table.replace(replacement.copy())

    return tree.sql(dialect=dialect, pretty=True)


def run_rollups_duckdb(
    con: duckdb.DuckDBPyConnection,
    relation: str = "current_checks",
    names: tuple[str, ...] | None = None,
) -> dict[str, pd.DataFrame]:
    """Run the named rollups (default: all) in DuckDB; returns one sorted DataFrame each."""
    out: dict[str, pd.DataFrame] = {}
    for name in names or tuple(ROLLUPS):
        started = time.perf_counter()
        frame = con.execute(render(name, relation)).df()
        out[name] = frame.sort_values(list(ORDER_BY[name]), kind="stable").reset_index(drop=True)
        log.info("rollup %s: %d rows in %.2f s", name, len(frame), time.perf_counter() - started)

    return out


def bin_of(latency_ms: np.ndarray | float) -> np.ndarray:
    """The histogram bin of latencies in ms, computed as the SQL does (for tests)."""
    tenths = np.floor(np.asarray(latency_ms, dtype=float) * 10)
    safe = np.where(tenths < 1, 1.0, tenths)
    bins = np.ceil(np.log(safe) / LN_GAMMA).astype(np.int64)

    return np.where(tenths < 1, ZERO_BIN, bins)


def bin_value(lat_bin: np.ndarray | int) -> np.ndarray:
    """A representative latency in ms for each bin: relative error at most SKETCH_ALPHA.

    Bin i >= 1 holds integer tenths t with gamma**(i-1) < t <= gamma**i; the value
    2 gamma**i / (gamma + 1) lies within alpha of every point of that interval. Bin 0
    holds t = 1 and the zero bin latencies under 0.1 ms (represented as 0.05 ms).
    """
    b = np.asarray(lat_bin, dtype=float)
    value = 2.0 * np.power(GAMMA, b) / (GAMMA + 1.0) / 10.0 + 0.05

    return np.where(b == ZERO_BIN, 0.05, np.where(b == 0, 0.15, value))


def check_bin_margin(max_tenths: float = 1e9, margin: float = 1e-11) -> float:
    """Smallest distance of ln(t)/ln(gamma) from an integer over integers t <= max_tenths.

    Engines may differ in the last bit of LN; a margin far above that keeps the CEIL
    identical. Raises ValueError when some t lies within `margin` of a bin boundary.
    """
    worst = math.inf
    k = 1
    while GAMMA**k <= max_tenths:
        for t in (math.floor(GAMMA**k), math.ceil(GAMMA**k)):
            if t > 1:
                distance = abs(math.log(t) / LN_GAMMA - k)
                if distance < margin:
                    raise ValueError(f"integer tenths {t} lies {distance:.3g} from bin {k}")
                worst = min(worst, distance)
        k += 1

    return worst


def bin_start(frame: pd.DataFrame) -> pd.Series:
    """The UTC start of each row's time bin from its day, hour and minute columns."""
    day = pd.to_datetime(frame["day"])

    return (
        day
        + pd.to_timedelta(frame["hour"].astype("int64"), unit="h")
        + pd.to_timedelta(frame["minute"].astype("int64"), unit="m")
    )
