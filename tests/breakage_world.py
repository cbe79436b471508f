"""A small synthetic warehouse shaped like `current_checks`, with known causes.

Used by the breakage tests (and the benchmark when no simulated warehouse exists):
three organisations (one named like Comodo, one with an EV issuing CA), two chain
positions per validation (end entity and intermediate), cache hits, OCSP failures
with CRL fallback, slow tails and client-side failure episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Issuer:
    sha1: str
    org: str
    cn: str
    responder: str
    crl: str
    mu: float  # log-ms median of OCSP latency
    sigma: float
    fail: float  # server-side failure probability per attempt


ISSUERS = (
    Issuer(
        "A" * 40,
        "COMODO CA Limited",
        "COMODO RSA Server CA",
        "ocsp.comodo.example",
        "crl.comodo.example",
        np.log(300.0),
        0.8,
        0.01,
    ),
    Issuer(
        "B" * 40,
        "Aldermoor Trust",
        "Aldermoor EV Server CA 1",
        "ocsp.aldermoor.example",
        "crl.aldermoor.example",
        np.log(150.0),
        0.5,
        0.002,
    ),
    Issuer(
        "C" * 40,
        "Brightwell Certification",
        "Brightwell Server CA 1",
        "ocsp.brightwell.example",
        "crl.brightwell.example",
        np.log(600.0),
        1.0,
        0.02,
    ),
)
ROOTS = (
    Issuer(
        "D" * 40,
        "COMODO CA Limited",
        "COMODO Root",
        "ocsp.root.comodo.example",
        "crl.root.comodo.example",
        np.log(200.0),
        0.6,
        0.005,
    ),
    Issuer(
        "E" * 40,
        "Aldermoor Trust",
        "Aldermoor Root",
        "ocsp.root.aldermoor.example",
        "crl.root.aldermoor.example",
        np.log(120.0),
        0.4,
        0.001,
    ),
    Issuer(
        "F" * 40,
        "Brightwell Certification",
        "Brightwell Root",
        "ocsp.root.brightwell.example",
        "crl.root.brightwell.example",
        np.log(400.0),
        0.9,
        0.01,
    ),
)


def make_checks(
    *,
    clients: int = 60,
    days: int = 4,
    per_day: float = 20.0,
    seed: int = 1,
    cache_share: float = 0.3,
    client_fail: float = 0.01,
    hard_fail_clients: float = 0.2,
) -> pd.DataFrame:
    """Rows shaped like `current_checks` plus a `cause` column (none/server/client)."""
    rng = np.random.default_rng(seed)
    client_ids = np.array([f"{i:016x}" for i in range(clients)])
    modes = np.where(rng.random(clients) < hard_fail_clients, 2, 0)
    regions = rng.choice(["NA", "EU", "AS"], size=clients)
    counts = rng.poisson(per_day, size=(clients, days))
    c_idx = np.repeat(np.repeat(np.arange(clients), days), counts.ravel())
    d_idx = np.repeat(np.tile(np.arange(days), clients), counts.ravel())
    n = len(c_idx)
    chain_id = np.arange(n, dtype=np.int64) + 1000
    issuer = rng.choice(len(ISSUERS), size=n, p=[0.5, 0.3, 0.2])
    start = pd.Timestamp("2012-06-04")
    ts = (
        start
        + pd.to_timedelta(d_idx, unit="D")
        + pd.to_timedelta(rng.uniform(0, 86_400_000, n).astype(np.int64), unit="ms")
    )

    rows = []
    for pos in (0, 1):
        table = ISSUERS if pos == 0 else ROOTS
        mu = np.array([table[i].mu for i in issuer])
        sigma = np.array([table[i].sigma for i in issuer])
        fail = np.array([table[i].fail for i in issuer])
        cached = rng.random(n) < cache_share
        latency = np.exp(mu + sigma * rng.standard_normal(n))
        tail = rng.random(n) < 0.01
        latency = np.where(tail, latency + 3000.0, latency)
        server = rng.random(n) < fail
        client = rng.random(n) < client_fail
        failed = (server | client) & ~cached
        cause = np.where(~failed, "none", np.where(client, "client", "server"))
        latency = np.where(failed & (rng.random(n) < 0.3), 15_000.0, latency)
        base = pd.DataFrame(
            {
                "client": client_ids[c_idx],
                "day": (start + pd.to_timedelta(d_idx, unit="D")).date,
                "ts": ts + pd.to_timedelta(pos * 5, unit="ms"),
                "chain_id": chain_id,
                "chain_pos": pos,
                "issuer_sha1": [table[i].sha1 for i in issuer],
                "issuer_spki_sha256": [table[i].sha1.lower() + "0" * 24 for i in issuer],
                "failure_mode": modes[c_idx],
                "region": regions[c_idx],
            }
        )
        ocsp = base.copy()
        ocsp["method"] = "OCSP"
        ocsp["responder"] = [table[i].responder for i in issuer]
        ocsp["source"] = np.where(cached, "cache", "wire")
        ocsp["latency_ms"] = np.where(cached, 0.0, np.round(latency, 1))
        ocsp["outcome"] = np.where(failed, "error", "good")
        ocsp["error"] = np.where(failed, "ERROR_INTERNET_CANNOT_CONNECT", None)
        ocsp["cause"] = cause
        rows.append(ocsp)

        # CryptoAPI falls back to the CRL after an OCSP failure; the CRL mostly answers.
        fb = failed
        crl = base[fb].copy()
        crl_fail = (rng.random(n) < 0.2) | client
        crl_lat = np.exp(mu + 0.3 + sigma * rng.standard_normal(n))
        crl["method"] = "CRL"
        crl["responder"] = np.array([table[i].crl for i in issuer])[fb]
        crl["source"] = "wire"
        crl["latency_ms"] = np.round(crl_lat, 1)[fb]
        crl["outcome"] = np.where(crl_fail, "error", "good")[fb]
        crl["error"] = np.where(crl_fail, "ERROR_INTERNET_TIMEOUT", None)[fb]
        crl["cause"] = np.where(client, "client", np.where(crl_fail, "server", "none"))[fb]
        rows.append(crl)

    checks = pd.concat(rows, ignore_index=True)
    checks["ts"] = pd.to_datetime(checks["ts"])
    checks["ee_serial"] = None

    return checks.sort_values(["client", "chain_id", "chain_pos"], kind="stable").reset_index(
        drop=True
    )


def issuers_frame() -> pd.DataFrame:
    """The `issuers` dimension of the synthetic world."""
    return pd.DataFrame(
        {
            "issuer_sha1": [i.sha1 for i in (*ISSUERS, *ROOTS)],
            "issuer_spki_sha256": [i.sha1.lower() + "0" * 24 for i in (*ISSUERS, *ROOTS)],
            "subject": [f"CN={i.cn},O={i.org}" for i in (*ISSUERS, *ROOTS)],
            "organization": [i.org for i in (*ISSUERS, *ROOTS)],
            "common_name": [i.cn for i in (*ISSUERS, *ROOTS)],
        }
    )


def warehouse(checks: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with `current_checks`, `issuers` and `clients` from `checks`."""
    con = duckdb.connect()
    frame = checks.drop(columns=["cause"], errors="ignore")
    con.register("_checks", frame)
    con.execute(
        """CREATE TABLE current_checks AS
           SELECT client, CAST(day AS DATE) AS day, CAST(ts AS TIMESTAMP) AS ts,
                  CAST(chain_id AS UBIGINT) AS chain_id, CAST(chain_pos AS USMALLINT) AS chain_pos,
                  issuer_sha1, issuer_spki_sha256, method, responder, source,
                  CAST(latency_ms AS DOUBLE) AS latency_ms,
                  CAST(failure_mode AS UTINYINT) AS failure_mode, region,
                  CAST(ee_serial AS VARCHAR) AS ee_serial, outcome, error
           FROM _checks"""
    )
    con.unregister("_checks")
    con.register("_issuers", issuers_frame())
    con.execute("CREATE TABLE issuers AS SELECT * FROM _issuers")
    con.unregister("_issuers")
    con.execute(
        """CREATE TABLE clients AS SELECT client, MIN(failure_mode) AS failure_mode,
                  MIN(region) AS region FROM current_checks GROUP BY client"""
    )

    return con


def brute_force(checks: pd.DataFrame, T: float, *, fallback: bool) -> pd.Series:
    """Per validation, broken under hard-fail-all without retries, one position at a time."""
    positions: dict[tuple[str, int, int], list[tuple[str, str, bool, float]]] = {}
    columns = ["client", "chain_id", "chain_pos", "source", "method", "outcome", "latency_ms"]
    for client, chain_id, pos, source, method, outcome, latency in checks[columns].itertuples(
        index=False
    ):
        positions.setdefault((client, chain_id, pos), []).append(
            (source, method, outcome != "error", latency)
        )
    broken: dict[tuple[str, int], bool] = {}
    for (client, chain_id, _), rows in positions.items():
        if any(source != "wire" and ok for source, _, ok, _ in rows):
            answered = True
        else:
            ocsp = [(ok, lat) for source, m, ok, lat in rows if source == "wire" and m == "OCSP"]
            crl = [lat for source, m, ok, lat in rows if source == "wire" and m == "CRL" and ok]
            has_crl = any(source == "wire" and m == "CRL" for source, m, _, _ in rows)
            if ocsp:
                good = [lat for ok, lat in ocsp if ok]
                spent = sum(lat for ok, lat in ocsp if not ok)
                if good:
                    answered = min(good) <= T
                else:
                    answered = fallback and bool(crl) and spent + min(crl) <= T
            elif has_crl:
                answered = bool(crl) and min(crl) <= T
            else:
                answered = True
        key = (client, chain_id)
        broken[key] = broken.get(key, False) or not answered

    return pd.Series(broken)
