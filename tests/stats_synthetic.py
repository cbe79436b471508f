"""A small synthetic world shaped like `current_checks`, with its truth, for statistics tests.

Independent of the simulator: responders with lognormal latency, background
failures and outages; clients with flakiness, captive portals and OCSP-blocking
proxies. Every failed check carries its true cause.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

START = pd.Timestamp("2012-06-04")


@dataclass
class World:
    checks: pd.DataFrame  # current_checks columns plus cause and true latency
    responders: pd.DataFrame  # responder, method, operator, mu, sigma, base_fail
    outages: pd.DataFrame  # responder, start, end, fail_fraction


def make_world(
    seed: int,
    *,
    clients: int = 300,
    days: int = 3,
    responders: int = 8,
    checks_per_client_day: float = 40.0,
    outages: int = 3,
) -> World:
    """Simulate a world; outages are placed at random responders and times (>= 20 min)."""
    rng = np.random.default_rng(seed)
    names = [f"ocsp{i}.ca{i % 5}.example" for i in range(responders)] + ["crl.ca0.example"]
    methods = ["OCSP"] * responders + ["CRL"]
    resp = pd.DataFrame(
        {
            "responder": names,
            "method": methods,
            "operator": [f"CA{i % 5}" for i in range(responders)] + ["CA0"],
            "mu": rng.uniform(np.log(80), np.log(600), len(names)),
            "sigma": rng.uniform(0.4, 0.9, len(names)),
            "base_fail": rng.uniform(1e-4, 3e-3, len(names)),
            "popularity": rng.dirichlet(np.full(len(names), 2.0)),
        }
    )
    n = int(clients * days * checks_per_client_day)
    client = rng.integers(0, clients, n)
    seconds = rng.uniform(0, days * 86400, n)
    ts = START + pd.to_timedelta(np.sort(seconds), unit="s")
    which = rng.choice(len(names), n, p=resp["popularity"].to_numpy())
    flaky = np.minimum(0.2, 0.003 * np.exp(rng.normal(0, 1.0, clients)))
    latency = np.exp(rng.normal(resp["mu"].to_numpy()[which], resp["sigma"].to_numpy()[which]))
    cause = np.array(["none"] * n, dtype=object)
    t_min = (ts - START).total_seconds().to_numpy() / 60

    # client side: proxies block OCSP for some clients during a daily window; captive portals
    proxied = rng.random(clients) < 0.05
    is_ocsp = np.array(methods)[which] == "OCSP"
    office = (t_min % 1440 > 540) & (t_min % 1440 < 1020)
    proxy = proxied[client] & is_ocsp & office
    portal_client = rng.integers(0, clients, clients // 10)
    portal_start = rng.uniform(0, days * 1440 - 60, len(portal_client))
    portal = np.zeros(n, bool)
    for c, s in zip(portal_client, portal_start, strict=True):
        portal |= (client == c) & (t_min >= s) & (t_min < s + 30)
    flaky_hit = rng.random(n) < flaky[client]
    client_fail = proxy | portal | flaky_hit
    cause[client_fail] = "client"

    # server side: outages and background failures
    outage_rows = []
    out_fail = np.zeros(n, bool)
    for _ in range(outages):
        r = int(rng.integers(0, responders))
        s = rng.uniform(60, days * 1440 - 240)
        length = rng.uniform(20, 120)
        frac = rng.choice([1.0, 0.5])
        outage_rows.append(
            {
                "responder": names[r],
                "start": START + pd.Timedelta(minutes=s),
                "end": START + pd.Timedelta(minutes=s + length),
                "fail_fraction": frac,
            }
        )
        out_fail |= (which == r) & (t_min >= s) & (t_min < s + length) & (rng.random(n) < frac)
    background = rng.random(n) < resp["base_fail"].to_numpy()[which]
    server_fail = ~client_fail & (out_fail | background)
    cause[server_fail] = "server"
    failed = client_fail | server_fail

    source = np.where(rng.random(n) < 0.3, "cache", "wire")
    source[failed] = "wire"
    cause[source == "cache"] = "none"
    outcome = np.where(failed, "error", np.where(rng.random(n) < 0.002, "revoked", "good"))
    # Error codes as the causes produce them: proxies refuse or answer 403/407, portals
    # serve HTML (malformed), flakiness is network, servers fail both ways.
    error = np.full(n, None, dtype=object)
    http_status = np.full(n, np.nan)
    network = np.array(
        [
            "ERROR_INTERNET_CANNOT_CONNECT",
            "ERROR_INTERNET_TIMEOUT",
            "ERROR_INTERNET_NAME_NOT_RESOLVED",
            "ERROR_INTERNET_CONNECTION_RESET",
        ]
    )
    error[flaky_hit] = rng.choice(network, flaky_hit.sum())
    error[portal] = "CRYPT_E_ASN1_CORRUPT"
    proxy_page = proxy & (rng.random(n) < 0.3)
    error[proxy & ~proxy_page] = "ERROR_INTERNET_CANNOT_CONNECT"
    error[proxy_page] = "HTTP_STATUS_ERROR"
    http_status[proxy_page] = rng.choice([403, 407], proxy_page.sum())
    answer = server_fail & (rng.random(n) < 0.6)
    error[server_fail & ~answer] = rng.choice(network, (server_fail & ~answer).sum())
    error[answer] = rng.choice(["HTTP_STATUS_ERROR", "OCSP_TRY_LATER"], answer.sum())
    http_status[answer & (error == "HTTP_STATUS_ERROR")] = 503
    error[~failed] = None
    http_status[~failed] = np.nan
    bytes_ = np.where(np.array(methods)[which] == "CRL", 50_000 + (t_min // 1440) * 100, 1500)
    checks = pd.DataFrame(
        {
            "client": [f"{c:016x}" for c in client],
            "ts": ts,
            "process": "iexplore.exe",
            "issuer_spki_sha256": [f"{w:064x}" for w in which],
            "method": np.array(methods)[which],
            "responder": np.array(names)[which],
            "outcome": outcome,
            "error": error,
            "http_status": http_status,
            "bytes": np.where(failed, np.nan, bytes_),
            "latency_ms": np.round(latency, 3),
            "source": source,
            "region": "EU",
            "cause": cause,
        }
    )
    checks.loc[checks["source"] == "cache", "latency_ms"] = 0.0
    checks["day"] = checks["ts"].dt.normalize()

    return World(checks=checks, responders=resp, outages=pd.DataFrame(outage_rows))


def load(world: World, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `current_checks` (and an `issuers` table) for the world."""
    con = con or duckdb.connect()
    frame = world.checks.drop(columns=["cause"])
    con.register("_synthetic", frame)
    con.execute(
        "CREATE OR REPLACE TABLE current_checks AS SELECT * REPLACE "
        "(CAST(bytes AS UINTEGER) AS bytes, CAST(http_status AS USMALLINT) AS http_status) "
        "FROM _synthetic"
    )
    con.unregister("_synthetic")
    issuers = pd.DataFrame(
        {
            "issuer_spki_sha256": [f"{w:064x}" for w in range(len(world.responders))],
            "organization": world.responders["operator"],
            "common_name": "Issuing CA",
            "subject": "CN=Issuing CA",
        }
    )
    con.register("_issuers", issuers)
    con.execute("CREATE OR REPLACE TABLE issuers AS SELECT * FROM _issuers")
    con.unregister("_issuers")

    return con
