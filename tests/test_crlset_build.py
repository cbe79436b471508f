"""Building CRLSets from CRLs: issuer matching, reason filter, crawl delay, size cap, CLI."""

from __future__ import annotations

from datetime import timedelta
from importlib.resources import files
from pathlib import Path

import pytest
from cryptography import x509
from revocation_pki import T0, make_ca, make_crl, write_pki

from certsentry_analysis.cli import main
from certsentry_analysis.revocation import crlset as fmt
from certsentry_analysis.revocation.crlset import Status
from certsentry_analysis.revocation.crlset_build import (
    CRLInputError,
    build_crlset,
    load_crl,
    parent_crl,
    plan_drops,
    revocations_of,
    spki_sha256,
)

R = x509.ReasonFlags
DAY_BEFORE = T0 - timedelta(days=1)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three CAs: a small mixed-reason CRL, a large CRL and a medium CRL."""
    small, large, medium = make_ca("Small"), make_ca("Large"), make_ca("Medium")
    mixed = [
        (1, DAY_BEFORE, None),
        (2, DAY_BEFORE, R.unspecified),
        (3, DAY_BEFORE, R.key_compromise),
        (4, DAY_BEFORE, R.ca_compromise),
        (5, DAY_BEFORE, R.aa_compromise),
        (6, DAY_BEFORE, R.superseded),
        (7, DAY_BEFORE, R.cessation_of_operation),
        (8, DAY_BEFORE, R.affiliation_changed),
        (9, DAY_BEFORE, R.certificate_hold),
        (10, DAY_BEFORE, R.privilege_withdrawn),
        (11, T0 - timedelta(hours=1), R.key_compromise),
    ]
    crls = [
        make_crl(small, mixed),
        make_crl(large, [(1000 + i, DAY_BEFORE, None) for i in range(3000)]),
        make_crl(medium, [(5000 + i, DAY_BEFORE, None) for i in range(500)]),
    ]

    return write_pki(tmp_path_factory.mktemp("pki"), [small, large, medium], crls)


def _crls(pki: Path) -> list:
    certs = [x509.load_pem_x509_certificate((pki / f"ca{i}.pem").read_bytes()) for i in range(3)]
    return [parent_crl(pki / f"ca{i}.crl", certs) for i in range(3)]


def test_crl_is_keyed_to_its_issuers_spki(pki: Path) -> None:
    cert = x509.load_pem_x509_certificate((pki / "ca1.pem").read_bytes())
    crl = parent_crl(pki / "ca1.crl", [cert])

    assert crl.parent_spki_sha256 == spki_sha256(cert)
    assert crl.ca == "Large"
    assert len(crl.revocations) == 3000


def test_same_name_wrong_key_is_not_taken_for_the_issuer(pki: Path) -> None:
    impostor = make_ca("Large", "Large Issuing CA").cert
    real = x509.load_pem_x509_certificate((pki / "ca1.pem").read_bytes())

    assert parent_crl(pki / "ca1.crl", [impostor, real]).parent_spki_sha256 == spki_sha256(real)
    with pytest.raises(CRLInputError, match="no issuer certificate"):
        parent_crl(pki / "ca1.crl", [impostor])


def test_reason_filter_and_crawl_delay(pki: Path) -> None:
    crls = _crls(pki)
    result = build_crlset(crls[:1], as_of=T0, crawl_delay=timedelta(hours=4))
    serials = result.carried[crls[0].parent_spki_sha256]

    # Kept: no reason, unspecified, keyCompromise, cACompromise, aACompromise.
    assert serials == {1, 2, 3, 4, 5}
    assert result.filtered_by_reason == 5
    assert result.held_by_crawl_delay == 1
    later = build_crlset(crls[:1], as_of=T0 + timedelta(hours=4))
    assert 11 in later.carried[crls[0].parent_spki_sha256]


def test_cap_drops_whole_crls_largest_first(pki: Path) -> None:
    crls = _crls(pki)
    uncapped = build_crlset(crls, as_of=T0, cap_bytes=10**9)
    capped = build_crlset(crls, as_of=T0, cap_bytes=uncapped.size_bytes - 1)
    tiny = build_crlset(crls, as_of=T0, cap_bytes=1_000)

    assert capped.size_bytes <= uncapped.size_bytes - 1
    assert capped.dropped_sources == ["ca1.crl"]
    assert tiny.dropped_sources == ["ca1.crl", "ca2.crl"]
    assert len(fmt.encode(tiny.crlset)) == tiny.size_bytes <= 1_000
    assert spki_sha256_of(pki, 1) not in capped.crlset.parents
    assert capped.crlset.check_serial(crls[2].parent_spki_sha256, b"\x13\x88") is Status.REVOKED


def spki_sha256_of(pki: Path, index: int) -> bytes:
    return spki_sha256(x509.load_pem_x509_certificate((pki / f"ca{index}.pem").read_bytes()))


def test_plan_sizes_match_the_encoded_files(pki: Path) -> None:
    crls = _crls(pki)
    plan = plan_drops(crls, as_of=T0)

    for i, size in enumerate(plan.sizes):
        result = build_crlset(crls, cap_bytes=size, plan=plan)
        assert len(result.dropped_sources) <= i
        assert len(fmt.encode(result.crlset)) == result.size_bytes <= size
    with pytest.raises(ValueError, match="exceeds the cap"):
        build_crlset(crls, cap_bytes=10, plan=plan)


def test_real_crl_reasons_are_read() -> None:
    vectors = files("cryptography_vectors") / "x509" / "custom" / "crl_all_reasons.pem"
    with vectors.open("rb") as handle:
        crl = x509.load_pem_x509_crl(handle.read())
    reasons = {r.reason for r in revocations_of(crl, Path("crl_all_reasons.pem"))}

    assert {"keyCompromise", "cACompromise", "superseded", "removeFromCRL"} <= reasons


def test_unreadable_crl_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.crl"
    bad.write_bytes(b"\x30\x03\x02\x01\x01")

    with pytest.raises(CRLInputError, match=r"bad\.crl: not a CRL"):
        load_crl(bad)


def test_cli_build_inspect_and_diff(
    pki: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crls = [str(pki / f"ca{i}.crl") for i in range(3)]
    first, second = tmp_path / "a.crlset", tmp_path / "b.crlset"

    assert (
        main(
            [
                "crlset",
                "build",
                *crls,
                "--out",
                str(first),
                "--as-of",
                "2012-06-01T00:00",
                "--cap",
                "4000",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "crlset",
                "build",
                *crls,
                "--out",
                str(second),
                "--as-of",
                "2012-06-01T05:00",
                "--cap",
                "4000",
                "--sequence",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "dropped " in out and "filtered by reason: 5" in out

    assert main(["crlset", "inspect", str(second)]) == 0
    out = capsys.readouterr().out
    assert "sequence:    2" in out and "parents:     2" in out

    assert main(["crlset", "diff", str(first), str(second)]) == 1
    out = capsys.readouterr().out
    assert "+ serial 0b under" in out and "1 serials added" in out
    assert main(["crlset", "diff", str(first), str(first)]) == 0


def test_cli_reports_a_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.crlset"
    broken.write_bytes(b"\x10\x00{}")

    assert main(["crlset", "inspect", str(broken)]) == 2
    assert "broken.crlset at byte 2" in capsys.readouterr().err
