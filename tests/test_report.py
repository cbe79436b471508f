"""The report and briefing on a hand-made warehouse: content, absence notes, reproducibility."""

from __future__ import annotations

import io
import re
from pathlib import Path

import duckdb
import pandas as pd
import pypdf
import pytest
import report_warehouse
from report_warehouse import EVIL_CA

from certsentry_analysis.cli import main
from certsentry_analysis.report import build_briefing, build_report
from certsentry_analysis.report.formatting import fmt_int, fmt_pct, fmt_pct_ci


def _text(pdf: Path) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf.read_bytes()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # A line may break after a hyphen of the text ("Hard-" / "fail"): rejoin it.
    text = re.sub(r"-\s*\n\s*", "-", text)

    return len(reader.pages), re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def handmade(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("handmade")
    raw = root / "raw"
    raw.mkdir()

    return report_warehouse.build(root / "w.duckdb", raw), raw


@pytest.fixture(scope="module")
def report_pdf(handmade: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    db, raw = handmade
    out = tmp_path_factory.mktemp("out") / "report.pdf"

    return build_report(db, out, raw_dir=raw)


def test_title_page_scope_equals_the_warehouse_counts(
    handmade: tuple[Path, Path], report_pdf: Path
) -> None:
    db, _ = handmade
    with duckdb.connect(str(db), read_only=True) as con:
        checks, clients, days = con.execute(
            "SELECT count(*), count(DISTINCT client), count(DISTINCT day) FROM current_checks"
        ).fetchall()[0]

    pages, text = _text(report_pdf)

    assert pages >= 5
    assert f"We analyse {fmt_int(checks)} certificate revocation checks" in text
    assert f"logged by {fmt_int(clients)} CertSentry clients over {fmt_int(days)} days" in text


def test_headline_rates_come_from_the_failure_rates_table(
    handmade: tuple[Path, Path], report_pdf: Path
) -> None:
    db, _ = handmade
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT method, wire_checks, failure_rate, failure_ci_low, failure_ci_high "
            "FROM results.failure_rates WHERE level = 'method'"
        ).fetchall()

    _, text = _text(report_pdf)
    abstract = text[: text.index("Contents")]

    for method, n, rate, low, high in rows:
        assert f"Of {fmt_int(n)} {method} checks on the wire, {fmt_pct_ci(rate, low, high)}" in (
            abstract
        )


def test_league_range_comes_from_unsuppressed_rows(
    handmade: tuple[Path, Path], report_pdf: Path
) -> None:
    db, _ = handmade
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT failure_rate, failure_ci_low, failure_ci_high FROM results.league_table "
            "WHERE NOT suppressed ORDER BY 1"
        ).fetchall()

    _, text = _text(report_pdf)

    assert f"range from {fmt_pct_ci(*rows[0])}" in text
    assert fmt_pct_ci(*rows[-1]) in text
    assert "ocsp.small.example" not in text


def test_ingestion_counts_and_reasons_are_reported(report_pdf: Path) -> None:
    _, text = _text(report_pdf)

    assert "not gzip: bad magic bytes" in text
    assert "not a number: junk" in text
    assert "rejected" in text


def test_ca_name_with_typst_markup_renders_literally(report_pdf: Path) -> None:
    _, text = _text(report_pdf)

    assert re.sub(r"\s", "", EVIL_CA) in re.sub(r"\s", "", text)


def test_absent_table_is_named_instead_of_failing(
    handmade: tuple[Path, Path], tmp_path: Path
) -> None:
    import shutil

    db = shutil.copy(handmade[0], tmp_path / "w.duckdb")
    with duckdb.connect(str(db)) as con:
        con.execute("DROP TABLE results.outages")

    _, text = _text(build_report(Path(db), tmp_path / "r.pdf"))

    assert "Not available for this warehouse: detected responder outages (no table " in text
    assert "results.outages" in text
    assert "no simulator ground truth" in text


def test_every_present_table_gets_its_section(report_pdf: Path) -> None:
    _, text = _text(report_pdf)

    assert "Not available for this warehouse" not in text
    assert "Under soft-fail, 7.50% [2.00–18.00%] of 40 checks of revoked certificates" in text
    assert "The detector found 1 outages at 1 responders, 90 minutes in all." in text


def test_provenance_shows_manifest_hash_and_data_date(
    handmade: tuple[Path, Path], report_pdf: Path
) -> None:
    import hashlib

    _, raw = handmade
    digest = hashlib.sha256((raw / "manifest.json").read_bytes()).hexdigest()

    _, text = _text(report_pdf)

    assert digest in text.replace(" ", "")
    assert "2012-03-03 01:54:00 UTC" in text  # the latest check, not the clock
    assert "Source simulated scenario handmade, seed 5" in text


def test_two_builds_give_identical_bytes(handmade: tuple[Path, Path], tmp_path: Path) -> None:
    db, raw = handmade

    first = build_report(db, tmp_path / "a" / "r.pdf", raw_dir=raw).read_bytes()
    second = build_report(db, tmp_path / "b" / "r.pdf", raw_dir=raw).read_bytes()

    assert first == second
    svgs_a = sorted((tmp_path / "a" / "figures").glob("*.svg"))
    svgs_b = sorted((tmp_path / "b" / "figures").glob("*.svg"))
    assert [p.name for p in svgs_a] == [p.name for p in svgs_b]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(svgs_a, svgs_b, strict=True))


def test_report_builds_without_raw_folder_or_results(tmp_path: Path) -> None:
    db = report_warehouse.build(tmp_path / "bare.duckdb", results=False)

    out = build_report(db, tmp_path / "r.pdf")

    _, text = _text(out)
    assert "holds no analysis results yet" in text
    assert "(no manifest.json)" in text


def test_briefing_recommends_the_most_protective_viable_policy(
    handmade: tuple[Path, Path], tmp_path: Path
) -> None:
    db, raw = handmade
    blocking = report_warehouse.exposure_windows().query("attacker == 'blocking'")
    crlite = blocking.set_index("mechanism").loc["CRLite", "share_protected"]
    soft = blocking.set_index("mechanism").loc["online soft-fail", "share_protected"]

    out = build_briefing(db, tmp_path / "b.pdf", raw_dir=raw)

    pages, text = _text(out)
    assert 1 <= pages <= 4
    # Hard-fail for all CAs protects as much but is not viable; CRLite is.
    assert "Recommendation. CRLite protects against an attacker who blocks revocation " in text
    assert f"checks for {fmt_pct(crlite)} of revoked certificates" in text
    assert f"Today's soft-fail default protects {fmt_pct(soft)}" in text
    assert "Hard-fail for all CAs breaks too many connections" in text


def test_recommendation_follows_the_numbers_not_a_fixed_answer() -> None:
    from certsentry_analysis.report.briefing_policies import recommend

    table = pd.DataFrame(
        {
            "policy": ["Soft-fail", "CRLSet", "CRLite"],
            "live_check": [True, False, False],
            "timeout_ms": [100.0, float("nan"), float("nan")],
            "breakage": [0.0, 0.0, 0.0],
            "viable": [True, True, True],
            "protection": [0.0, 0.9, 0.6],
            "bytes_per_client_day": [10.0, 20.0, 30.0],
        }
    )

    chosen, _ = recommend(table)
    chosen_tied, reasons = recommend(table.assign(protection=[0.0, 0.9, 0.9]))

    assert chosen == "CRLSet"
    assert chosen_tied == "CRLSet"  # equal protection: fewer bytes wins
    table.loc[2, "protection"] = 0.95
    assert recommend(table)[0] == "CRLite"
    assert any("CRLite protects about as well with a larger download" in str(p) for p in reasons)


def test_briefing_without_comparison_table_says_so(tmp_path: Path) -> None:
    db = report_warehouse.build(tmp_path / "bare.duckdb", results=False)

    out = build_briefing(db, tmp_path / "b.pdf")

    _, text = _text(out)
    assert "no recommendation is made" in text
    assert "Some inputs are missing from this warehouse" in text


def test_cli_commands_write_the_pdfs(handmade: tuple[Path, Path], tmp_path: Path) -> None:
    db, raw = handmade

    assert (
        main(["report", "--db", str(db), "--raw", str(raw), "--out", str(tmp_path / "r.pdf")]) == 0
    )
    assert main(["briefing", "--db", str(db), "--out", str(tmp_path / "b.pdf")]) == 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "figures" / "league_failure_rates.svg").is_file()


def test_cli_reports_a_missing_warehouse(tmp_path: Path) -> None:
    code = main(
        ["report", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "r.pdf")]
    )

    assert code == 2
    assert not (tmp_path / "r.pdf").exists()
