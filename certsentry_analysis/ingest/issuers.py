"""The CA dimension: issuer certificates (PEM or DER) parsed with `cryptography`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

log = logging.getLogger(__name__)

_CERT_SUFFIXES = {".pem", ".crt", ".cer", ".der"}
_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"


def _certificates(path: Path) -> Iterator[x509.Certificate]:
    """Every certificate in a file; CRLs, keys and other objects are skipped."""
    data = path.read_bytes()
    if _PEM_BEGIN in data:
        try:
            yield from x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            log.warning("%s: unreadable PEM certificate(s): %s", path, exc)
        return
    try:
        yield x509.load_der_x509_certificate(data)
    except ValueError:
        log.debug("%s: not a DER certificate (CRL or other object), skipped", path)


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value

    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _uris(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    ocsp: list[str] = []
    crl: list[str] = []
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp = [
            d.access_location.value
            for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
        ]
    except x509.ExtensionNotFound:
        pass
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl = [
            name.value
            for point in points
            for name in point.full_name or []
            if isinstance(name, x509.UniformResourceIdentifier)
        ]
    except x509.ExtensionNotFound:
        pass

    return ocsp, crl


def issuer_record(cert: x509.Certificate, source: str) -> dict[str, Any]:
    """One `issuers` row for a CA certificate."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ocsp, crl = _uris(cert)

    return {
        # The log format names issuers by their SHA-1 thumbprint.
        "issuer_sha1": cert.fingerprint(hashes.SHA1()).hex().upper(),
        "issuer_spki_sha256": hashlib.sha256(spki).hexdigest(),
        "subject": cert.subject.rfc4514_string(),
        "organization": _attribute(cert.subject, NameOID.ORGANIZATION_NAME),
        "common_name": _attribute(cert.subject, NameOID.COMMON_NAME),
        "ocsp_urls": ocsp,
        "crl_urls": crl,
        "not_before": cert.not_valid_before_utc.replace(tzinfo=None),
        "not_after": cert.not_valid_after_utc.replace(tzinfo=None),
        "source_path": source,
    }


def read_issuers(pki_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Issuer rows from every certificate file under `pki_dirs`, one per thumbprint.

    Only CA certificates (basicConstraints cA=true, or no basicConstraints at all in a
    folder the user pointed at) are kept; the first file seen wins for a thumbprint.
    """
    found: dict[str, dict[str, Any]] = {}
    for root in pki_dirs:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"PKI folder {root} does not exist")
        candidates = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in candidates:
            if not path.is_file() or path.suffix.lower() not in _CERT_SUFFIXES:
                continue
            for cert in _certificates(path):
                if not _is_ca(cert):
                    continue
                record = issuer_record(cert, path.relative_to(root).as_posix() or path.name)
                found.setdefault(record["issuer_sha1"], record)

    return [found[key] for key in sorted(found)]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return True
