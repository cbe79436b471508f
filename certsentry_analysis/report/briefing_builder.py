"""Build the policy briefing (`certsentry briefing`): policies side by side, one figure."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import pandas as pd

from certsentry_analysis import figures
from certsentry_analysis.report import briefing_policies, sections_data
from certsentry_analysis.report.context import BuildContext, add_figure, write_document_pdf
from certsentry_analysis.report.document import Cell, Document, Part, as_runs, code
from certsentry_analysis.report.formatting import (
    MISSING,
    fmt_bytes,
    fmt_duration_s,
    fmt_int,
    fmt_pct,
    fmt_pct_ci,
)

log = logging.getLogger(__name__)

TITLE = "Checking whether certificates were revoked: what each policy costs"
SOURCES = ("viability_frontier", "exposure_windows", "revocation_mechanisms")


def _breakage_cell(r: pd.Series) -> str:
    if not r.live_check:
        return "none (no live check)"
    cell = fmt_pct_ci(r.breakage, r.breakage_low, r.breakage_high)
    if r.policy == "Soft-fail":
        return cell
    if briefing_policies.viability(r.viable) is False:
        at = r.get("evaluated_at_ms", float("nan"))
        where = "" if math.isnan(at) else f" at {fmt_duration_s(at / 1000)}"
        return f"{cell}{where} (over budget)"
    if not math.isnan(r.timeout_ms):
        cell += f" at {fmt_duration_s(r.timeout_ms / 1000)}"

    return cell


def comparison_table(doc: Document, table: pd.DataFrame) -> None:
    """The side-by-side table of the six policies."""
    rows: list[list[Cell]] = []
    for _, r in table.iterrows():
        rows.append(
            [
                str(r.policy),
                _breakage_cell(r),
                fmt_pct(r.protection) if pd.notna(r.protection) else str(r.blocking_attacker),
                fmt_bytes(r.bytes_per_client_day),
                str(r.third_party_learns),
            ]
        )
    doc.table(
        [
            "policy",
            "connections broken",
            "protected against blocking",
            "downloads per day",
            "what a third party learns",
        ],
        rows,
        [
            "The policies side by side. Connections broken: share of certificate-chain checks "
            "that would fail, with a 95% interval, at the shortest timeout within the breakage "
            "budget. Protected: share of revoked certificates for which a user is protected "
            "even when an attacker blocks live checks. Downloads per user and day. Sources: ",
            code("results.viability_frontier"),
            ", ",
            code("results.exposure_windows"),
            ", ",
            code("results.revocation_mechanisms"),
            f" ({fmt_int(len(table))} policies).",
        ],
        align="lrrrl",
        widths=[1.5, 1.9, 1.1, 1.0, 2.4],
        size=8,
    )


def build_briefing_document(ctx: BuildContext) -> Document:
    """Lay out the briefing over the gathered context."""
    s = ctx.scope
    doc = Document(
        title=TITLE,
        subtitle=f"A policy briefing from {fmt_int(s.checks)} revocation checks by "
        f"{fmt_int(s.clients)} clients over {fmt_int(s.days)} days",
    )
    table = briefing_policies.policy_table(ctx)
    _, recommendation = briefing_policies.recommend(table)

    doc.heading("The question")
    doc.para(
        "When a browser or operating system opens a secure connection, it can ask whether "
        "the site's certificate has been revoked, for example because its key was stolen. "
        "Asking takes time and sometimes fails, and what to do then is a policy choice. "
        "Soft-fail carries on as if all were well, which an attacker who blocks the check "
        "can exploit. Hard-fail refuses the connection, which breaks sites whenever a "
        "revocation server is slow or down; it can be limited to chosen certificate "
        "authorities. Pushed lists (Chrome's CRLSet, Mozilla's CRLite) and stapling, where "
        "the web server delivers the answer, avoid the live check."
    )
    doc.heading("What the data says")
    present = [name for name in SOURCES if ctx.table(name) is not None]
    if len(present) < len(SOURCES):
        absent = [name for name in SOURCES if name not in present]
        missing: list[Part] = ["Some inputs are missing from this warehouse ("]
        for i, name in enumerate(absent):
            missing += [", " if i else "", code(f"results.{name}")]
        missing.append(f"); the affected cells read {MISSING}.")
        doc.note(*missing)
    comparison_table(doc, table)
    plotted = table[table["protection"].notna() | table["breakage"].notna()]
    fig = figures.policy_panels(
        plotted,
        label="policy",
        panels={
            "Protected against blocking (%)": "protection",
            "Connections broken (%)": "breakage",
        },
    )
    add_figure(
        ctx,
        doc,
        "briefing_policies",
        fig,
        [
            "Each policy's benefit (left: share of revoked certificates a user stays protected "
            "from when an attacker blocks live checks, %) and cost (right: share of connections "
            "that would fail, %). Longer left bars and shorter right bars are better."
        ],
    )
    doc.heading("About the data")
    doc.bullets([[f"{label}: {value}"] for label, value in sections_data.scope_rows(ctx)])
    doc.para(
        "The full report (",
        code("make report"),
        ") gives the methods, intervals, assumptions and limitations behind every number here.",
    )
    doc.meta = {"recommendation": as_runs(recommendation)}

    return doc


def build_briefing(
    db_path: Path,
    out: Path,
    *,
    raw_dir: Path | None = None,
    figures_dir: Path | None = None,
) -> Path:
    """Write the policy briefing PDF for the warehouse at `db_path` to `out`."""
    started = time.perf_counter()
    ctx, size = write_document_pdf(
        "briefing", build_briefing_document, db_path, out, raw_dir=raw_dir, figures_dir=figures_dir
    )
    log.info(
        "briefing: %s, %d bytes, %d figures in %.1f s",
        out,
        size,
        len(ctx.figures_written),
        time.perf_counter() - started,
    )

    return out
