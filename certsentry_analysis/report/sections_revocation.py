"""Results: CRLSet coverage, coverage versus size, exposure windows, mechanism comparison.

Reads the revocation stage's tables (`certsentry_analysis.revocation`), which need the
raw folder's PKI (issuer certificates and CRLs); `revocation_inputs` says what was there.
"""

from __future__ import annotations

import pandas as pd

from certsentry_analysis import figures
from certsentry_analysis.report.context import (
    BuildContext,
    add_figure,
    missing_columns,
    missing_table,
)
from certsentry_analysis.report.document import Cell, Document, Part, strong
from certsentry_analysis.report.formatting import (
    fmt_bytes,
    fmt_cell,
    fmt_duration_s,
    fmt_int,
    fmt_ms,
    fmt_pct,
)
from certsentry_analysis.report.tables import source

CLAIMED = {
    "revocation_inputs",
    "crlset_coverage",
    "crlset_size_curve",
    "exposure_windows",
    "revocation_mechanisms",
    "crlite_summary",
}


def revocation_section(ctx: BuildContext, doc: Document) -> None:
    """Section: pushed revocation lists and exposure."""
    doc.heading("Pushed revocation lists and exposure")
    inputs = ctx.table("revocation_inputs")
    if inputs is not None and {"input", "available", "detail"} <= set(inputs.columns):
        absent = inputs[~inputs["available"].astype(bool)]
        for r in absent.itertuples():
            doc.note(f"Input {r.input} unavailable: {r.detail}.")
    coverage(ctx, doc)
    size_curve(ctx, doc)
    exposure(ctx, doc)
    mechanisms(ctx, doc)


def coverage(ctx: BuildContext, doc: Document) -> None:
    """Share of revocations a CRLSet carries, overall and by reason."""
    doc.heading("CRLSet coverage", 2)
    frame = ctx.table("crlset_coverage")
    if frame is None:
        missing_table(doc, "crlset_coverage", what="CRLSet coverage")
        return
    if missing_columns(doc, "crlset_coverage", frame, ["scope", "key", "total", "share_carried"]):
        return

    overall = frame[frame["scope"] == "overall"]
    if len(overall):
        o = overall.iloc[0]
        sentence: list[Part] = [
            "A CRLSet built from this dataset's CRLs carries ",
            strong(fmt_pct(o.share_carried)),
            f" of its {fmt_int(o.total)} revocations.",
        ]
        doc.para(*sentence)
        ctx.headlines.append(sentence)
    rows: list[list[Cell]] = [
        [str(r.scope), str(r.key), fmt_int(r.total), fmt_pct(r.share_carried)]
        for r in frame[frame["scope"].isin(["overall", "reason", "issuers", "cas"])].itertuples()
    ]
    doc.table(
        ["scope", "group", "n", "share carried"],
        rows,
        [
            "Share of revocations (or issuers, CAs) the CRLSet carries, overall and by revocation "
            "reason; n counts the revocations in each group.",
            *source("crlset_coverage", len(rows), len(frame)),
        ],
        align="llrr",
        widths=[1, 2.5, 1, 1],
    )


def size_curve(ctx: BuildContext, doc: Document) -> None:
    """Coverage against the CRLSet's size cap."""
    doc.heading("Coverage versus size", 2)
    frame = ctx.table("crlset_size_curve")
    if frame is None:
        missing_table(doc, "crlset_size_curve", what="coverage versus list size")
        return
    if missing_columns(doc, "crlset_size_curve", frame, ["size_bytes", "share_carried"]):
        return

    long = frame.melt(
        id_vars=["size_bytes"],
        value_vars=[
            c
            for c in ("share_carried", "traffic_share_issuer_level")
            if c in frame.columns and frame[c].notna().any()
        ],
        var_name="measure",
        value_name="share",
    )
    long["measure"] = long["measure"].map(
        {
            "share_carried": "revocations carried",
            "traffic_share_issuer_level": "revoked-certificate checks covered",
        }
    )
    fig = figures.coverage_curve(
        long,
        size="size_bytes",
        coverage="share",
        series="measure",
        xlabel="CRLSet size (KiB, log scale)",
        ylabel="Covered (%)",
    )
    add_figure(
        ctx,
        doc,
        "crlset_size_curve",
        fig,
        [
            f"Coverage of CRLSets built under {fmt_int(len(frame))} size caps: share of the "
            "dataset's revocations carried and, where measured, share of checks that met a "
            "revoked certificate whose revocation the set carries.",
            *source("crlset_size_curve", len(frame), len(frame)),
        ],
    )
    largest = frame.sort_values("size_bytes").iloc[-1]
    doc.para(
        f"At its full size of {fmt_bytes(largest.size_bytes)} the set carries ",
        strong(fmt_pct(largest.share_carried)),
        " of the revocations.",
    )


def exposure(ctx: BuildContext, doc: Document) -> None:
    """How long a revoked certificate stays usable under each mechanism."""
    doc.heading("Exposure windows", 2)
    frame = ctx.table("exposure_windows")
    if frame is None:
        missing_table(doc, "exposure_windows", what="exposure windows")
        return
    needed = ["mechanism", "attacker", "revocations", "share_protected", "median_worst_hours"]
    if missing_columns(doc, "exposure_windows", frame, needed):
        return

    rows: list[list[Cell]] = []
    for r in frame.itertuples():
        rows.append(
            [
                str(r.mechanism),
                str(r.attacker),
                fmt_int(r.revocations),
                fmt_pct(r.share_protected),
                fmt_duration_s(r.median_worst_hours * 3600)
                if pd.notna(r.median_worst_hours) and r.median_worst_hours != float("inf")
                else "never",
                fmt_duration_s(r.max_worst_hours * 3600)
                if "max_worst_hours" in frame.columns
                and pd.notna(r.max_worst_hours)
                and r.max_worst_hours != float("inf")
                else "never",
            ]
        )
    doc.table(
        ["mechanism", "attacker", "revocations", "ever protected", "median worst case", "longest"],
        rows,
        [
            "Exposure window from revocation until a client is protected, per mechanism, with "
            "and without an attacker who blocks live checks (n = revocations).",
            *source("exposure_windows", len(rows), len(frame)),
        ],
        align="llrrrr",
        widths=[1.8, 0.9, 0.9, 1.0, 1.3, 1.1],
    )


def mechanisms(ctx: BuildContext, doc: Document) -> None:
    """Side-by-side comparison of the mechanisms."""
    doc.heading("Mechanism comparison", 2)
    frame = ctx.table("revocation_mechanisms")
    if frame is None:
        missing_table(doc, "revocation_mechanisms", what="the mechanism comparison")
        return
    needed = [
        "mechanism",
        "coverage",
        "bytes_per_client_day",
        "added_latency_ms",
        "ca_learns",
        "blocking_attacker",
    ]
    if missing_columns(doc, "revocation_mechanisms", frame, needed):
        return

    rows: list[list[Cell]] = [
        [
            str(r.mechanism),
            fmt_pct(r.coverage),
            fmt_bytes(r.bytes_per_client_day),
            fmt_ms(r.added_latency_ms),
            str(r.ca_learns),
            str(r.blocking_attacker),
        ]
        for r in frame.itertuples()
    ]
    doc.table(
        [
            "mechanism",
            "coverage",
            "bytes per client-day",
            "added latency per chain",
            "what a third party learns",
            "against a blocking attacker",
        ],
        rows,
        [
            "Revocation mechanisms side by side. Coverage is mechanism-specific (see the notes "
            "in the table); bytes are downloads per client and day.",
            *source("revocation_mechanisms", len(rows), len(frame)),
        ],
        align="lrrrll",
        widths=[1.3, 0.8, 0.9, 0.9, 2.2, 2.2],
        size=7,
    )
    summary = ctx.table("crlite_summary")
    if summary is not None and len(summary):
        row = summary.iloc[0]
        cells = [[str(k).replace("_", " "), fmt_cell(v)] for k, v in row.items() if k != "note"]
        doc.table(
            ["quantity", "value"],
            cells,
            [
                "The CRLite filter cascade built from this dataset's revocations.",
                *source("crlite_summary", 1, len(summary)),
            ],
            align="lr",
            widths=[2, 1],
        )
