"""Results: CRLSet coverage, coverage versus size, exposure windows, mechanisms."""

from __future__ import annotations

from certsentry_analysis.report.context import BuildContext, missing_table
from certsentry_analysis.report.document import Document
from certsentry_analysis.report.tables import show_frame

COVERAGE = ("crlset_coverage",)
SIZE = ("coverage_vs_size",)
EXPOSURE = ("exposure_windows",)
MECHANISMS = ("mechanism_comparison",)
CLAIMED = {*COVERAGE, *SIZE, *EXPOSURE, *MECHANISMS}


def revocation_section(ctx: BuildContext, doc: Document) -> None:
    """Section: pushed revocation lists and exposure."""
    doc.heading("Pushed revocation lists and exposure")
    for names, title, what in (
        (COVERAGE, "CRLSet coverage", "CRLSet coverage"),
        (SIZE, "Coverage versus size", "coverage versus list size"),
        (EXPOSURE, "Exposure windows", "exposure windows"),
        (MECHANISMS, "Mechanism comparison", "the mechanism comparison"),
    ):
        doc.heading(title, 2)
        found = ctx.first_table(*names)
        if found is None:
            missing_table(doc, *names, what=what)
            continue
        name, frame = found
        show_frame(doc, name, frame, [title + "."])
