"""Coverage, exposure and mechanism tables of `revocation.compute_all`, checked by brute force."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from cryptography import x509
from revocation_pki import T0, make_ca, make_crl, make_warehouse, write_pki

from certsentry_analysis import analysis
from certsentry_analysis.revocation import TABLES, compute_all, load_pki
from certsentry_analysis.revocation import crlset as fmt
from certsentry_analysis.revocation.crlset import Status
from certsentry_analysis.revocation.crlset_build import CRLSET_REASONS, build_crlset, spki_sha256

R = x509.ReasonFlags
REASONS = [
    None,
    R.unspecified,
    R.key_compromise,
    R.superseded,
    R.cessation_of_operation,
    R.affiliation_changed,
    R.certificate_hold,
]
KEPT = {None, "unspecified", "keyCompromise", "cACompromise", "aACompromise"}
AS_OF = T0 + timedelta(days=2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, duckdb.DuckDBPyConnection]:
    """Four CAs with CRLs of mixed reasons and a warehouse of 30 clients (12 opted in)."""
    rng = random.Random(5)
    cas = [make_ca(f"Org{i}") for i in range(4)]
    entries = []
    for n in (15, 400, 60, 900):
        entries.append(
            [
                (
                    rng.getrandbits(63) + 1,
                    T0 - timedelta(hours=rng.uniform(0, 24 * 40)),
                    rng.choice(REASONS),
                )
                for _ in range(n)
            ]
        )
    # Two fresh key compromises, revoked after the crawl-delay horizon of AS_OF.
    entries[1] += [
        (11, AS_OF - timedelta(hours=1), R.key_compromise),
        (12, AS_OF - timedelta(hours=2), None),
    ]
    crls = [make_crl(ca, ents, this_update=AS_OF) for ca, ents in zip(cas, entries, strict=True)]
    raw = tmp_path_factory.mktemp("raw")
    write_pki(raw / "pki", cas, crls)

    rows = []
    for c in range(30):
        for k in range(40):
            i = rng.randrange(4)
            serial, _, reason = rng.choice(entries[i])
            revoked = rng.random() < 0.3
            ts = T0 + timedelta(hours=k + c / 10)
            rows.append(
                {
                    "client": f"client{c:02d}",
                    "day": ts.date(),
                    "ts": ts.replace(tzinfo=None),
                    "chain_id": k,
                    "chain_pos": 0,
                    "issuer_spki_sha256": spki_sha256(cas[i].cert).hex(),
                    "source": "wire",
                    "outcome": "revoked" if revoked else "good",
                    "latency_ms": rng.uniform(50, 500),
                    "bytes": 1500,
                    "stapled": c % 5 == 0,
                    "this_update": T0.replace(tzinfo=None),
                    "next_update": (T0 + timedelta(days=1 + i)).replace(tzinfo=None),
                    "revocation_reason": (reason.value if reason else None) if revoked else None,
                    "ee_serial": (
                        format(serial if revoked else rng.getrandbits(60), "x") if c < 12 else None
                    ),
                }
            )
    rows.append({**rows[-1], "ts": AS_OF.replace(tzinfo=None), "day": AS_OF.date()})
    con = duckdb.connect()
    make_warehouse(con, rows)

    return raw, con


@pytest.fixture(scope="module")
def tables(world: tuple[Path, duckdb.DuckDBPyConnection]) -> dict[str, pd.DataFrame]:
    raw, con = world
    return compute_all(con, raw_dir=raw)


def _brute_force_entries(pki: Path) -> list[tuple[str, int, str | None, object]]:
    """Every (issuer, serial, reason, revoked_at) read straight from the CRL files."""
    out = []
    for crl_path in sorted(pki.glob("*.crl")):
        cert = x509.load_pem_x509_certificate(crl_path.with_suffix(".pem").read_bytes())
        for entry in x509.load_der_x509_crl(crl_path.read_bytes()):
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
                name: str | None = reason.value
            except x509.ExtensionNotFound:
                name = None
            out.append(
                (spki_sha256(cert).hex(), entry.serial_number, name, entry.revocation_date_utc)
            )
    return out


def test_every_table_is_produced(tables: dict[str, pd.DataFrame]) -> None:
    assert set(tables) == set(TABLES)
    available = tables["revocation_inputs"].set_index("input")["available"]
    assert available.drop("breakage_viable_t").all()
    assert not available["breakage_viable_t"]


def test_overall_coverage_matches_a_brute_force_count(
    world: tuple[Path, duckdb.DuckDBPyConnection], tables: dict[str, pd.DataFrame]
) -> None:
    entries = _brute_force_entries(world[0] / "pki")
    horizon = AS_OF - timedelta(hours=4)
    carried = sum(1 for _, _, reason, at in entries if reason in KEPT and at <= horizon)
    overall = tables["crlset_coverage"].set_index("scope").loc["overall"]

    assert overall["total"] == len(entries)
    assert overall["carried"] == carried
    assert overall["crawl_delay"] == 2
    assert overall["share_carried"] == pytest.approx(carried / len(entries))
    by_reason = tables["crlset_coverage"].query("scope == 'reason'").set_index("key")
    superseded = sum(1 for _, _, reason, _ in entries if reason == "superseded")
    assert by_reason.loc["superseded", "reason_filtered"] == superseded
    assert by_reason.loc["superseded", "carried"] == 0
    assert tables["crlset_coverage"].query("scope == 'ca'")["total"].sum() == len(entries)


def test_lookup_in_the_written_file_agrees_with_the_coverage_count(
    world: tuple[Path, duckdb.DuckDBPyConnection], tables: dict[str, pd.DataFrame]
) -> None:
    crls, _, _ = load_pki(world[0])
    result = build_crlset(crls, as_of=AS_OF)
    parsed = fmt.parse(fmt.encode(result.crlset))
    revoked = sum(
        parsed.check_serial(bytes.fromhex(issuer), fmt.serial_bytes(serial)) is Status.REVOKED
        for issuer, serial, _, _ in _brute_force_entries(world[0] / "pki")
    )

    assert revoked == tables["crlset_coverage"].iloc[0]["carried"]


def test_traffic_coverage_matches_a_brute_force_count(
    world: tuple[Path, duckdb.DuckDBPyConnection], tables: dict[str, pd.DataFrame]
) -> None:
    checks = world[1].execute("SELECT * FROM current_checks WHERE outcome = 'revoked'").df()
    eligible = checks["revocation_reason"].isna() | checks["revocation_reason"].isin(
        [r for r in CRLSET_REASONS if r is not None]
    )
    entries = {(i, s): (r, at) for i, s, r, at in _brute_force_entries(world[0] / "pki")}
    optin = checks[checks["ee_serial"].notna()]
    horizon = AS_OF - timedelta(hours=4)
    carried = sum(
        1
        for i, s in zip(optin["issuer_spki_sha256"], optin["ee_serial"], strict=True)
        if entries[(i, int(s, 16))][0] in KEPT and entries[(i, int(s, 16))][1] <= horizon
    )
    traffic = tables["crlset_traffic_coverage"].set_index("level")

    assert traffic.loc["issuer", "checks_revoked"] == len(checks)
    assert traffic.loc["issuer", "checks_covered"] == int(eligible.sum())
    assert traffic.loc["certificate", "checks_revoked"] == len(optin)
    assert traffic.loc["certificate", "checks_covered"] == carried
    assert traffic.loc["certificate", "clients"] == 12


def test_size_curve_grows_with_the_cap(tables: dict[str, pd.DataFrame]) -> None:
    curve = tables["crlset_size_curve"].sort_values("cap_bytes")

    assert curve["share_carried"].is_monotonic_increasing
    assert (curve["size_bytes"] <= curve["cap_bytes"]).all()
    assert curve["crls_dropped"].iloc[0] > 0
    assert curve["share_carried"].iloc[-1] == tables["crlset_coverage"].iloc[0]["share_carried"]


def test_cascade_answers_every_enrolled_key(tables: dict[str, pd.DataFrame]) -> None:
    summary = tables["crlite_summary"].iloc[0]

    assert summary["wrong_answers_enrolled"] == 0
    assert summary["revoked_keys"] == 1377
    assert summary["valid_keys_synthetic"] == 10 * 1377
    assert summary["enrolled_keys_checked"] == 1377 + summary["valid_keys_observed"] + 13770
    assert summary["valid_keys_observed"] > 0


def test_exposure_and_mechanisms_are_consistent(tables: dict[str, pd.DataFrame]) -> None:
    exposure = tables["exposure_windows"].set_index(["mechanism", "attacker"])
    share = tables["crlset_coverage"].iloc[0]["share_carried"]

    assert exposure.loc[("CRLSet", "none"), "share_protected"] == pytest.approx(share)
    assert exposure.loc[("online soft-fail", "blocking"), "share_protected"] == 0
    assert exposure.loc[("CRLite", "blocking"), "share_protected"] == 1
    assert exposure.loc[("OCSP stapling", "blocking"), "share_protected"] == 0
    # Issuer i answers with a validity of 1 + i days; the worst window is the longest.
    assert exposure.loc[("online hard-fail", "none"), "max_worst_hours"] == 4 * 24
    mech = tables["revocation_mechanisms"].set_index("mechanism")
    assert mech.loc["CRLSet", "coverage"] == pytest.approx(share)
    assert mech.loc["OCSP stapling", "coverage"] == pytest.approx(0.2, abs=0.01)
    assert pd.isna(mech.loc["online hard-fail at viable T", "coverage"])
    assert mech.loc["online hard-fail at viable T", "note"].startswith("missing")


def test_viable_timeout_is_read_from_breakage_results(
    world: tuple[Path, duckdb.DuckDBPyConnection],
) -> None:
    raw, con = world
    frontier = pd.DataFrame(
        {
            "policy": ["soft-fail", "hard-fail-all", "hard-fail-all"],
            "client_side": ["included", "included", "removed"],
            "viable": [True, True, True],
            "timeout_ms": [2000.0, 3000.0, 100.0],
            "mean_wait_ms": [50.0, 60.0, 40.0],
        }
    )
    analysis.store_table(con, "viability_frontier", frontier)
    try:
        mech = compute_all(con, raw_dir=raw)["revocation_mechanisms"].set_index("mechanism")
        analysis.store_table(con, "viability_frontier", frontier.assign(viable=False))
        none_viable = compute_all(con, raw_dir=raw)["revocation_mechanisms"]
    finally:
        con.execute("DROP TABLE results.viability_frontier")
    row = mech.loc["online hard-fail at viable T"]

    assert "viable T = 100 ms" in row["note"] and "client-side removed" in row["note"]
    assert row["added_latency_ms"] == 40.0
    assert row["coverage"] == mech.loc["online soft-fail", "coverage"]
    assert (
        none_viable.set_index("mechanism")
        .loc["online hard-fail at viable T", "note"]
        .startswith("no viable T")
    )


def test_missing_inputs_give_tables_that_say_so() -> None:
    con = duckdb.connect()
    tables = compute_all(con, raw_dir=None)
    for name, frame in tables.items():
        analysis.store_table(con, name, frame)
    inputs = tables["revocation_inputs"].set_index("input")

    assert set(tables) == set(TABLES)
    assert not inputs.loc["pki", "available"]
    assert "missing" in inputs.loc["pki", "detail"]
    assert tables["crlset_coverage"].iloc[0]["total"] == 0
    assert tables["crlset_traffic_coverage"]["note"].str.contains("missing|suppressed").all()


def test_tiny_world_coverage_matches_lookups(tiny_world: Path, tiny_db: Path) -> None:
    crls, skipped, _ = load_pki(tiny_world)
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        tables = compute_all(con, raw_dir=tiny_world)
        as_of = con.execute("SELECT max(ts) FROM current_checks").fetchall()[0][0]
    result = build_crlset(crls, as_of=pd.Timestamp(as_of, tz="UTC").to_pydatetime())
    parsed = fmt.parse(fmt.encode(result.crlset))
    total = revoked = 0
    seen = set()
    for crl in crls:
        for rev in crl.revocations:
            if (crl.parent_spki_sha256, rev.serial) in seen:
                continue
            seen.add((crl.parent_spki_sha256, rev.serial))
            total += 1
            status = parsed.check_serial(crl.parent_spki_sha256, fmt.serial_bytes(rev.serial))
            revoked += status is Status.REVOKED
    overall = tables["crlset_coverage"].iloc[0]

    assert not skipped
    assert overall["total"] == total
    assert overall["carried"] == revoked
    assert tables["crlite_summary"].iloc[0]["wrong_answers_enrolled"] == 0
