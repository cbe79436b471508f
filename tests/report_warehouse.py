"""A small hand-made warehouse for the report tests: base tables plus a few result tables.

Independent of the simulator and the analysis, so the report's layout, escaping and
reproducibility are tested on inputs whose every value is known.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from certsentry_analysis.analysis import store_table
from certsentry_analysis.ingest.schema import create_schema

# A CA name built from every character that means something in Typst markup.
EVIL_CA = r"Evil #CA [x] *bold* _it_ $m$ \ <lbl> @ref `raw` = == - + / // /* ~ 'q' \"d\""
CLIENTS = [f"{i:016x}" for i in range(12)]
DAY0 = datetime(2012, 3, 1)


def _checks(n_days: int = 3) -> pd.DataFrame:
    rows = []
    responders = [
        ("ocsp.good.example", "OCSP", "A" * 40, "a" * 64),
        ("crl.evil.example", "CRL", "B" * 40, "b" * 64),
    ]
    line = 0
    for day in range(n_days):
        for ci, client in enumerate(CLIENTS):
            for k in range(5):
                responder, method, sha1, spki = responders[(ci + k) % 2]
                line += 1
                failed = (ci * 7 + k + day) % 11 == 0
                rows.append(
                    {
                        "file_id": day * len(CLIENTS) + ci,
                        "line_no": line,
                        "client": client,
                        "day": (DAY0 + timedelta(days=day)).date(),
                        "ts": DAY0 + timedelta(days=day, minutes=ci * 10 + k),
                        "process": "browser.exe",
                        "chain_id": ci * 100 + k,
                        "chain_pos": 0,
                        "issuer_sha1": sha1,
                        "issuer_spki_sha256": spki,
                        "method": method,
                        "url": f"http://{responder}/",
                        "responder": responder,
                        "outcome": "error" if failed else "good",
                        "error": "ERROR_INTERNET_TIMEOUT" if failed else None,
                        "http_status": None if failed else 200,
                        "bytes": None if failed else (1200 if method == "CRL" else 470),
                        "latency_ms": 15000.0 if failed else 80.0 + 13 * k + ci,
                        "source": "wire",
                        "this_update": None,
                        "next_update": None,
                        "revocation_reason": None,
                        "stapled": False,
                        "ee_serial": None,
                        "ee_sha256": None,
                        "failure_mode": 0,
                        "region": "eu" if ci % 2 else "na",
                        "timeout_ms": 15000,
                        "skew_flag": False,
                        "unknown_issuer": False,
                    }
                )

    return pd.DataFrame(rows)


def league_table() -> pd.DataFrame:
    """A league table (columns as the statistics stage writes them) with a hostile CA name."""
    return pd.DataFrame(
        {
            "method": ["OCSP", "CRL", "OCSP"],
            "rank": [1.0, 1.0, None],
            "responder": ["ocsp.good.example", "crl.evil.example", "ocsp.small.example"],
            "operator": ["Good Trust Inc.", EVIL_CA, "Small CA"],
            "wire_checks": [90.0, 90.0, None],
            "clients": [12.0, 12.0, None],
            "failure_rate": [0.0123, 0.0456, None],
            "failure_ci_low": [0.0050, 0.0301, None],
            "failure_ci_high": [0.0290, 0.0712, None],
            "attributable_rate": [0.0101, 0.0400, None],
            "attributable_ci_low": [0.0040, 0.0250, None],
            "attributable_ci_high": [0.0210, 0.0650, None],
            "p50_ms": [95.0, 180.0, None],
            "p50_low": [90.0, 170.0, None],
            "p50_high": [101.0, 191.0, None],
            "suppressed": [False, False, True],
        }
    )


def failure_rates() -> pd.DataFrame:
    """Per-method failure rates (the `level == 'method'` rows of results.failure_rates)."""
    return pd.DataFrame(
        {
            "level": ["method", "method"],
            "name": ["(all)", "(all)"],
            "method": ["CRL", "OCSP"],
            "wire_checks": [90.0, 90.0],
            "clients": [12.0, 12.0],
            "failure_rate": [0.0456, 0.0123],
            "failure_ci_low": [0.0301, 0.0050],
            "failure_ci_high": [0.0712, 0.0290],
            "attributable_rate": [0.0400, 0.0101],
            "attributable_ci_low": [0.0250, 0.0040],
            "attributable_ci_high": [0.0650, 0.0210],
            "suppressed": [False, False],
        }
    )


def viability_frontier() -> pd.DataFrame:
    """Three replayed policies; hard-fail for all CAs is not viable."""
    return pd.DataFrame(
        {
            "policy": ["soft-fail", "hard-fail-all", "hard-fail-issuers"],
            "client_side": ["removed"] * 3,
            "budget_validations": [1e-4] * 3,
            "budget_client_days": [0.01] * 3,
            "viable": [True, False, True],
            "timeout_ms": [100.0, None, 3000.0],
            "validation_breakage": [0.0, 0.031, 0.00004],
            "validation_ci_low": [0.0, 0.020, 0.00001],
            "validation_ci_high": [0.0, 0.045, 0.00009],
            "client_day_breakage": [0.0, 0.2, 0.004],
            "client_day_ci_low": [0.0, 0.1, 0.001],
            "client_day_ci_high": [0.0, 0.3, 0.009],
            "mean_wait_ms": [120.0, 900.0, 300.0],
        }
    )


def exposure_windows() -> pd.DataFrame:
    """Protection against a blocking attacker per mechanism."""
    mechanisms = ["online soft-fail", "online hard-fail", "CRLSet", "CRLite"]
    return pd.DataFrame(
        {
            "mechanism": mechanisms * 2,
            "attacker": ["none"] * 4 + ["blocking"] * 4,
            "revocations": [40.0] * 8,
            "share_protected": [1.0, 1.0, 0.23, 1.0, 0.0, 1.0, 0.23, 1.0],
            "median_worst_hours": [96.0, 96.0, 30.0, 30.0, float("inf"), 96.0, 30.0, 30.0],
            "max_worst_hours": [168.0, 168.0, 30.0, 30.0, float("inf"), 168.0, 30.0, 30.0],
        }
    )


def revocation_mechanisms() -> pd.DataFrame:
    """Costs and privacy per mechanism (columns as the revocation stage writes them)."""
    return pd.DataFrame(
        {
            "mechanism": [
                "online soft-fail",
                "online hard-fail at viable T",
                "CRLSet",
                "CRLite",
                "OCSP stapling",
            ],
            "coverage": [0.98, 0.98, 0.23, 1.0, 0.05],
            "bytes_per_client_day": [5400.0, 5400.0, 2100.0, 9800.0, 0.0],
            "added_latency_ms": [180.0, 240.0, 0.0, 0.0, 0.0],
            "ca_learns": [
                "the responder sees which site",
                "the responder sees which site",
                "nothing: pushed",
                "nothing: pushed",
                "nothing: the server fetches",
            ],
            "blocking_attacker": [
                "none: accepted",
                "yes: fails",
                "only carried ones",
                "yes, enrolled",
                "no, unless must-staple",
            ],
        }
    )


def _curve(policy: str, scale: float) -> pd.DataFrame:
    grid = [100.0, 1000.0, 3000.0, 10000.0]
    values = [scale * f for f in (1.0, 0.3, 0.05, 0.01)]
    return pd.DataFrame(
        {
            "policy": policy,
            "client_side": "removed",
            "unit": "validation",
            "timeout_ms": grid,
            "breakage": values,
            "ci_low": [v * 0.8 for v in values],
            "ci_high": [v * 1.2 for v in values],
            "broken": [int(v * 1000) for v in values],
            "units": 1000,
        }
    )


def breakage_curves() -> pd.DataFrame:
    """Breakage against the timeout for two hard-fail policies."""
    return pd.concat([_curve("hard-fail-all", 0.2), _curve("hard-fail-issuers", 0.01)])


def best_ca_counterfactual() -> pd.DataFrame:
    """Observed and best-CA breakage for hard-fail-all."""
    curve = _curve("hard-fail-all", 0.2)
    return curve.rename(
        columns={
            "breakage": "observed",
            "ci_low": "observed_ci_low",
            "ci_high": "observed_ci_high",
        }
    ).assign(
        counterfactual=curve["breakage"] / 10,
        ci_low=curve["ci_low"] / 10,
        ci_high=curve["ci_high"] / 10,
        best_ca=EVIL_CA,
        criterion="lowest share of unanswered live checks",
    )


def soft_fail_hole() -> pd.DataFrame:
    """Revoked certificates accepted under each policy."""
    return pd.DataFrame(
        {
            "policy": ["soft-fail", "hard-fail-all"],
            "revoked_checks": [40, 40],
            "clients": [11, 11],
            "accepted_share": [0.075, 0.0],
            "ci_low": [0.02, 0.0],
            "ci_high": [0.18, 0.0],
        }
    )


def latency_quantiles() -> pd.DataFrame:
    """Per-responder and per-operator latency quantiles with intervals."""
    rows = []
    for level, name, method, p50 in (
        ("responder", "ocsp.good.example", "OCSP", 95.0),
        ("responder", "crl.evil.example", "CRL", 180.0),
        ("operator", EVIL_CA, "CRL", 180.0),
    ):
        row: dict[str, object] = {
            "level": level,
            "name": name,
            "method": method,
            "checks": 80.0,
            "clients": 12.0,
            "deff": 1.4,
        }
        for q, factor in (("p50", 1.0), ("p95", 3.0), ("p99", 6.0)):
            row.update(
                {
                    f"{q}_ms": p50 * factor,
                    f"{q}_low": p50 * factor * 0.9,
                    f"{q}_high": p50 * factor * 1.1,
                }
            )
        rows.append(row)
    return pd.DataFrame(rows).assign(suppressed=False)


def latency_ecdf() -> pd.DataFrame:
    """Binned latency ECDFs of two responders."""
    rows = []
    for responder, method, base in (
        ("ocsp.good.example", "OCSP", 50.0),
        ("crl.evil.example", "CRL", 90.0),
    ):
        for i, share in enumerate((0.2, 0.6, 0.9, 1.0)):
            rows.append(
                {
                    "responder": responder,
                    "method": method,
                    "latency_ms": base * 2**i,
                    "checks": 20.0,
                    "ecdf": share,
                    "clients": 12.0,
                    "suppressed": False,
                }
            )
    return pd.DataFrame(rows)


def failure_taxonomy() -> pd.DataFrame:
    """Failures by class for one responder and for all."""
    rows = []
    for responder in ("crl.evil.example", "(all)"):
        for cls, sub, error, n in (
            ("network", "timeout", "ERROR_INTERNET_TIMEOUT", 6),
            ("http", "http", "HTTP_STATUS_ERROR", 2),
        ):
            rows.append(
                {
                    "method": "CRL",
                    "responder": responder,
                    "operator": EVIL_CA,
                    "failure_class": cls,
                    "subclass": sub,
                    "error": error,
                    "failures": float(n),
                    "clients": 11.0,
                    "wire_checks": 90.0,
                    "rate": n / 90,
                    "share": n / 8,
                    "suppressed": False,
                }
            )
    return pd.DataFrame(rows)


def outages() -> pd.DataFrame:
    """One detected outage."""
    return pd.DataFrame(
        {
            "responder": ["crl.evil.example"],
            "start": [pd.Timestamp("2012-03-02 10:00")],
            "end": [pd.Timestamp("2012-03-02 11:30")],
            "minutes": [90.0],
            "wire_checks": [20.0],
            "failures": [15.0],
            "clients_affected": [11.0],
            "suppressed": [False],
        }
    )


def attribution_summary() -> pd.DataFrame:
    """Failures by attributed side, per responder and in all."""
    return pd.DataFrame(
        {
            "responder": ["crl.evil.example", "ocsp.good.example", "(all)"],
            "server_failures": [6.0, 1.0, 7.0],
            "client_failures": [1.0, 1.0, 2.0],
            "ambiguous_failures": [1.0, 0.0, 1.0],
            "failures": [8.0, 2.0, 10.0],
            "server_share": [0.75, 0.5, 0.7],
            "client_share": [0.125, 0.5, 0.2],
            "ambiguous_share": [0.125, 0.0, 0.1],
            "failing_clients": [11.0, 10.0, 12.0],
            "suppressed": [False, False, False],
        }
    )


def crlset_coverage() -> pd.DataFrame:
    """CRLSet coverage overall and by reason."""
    return pd.DataFrame(
        {
            "scope": ["overall", "reason", "reason"],
            "key": ["all", "keyCompromise", "superseded"],
            "unit": ["revocations"] * 3,
            "total": [40, 10, 30],
            "carried": [9, 9, 0],
            "share_carried": [0.225, 0.9, 0.0],
        }
    )


def crlset_size_curve() -> pd.DataFrame:
    """Coverage of CRLSets under three caps."""
    return pd.DataFrame(
        {
            "cap_bytes": [8000, 64000, 250000],
            "size_bytes": [7800, 60000, 120000],
            "share_carried": [0.05, 0.15, 0.225],
            "traffic_share_issuer_level": [0.1, 0.3, 0.5],
        }
    )


RESULT_TABLES = {
    "breakage_curves": breakage_curves,
    "best_ca_counterfactual": best_ca_counterfactual,
    "soft_fail_hole": soft_fail_hole,
    "latency_quantiles": latency_quantiles,
    "latency_ecdf": latency_ecdf,
    "failure_taxonomy": failure_taxonomy,
    "outages": outages,
    "attribution_summary": attribution_summary,
    "crlset_coverage": crlset_coverage,
    "crlset_size_curve": crlset_size_curve,
    "league_table": league_table,
    "failure_rates": failure_rates,
    "viability_frontier": viability_frontier,
    "exposure_windows": exposure_windows,
    "revocation_mechanisms": revocation_mechanisms,
}


def build(db: Path, raw: Path | None = None, *, results: bool = True) -> Path:
    """Create the warehouse at `db` (and a raw folder with a manifest when `raw` is given)."""
    checks = _checks()
    with duckdb.connect(str(db)) as con:
        create_schema(con)
        con.register("c", checks)
        con.execute("INSERT INTO checks BY NAME SELECT * FROM c")
        con.execute(
            """
            INSERT INTO files (file_id, path, sha256, size_bytes, client, day, rows_loaded,
                               rows_quarantined, status, reason, is_current, ingested_at)
            SELECT DISTINCT file_id, 'logs/' || file_id || '.log.gz', 'f' || file_id, 100,
                   client, day, 5, 0, 'loaded', NULL, true, TIMESTAMP '2012-03-04 00:00:00'
            FROM c
            """
        )
        con.execute(
            """
            INSERT INTO files (file_id, path, sha256, size_bytes, rows_loaded,
                               rows_quarantined, status, reason, is_current, ingested_at)
            VALUES (900, 'logs/broken.log.gz', 'x', 10, 0, 0, 'rejected',
                    'not gzip: bad magic bytes', false, TIMESTAMP '2012-03-04 00:00:00')
            """
        )
        con.execute(
            "INSERT INTO quarantine VALUES (3, 'logs/3.log.gz', 17, 'junk', 'latency_ms', "
            "'not a number: junk')"
        )
        con.execute(
            "INSERT INTO issuers (issuer_sha1, issuer_spki_sha256, subject, organization) "
            "VALUES (?, ?, 'CN=Good CA', 'Good Trust Inc.'), (?, ?, 'CN=Evil', ?)",
            ["A" * 40, "a" * 64, "B" * 40, "b" * 64, EVIL_CA],
        )
        con.execute(
            "INSERT INTO clients (client, failure_mode, ee_optin, region, files) "
            "SELECT client, 0, false, any_value(region), count(DISTINCT file_id) "
            "FROM c GROUP BY client"
        )
        con.unregister("c")
        if results:
            for name, make in RESULT_TABLES.items():
                store_table(con, name, make())

    if raw is not None:
        (raw / "logs" / "2012-03-01").mkdir(parents=True, exist_ok=True)
        for i in range(3):
            (raw / "logs" / "2012-03-01" / f"{i:04x}.log.gz").write_bytes(b"")
        manifest = {"scenario": "handmade", "seed": 5, "generated_at": "2012-03-04T00:00:00Z"}
        (raw / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    return db
