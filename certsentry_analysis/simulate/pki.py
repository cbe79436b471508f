"""The PKI: CA organisations, root and issuing CA certificates, their URLs and CRLs.

Keys are EC P-256 derived from the seed and signatures are deterministic
(RFC 6979), so the same seed gives byte-identical certificates and CRLs.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from certsentry_analysis.simulate.rng import stream
from certsentry_analysis.simulate.scenario import Scenario

log = logging.getLogger(__name__)

# Fictional organisations: simulated performance must not be pinned on real CAs.
ORG_NAMES = (
    "Aldermoor Trust",
    "Brightwell Certification",
    "Castellan Secure",
    "Dunmore Digital",
    "Everstone CA",
    "Fairhaven Trust Services",
    "Greystoke Signing",
    "Halcyon Identity",
    "Ironbridge PKI",
    "Juniper Root",
    "Kestrel Certification",
    "Larkspur Secure",
    "Meridian Trust",
    "Northgate Digital",
    "Oakfield Certificates",
    "Pinecrest Identity",
    "Quarry Hill Trust",
    "Redfern Secure",
    "Silverlake CA",
    "Thornbury Trust",
)
_CURVE_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
# DER bytes one CRL entry adds (serial, date, reason extension), for size targets.
CRL_ENTRY_BYTES = 38


@dataclass
class Organisation:
    """A CA operator: brand, market share and whose responder infrastructure it uses."""

    index: int
    name: str
    domain: str
    share: float
    infra: int  # index of the organisation whose responders serve this brand
    cdn: bool
    intermediate_ocsp: bool


@dataclass
class CA:
    """One CA certificate (root or issuing) and where certificates it issues are checked."""

    index: int
    org: int
    role: str
    name: str
    slug: str
    parent: int
    share: float
    ev: bool
    key: ec.EllipticCurvePrivateKey
    ocsp_url: str | None
    crl_url: str | None
    cert: x509.Certificate | None = None
    sha1: str = ""
    spki_sha256: str = ""
    serial: int = 0
    crl_validity_h: float = 24.0

    def __getstate__(self) -> dict[str, object]:
        # Worker processes need names and thumbprints, never keys: keys stay in the parent.
        state = dict(self.__dict__)
        state["key"] = None
        state["cert"] = None
        return state


@dataclass
class Pki:
    """All organisations and CAs of a world, in a fixed order."""

    orgs: list[Organisation]
    cas: list[CA]

    def issuing(self) -> list[CA]:
        """The issuing CAs (the ones that sign site certificates)."""
        return [ca for ca in self.cas if ca.role == "issuing"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _derive_key(rng: np.random.Generator) -> ec.EllipticCurvePrivateKey:
    raw = int.from_bytes(rng.bytes(32), "big") % (_CURVE_ORDER - 1) + 1

    return ec.derive_private_key(raw, ec.SECP256R1())


def _org_names(n: int) -> list[str]:
    return [
        ORG_NAMES[i % len(ORG_NAMES)] + ("" if i < len(ORG_NAMES) else f" {i // len(ORG_NAMES)}")
        for i in range(n)
    ]


def build_pki(scenario: Scenario, seed: int) -> Pki:
    """Create organisations and CAs (keys, URLs; certificates are signed by `sign_pki`)."""
    cfg = scenario.pki
    rng = stream(seed, "pki")
    ranks = np.arange(1, cfg.organisations + 1, dtype=float)
    shares = ranks**-cfg.market_share_exponent
    shares /= shares.sum()

    orgs: list[Organisation] = []
    for i, name in enumerate(_org_names(cfg.organisations)):
        infra = i
        if i >= 3 and rng.random() < cfg.shared_infra_share:
            infra = int(rng.integers(0, 3))
        orgs.append(
            Organisation(
                index=i,
                name=name,
                domain=f"{_slug(name)}.example",
                share=float(shares[i]),
                infra=infra,
                cdn=bool(rng.random() < scenario.responders.cdn_share),
                intermediate_ocsp=bool(rng.random() < cfg.intermediate_ocsp_share),
            )
        )
    for org in orgs:
        # A brand on another operator's infrastructure inherits its CDN status.
        org.cdn = orgs[org.infra].cdn

    cas: list[CA] = []
    for org in orgs:
        root = CA(
            index=len(cas),
            org=org.index,
            role="root",
            name=f"{org.name} Root CA",
            slug=f"{_slug(org.name)}-root",
            parent=len(cas),
            share=0.0,
            ev=False,
            key=_derive_key(rng),
            ocsp_url=f"http://ocsp.{org.domain}/" if org.intermediate_ocsp else None,
            crl_url=f"http://crl.{org.domain}/root.crl",
        )
        cas.append(root)
        n_issuers = int(rng.integers(1, cfg.max_issuers_per_org + 1))
        split = rng.dirichlet(np.full(n_issuers, 2.0))
        for j in range(n_issuers):
            ev = bool(rng.random() < cfg.ev_share)
            label = f"{'EV ' if ev else ''}Server CA {j + 1}"
            slug = f"{_slug(org.name)}-{'ev-' if ev else ''}server-ca-{j + 1}"
            crl_only = bool(rng.random() < cfg.crl_only_share)
            cas.append(
                CA(
                    index=len(cas),
                    org=org.index,
                    role="issuing",
                    name=f"{org.name} {label}",
                    slug=slug,
                    parent=root.index,
                    share=float(org.share * split[j]),
                    ev=ev,
                    key=_derive_key(rng),
                    ocsp_url=None if crl_only else f"http://ocsp.{org.domain}/",
                    crl_url=f"http://crl.{org.domain}/{slug}.crl",
                )
            )

    return Pki(orgs=orgs, cas=cas)


def _name(ca: CA, org: Organisation) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org.name),
            x509.NameAttribute(NameOID.COMMON_NAME, ca.name),
        ]
    )


def sign_pki(pki: Pki, start: datetime) -> None:
    """Issue the root (self-signed) and issuing CA certificates; fill thumbprints."""
    for ca in pki.cas:
        parent = pki.cas[ca.parent]
        org = pki.orgs[ca.org]
        years = 20 if ca.role == "root" else 10
        not_before = start - timedelta(days=365 * (6 if ca.role == "root" else 3))
        serial = int.from_bytes(hashlib.sha256(ca.slug.encode()).digest()[:8], "big") >> 1
        ca.serial = serial
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(ca, org))
            .issuer_name(_name(parent, pki.orgs[parent.org]))
            .public_key(ca.key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key()), critical=False
            )
        )
        if ca.role == "issuing":
            access = []
            if parent.ocsp_url:
                access.append(
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(parent.ocsp_url),
                    )
                )
            if access:
                builder = builder.add_extension(
                    x509.AuthorityInformationAccess(access), critical=False
                )
            if parent.crl_url:
                point = x509.DistributionPoint(
                    [x509.UniformResourceIdentifier(parent.crl_url)], None, None, None
                )
                builder = builder.add_extension(
                    x509.CRLDistributionPoints([point]), critical=False
                )
        ca.cert = builder.sign(parent.key, hashes.SHA256(), ecdsa_deterministic=True)
        der = ca.cert.public_bytes(serialization.Encoding.DER)
        spki = ca.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        ca.sha1 = hashlib.sha1(der).hexdigest().upper()
        ca.spki_sha256 = hashlib.sha256(spki).hexdigest()


def build_crl(
    ca: CA,
    org: Organisation,
    serials: np.ndarray,
    revoked_at: np.ndarray,
    reasons: list[str],
    this_update: datetime,
) -> bytes:
    """A DER CRL signed by `ca` listing the given serials (times in epoch seconds)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_name(ca, org))
        .last_update(this_update)
        .next_update(this_update + timedelta(hours=ca.crl_validity_h))
        .add_extension(x509.CRLNumber(int(this_update.timestamp()) // 3600), critical=False)
    )
    for serial, when, reason in zip(serials.tolist(), revoked_at.tolist(), reasons, strict=True):
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(int(serial))
            .revocation_date(datetime.fromtimestamp(int(when), tz=UTC))
        )
        if reason != "unspecified":
            # RFC 5280 5.3.1: the reason code extension is absent for unspecified.
            entry = entry.add_extension(
                x509.CRLReason(x509.ReasonFlags[reason_flag(reason)]), critical=False
            )
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(ca.key, hashes.SHA256(), ecdsa_deterministic=True)

    return crl.public_bytes(serialization.Encoding.DER)


_REASON_FLAG = {
    "unspecified": "unspecified",
    "keyCompromise": "key_compromise",
    "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed",
    "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation",
    "certificateHold": "certificate_hold",
    "removeFromCRL": "remove_from_crl",
    "privilegeWithdrawn": "privilege_withdrawn",
    "aACompromise": "aa_compromise",
}


def reason_flag(name: str) -> str:
    """The `cryptography` ReasonFlags member name of an RFC 5280 reason name."""
    return _REASON_FLAG[name]


def write_pki(pki: Pki, out: Path, crls: dict[int, bytes]) -> list[Path]:
    """Write CA certificates (PEM) and CRLs (DER) under out/certs and out/crls."""
    t0 = time.perf_counter()
    written = []
    (out / "certs").mkdir(parents=True, exist_ok=True)
    (out / "crls").mkdir(parents=True, exist_ok=True)
    for ca in pki.cas:
        assert ca.cert is not None
        path = out / "certs" / f"{ca.slug}.pem"
        path.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
        written.append(path)
        if ca.index in crls:
            crl_path = out / "crls" / f"{ca.slug}.crl"
            crl_path.write_bytes(crls[ca.index])
            written.append(crl_path)
    log.info(
        "wrote PKI: %d CA certificates, %d CRLs in %.2f s",
        len(pki.cas),
        len(crls),
        time.perf_counter() - t0,
    )

    return written
