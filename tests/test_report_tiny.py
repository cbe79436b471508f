"""The report and briefing built end to end on the tiny simulated world."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import duckdb
import pypdf
import pytest

from certsentry_analysis.analysis import result_tables
from certsentry_analysis.report import build_briefing, build_report
from certsentry_analysis.report.calibration import measure
from certsentry_analysis.report.formatting import fmt_int, fmt_pct_ci


def _text(pdf: Path) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf.read_bytes()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    text = re.sub(r"-\s*\n\s*", "-", text)

    return len(reader.pages), re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def built(
    tiny_db: Path, tiny_world: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("tiny-report")
    report = build_report(tiny_db, out / "report.pdf", raw_dir=tiny_world)
    briefing = build_briefing(tiny_db, out / "briefing.pdf", raw_dir=tiny_world)

    return report, briefing


def test_page_counts(built: tuple[Path, Path]) -> None:
    report_pages, _ = _text(built[0])
    briefing_pages, _ = _text(built[1])

    assert report_pages >= 6
    assert 2 <= briefing_pages <= 4


def test_abstract_numbers_equal_the_warehouse(tiny_db: Path, built: tuple[Path, Path]) -> None:
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        checks, clients, days = con.execute(
            "SELECT count(*), count(DISTINCT client), count(DISTINCT day) FROM current_checks"
        ).fetchall()[0]
        files = con.execute("SELECT count(*) FROM files").fetchall()[0][0]

    _, text = _text(built[0])

    assert f"We analyse {fmt_int(checks)} certificate revocation checks" in text
    assert f"logged by {fmt_int(clients)} CertSentry clients over {fmt_int(days)} days" in text
    assert f"Ingestion read {fmt_int(files)} files" in text


def test_failure_rate_headlines_equal_the_results_table(
    tiny_db: Path, built: tuple[Path, Path]
) -> None:
    _, text = _text(built[0])
    abstract = text[: text.index("Contents")]
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        if "failure_rates" not in result_tables(con):
            assert "results.failure_rates" in text
            return
        rows = con.execute(
            "SELECT method, wire_checks, failure_rate, failure_ci_low, failure_ci_high "
            "FROM results.failure_rates WHERE level = 'method' AND NOT suppressed"
        ).fetchall()

    assert rows
    for method, n, rate, low, high in rows:
        assert f"Of {fmt_int(n)} {method} checks on the wire, {fmt_pct_ci(rate, low, high)}" in (
            abstract
        )


def test_calibration_sets_measured_beside_published(
    tiny_db: Path, tiny_world: Path, built: tuple[Path, Path]
) -> None:
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        rows = measure(con, tiny_world / "truth")

    _, text = _text(built[0])

    assert "186 to 776 ms" in text
    for row in rows:
        assert row.measured in text


def test_provenance_names_manifest_hash_and_seed(
    tiny_world: Path, built: tuple[Path, Path]
) -> None:
    digest = hashlib.sha256((tiny_world / "manifest.json").read_bytes()).hexdigest()

    _, text = _text(built[0])

    assert digest in text.replace(" ", "")
    assert "seed 11" in text


def test_rebuilding_gives_the_same_bytes(
    tiny_db: Path, tiny_world: Path, built: tuple[Path, Path], tmp_path: Path
) -> None:
    again = build_report(tiny_db, tmp_path / "report.pdf", raw_dir=tiny_world)
    again_briefing = build_briefing(tiny_db, tmp_path / "briefing.pdf", raw_dir=tiny_world)

    assert again.read_bytes() == built[0].read_bytes()
    assert again_briefing.read_bytes() == built[1].read_bytes()


def test_no_client_pseudonym_appears_in_the_pdfs(tiny_db: Path, built: tuple[Path, Path]) -> None:
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        clients = [r[0] for r in con.execute("SELECT client FROM clients").fetchall()]
    texts = [_text(p)[1].replace(" ", "") for p in built]

    assert clients
    assert not any(c in t for c in clients for t in texts)
