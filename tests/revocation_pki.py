"""Small PKI builders for the revocation tests: CA certificates and CRLs made with cryptography."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certsentry_analysis.ingest.schema import create_schema

T0 = datetime(2012, 6, 1, tzinfo=UTC)


@dataclass
class CA:
    """A self-signed CA: key, certificate and name."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    org: str

    def pem(self) -> bytes:
        """The certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)


def make_ca(org: str, cn: str | None = None) -> CA:
    """A P-256 CA certificate with a subject key identifier."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn or f"{org} Issuing CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=365))
        .not_valid_after(T0 + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )

    return CA(key, cert, org)


Entry = tuple[int, datetime, "x509.ReasonFlags | None"]


def make_crl(
    ca: CA,
    entries: Sequence[Entry],
    *,
    this_update: datetime = T0,
    next_update: datetime | None = None,
) -> bytes:
    """A DER CRL signed by `ca` with the given (serial, revoked_at, reason) entries."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(this_update)
        .next_update(next_update or this_update + timedelta(days=7))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    for serial, revoked_at, reason in entries:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())

    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def write_pki(directory: Path, cas: Sequence[CA], crls: Sequence[bytes]) -> Path:
    """Write certificates as PEM and CRLs as DER into `directory`; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, ca in enumerate(cas):
        (directory / f"ca{i}.pem").write_bytes(ca.pem())
    for i, crl in enumerate(crls):
        (directory / f"ca{i}.crl").write_bytes(crl)

    return directory


CHECK_FIELDS = (
    "client",
    "day",
    "ts",
    "chain_id",
    "chain_pos",
    "issuer_spki_sha256",
    "source",
    "outcome",
    "latency_ms",
    "bytes",
    "stapled",
    "this_update",
    "next_update",
    "revocation_reason",
    "ee_serial",
)


def make_warehouse(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, object]]) -> None:
    """Create the warehouse schema and load check rows (keys from CHECK_FIELDS) as one file."""
    create_schema(con)
    con.execute(
        "INSERT INTO files (file_id, path, sha256, size_bytes, rows_loaded, rows_quarantined, "
        "status, is_current, ingested_at) VALUES (1, 'x.log', 'ab', 1, ?, 0, 'loaded', true, "
        "TIMESTAMP '2012-06-30 00:00:00')",
        [len(rows)],
    )
    frame = pd.DataFrame(
        [{k: row.get(k) for k in CHECK_FIELDS} for row in rows], columns=list(CHECK_FIELDS)
    )
    con.register("_rows", frame)
    names = ", ".join(CHECK_FIELDS)
    con.execute(
        f"INSERT INTO checks (file_id, line_no, skew_flag, unknown_issuer, {names}) "
        f"SELECT 1, row_number() OVER (), false, false, {names} FROM _rows"
    )
    con.unregister("_rows")
