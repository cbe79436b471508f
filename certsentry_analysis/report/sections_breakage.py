"""Results: hard-fail breakage curves, viability frontier, best-CA counterfactual, soft-fail hole.

Reads the breakage stage's tables (`certsentry_analysis.breakage`). Where the statistics
layer could attribute failures, the breakage model reports two readings: with client-side
failures (captive portals, proxies) included, and with them removed; the report shows
the reading the breakage stage itself uses for its frontier ("removed" when available).
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
    fmt_duration_s,
    fmt_int,
    fmt_ms,
    fmt_pct,
    fmt_pct_ci,
)
from certsentry_analysis.report.tables import show_frame, source

CLAIMED = {
    "breakage_curves",
    "viability_frontier",
    "best_ca_counterfactual",
    "soft_fail_hole",
    "breakage_policies",
}


def reading(frame: pd.DataFrame) -> str | None:
    """The client-side reading to show: 'removed' when the table has it, else 'included'."""
    if "client_side" not in frame.columns:
        return None
    sides = set(frame["client_side"].dropna().astype(str))

    return "removed" if "removed" in sides else ("included" if "included" in sides else None)


def _one_reading(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    side = reading(frame)
    if side is None:
        return frame, ""
    note = (
        "client-side failures removed"
        if side == "removed"
        else "client-side failures included (no attribution available)"
    )

    return frame[frame["client_side"].astype(str) == side], note


def breakage_section(ctx: BuildContext, doc: Document) -> None:
    """Section: what hard-fail would break."""
    doc.heading("Hard-fail breakage")
    doc.para(
        "The breakage model replays every logged chain validation under a policy and a "
        "timeout T: a validation breaks when a check in the policy's scope would fail or "
        "take longer than T, after the policy's retries and fallbacks. A policy is viable at "
        "the smallest T from which breakage stays within the budget at every larger T."
    )
    curves(ctx, doc)
    frontier(ctx, doc)
    for name, title, what in (
        ("best_ca_counterfactual", "Best-CA counterfactual", "the best-CA counterfactual"),
        ("soft_fail_hole", "The soft-fail hole", "the soft-fail hole"),
    ):
        doc.heading(title, 2)
        frame = ctx.table(name)
        if frame is None:
            missing_table(doc, name, what=what)
            continue
        show_frame(doc, name, frame, [f"{title}."])


def curves(ctx: BuildContext, doc: Document) -> None:
    """Breakage against the timeout per policy."""
    doc.heading("Breakage curves", 2)
    frame = ctx.table("breakage_curves")
    if frame is None:
        missing_table(doc, "breakage_curves", what="hard-fail breakage by timeout")
        return
    needed = ["policy", "unit", "timeout_ms", "breakage", "ci_low", "ci_high", "units"]
    if missing_columns(doc, "breakage_curves", frame, needed):
        return

    data, note = _one_reading(frame)
    validations = data[data["unit"] == "validation"]
    budget = None
    front = ctx.table("viability_frontier")
    if front is not None and "budget_validations" in front.columns and len(front):
        budget = float(front["budget_validations"].iloc[0])
    fig = figures.breakage_curves(
        validations,
        series="policy",
        timeout_ms="timeout_ms",
        breakage="breakage",
        low="ci_low",
        high="ci_high",
        ylabel="Chain validations that would fail (%)",
        threshold=budget,
    )
    n = validations.groupby("policy")["units"].max()
    add_figure(
        ctx,
        doc,
        "breakage_curves",
        fig,
        [
            f"Share of chain validations that would fail under each policy against the "
            f"timeout T (s, log scale), with 95% bootstrap bands over clients; {note}. "
            f"n = {fmt_int(n.max() if len(n) else 0)} validations. The dashed line is the "
            "breakage budget.",
            *source("breakage_curves", len(validations), len(frame)),
        ],
    )


def frontier(ctx: BuildContext, doc: Document) -> None:
    """The smallest viable timeout per policy."""
    doc.heading("Viability frontier", 2)
    frame = ctx.table("viability_frontier")
    if frame is None:
        missing_table(doc, "viability_frontier", what="the viability frontier")
        return
    needed = [
        "policy",
        "viable",
        "timeout_ms",
        "validation_breakage",
        "validation_ci_low",
        "validation_ci_high",
        "client_day_breakage",
        "client_day_ci_low",
        "client_day_ci_high",
        "budget_validations",
        "budget_client_days",
    ]
    if missing_columns(doc, "viability_frontier", frame, needed):
        return

    data, note = _one_reading(frame)
    if data.empty:
        doc.note("The viability frontier table is empty.")
        return

    b = data.iloc[0]
    doc.para(
        "The budget allows at most ",
        strong(fmt_pct(b.budget_validations)),
        " of chain validations and ",
        strong(fmt_pct(b.budget_client_days)),
        f" of client-days to break ({note}).",
    )
    sentence: list[Part] = []
    for r in data.itertuples():
        if str(r.policy).startswith("hard") and bool(r.viable):
            sentence += [
                f"{r.policy} becomes viable at T = ",
                strong(fmt_duration_s(r.timeout_ms / 1000)),
                ", breaking ",
                strong(
                    fmt_pct_ci(r.validation_breakage, r.validation_ci_low, r.validation_ci_high)
                ),
                " of validations there. ",
            ]
        elif str(r.policy).startswith("hard"):
            sentence += [f"{r.policy} is not viable at any timeout tested. "]
    if sentence:
        doc.para(*sentence)
        ctx.headlines.append(sentence)
    rows: list[list[Cell]] = []
    for r in data.itertuples():
        rows.append(
            [
                str(r.policy),
                "yes" if bool(r.viable) else "no",
                fmt_duration_s(r.timeout_ms / 1000) if pd.notna(r.timeout_ms) else "n/a",
                fmt_pct_ci(r.validation_breakage, r.validation_ci_low, r.validation_ci_high),
                fmt_pct_ci(r.client_day_breakage, r.client_day_ci_low, r.client_day_ci_high),
                fmt_ms(getattr(r, "mean_wait_ms", None)),
            ]
        )
    doc.table(
        [
            "policy",
            "viable",
            "smallest viable T",
            "validations broken",
            "client-days broken",
            "mean wait",
        ],
        rows,
        [
            "Viability frontier: the smallest timeout within budget and the breakage there, with "
            "95% intervals (at the largest T tested when never viable).",
            *source("viability_frontier", len(rows), len(frame)),
        ],
        align="llrrrr",
        widths=[2.2, 0.7, 1.2, 1.9, 1.9, 1.0],
        size=7.5,
    )
