"""How much of the revocation population a CRLSet carries, by count, by CA and by traffic.

Every revocation on the dataset's CRLs gets one status under a built CRLSet:
`carried`, `reason_filtered` (its reason is not one Chrome keeps), `crl_dropped`
(its CRL was dropped to meet the size cap) or `crawl_delay` (too recent at build
time). Traffic-weighted coverage reads the warehouse: at issuer level from every
client (a revoked answer's issuer and reason tell whether the CRLSet would carry
it), and at certificate level from opted-in clients' end-entity serials only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import duckdb
import pandas as pd

from certsentry_analysis.revocation.crlset import Status, serial_bytes
from certsentry_analysis.revocation.crlset_build import (
    CRLSET_REASONS,
    BuildResult,
    DropPlan,
    ParentCRL,
)

log = logging.getLogger(__name__)

MIN_CLIENTS = 10
NO_REASON = "(no reason code)"
CURVE_CAPS = (8_000, 16_000, 32_000, 64_000, 125_000, 250_000, 500_000, 1_000_000, 2_000_000)
CURVE_FRACTIONS = (0.1, 0.25, 0.5, 0.75)
STATUSES = ("carried", "reason_filtered", "crl_dropped", "crawl_delay")


def eligible_reason(reasons: pd.Series) -> pd.Series:
    """Whether each reason (RFC 5280 name, null for none) is one a CRLSet keeps."""
    named = [r for r in CRLSET_REASONS if r is not None]

    return reasons.isna() | reasons.isin(named)


def revocation_frame(crls: Sequence[ParentCRL]) -> pd.DataFrame:
    """One row per distinct (issuer, serial) on the CRLs, first source wins."""
    rows = [
        {
            "issuer_spki_sha256": crl.parent_spki_sha256.hex(),
            "ca": crl.ca,
            "source": crl.source,
            "serial": rev.serial,
            "serial_hex": format(rev.serial, "x"),
            "revoked_at": rev.revoked_at.replace(tzinfo=None),
            "reason": rev.reason,
        }
        for crl in crls
        for rev in crl.revocations
    ]
    columns = [
        "issuer_spki_sha256",
        "ca",
        "source",
        "serial",
        "serial_hex",
        "revoked_at",
        "reason",
    ]
    frame = pd.DataFrame(rows, columns=columns)

    return frame.drop_duplicates(["issuer_spki_sha256", "serial"]).reset_index(drop=True)


def classify(revocations: pd.DataFrame, result: BuildResult) -> pd.Series:
    """Status of each revocation under a built CRLSet (see the module docstring)."""
    dropped = set(result.dropped_sources)
    statuses = []
    for issuer, serial, eligible, source in zip(
        revocations["issuer_spki_sha256"],
        revocations["serial"],
        eligible_reason(revocations["reason"]),
        revocations["source"],
        strict=True,
    ):
        if serial in result.carried.get(bytes.fromhex(issuer), ()):
            statuses.append("carried")
        elif not eligible:
            statuses.append("reason_filtered")
        elif source in dropped:
            statuses.append("crl_dropped")
        else:
            statuses.append("crawl_delay")

    return pd.Series(statuses, index=revocations.index, name="status", dtype="object")


def _summary(scope: str, key: str, unit: str, status: pd.Series) -> dict[str, object]:
    counts = status.value_counts()
    total = len(status)
    carried = int(counts.get("carried", 0))
    row: dict[str, object] = {"scope": scope, "key": key, "unit": unit, "total": total}
    for name in STATUSES:
        row[name] = int(counts.get(name, 0))
    row["share_carried"] = carried / total if total else float("nan")

    return row


def coverage_table(
    revocations: pd.DataFrame, status: pd.Series, result: BuildResult, crls: Sequence[ParentCRL]
) -> pd.DataFrame:
    """Share of revocations carried overall, by reason and by CA; share of issuers and CAs."""
    rows = [_summary("overall", "all", "revocations", status)]
    reasons = revocations["reason"].fillna(NO_REASON)
    for reason, index in reasons.groupby(reasons).groups.items():
        rows.append(_summary("reason", str(reason), "revocations", status.loc[index]))
    for ca, index in revocations.groupby("ca").groups.items():
        rows.append(_summary("ca", str(ca), "revocations", status.loc[index]))

    # An issuer (or CA) counts as covered when its record is in the file at all:
    # Chrome then answers "good" or "revoked" for its certificates instead of "unknown".
    parents = {crl.parent_spki_sha256: crl.ca for crl in crls}
    in_set = pd.Series([p in result.crlset.parents for p in parents], dtype=bool)
    issuer_status = in_set.map({True: "carried", False: "crl_dropped"})
    rows.append(_summary("issuers", "all", "issuers", issuer_status))
    by_ca = pd.DataFrame({"ca": list(parents.values()), "in_set": in_set})
    ca_any = by_ca.groupby("ca")["in_set"].any()
    rows.append(_summary("cas", "all", "cas", ca_any.map({True: "carried", False: "crl_dropped"})))

    return pd.DataFrame(rows)


def issuer_table(
    crls: Sequence[ParentCRL], revocations: pd.DataFrame, status: pd.Series, result: BuildResult
) -> pd.DataFrame:
    """One row per issuing CA: its CRLs, revocations, how many the CRLSet carries."""
    frame = revocations.assign(status=status)
    rows = []
    for parent in sorted({c.parent_spki_sha256 for c in crls}):
        mine = [c for c in crls if c.parent_spki_sha256 == parent]
        sub = frame[frame["issuer_spki_sha256"] == parent.hex()]
        serials = result.crlset.parents.get(parent)
        rows.append(
            {
                "issuer_spki_sha256": parent.hex(),
                "ca": mine[0].ca,
                "crls": len(mine),
                "revocations": len(sub),
                "eligible": int(eligible_reason(sub["reason"]).sum()),
                "carried": int((sub["status"] == "carried").sum()),
                "in_crlset": serials is not None,
                "record_bytes": 36 + sum(1 + len(s) for s in serials)
                if serials is not None
                else 0,
            }
        )

    columns = [
        "issuer_spki_sha256",
        "ca",
        "crls",
        "revocations",
        "eligible",
        "carried",
        "in_crlset",
        "record_bytes",
    ]

    return pd.DataFrame(rows, columns=columns)


def revoked_traffic(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Checks that met a revoked certificate: by issuer and reason, and opt-in by serial."""
    by_issuer = con.execute(
        """
        SELECT issuer_spki_sha256, revocation_reason AS reason,
               count(*) AS checks, count(DISTINCT client) AS clients,
               list(DISTINCT client) AS client_list
        FROM current_checks WHERE outcome = 'revoked'
        GROUP BY ALL
        """
    ).df()
    by_serial = con.execute(
        """
        SELECT issuer_spki_sha256, lower(ee_serial) AS ee_serial,
               count(*) AS checks, list(DISTINCT client) AS client_list
        FROM current_checks
        WHERE outcome = 'revoked' AND ee_serial IS NOT NULL AND chain_pos = 0
        GROUP BY ALL
        """
    ).df()

    return by_issuer, by_serial


def _clients(frame: pd.DataFrame) -> int:
    return len({c for clients in frame["client_list"] for c in clients})


def traffic_table(
    by_issuer: pd.DataFrame, by_serial: pd.DataFrame, result: BuildResult
) -> pd.DataFrame:
    """Share of revoked-certificate checks whose revocation the CRLSet carries."""
    parents = result.crlset.parents
    eligible = eligible_reason(by_issuer["reason"])
    parent_hex = {p.hex() for p in parents}
    issuer_in = by_issuer["issuer_spki_sha256"].isin(parent_hex)
    covered_issuer = by_issuer[issuer_in & eligible]

    def serial_revoked(issuer: str, serial: str) -> bool:
        try:
            key = bytes.fromhex(issuer), serial_bytes(int(serial.replace(":", ""), 16))
        except (TypeError, ValueError):
            # A serial that is not hex cannot be looked up: it counts as not covered.
            return False
        return result.crlset.check_serial(*key) is Status.REVOKED

    hit = [
        serial_revoked(i, s)
        for i, s in zip(by_serial["issuer_spki_sha256"], by_serial["ee_serial"], strict=True)
    ]
    covered_serial = by_serial[pd.Series(hit, index=by_serial.index, dtype=bool)]
    rows = [
        {
            "level": "issuer",
            "population": "all clients",
            "clients": _clients(by_issuer),
            "checks_revoked": int(by_issuer["checks"].sum()),
            "checks_covered": int(covered_issuer["checks"].sum()),
            "note": "covered = issuer's CRL is in the CRLSet and the answer's reason is one "
            "Chrome keeps; ignores the crawl delay",
        },
        {
            "level": "certificate",
            "population": "opted-in clients only",
            "clients": _clients(by_serial),
            "checks_revoked": int(by_serial["checks"].sum()),
            "checks_covered": int(covered_serial["checks"].sum()),
            "note": "exact serial lookup in the CRLSet; opted-in clients are self-selected "
            "and need not browse like the rest (selection bias)",
        },
    ]
    frame = pd.DataFrame(rows)
    frame["share_covered"] = frame["checks_covered"] / frame["checks_revoked"].where(
        frame["checks_revoked"] > 0
    )
    frame = frame.astype({"checks_revoked": "Int64", "checks_covered": "Int64"})
    small = frame["clients"] < MIN_CLIENTS
    frame.loc[small, ["checks_revoked", "checks_covered"]] = pd.NA
    frame.loc[small, "share_covered"] = float("nan")
    frame.loc[small, "note"] = f"suppressed: fewer than {MIN_CLIENTS} clients"

    return frame


def curve_caps(plan: DropPlan) -> list[int]:
    """Absolute caps plus fractions of the uncapped size, ascending and distinct."""
    uncapped = plan.sizes[0]
    caps = set(CURVE_CAPS) | {int(uncapped * f) for f in CURVE_FRACTIONS} | {uncapped}

    return sorted(c for c in caps if c >= plan.sizes[-1])


def size_curve(
    plan: DropPlan,
    revocations: pd.DataFrame,
    by_issuer: pd.DataFrame | None,
    caps: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Coverage of CRLSets built under each cap (the coverage-versus-size curve)."""
    started = time.perf_counter()
    eligible = eligible_reason(revocations["reason"])
    kept_serials = {src: {r.serial for r in kept} for src, (_crl, kept) in plan.selected.items()}
    rows = []
    for cap in caps if caps is not None else curve_caps(plan):
        dropped = set(plan.dropped_for(cap))
        kept = [s for s in plan.selected if s not in dropped]
        carried = {
            (plan.selected[s][0].parent_spki_sha256.hex(), serial)
            for s in kept
            for serial in kept_serials[s]
        }
        is_carried = [
            (i, s) in carried
            for i, s in zip(revocations["issuer_spki_sha256"], revocations["serial"], strict=True)
        ]
        n = len(revocations)
        parents = {plan.selected[s][0].parent_spki_sha256.hex() for s in kept}
        row: dict[str, object] = {
            "cap_bytes": cap,
            "size_bytes": plan.sizes[len(dropped)],
            "crls_kept": len(kept),
            "crls_dropped": len(dropped),
            "parents": len(parents),
            "revocations_carried": sum(is_carried),
            "share_carried": sum(is_carried) / n if n else float("nan"),
            "share_of_eligible": (
                sum(is_carried) / int(eligible.sum()) if eligible.any() else float("nan")
            ),
            "traffic_share_issuer_level": float("nan"),
        }
        if by_issuer is not None and by_issuer["checks"].sum() > 0:
            ok = by_issuer["issuer_spki_sha256"].isin(parents) & eligible_reason(
                by_issuer["reason"]
            )
            row["traffic_share_issuer_level"] = (
                by_issuer.loc[ok, "checks"].sum() / by_issuer["checks"].sum()
            )
        rows.append(row)
    log.info("coverage curve: %d caps in %.2f s", len(rows), time.perf_counter() - started)

    return pd.DataFrame(rows)
