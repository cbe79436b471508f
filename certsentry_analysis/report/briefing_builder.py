"""Build the policy briefing (`certsentry briefing`): policies side by side, one figure.

The recommendation is chosen by rules over the mechanism comparison table, never
written in advance: among the policies whose breakage stays within the viability
threshold, the one that protects most wins; ties go to fewer bytes, then to the
policy that reveals less browsing to third parties.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from certsentry_analysis import figures
from certsentry_analysis.report import sections_data
from certsentry_analysis.report.context import BuildContext, add_figure, load_context
from certsentry_analysis.report.document import Cell, Document, Part, as_runs, code, strong
from certsentry_analysis.report.formatting import fmt_bytes, fmt_cell, fmt_int, fmt_pct
from certsentry_analysis.report.render import compile_pdf
from certsentry_analysis.report.tables import pick

log = logging.getLogger(__name__)

TITLE = "Checking whether certificates were revoked: what each policy costs"
MECHANISMS = ("mechanism_comparison", "policy_comparison")
_LABEL = ("policy", "mechanism", "name")
_BREAKAGE = ("breakage", "breakage_rate", "broken_share", "breakage_share")
_PROTECTION = ("protection", "protection_rate", "protected_share", "revoked_caught_share")
_BYTES = ("bytes_per_client_day", "bytes_per_client", "bytes", "bytes_per_day")
_PRIVACY = ("privacy", "leaks_browsing", "reveals_browsing", "privacy_leak")
_VIABLE = ("viable",)
_THRESHOLD = ("viability_threshold", "threshold")


@dataclass(frozen=True)
class Columns:
    """Where each measure lives in the comparison table (None when absent)."""

    label: str
    breakage: str | None
    protection: str | None
    bytes: str | None
    privacy: str | None
    viable: str | None
    threshold: str | None


def columns_of(frame: pd.DataFrame) -> Columns | None:
    """Locate the briefing's measures in a comparison table, or None if it has no label."""
    label = pick(frame, *_LABEL)
    if label is None:
        return None

    return Columns(
        label=label,
        breakage=pick(frame, *_BREAKAGE),
        protection=pick(frame, *_PROTECTION),
        bytes=pick(frame, *_BYTES),
        privacy=pick(frame, *_PRIVACY),
        viable=pick(frame, *_VIABLE),
        threshold=pick(frame, *_THRESHOLD),
    )


def _viable_rows(frame: pd.DataFrame, cols: Columns) -> pd.DataFrame:
    if cols.viable is not None:
        return frame[frame[cols.viable].fillna(False).astype(bool)]
    if cols.threshold is not None and cols.breakage is not None:
        limit = frame[cols.threshold].dropna()
        if len(limit):
            return frame[frame[cols.breakage] <= float(limit.iloc[0])]

    return frame


def _privacy_rank(value: object) -> int:
    # A policy that tells a third party which sites a user visits ranks worse.
    if isinstance(value, bool):
        return int(value)
    text = str(value).lower()

    return 1 if any(w in text for w in ("leak", "reveal", "yes", "ca sees")) else 0


def recommend(frame: pd.DataFrame, cols: Columns) -> tuple[pd.Series, list[Part]] | None:
    """The recommended policy's row and the plain-language reasons chosen by the numbers."""
    if cols.protection is None or frame.empty:
        return None

    viable = _viable_rows(frame, cols)
    pool = viable if len(viable) else frame
    ranked = pool.assign(
        _bytes=pool[cols.bytes] if cols.bytes else 0,
        _privacy=pool[cols.privacy].map(_privacy_rank) if cols.privacy else 0,
    ).sort_values(
        [cols.protection, "_bytes", "_privacy", cols.label],
        ascending=[False, True, True, True],
        kind="stable",
    )
    best = ranked.iloc[0]
    reasons: list[Part] = [
        strong(str(best[cols.label])),
        " protects users from ",
        strong(fmt_pct(best[cols.protection])),
        " of the revoked certificates they met",
    ]
    if cols.breakage is not None:
        reasons += [" while breaking ", strong(fmt_pct(best[cols.breakage])), " of connections"]
    if cols.bytes is not None:
        reasons += [" at ", strong(fmt_bytes(best[cols.bytes])), " of downloads"]
    reasons.append(". ")
    if len(viable) < len(frame):
        reasons.append(
            f"{fmt_int(len(frame) - len(viable))} of {fmt_int(len(frame))} policies were ruled "
            "out because they would break too many connections. "
        )
    if len(ranked) > 1:
        runner = ranked.iloc[1]
        reasons += [
            "The next best viable choice, ",
            str(runner[cols.label]),
            ", protects ",
            fmt_pct(runner[cols.protection]),
            ". ",
        ]
    if len(viable) == 0:
        reasons.append(
            "No policy stays within the breakage threshold, so this choice trades breakage "
            "for protection and should be piloted before deployment. "
        )

    return best, reasons


def comparison_table(doc: Document, name: str, frame: pd.DataFrame, cols: Columns) -> None:
    """The side-by-side table of policies."""
    header = ["policy"]
    getters = []
    for title, column, fmt in (
        ("breakage", cols.breakage, fmt_pct),
        ("protection", cols.protection, fmt_pct),
        ("downloads", cols.bytes, fmt_bytes),
        ("privacy", cols.privacy, fmt_cell),
    ):
        if column is not None:
            header.append(title)
            getters.append((column, fmt))
    rows: list[list[Cell]] = []
    for _, record in frame.iterrows():
        rows.append([str(record[cols.label]), *(fmt(record[c]) for c, fmt in getters)])
    doc.table(
        header,
        rows,
        [
            "The policies side by side. Breakage: share of connections that would fail; "
            "protection: share of revoked certificates a user would be warned about; "
            "downloads: bytes per client. Source: ",
            code(f"results.{name}"),
            f" ({fmt_int(len(frame))} policies).",
        ],
        align="l" + "r" * (len(header) - 1),
    )


def build_briefing_document(ctx: BuildContext) -> Document:
    """Lay out the briefing over the gathered context."""
    s = ctx.scope
    doc = Document(
        title=TITLE,
        subtitle=f"A policy briefing from {fmt_int(s.checks)} revocation checks by "
        f"{fmt_int(s.clients)} clients over {fmt_int(s.days)} days",
    )
    recommendation: list[Part]
    found = ctx.first_table(*MECHANISMS)
    cols = None if found is None else columns_of(found[1])
    chosen = None if found is None or cols is None else recommend(found[1], cols)
    if chosen is None:
        recommendation = [
            "The data needed to compare policies (the mechanism comparison table) is not in "
            "this warehouse, so no recommendation is made."
        ]
    else:
        recommendation = chosen[1]

    doc.heading("The question")
    doc.para(
        "When a browser or operating system opens a secure connection, it can ask whether "
        "the site's certificate has been revoked, for example because its key was stolen. "
        "Asking takes time and sometimes fails; what to do then is a policy choice. "
        "Soft-fail carries on as if all were well, which an attacker who blocks the check "
        "exploits. Hard-fail refuses the connection, which breaks sites whenever a "
        "revocation server is slow or down. Pushed lists (CRLSet, CRLite) and stapling "
        "avoid the live check altogether."
    )
    doc.heading("What the data says")
    if found is None or cols is None:
        doc.note(
            "No mechanism comparison table (",
            code("results.mechanism_comparison"),
            ") in this warehouse: run ",
            code("certsentry analyze"),
            " with the raw folder's PKI to produce it.",
        )
    else:
        name, frame = found
        comparison_table(doc, name, frame, cols)
        if cols.breakage and cols.protection:
            fig = figures.tradeoff_scatter(
                frame,
                label=cols.label,
                x=cols.breakage,
                y=cols.protection,
                xlabel="Connections that would fail (%)",
                ylabel="Revoked certificates caught (%)",
            )
            add_figure(
                ctx,
                doc,
                "briefing_tradeoff",
                fig,
                [
                    "Each policy's cost (connections broken, %) against its benefit (revoked "
                    "certificates caught, %). Up and to the left is better."
                ],
            )
    doc.heading("About the data")
    rows = sections_data.scope_rows(ctx)
    doc.bullets([[f"{label}: {value}"] for label, value in rows])
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
    figures_dir = figures_dir or out.parent / "figures"
    ctx = load_context(db_path, raw_dir, figures_dir)
    doc = build_briefing_document(ctx)
    pdf = compile_pdf(doc, "briefing", ctx.provenance.built_at)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pdf)
    log.info(
        "briefing: %s, %d bytes, %d figures in %.1f s",
        out,
        len(pdf),
        len(ctx.figures_written),
        time.perf_counter() - started,
    )

    return out
