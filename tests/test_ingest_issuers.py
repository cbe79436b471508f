"""The issuers dimension: CA certificates in PEM bundles or DER, parsed with cryptography."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from certsentry_analysis.ingest.issuers import read_issuers

START = datetime(2012, 1, 1, tzinfo=UTC)


def _cert(name: str, ca: bool, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Trust"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(START)
        .not_valid_after(START + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier("http://ocsp.example.com"),
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier("http://crl.example.com/ca.crl")],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            critical=False,
        )
    )

    return builder.sign(key, hashes.SHA256())


def test_pem_bundles_and_der_certificates_become_issuer_rows(tmp_path: Path) -> None:
    """Thumbprint, key hash, names, URLs and validity come from the certificate itself."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root, sub, leaf = (
        _cert("Root", True, keys[0]),
        _cert("Server CA", True, keys[1]),
        _cert("www.example.com", False, keys[2]),
    )
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (root, leaf))
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "bundle.pem").write_bytes(pem)
    (tmp_path / "certs" / "sub.der").write_bytes(sub.public_bytes(serialization.Encoding.DER))
    (tmp_path / "notes.txt").write_text("not a certificate")
    (tmp_path / "ca.der").write_bytes(b"\x30\x03\x02\x01\x00")

    rows = read_issuers([tmp_path])

    assert {r["common_name"] for r in rows} == {"Root", "Server CA"}
    by_name = {r["common_name"]: r for r in rows}
    spki = sub.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    row = by_name["Server CA"]
    assert row["issuer_sha1"] == sub.fingerprint(hashes.SHA1()).hex().upper()
    assert row["issuer_spki_sha256"] == hashlib.sha256(spki).hexdigest()
    assert row["organization"] == "Example Trust"
    assert row["ocsp_urls"] == ["http://ocsp.example.com"]
    assert row["crl_urls"] == ["http://crl.example.com/ca.crl"]
    assert row["not_before"] == START.replace(tzinfo=None)
    assert row["source_path"] == "certs/sub.der"
