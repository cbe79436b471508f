"""Build the paper-style report (`certsentry report`) from a warehouse."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from certsentry_analysis.report import (
    calibration,
    sections_back,
    sections_breakage,
    sections_data,
    sections_revocation,
    sections_stats,
    tables,
)
from certsentry_analysis.report.context import BuildContext, write_document_pdf
from certsentry_analysis.report.document import Document, Part, as_runs, strong
from certsentry_analysis.report.formatting import fmt_int

log = logging.getLogger(__name__)

TITLE = "Revocation checking in the wild"
SUBTITLE = (
    "OCSP and CRL health, hard-fail breakage and pushed revocation lists, from CertSentry logs"
)

Section = Callable[[BuildContext, Document], None]
# The body in reading order; each section says so itself when its tables are absent.
SECTIONS: tuple[Section, ...] = (
    sections_data.data_and_methods,
    sections_stats.results_section,
    sections_breakage.breakage_section,
    sections_revocation.revocation_section,
    calibration.calibration_section,
    sections_back.limitations,
    sections_back.provenance_appendix,
)
# Result tables some section lays out; the appendix lists the rest.
CLAIMED = sections_stats.CLAIMED | sections_breakage.CLAIMED | sections_revocation.CLAIMED


def _abstract(ctx: BuildContext) -> list[Part]:
    s = ctx.scope
    parts: list[Part] = [
        "We analyse ",
        strong(fmt_int(s.checks)),
        " certificate revocation checks logged by ",
        strong(fmt_int(s.clients)),
        " CertSentry clients over ",
        strong(fmt_int(s.days)),
        f" days, against {fmt_int(s.responders)} OCSP responders and CRL endpoints of "
        f"{fmt_int(s.cas)} certificate authorities. ",
    ]
    for sentence in ctx.headlines:
        parts.extend(sentence)
        parts.append(" ")
    if not ctx.headlines:
        parts.append(
            "The warehouse holds no analysis results yet, so this report describes the data only. "
        )

    return parts


def build_document(ctx: BuildContext) -> Document:
    """Lay out the report's sections over the gathered context."""
    doc = Document(title=TITLE, subtitle=SUBTITLE)
    for section in SECTIONS:
        section(ctx, doc)
    tables.other_tables(ctx, doc, set(CLAIMED))
    doc.meta = {
        "byline": "certsentry-analysis, built from data of "
        + ctx.provenance.built_at.strftime("%Y-%m-%d"),
        "scope": [list(row) for row in sections_data.scope_rows(ctx)],
        "abstract": as_runs(_abstract(ctx)),
    }

    return doc


def build_report(
    db_path: Path,
    out: Path,
    *,
    raw_dir: Path | None = None,
    figures_dir: Path | None = None,
) -> Path:
    """Write the report PDF for the warehouse at `db_path` to `out`; figures beside it."""
    started = time.perf_counter()
    ctx, size = write_document_pdf(
        "report", build_document, db_path, out, raw_dir=raw_dir, figures_dir=figures_dir
    )
    log.info(
        "report: %s, %d bytes, %d figures, %d result tables in %.1f s",
        out,
        size,
        len(ctx.figures_written),
        len(ctx.results),
        time.perf_counter() - started,
    )

    return out
