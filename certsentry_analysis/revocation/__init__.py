"""Pushed revocation lists (Chrome CRLSets, Mozilla-style CRLite) against online checking.

`compute_all` builds a CRLSet and a CRLite cascade from the dataset's CRLs
(raw_dir/pki), measures their coverage against the CRLs and the warehouse traffic,
and compares exposure windows and costs of every mechanism. See
docs/revocation-lists.md for the method and its assumptions.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from certsentry_analysis.revocation import coverage, crlite, exposure, mechanisms
from certsentry_analysis.revocation.crlset import DEFAULT_CAP_BYTES, serial_bytes
from certsentry_analysis.revocation.crlset_build import (
    BuildResult,
    CRLInputError,
    ParentCRL,
    build_crlset,
    parent_crl,
    plan_drops,
    scan_pki,
)

log = logging.getLogger(__name__)

# The valid population is not observable from logs (clients only report what they
# visit), so the cascade's exclude set is the opted-in end-entity serials seen plus a
# synthetic population of this many valid keys per revoked key, capped for build time.
VALID_PER_REVOKED = 10
MAX_SYNTHETIC_VALID = 500_000
# Every revoked and observed key is re-checked against the cascade, synthetic valid keys
# only in a sample: they are built the same way, and checking all doubles the build time.
VERIFY_SYNTHETIC_SAMPLE = 100_000
SYNTHETIC_SEED = 2012
_CRLITE_NOTE = (
    "valid set = opted-in end-entity serials seen in the logs plus a synthetic population of "
    f"{VALID_PER_REVOKED} valid keys per revoked key (at most {MAX_SYNTHETIC_VALID:,}); the real "
    "valid population is not observable from logs; wrong answers are checked on every revoked "
    f"and observed key and on at most {VERIFY_SYNTHETIC_SAMPLE:,} synthetic valid keys"
)
TABLES = (
    "revocation_inputs",
    "crlset_coverage",
    "crlset_issuer_coverage",
    "crlset_traffic_coverage",
    "crlset_size_curve",
    "crlite_summary",
    "crlite_published",
    "crlite_deltas",
    "exposure_windows",
    "revocation_mechanisms",
)


def _has_checks(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        return bool(con.execute("SELECT count(*) FROM current_checks").fetchall()[0][0])
    except duckdb.Error:
        return False


def load_pki(raw_dir: Path | None) -> tuple[list[ParentCRL], list[str], str]:
    """The dataset's CRLs keyed to their issuers, the files skipped, and a status note."""
    if raw_dir is None:
        return [], [], "missing: no raw data folder given (--raw), so no CRLs"
    pki = raw_dir / "pki"
    if not pki.is_dir():
        return [], [], f"missing: {pki} does not exist, so no CRLs"

    certs, crl_paths = scan_pki(pki)
    crls, skipped = [], []
    for path in crl_paths:
        try:
            crls.append(parent_crl(path, certs, source=str(path.relative_to(pki))))
        except CRLInputError as exc:
            log.warning("skipping CRL: %s", exc)
            skipped.append(str(path.relative_to(pki)))

    return crls, skipped, f"{len(certs)} certificates, {len(crl_paths)} CRL files in {pki}"


def _as_of(con: duckdb.DuckDBPyConnection, has_checks: bool, crls: list[ParentCRL]) -> datetime:
    if has_checks:
        # Clients with skewed clocks would stretch the period; their rows are flagged.
        last = con.execute(
            "SELECT max(ts) FROM current_checks WHERE NOT coalesce(skew_flag, false)"
        ).fetchall()[0][0]
        if last is not None:
            return pd.Timestamp(last).to_pydatetime().replace(tzinfo=UTC)
    if crls:
        return max(c.this_update for c in crls)

    return datetime.now(UTC)


def _valid_keys(
    con: duckdb.DuckDBPyConnection, has_checks: bool, revoked: set[bytes], issuers: list[bytes]
) -> tuple[list[bytes], int, int]:
    observed: set[bytes] = set()
    if has_checks:
        rows = con.execute(
            "SELECT DISTINCT issuer_spki_sha256, lower(ee_serial) FROM current_checks "
            "WHERE ee_serial IS NOT NULL AND chain_pos = 0 AND issuer_spki_sha256 IS NOT NULL"
        ).fetchall()
        for issuer, serial in rows:
            try:
                key = crlite.crlite_key(bytes.fromhex(issuer), serial_bytes(int(serial, 16)))
            except ValueError:
                continue
            if key not in revoked:
                observed.add(key)
    n_synth = min(VALID_PER_REVOKED * len(revoked), MAX_SYNTHETIC_VALID)
    rng = random.Random(SYNTHETIC_SEED)
    synthetic: set[bytes] = set()
    while issuers and len(synthetic) < n_synth:
        # 16-byte random serials, as CAs issue them today (RFC 5280 allows 20).
        # A random positive 16-byte serial in DER form, under a random issuer.
        serial = bytes([rng.randrange(1, 128)]) + rng.randbytes(15)
        key = crlite.crlite_key(issuers[rng.randrange(len(issuers))], serial)
        if key not in revoked and key not in observed:
            synthetic.add(key)

    return [*observed, *synthetic], len(observed), len(synthetic)


def compute_all(
    con: duckdb.DuckDBPyConnection, *, raw_dir: Path | None = None
) -> dict[str, pd.DataFrame]:
    """Every table of the pushed-revocation-list comparison (see docs/revocation-lists.md)."""
    started = time.perf_counter()
    has_checks = _has_checks(con)
    crls, skipped, pki_note = load_pki(raw_dir)
    as_of = _as_of(con, has_checks, crls)
    delays = exposure.Delays()
    online = mechanisms.online_traffic(con) if has_checks else None
    viable = mechanisms.viable_timeout(con)
    if online is not None and viable[0] is not None:
        online["latency_ms_per_chain_at_t"] = mechanisms.latency_at_timeout(con, viable[0])

    inputs = pd.DataFrame(
        [
            {"input": "pki", "available": bool(crls), "detail": pki_note},
            {
                "input": "crls_skipped",
                "available": not skipped,
                "detail": ", ".join(skipped) or "none (every CRL matched an issuer certificate)",
            },
            {
                "input": "warehouse_checks",
                "available": has_checks,
                "detail": "current_checks has rows"
                if has_checks
                else "missing: no current_checks",
            },
            {
                "input": "breakage_viable_t",
                "available": viable[0] is not None,
                "detail": viable[1],
            },
            {
                "input": "as_of",
                "available": True,
                "detail": f"CRLSet built as of {as_of:%Y-%m-%d %H:%M} UTC; {delays.describe()}",
            },
        ]
    )
    tables: dict[str, pd.DataFrame] = {"revocation_inputs": inputs}
    revs = coverage.revocation_frame(crls)
    crlset_tables, status, result = _crlset_tables(con, crls, revs, as_of, delays, has_checks)
    tables.update(crlset_tables)
    crlite_tables, cascade, mean_delta = _crlite_tables(con, crls, revs, as_of, has_checks)
    tables.update(crlite_tables)

    validity = (
        exposure.validity_by_issuer(con)
        if has_checks
        else pd.DataFrame({"issuer_spki_sha256": [], "validity_hours": [], "answers": []})
    )
    tables["exposure_windows"] = exposure.exposure_table(
        revs, status == "carried", validity, delays
    )
    share = tables["crlset_coverage"].iloc[0]["share_carried"]
    tables["revocation_mechanisms"] = mechanisms.mechanisms_table(
        online,
        viable,
        float(share),
        float(result.size_bytes),
        mean_delta,
        float(cascade.size_bytes),
    )
    log.info(
        "revocation: %d CRLs, %d revocations, %d tables in %.1f s",
        len(crls),
        len(revs),
        len(tables),
        time.perf_counter() - started,
    )

    return tables


def _crlset_tables(
    con: duckdb.DuckDBPyConnection,
    crls: list[ParentCRL],
    revs: pd.DataFrame,
    as_of: datetime,
    delays: exposure.Delays,
    has_checks: bool,
) -> tuple[dict[str, pd.DataFrame], pd.Series, BuildResult]:
    """The CRLSet coverage tables, each revocation's status and the 250 KB build."""
    tables: dict[str, pd.DataFrame] = {}
    plan = plan_drops(crls, as_of=as_of, crawl_delay=delays.crawl)
    result = build_crlset(crls, cap_bytes=DEFAULT_CAP_BYTES, plan=plan)
    status = coverage.classify(revs, result)
    by_issuer, by_serial = coverage.revoked_traffic(con) if has_checks else (None, None)
    tables["crlset_coverage"] = coverage.coverage_table(revs, status, result, crls)
    tables["crlset_issuer_coverage"] = coverage.issuer_table(crls, revs, status, result)
    if by_issuer is not None and by_serial is not None:
        tables["crlset_traffic_coverage"] = coverage.traffic_table(by_issuer, by_serial, result)
    else:
        tables["crlset_traffic_coverage"] = coverage.traffic_table(
            _empty_traffic(), _empty_traffic(), result
        ).assign(note="missing: no warehouse checks")
    tables["crlset_size_curve"] = coverage.size_curve(plan, revs, by_issuer)

    return tables, status, result


def _crlite_tables(
    con: duckdb.DuckDBPyConnection,
    crls: list[ParentCRL],
    revs: pd.DataFrame,
    as_of: datetime,
    has_checks: bool,
) -> tuple[dict[str, pd.DataFrame], crlite.Cascade, float]:
    """The CRLite tables, the cascade and the mean daily delta size (bytes)."""
    tables: dict[str, pd.DataFrame] = {}
    revoked = {
        crlite.crlite_key(bytes.fromhex(i), serial_bytes(s))
        for i, s in zip(revs["issuer_spki_sha256"], revs["serial"], strict=True)
    }
    issuers = sorted({c.parent_spki_sha256 for c in crls})
    valid, n_observed, n_synth = _valid_keys(con, has_checks, revoked, issuers)
    cascade = crlite.build_cascade(revoked, valid)
    checked_valid = valid[: n_observed + VERIFY_SYNTHETIC_SAMPLE]
    deltas = _observed_deltas(con, has_checks, revs, as_of)
    mean_delta = float(deltas["delta_bytes"].mean()) if len(deltas) else float("nan")
    tables["crlite_summary"] = pd.DataFrame(
        [
            {
                "revoked_keys": cascade.n_revoked,
                "valid_keys_observed": n_observed,
                "valid_keys_synthetic": n_synth,
                "filter_bytes": cascade.size_bytes,
                "layers": cascade.layers,
                "bits_per_revocation": cascade.bits_per_revocation,
                "enrolled_keys_checked": len(revoked) + len(checked_valid),
                "wrong_answers_enrolled": crlite.wrong_answers(cascade, revoked, checked_valid),
                "fp_rate_unenrolled": crlite.false_positive_rate(cascade, revoked | set(valid)),
                "mean_daily_delta_bytes": mean_delta,
                "note": _CRLITE_NOTE,
            }
        ]
    )
    tables["crlite_published"] = crlite.published_comparison(cascade, mean_delta)
    tables["crlite_deltas"] = deltas

    return tables, cascade, mean_delta


def _empty_traffic() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "issuer_spki_sha256": pd.Series([], dtype=object),
            "reason": pd.Series([], dtype=object),
            "ee_serial": pd.Series([], dtype=object),
            "checks": pd.Series([], dtype="int64"),
            "client_list": pd.Series([], dtype=object),
        }
    )


def _observed_deltas(
    con: duckdb.DuckDBPyConnection, has_checks: bool, revs: pd.DataFrame, as_of: datetime
) -> pd.DataFrame:
    """Daily CRLite deltas over the observation period (the last 30 days without logs)."""
    end = pd.Timestamp(as_of.replace(tzinfo=None)).normalize()
    start = end - pd.Timedelta(days=29)
    if has_checks:
        first = con.execute(
            "SELECT min(ts) FROM current_checks WHERE NOT coalesce(skew_flag, false)"
        ).fetchall()[0][0]
        if first is not None:
            start = pd.Timestamp(first).normalize()
    window = revs[
        (revs["revoked_at"] >= start) & (revs["revoked_at"] < end + pd.Timedelta(1, "D"))
    ]
    deltas = crlite.daily_deltas(window)
    days = pd.DataFrame({"day": pd.date_range(start, end, freq="D").date})
    merged = days.merge(deltas, on="day", how="left").fillna(
        {"new_revocations": 0, "delta_bytes": 0}
    )

    return merged.astype({"new_revocations": "int64", "delta_bytes": "int64"})
