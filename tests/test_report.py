"""The report and briefing on a hand-made warehouse: content, absence notes, reproducibility."""

from __future__ import annotations

import io
import re
from pathlib import Path

import duckdb
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


def test_headline_failure_range_comes_from_the_league_table(
    handmade: tuple[Path, Path], report_pdf: Path
) -> None:
    db, _ = handmade
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT failure_rate, ci_low, ci_high FROM results.league_table ORDER BY 1"
        ).fetchall()

    _, text = _text(report_pdf)

    assert fmt_pct_ci(*rows[0]) in text
    assert fmt_pct_ci(*rows[-1]) in text


def test_ingestion_counts_and_reasons_are_reported(report_pdf: Path) -> None:
    _, text = _text(report_pdf)

    assert "not gzip: bad magic bytes" in text
    assert "not a number: junk" in text
    assert "rejected" in text


def test_ca_name_with_typst_markup_renders_literally(report_pdf: Path) -> None:
    _, text = _text(report_pdf)

    assert re.sub(r"\s", "", EVIL_CA) in re.sub(r"\s", "", text)


def test_absent_tables_are_named_instead_of_failing(report_pdf: Path) -> None:
    _, text = _text(report_pdf)

    assert "Not available for this warehouse: hard-fail breakage by timeout" in text
    assert "results.breakage_curves" in text
    assert "no simulator ground truth" in text


def test_provenance_shows_manifest_hash_and_data_date(
    handmade: tuple[Path, Path], report_pdf: Path
) -> None:
    import hashlib

    _, raw = handmade
    digest = hashlib.sha256((raw / "manifest.json").read_bytes()).hexdigest()

    _, text = _text(report_pdf)

    assert digest in text.replace(" ", "")
    assert "2012-03-04 00:00:00 UTC" in text
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
    policies = report_warehouse.mechanism_comparison()
    viable = policies[policies["viable"]].sort_values("protection", ascending=False)
    best = viable.iloc[0]

    out = build_briefing(db, tmp_path / "b.pdf", raw_dir=raw)

    pages, text = _text(out)
    assert 1 <= pages <= 4
    assert f"Recommendation. {best['policy']} protects users from" in text
    assert fmt_pct(best["protection"]) in text
    assert "1 of 6 policies were ruled out" in text


def test_briefing_without_comparison_table_says_so(tmp_path: Path) -> None:
    db = report_warehouse.build(tmp_path / "bare.duckdb", results=False)

    out = build_briefing(db, tmp_path / "b.pdf")

    _, text = _text(out)
    assert "no recommendation is made" in text


def test_cli_commands_write_the_pdfs(handmade: tuple[Path, Path], tmp_path: Path) -> None:
    db, raw = handmade

    assert (
        main(["report", "--db", str(db), "--raw", str(raw), "--out", str(tmp_path / "r.pdf")]) == 0
    )
    assert main(["briefing", "--db", str(db), "--out", str(tmp_path / "b.pdf")]) == 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "figures" / "league_table.svg").is_file()


def test_cli_reports_a_missing_warehouse(tmp_path: Path) -> None:
    code = main(
        ["report", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "r.pdf")]
    )

    assert code == 2
    assert not (tmp_path / "r.pdf").exists()
