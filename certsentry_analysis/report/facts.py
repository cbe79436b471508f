"""Facts about the dataset itself, read from the warehouse's base tables.

Scope (clients, days, checks, CAs), ingestion counts and privacy properties come
straight from `current_checks`, `files`, `quarantine`, `issuers` and `clients`;
the analysis results are read elsewhere (`sections_*`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pandas as pd

BASE_TABLES = ("checks", "files", "issuers", "clients")


@dataclass(frozen=True)
class Scope:
    """What the warehouse covers."""

    clients: int
    days: int
    first_day: date | None
    last_day: date | None
    checks: int
    wire_checks: int
    ocsp_checks: int
    crl_checks: int
    cas: int
    issuers: int
    responders: int
    regions: int
    last_ts: datetime | None


@dataclass(frozen=True)
class Ingestion:
    """How the raw files fared at ingest."""

    files_by_status: pd.DataFrame  # status, files, rows_loaded, rows_quarantined
    reasons: pd.DataFrame  # status, reason, files
    quarantine_reasons: pd.DataFrame  # field, reason, rows
    files_total: int
    rows_loaded: int
    rows_quarantined: int


@dataclass(frozen=True)
class Privacy:
    """What the warehouse holds that could identify someone."""

    clients: int
    optin_clients: int
    rows_with_ee: int
    pseudonym_lengths: list[int]


def require_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Raise if the connection is not a CertSentry warehouse (base tables missing)."""
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    missing = [t for t in (*BASE_TABLES, "current_checks") if t not in present]
    if missing:
        raise ValueError(
            f"warehouse lacks table(s) {', '.join(missing)}; run `certsentry ingest` first"
        )


def scope(con: duckdb.DuckDBPyConnection) -> Scope:
    """Clients, days, checks, CAs and issuers covered by the current checks."""
    row = con.execute(
        """
        SELECT count(DISTINCT client), count(DISTINCT day), min(day), max(day), count(*),
               count(*) FILTER (WHERE source = 'wire'),
               count(*) FILTER (WHERE method = 'OCSP'),
               count(*) FILTER (WHERE method = 'CRL'),
               count(DISTINCT issuer_spki_sha256), count(DISTINCT responder),
               count(DISTINCT region), max(ts)
        FROM current_checks
        """
    ).fetchall()[0]
    cas = con.execute(
        """
        SELECT count(DISTINCT coalesce(i.organization, i.subject))
        FROM issuers i
        WHERE i.issuer_spki_sha256 IN (SELECT DISTINCT issuer_spki_sha256 FROM current_checks)
        """
    ).fetchall()[0][0]

    return Scope(
        clients=int(row[0]),
        days=int(row[1]),
        first_day=row[2],
        last_day=row[3],
        checks=int(row[4]),
        wire_checks=int(row[5]),
        ocsp_checks=int(row[6]),
        crl_checks=int(row[7]),
        cas=int(cas),
        issuers=int(row[8]),
        responders=int(row[9]),
        regions=int(row[10]),
        last_ts=row[11],
    )


def ingestion(con: duckdb.DuckDBPyConnection) -> Ingestion:
    """Files per status with the reasons files were not (fully) loaded."""
    by_status = con.execute(
        """
        SELECT status, count(*) AS files, coalesce(sum(rows_loaded), 0) AS rows_loaded,
               coalesce(sum(rows_quarantined), 0) AS rows_quarantined
        FROM files GROUP BY status ORDER BY files DESC, status
        """
    ).df()
    reasons = con.execute(
        """
        SELECT status, coalesce(reason, '') AS reason, count(*) AS files
        FROM files WHERE status <> 'loaded' OR reason IS NOT NULL
        GROUP BY ALL ORDER BY files DESC, status, reason
        """
    ).df()
    quarantine = con.execute(
        """
        SELECT coalesce(field, '') AS field, reason, count(*) AS rows
        FROM quarantine GROUP BY ALL ORDER BY rows DESC, field, reason
        """
    ).df()

    return Ingestion(
        files_by_status=by_status,
        reasons=reasons,
        quarantine_reasons=quarantine,
        files_total=int(by_status["files"].sum()),
        rows_loaded=int(by_status["rows_loaded"].sum()),
        rows_quarantined=int(by_status["rows_quarantined"].sum()),
    )


def privacy(con: duckdb.DuckDBPyConnection) -> Privacy:
    """Opt-in counts and the shape of the pseudonymous client ids."""
    clients, optin = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE ee_optin) FROM clients"
    ).fetchall()[0]
    rows_with_ee = con.execute(
        "SELECT count(*) FROM current_checks WHERE ee_serial IS NOT NULL OR ee_sha256 IS NOT NULL"
    ).fetchall()[0][0]
    lengths = [
        int(r[0])
        for r in con.execute("SELECT DISTINCT length(client) FROM clients ORDER BY 1").fetchall()
    ]

    return Privacy(
        clients=int(clients),
        optin_clients=int(optin),
        rows_with_ee=int(rows_with_ee),
        pseudonym_lengths=lengths,
    )
