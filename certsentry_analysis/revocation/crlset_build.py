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
import json
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
    ca: str
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


def _organisation(name: x509.Name) -> str:
    for oid in (x509.NameOID.ORGANIZATION_NAME, x509.NameOID.COMMON_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)

    return name.rfc4514_string()


def scan_pki(directory: Path) -> tuple[list[x509.Certificate], list[Path]]:
    """Certificates and CRL files anywhere under `directory`, told apart by content."""
    if not directory.is_dir():
        raise CRLInputError(f"{directory}: no such PKI directory")

    certs: list[x509.Certificate] = []
    crls: list[Path] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = _read_bytes(path)
        if b"-----BEGIN X509 CRL" in data:
            crls.append(path)
        elif b"-----BEGIN CERTIFICATE" in data:
            certs.extend(load_certificates([path]))
        else:
            try:
                x509.load_der_x509_crl(data)
                crls.append(path)
            except ValueError:
                try:
                    certs.append(x509.load_der_x509_certificate(data))
                except ValueError:
                    log.debug("skipping %s: neither a certificate nor a CRL", path)

    return certs, crls


def _entry_reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None

    # cryptography's ReasonFlags values are the RFC 5280 names.
    return str(flag.value)


def revocations_of(crl: x509.CertificateRevocationList, path: Path) -> list[Revocation]:
    """The entries of a CRL as Revocation records (reason None when the entry has none)."""
    try:
        return [
            Revocation(
                serial=entry.serial_number,
                revoked_at=entry.revocation_date_utc,
                reason=_entry_reason(entry),
            )
            for entry in crl
        ]
    except ValueError as exc:
        raise CRLInputError(f"{path}: malformed revoked-certificate entry ({exc})") from exc


def parent_crl(
    path: Path, certs: Sequence[x509.Certificate], *, source: str | None = None
) -> ParentCRL:
    """Read one CRL and key it to its issuer's SPKI hash (`source` names it, default file name)."""
    crl = load_crl(path)
    issuer = find_issuer(crl, certs)
    if issuer is None:
        raise CRLInputError(
            f"{path}: no issuer certificate for {crl.issuer.rfc4514_string()!r}; "
            "pass the CA certificate with --issuers"
        )

    revocations = revocations_of(crl, path)

    return ParentCRL(
        source=source or path.name,
        issuer_name=crl.issuer.rfc4514_string(),
        ca=_organisation(crl.issuer),
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


@dataclass(frozen=True)
class DropPlan:
    """The order in which the cap rule drops CRLs, and the file size after each drop.

    The order does not depend on the cap, so one plan answers every cap:
    sizes[i] is the file size once the first i sources of `order` are dropped.
    """

    selected: dict[str, tuple[ParentCRL, list[Revocation]]]
    order: list[str]
    sizes: list[int]
    filtered_by_reason: int
    held_by_crawl_delay: int

    def dropped_for(self, cap_bytes: int) -> list[str]:
        """The sources dropped to fit `cap_bytes` (ValueError when nothing fits)."""
        for i, size in enumerate(self.sizes):
            if size <= cap_bytes:
                return self.order[:i]

        raise ValueError(
            f"even an empty CRLSet ({self.sizes[-1]} bytes) exceeds the cap {cap_bytes}"
        )


def plan_drops(
    crls: Sequence[ParentCRL],
    *,
    as_of: datetime,
    crawl_delay: timedelta = DEFAULT_CRAWL_DELAY,
    sequence: int = 1,
    not_after: int | None = None,
) -> DropPlan:
    """Select revocations by reason and crawl delay, then order the CRLs for dropping."""
    by_reason = by_delay = 0
    selected: dict[str, tuple[ParentCRL, list[Revocation]]] = {}
    for crl in crls:
        if crl.source in selected:
            raise ValueError(f"two CRLs share the source name {crl.source!r}")
        kept, n_reason, n_delay = select(crl, as_of, crawl_delay)
        by_reason += n_reason
        by_delay += n_delay
        selected[crl.source] = (crl, kept)

    def contribution(source: str) -> int:
        return sum(1 + len(serial_bytes(r.serial)) for r in selected[source][1])

    # Largest contribution is dropped first: it frees the most space for the fewest CAs.
    order = sorted(selected, key=lambda src: (-contribution(src), src))
    by_parent: dict[bytes, dict[str, set[int]]] = {}
    for source, (crl, kept) in selected.items():
        by_parent.setdefault(crl.parent_spki_sha256, {})[source] = {r.serial for r in kept}

    def parent_bytes(sources: dict[str, set[int]]) -> int:
        union: set[int] = set().union(*sources.values())
        return _RECORD_OVERHEAD + sum(1 + len(serial_bytes(s)) for s in union)

    record = {p: parent_bytes(srcs) for p, srcs in by_parent.items()}

    def total() -> int:
        head = CRLSet(
            sequence=sequence, not_after=not_after, parents={key: [] for key in record}
        ).header()
        return 2 + len(json.dumps(head, separators=(",", ":"))) + sum(record.values())

    sizes = [total()]
    for source in order:
        parent = selected[source][0].parent_spki_sha256
        del by_parent[parent][source]
        if by_parent[parent]:
            record[parent] = parent_bytes(by_parent[parent])
        else:
            del by_parent[parent], record[parent]
        sizes.append(total())

    return DropPlan(selected, order, sizes, by_reason, by_delay)


def build_crlset(
    crls: Sequence[ParentCRL],
    *,
    cap_bytes: int = DEFAULT_CAP_BYTES,
    as_of: datetime | None = None,
    crawl_delay: timedelta = DEFAULT_CRAWL_DELAY,
    sequence: int = 1,
    not_after: int | None = None,
    plan: DropPlan | None = None,
) -> BuildResult:
    """Build a CRLSet under a size cap, dropping whole CRLs largest first when it overflows."""
    started = time.perf_counter()
    if plan is None:
        plan = plan_drops(
            crls,
            as_of=as_of or datetime.now(UTC),
            crawl_delay=crawl_delay,
            sequence=sequence,
            not_after=not_after,
        )
    dropped = plan.dropped_for(cap_bytes)
    kept_items = [plan.selected[s] for s in plan.selected if s not in set(dropped)]
    crlset = _assemble(kept_items, sequence=sequence, not_after=not_after)
    size = len(encode(crlset))
    carried: dict[bytes, set[int]] = {}
    for crl, kept in kept_items:
        carried.setdefault(crl.parent_spki_sha256, set()).update(r.serial for r in kept)
    log.info(
        "built CRLSet: %d bytes, %d parents, %d serials, %d CRLs dropped for the %d-byte cap, "
        "%d filtered by reason, %d held by crawl delay in %.2f s",
        size,
        len(crlset.parents),
        crlset.num_serials(),
        len(dropped),
        cap_bytes,
        plan.filtered_by_reason,
        plan.held_by_crawl_delay,
        time.perf_counter() - started,
    )

    return BuildResult(
        crlset=crlset,
        size_bytes=size,
        kept_sources=sorted(crl.source for crl, _ in kept_items),
        dropped_sources=dropped,
        filtered_by_reason=plan.filtered_by_reason,
        held_by_crawl_delay=plan.held_by_crawl_delay,
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
