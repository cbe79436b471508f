"""Build a CRLSet from CA CRLs by Chrome's published construction rules.

Rules applied: only revocations without a reason code or with reason unspecified,
keyCompromise, cACompromise or aACompromise are carried; a revocation appears only
once a crawl delay has passed since it was made; the whole file must fit a size cap
(250 KB by default), and when it does not, whole CRLs are dropped, largest record
first (ties by source name), until it fits. Each CRL is keyed to its issuing CA's
SPKI hash, which needs the issuer certificate (matched by name and key identifier,
confirmed by the CRL's signature).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certsentry_analysis.revocation.crlset import (
    DEFAULT_CAP_BYTES,
    SPKI_HASH_LEN,
    CRLSet,
    encode,
    serial_bytes,
)

log = logging.getLogger(__name__)

# Reasons Chrome's CRLSet pipeline keeps; None stands for "no reason code".
CRLSET_REASONS: frozenset[str | None] = frozenset(
    {None, "unspecified", "keyCompromise", "cACompromise", "aACompromise"}
)
DEFAULT_CRAWL_DELAY = timedelta(hours=4)
_RECORD_OVERHEAD = SPKI_HASH_LEN + 4

class CRLInputError(ValueError):
    """A CRL or issuer certificate could not be read or matched."""


@dataclass(frozen=True)
class Revocation:
    """One CRL entry: serial, revocation time (UTC) and RFC 5280 reason name or None."""

    serial: int
    revoked_at: datetime
    reason: str | None


@dataclass
class ParentCRL:
    """A parsed CRL keyed to its issuer's SPKI hash."""

    source: str
    issuer_name: str
    parent_spki_sha256: bytes
    this_update: datetime
    next_update: datetime | None
    revocations: list[Revocation] = field(default_factory=list)


@dataclass
class BuildResult:
    """A built CRLSet and what the rules left out."""

    crlset: CRLSet
    size_bytes: int
    kept_sources: list[str]
    dropped_sources: list[str]
    filtered_by_reason: int
    held_by_crawl_delay: int
    carried: dict[bytes, set[int]]


def spki_sha256(cert: x509.Certificate) -> bytes:
    """SHA-256 of a certificate's DER SubjectPublicKeyInfo (Chrome's parent key)."""
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    return hashlib.sha256(der).digest()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CRLInputError(f"{path}: cannot read ({exc.strerror})") from exc


def load_certificates(paths: Iterable[Path]) -> list[x509.Certificate]:
    """Certificates from PEM (one or many per file) or DER files."""
    certs: list[x509.Certificate] = []
    for path in paths:
        data = _read_bytes(path)
        try:
            if b"-----BEGIN CERTIFICATE" in data:
                certs.extend(x509.load_pem_x509_certificates(data))
            else:
                certs.append(x509.load_der_x509_certificate(data))
        except ValueError as exc:
            raise CRLInputError(f"{path}: not an X.509 certificate ({exc})") from exc

    return certs


def certificates_in(directory: Path) -> list[x509.Certificate]:
    """Every certificate file (.pem, .crt, .cer, .der) directly under `directory`."""
    if not directory.is_dir():
        raise CRLInputError(f"{directory}: not a directory of issuer certificates")
    files = sorted(
        p for p in directory.iterdir() if p.suffix.lower() in {".pem", ".crt", ".cer", ".der"}
    )

    return load_certificates(files)


def load_crl(path: Path) -> x509.CertificateRevocationList:
    """Parse a DER or PEM CRL, raising CRLInputError naming the file."""
    data = _read_bytes(path)
    try:
        if b"-----BEGIN X509 CRL" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CRLInputError(f"{path}: not a CRL ({exc})") from exc


def _aki(crl: x509.CertificateRevocationList) -> bytes | None:
    try:
        ext = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except (x509.ExtensionNotFound, ValueError):
        return None

    return ext.value.key_identifier


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


def find_issuer(
    crl: x509.CertificateRevocationList, certs: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    """The certificate that issued `crl`: same subject name, matching key id, valid signature.

    A candidate whose key identifier differs is skipped; among the rest the first
    whose key verifies the CRL's signature wins, else the first name match.
    """
    aki = _aki(crl)
    candidates = [c for c in certs if c.subject == crl.issuer]
    if aki is not None:
        candidates = [c for c in candidates if _ski(c) in (None, aki)]
    for cert in candidates:
        try:
            if crl.is_signature_valid(cert.public_key()):  # type: ignore[arg-type]
                return cert
        except (TypeError, ValueError):
            continue

    return candidates[0] if candidates else None


def _entry_reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None

    # cryptography's ReasonFlags values are the RFC 5280 names.
    return str(flag.value)


def parent_crl(path: Path, certs: Sequence[x509.Certificate]) -> ParentCRL:
    """Read one CRL and key it to its issuer's SPKI hash."""
    crl = load_crl(path)
    issuer = find_issuer(crl, certs)
    if issuer is None:
        raise CRLInputError(
            f"{path}: no issuer certificate for {crl.issuer.rfc4514_string()!r}; "
            "pass the CA certificate with --issuers"
        )

    revocations = []
    try:
        for entry in crl:
            revocations.append(
                Revocation(
                    serial=entry.serial_number,
                    revoked_at=entry.revocation_date_utc,
                    reason=_entry_reason(entry),
                )
            )
    except ValueError as exc:
        raise CRLInputError(f"{path}: malformed revoked-certificate entry ({exc})") from exc

    return ParentCRL(
        source=path.name,
        issuer_name=crl.issuer.rfc4514_string(),
        parent_spki_sha256=spki_sha256(issuer),
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
        revocations=revocations,
    )


def select(
    crl: ParentCRL, as_of: datetime, crawl_delay: timedelta
) -> tuple[list[Revocation], int, int]:
    """The revocations a CRLSet built at `as_of` carries from one CRL.

    Returns (kept, filtered out by reason, held back by the crawl delay).
    """
    kept, by_reason, by_delay = [], 0, 0
    for rev in crl.revocations:
        if rev.reason not in CRLSET_REASONS:
            by_reason += 1
        elif rev.revoked_at + crawl_delay > as_of:
            by_delay += 1
        else:
            kept.append(rev)

    return kept, by_reason, by_delay


def build_crlset(
    crls: Sequence[ParentCRL],
    *,
    cap_bytes: int = DEFAULT_CAP_BYTES,
    as_of: datetime | None = None,
    crawl_delay: timedelta = DEFAULT_CRAWL_DELAY,
    sequence: int = 1,
    not_after: int | None = None,
) -> BuildResult:
    """Build a CRLSet under a size cap, dropping whole CRLs largest first when it overflows."""
    started = time.perf_counter()
    as_of = as_of or datetime.now(UTC)
    by_reason = by_delay = 0
    selected: list[tuple[ParentCRL, list[Revocation]]] = []
    for crl in crls:
        kept, n_reason, n_delay = select(crl, as_of, crawl_delay)
        by_reason += n_reason
        by_delay += n_delay
        selected.append((crl, kept))

    def record_bytes(item: tuple[ParentCRL, list[Revocation]]) -> int:
        return sum(1 + len(serial_bytes(r.serial)) for r in item[1])

    # Largest contribution is dropped first: it frees the most space for the fewest CAs.
    order = sorted(selected, key=lambda it: (-record_bytes(it), it[0].source))
    dropped: list[str] = []
    while True:
        crlset = _assemble(order, sequence=sequence, not_after=not_after)
        data = encode(crlset)
        if len(data) <= cap_bytes or not order:
            break
        dropped.append(order.pop(0)[0].source)

    if len(data) > cap_bytes:
        raise ValueError(f"even an empty CRLSet ({len(data)} bytes) exceeds the cap {cap_bytes}")
    carried: dict[bytes, set[int]] = {}
    for crl, kept in order:
        carried.setdefault(crl.parent_spki_sha256, set()).update(r.serial for r in kept)
    log.info(
        "built CRLSet: %d bytes, %d parents, %d serials, %d CRLs dropped for the %d-byte cap, "
        "%d filtered by reason, %d held by crawl delay in %.2f s",
        len(data), len(crlset.parents), crlset.num_serials(), len(dropped), cap_bytes,
        by_reason, by_delay, time.perf_counter() - started,
    )

    return BuildResult(
        crlset=crlset,
        size_bytes=len(data),
        kept_sources=sorted(crl.source for crl, _ in order),
        dropped_sources=dropped,
        filtered_by_reason=by_reason,
        held_by_crawl_delay=by_delay,
        carried=carried,
    )


def _assemble(
    items: Sequence[tuple[ParentCRL, list[Revocation]]], *, sequence: int, not_after: int | None
) -> CRLSet:
    serials: dict[bytes, set[int]] = {}
    for crl, kept in items:
        serials.setdefault(crl.parent_spki_sha256, set()).update(r.serial for r in kept)

    # Sorted parents and serials make the output independent of input order.
    parents = {p: [serial_bytes(s) for s in sorted(serials[p])] for p in sorted(serials)}

    return CRLSet(sequence=sequence, not_after=not_after, parents=parents)
