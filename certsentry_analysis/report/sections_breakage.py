"""Results: hard-fail breakage curves, viability frontier, best-CA counterfactual."""

from __future__ import annotations

from certsentry_analysis.report.context import BuildContext, missing_table
from certsentry_analysis.report.document import Document
from certsentry_analysis.report.tables import show_frame

CURVES = ("breakage_curves",)
FRONTIER = ("viability_frontier", "frontier")
COUNTERFACTUAL = ("best_ca_counterfactual", "counterfactual")
SOFTFAIL = ("softfail_hole", "soft_fail_hole")
CLAIMED = {*CURVES, *FRONTIER, *COUNTERFACTUAL, *SOFTFAIL}


def breakage_section(ctx: BuildContext, doc: Document) -> None:
    """Section: what hard-fail would break."""
    doc.heading("Hard-fail breakage")
    for names, title, what in (
        (CURVES, "Breakage curves", "hard-fail breakage by timeout"),
        (FRONTIER, "Viability frontier", "the viability frontier"),
        (COUNTERFACTUAL, "Best-CA counterfactual", "the best-CA counterfactual"),
        (SOFTFAIL, "The soft-fail hole", "the soft-fail hole"),
    ):
        doc.heading(title, 2)
        found = ctx.first_table(*names)
        if found is None:
            missing_table(doc, *names, what=what)
            continue
        name, frame = found
        show_frame(doc, name, frame, [title + "."])
