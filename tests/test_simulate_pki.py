"""The simulated PKI: real certificates and CRLs that verify and agree with the truth."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certsentry_analysis.simulate.pki import reason_flag


@pytest.fixture(scope="module")
def issuers(tiny_world: Path) -> pl.DataFrame:
    return pl.read_parquet(tiny_world / "truth" / "issuers.parquet")


def _cert(tiny_world: Path, rel: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((tiny_world / rel).read_bytes())


def test_thumbprints_match_the_certificates(tiny_world: Path, issuers: pl.DataFrame) -> None:
    for row in issuers.iter_rows(named=True):
        cert = _cert(tiny_world, row["pem_path"])
        der = cert.public_bytes(serialization.Encoding.DER)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert hashlib.sha1(der).hexdigest().upper() == row["issuer_sha1"]
        assert hashlib.sha256(spki).hexdigest() == row["issuer_spki_sha256"]


def test_issuing_cas_are_signed_by_their_root_and_point_to_it(
    tiny_world: Path, issuers: pl.DataFrame
) -> None:
    by_spki = {r["issuer_spki_sha256"]: r for r in issuers.iter_rows(named=True)}
    for row in issuers.filter(pl.col("role") == "issuing").iter_rows(named=True):
        cert = _cert(tiny_world, row["pem_path"])
        parent = by_spki[row["parent_spki_sha256"]]
        cert.verify_directly_issued_by(_cert(tiny_world, parent["pem_path"]))
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        names = points[0].full_name
        assert names is not None and names[0].value == parent["crl_url"]


def test_crls_verify_and_list_exactly_the_revoked_certificates(
    tiny_world: Path, issuers: pl.DataFrame
) -> None:
    certs = pl.read_parquet(tiny_world / "truth" / "certificates.parquet")
    for row in issuers.iter_rows(named=True):
        crl = x509.load_der_x509_crl((tiny_world / row["crl_path"]).read_bytes())
        key = _cert(tiny_world, row["pem_path"]).public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert crl.is_signature_valid(key)
        assert crl.next_update_utc is not None and crl.next_update_utc > crl.last_update_utc

        expected = certs.filter(
            (pl.col("issuer_spki_sha256") == row["issuer_spki_sha256"])
            & pl.col("revoked")
            & (pl.col("revoked_at") <= crl.last_update_utc)
        )
        listed = {f"{entry.serial_number:016x}": entry for entry in crl}
        assert set(listed) == set(expected["serial_hex"])
        assert len(listed) == row["crl_entries"]
        for serial, reason, when in zip(
            expected["serial_hex"], expected["reason"], expected["revoked_at"], strict=True
        ):
            entry = listed[serial]
            assert entry.revocation_date_utc == when.replace(microsecond=0)
            if reason == "unspecified":
                assert len(entry.extensions) == 0
            else:
                got = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
                assert got.name == reason_flag(reason)


def test_crl_sizes_span_the_configured_range(issuers: pl.DataFrame) -> None:
    issuing = issuers.filter(pl.col("role") == "issuing")

    assert issuing["crl_bytes"].max() > 30 * 1024  # type: ignore[operator]
    assert issuing["crl_bytes"].min() < 2 * 1024  # type: ignore[operator]


def test_reason_mix_is_dominated_by_routine_reasons(tiny_world: Path) -> None:
    certs = pl.read_parquet(tiny_world / "truth" / "certificates.parquet").filter("revoked")
    shares = dict(certs["reason"].value_counts(normalize=True).iter_rows())
    routine = (
        shares.get("unspecified", 0)
        + shares.get("superseded", 0)
        + shares.get("cessationOfOperation", 0)
    )

    assert routine > 0.75
    assert 0.02 < shares.get("keyCompromise", 0) < 0.15
