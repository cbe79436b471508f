"""The soft-fail hole: checks on revoked certificates accepted because the check failed.

A certificate counts as known revoked from the time of its revocation when a CRL in the
dataset's pki/ lists it (revocation date known), or from the first check that got a
`revoked` answer for it anywhere in the warehouse (a conservative start: checks before
that first answer are left out). Only end-entity checks whose file opted in to logging
the serial can be matched. A check on a revoked certificate is accepted under a policy
when it got no answer within the timeout and the policy does not hard-fail for its
issuer: that is the window an attacker who blocks the responder exploits.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certsentry_analysis.breakage.policy import Policy
from certsentry_analysis.breakage.replay import ratio_interval
from certsentry_analysis.breakage.validations import NEVER_MS
from certsentry_analysis.breakage.world import World

log = logging.getLogger(__name__)


def normalise_serial(serial: pd.Series) -> pd.Series:
    """Hex serials compared case-insensitively and without leading zeros."""
    cleaned = serial.astype(str).str.lower().str.lstrip("0")

    return cleaned.where(cleaned != "", "0")


def crl_revocations(pki_dir: Path) -> pd.DataFrame:
    """Revoked serials listed by the CRLs under `pki_dir`, keyed by issuer SPKI hash.

    CRLs (DER or PEM) are matched to their issuer by name against the certificates
    (PEM) found in the same tree.
    """
    spki_of: dict[bytes, str] = {}
    for path in sorted(pki_dir.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in {".pem", ".crt", ".cer"}:
            continue
        data = path.read_bytes()
        if b"BEGIN CERTIFICATE" not in data:
            continue
        for cert in x509.load_pem_x509_certificates(data):
            spki = cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            spki_of[cert.subject.public_bytes()] = hashlib.sha256(spki).hexdigest()

    rows = []
    for path in sorted(pki_dir.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in {".crl", ".der"}:
            continue
        data = path.read_bytes()
        try:
            crl = (
                x509.load_pem_x509_crl(data)
                if data.lstrip().startswith(b"-----")
                else x509.load_der_x509_crl(data)
            )
        except ValueError as exc:
            raise ValueError(f"{path}: not a CRL ({exc})") from exc
        issuer_spki = spki_of.get(crl.issuer.public_bytes())
        if issuer_spki is None:
            log.debug("%s: issuer not among the pki certificates; skipped", path)
            continue
        for entry in crl:
            rows.append((issuer_spki, format(entry.serial_number, "x"), entry.revocation_date_utc))

    frame = pd.DataFrame(rows, columns=["issuer_spki_sha256", "serial", "revoked_at"])
    frame["revoked_at"] = pd.to_datetime(frame["revoked_at"]).dt.tz_localize(None)

    return frame.groupby(["issuer_spki_sha256", "serial"], as_index=False)["revoked_at"].min()


def soft_fail_hole(
    world: World, policies: list[Policy], *, raw_dir: Path | None = None
) -> pd.DataFrame:
    """Per policy (at its own timeout): share of checks on revoked certificates accepted."""
    rows = []
    crl = pd.DataFrame(columns=["issuer_spki_sha256", "serial", "revoked_at"])
    knowledge = "revoked answers in the warehouse"
    if raw_dir is not None and (raw_dir / "pki").is_dir():
        crl = crl_revocations(raw_dir / "pki")
        knowledge += f" + {len(crl)} CRL entries from pki/"
    for policy in policies:
        variant = world.variant(policy.fallback_to_crl, "included")
        leaf = world.con.execute(
            f"""SELECT client, issuer_sha1, issuer_spki_sha256, ee_serial, ts, crit_ms,
                       revoked_answer
                FROM {variant.table} WHERE chain_pos = 0 AND ee_serial IS NOT NULL"""  # noqa: S608
        ).df()
        leaf["serial"] = normalise_serial(leaf["ee_serial"])
        seen = (
            leaf[leaf["revoked_answer"] == 1]
            .groupby(["issuer_spki_sha256", "serial"], as_index=False)["ts"]
            .min()
            .rename(columns={"ts": "revoked_at"})
        )
        known = (
            pd.concat([crl, seen])
            .groupby(["issuer_spki_sha256", "serial"], as_index=False)["revoked_at"]
            .min()
        )
        revoked = leaf.merge(known, on=["issuer_spki_sha256", "serial"])
        revoked = revoked[pd.to_datetime(revoked["ts"]) >= pd.to_datetime(revoked["revoked_at"])]
        issuers, _ = world.scope(policy)
        protected = np.full(len(revoked), policy.hard)
        if issuers is not None:
            protected &= revoked["issuer_sha1"].isin(issuers).to_numpy()
        unanswered = revoked["crit_ms"].to_numpy(dtype=np.float64) > policy.timeout_ms
        accepted = unanswered & ~protected
        client = world.pop.client_index(revoked["client"])
        G = world.pop.size
        num = np.bincount(client, accepted.astype(np.float64), minlength=G)[:, None]
        den = np.bincount(client, minlength=G).astype(np.float64)
        point, low, high = ratio_interval(num, den, world.weights)
        rows.append(
            {
                "policy": policy.name,
                "timeout_ms": policy.timeout_ms,
                "revoked_checks": len(revoked),
                "clients": int(revoked["client"].nunique()),
                "unanswered": int(unanswered.sum()),
                "never_answered": int((revoked["crit_ms"] >= NEVER_MS).sum()),
                "accepted": int(accepted.sum()),
                "accepted_share": float(point[0]),
                "ci_low": float(low[0]),
                "ci_high": float(high[0]),
                "knowledge": knowledge,
            }
        )

    return pd.DataFrame(rows)
