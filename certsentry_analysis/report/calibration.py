"""Calibration: the simulated world's measured figures beside the published ones.

Only this section (and tests) may read the simulator's `truth/`: it needs to know
which responders the world placed behind a CDN and their realised server-side
failure rates. Everything else it shows is measured from the warehouse, the way an
analyst would measure real logs. The published figures are constants with their
citations; they are the targets the scenario was calibrated to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from certsentry_analysis.report.context import BuildContext
from certsentry_analysis.report.document import Cell, Document, Part, cite, code
from certsentry_analysis.report.formatting import MISSING, fmt_bytes, fmt_int, fmt_ms, fmt_pct

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Comparison:
    """One row of the calibration table."""

    quantity: str
    published: str
    source: str | None  # a REFERENCES key; None for a scenario target without one source
    measured: str
    n: str


def _truth_dir(raw_dir: Path | None) -> Path | None:
    if raw_dir is None:
        return None
    truth = raw_dir / "truth"
    if (raw_dir / "manifest.json").is_file() and (truth / "responders.parquet").is_file():
        return truth

    return None


def _range(lo: object, hi: object, fmt: type[str] | object = fmt_ms) -> str:
    if lo is None or hi is None:
        return MISSING
    if lo == hi:
        return fmt(lo)  # type: ignore[operator]

    return f"{fmt(lo)} to {fmt(hi)}"  # type: ignore[operator]


def measure(con: duckdb.DuckDBPyConnection, truth: Path) -> list[Comparison]:
    """Measure the calibrated quantities in the warehouse, labelled by the world's truth."""
    responders = str(truth / "responders.parquet")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE truth_responders AS SELECT * FROM read_parquet(?)",
        [responders],
    )
    out: list[Comparison] = []

    # OCSP mean latency per responder (successful wire checks, non-CDN responders).
    lo, hi, n = con.execute(
        """
        WITH per AS (
          SELECT c.responder, avg(c.latency_ms) AS mean_ms, count(*) AS n
          FROM current_checks c JOIN truth_responders t ON c.responder = t.responder
          WHERE c.method = 'OCSP' AND c.source = 'wire' AND c.outcome <> 'error'
            AND NOT coalesce(t.cdn, false)
          GROUP BY 1)
        SELECT min(mean_ms), max(mean_ms), coalesce(sum(n), 0) FROM per
        """
    ).fetchall()[0]
    out.append(
        Comparison(
            "OCSP mean latency per responder (non-CDN)",
            "186 to 776 ms",
            "hurst2012",
            _range(lo, hi),
            fmt_int(n),
        )
    )

    # Server-side OCSP failure rate realised per responder in the world.
    lo, hi, n = con.execute(
        """
        SELECT min(true_failure_rate), max(true_failure_rate), count(*)
        FROM truth_responders WHERE method = 'OCSP'
        """
    ).fetchall()[0]
    out.append(
        Comparison(
            "OCSP server-side failure rate per responder",
            "0.003% to 0.05%",
            "netcraft2013",
            _range(lo, hi, fmt_pct),
            f"{fmt_int(n)} responders",
        )
    )

    # CRL sizes: bytes of CRLs fetched successfully over the wire.
    lo, med, hi, n = con.execute(
        """
        SELECT min(bytes), median(bytes), max(bytes), count(*)
        FROM current_checks
        WHERE method = 'CRL' AND source = 'wire' AND outcome <> 'error' AND bytes IS NOT NULL
        """
    ).fetchall()[0]
    measured = MISSING if lo is None else f"{_range(lo, hi, fmt_bytes)} (median {fmt_bytes(med)})"
    out.append(Comparison("CRL size", "1 KB to 500 KB", None, measured, fmt_int(n)))

    # CDN-hosted responders: median latency.
    med, n = con.execute(
        """
        SELECT median(c.latency_ms), count(*)
        FROM current_checks c JOIN truth_responders t ON c.responder = t.responder
        WHERE c.source = 'wire' AND c.outcome <> 'error' AND coalesce(t.cdn, false)
        """
    ).fetchall()[0]
    out.append(
        Comparison(
            "Median latency of CDN-hosted responders",
            "about 20 ms",
            "zhu2016",
            fmt_ms(med) if n else MISSING,
            fmt_int(n),
        )
    )

    # Client timeouts: configured per-URL timeout and the slowest timed-out check.
    lo, hi, slowest, n = con.execute(
        """
        SELECT min(timeout_ms), max(timeout_ms),
               max(latency_ms) FILTER (WHERE error = 'ERROR_INTERNET_TIMEOUT'),
               count(*) FILTER (WHERE error = 'ERROR_INTERNET_TIMEOUT')
        FROM current_checks
        """
    ).fetchall()[0]
    configured = MISSING if lo is None else _range(lo, hi)
    measured = f"configured {configured}; slowest timed-out check {fmt_ms(slowest)}"
    out.append(
        Comparison(
            "Client revocation timeout",
            "15 s per URL, 20 s per chain (Windows)",
            "ms2012",
            measured,
            f"{fmt_int(n)} timeouts",
        )
    )

    return out


def calibration_section(ctx: BuildContext, doc: Document) -> None:
    """Section: simulated world against the literature (only for simulated data)."""
    doc.heading("Calibration against published measurements")
    truth = _truth_dir(ctx.raw_dir)
    if truth is None:
        doc.note(
            "This dataset carries no simulator ground truth (no ",
            code("manifest.json"),
            " and ",
            code("truth/"),
            " beside the logs), so it is treated as real data and not compared with a "
            "calibration target.",
        )
        return

    with ctx.connect() as con:
        rows = measure(con, truth)
    doc.para(
        "The data in this report is simulated. The scenario was calibrated to published "
        "measurements of the 2012 to 2016 web PKI; the table sets what this world produced, "
        "measured from its logs the way real logs are measured, beside those figures. The "
        "world's truth is read only to label responders (CDN or not) and to report their "
        "realised server-side failure rates.",
    )
    caption: list[Part] = [
        "Simulated world versus published figures. Measured values are ranges over "
        "responders or over checks; n counts the checks (or responders) behind each value."
    ]
    table_rows: list[list[Cell]] = []
    for row in rows:
        published: list[Part] = [row.published + " "]
        published.append(cite(row.source) if row.source else "(scenario target)")
        table_rows.append([row.quantity, published, row.measured, row.n])
    doc.table(
        ["quantity", "published", "this world", "n"],
        table_rows,
        caption,
        align="lllr",
        widths=[2.2, 1.6, 2.4, 0.9],
    )
