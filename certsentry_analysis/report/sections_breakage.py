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
from certsentry_analysis.report.tables import source

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
    counterfactual(ctx, doc)
    soft_fail_hole(ctx, doc)


def counterfactual(ctx: BuildContext, doc: Document) -> None:
    """Breakage if every responder behaved like the best CA's."""
    doc.heading("Best-CA counterfactual", 2)
    frame = ctx.table("best_ca_counterfactual")
    if frame is None:
        missing_table(doc, "best_ca_counterfactual", what="the best-CA counterfactual")
        return
    needed = [
        "policy",
        "unit",
        "timeout_ms",
        "observed",
        "counterfactual",
        "ci_low",
        "ci_high",
        "observed_ci_low",
        "observed_ci_high",
        "best_ca",
    ]
    if missing_columns(doc, "best_ca_counterfactual", frame, needed):
        return

    data, note = _one_reading(frame)
    data = data[data["unit"] == "validation"]
    if data.empty:
        doc.note("The best-CA counterfactual table has no per-validation rows.")
        return

    best = str(data["best_ca"].dropna().iloc[0]) if data["best_ca"].notna().any() else "n/a"
    policy = str(data["policy"].iloc[0])
    observed = data.assign(series="as observed").rename(
        columns={"observed": "b", "observed_ci_low": "lo", "observed_ci_high": "hi"}
    )
    counter = data.assign(series=f"every CA like {best}").rename(
        columns={"counterfactual": "b", "ci_low": "lo", "ci_high": "hi"}
    )
    both = pd.concat(
        [
            observed[["series", "timeout_ms", "b", "lo", "hi"]],
            counter[["series", "timeout_ms", "b", "lo", "hi"]],
        ],
        ignore_index=True,
    )
    fig = figures.breakage_curves(
        both,
        series="series",
        timeout_ms="timeout_ms",
        breakage="b",
        low="lo",
        high="hi",
        ylabel="Chain validations that would fail (%)",
    )
    add_figure(
        ctx,
        doc,
        "best_ca_counterfactual",
        fig,
        [
            f"Breakage of {policy} against the timeout T (s, log scale): as observed, and if "
            f"every responder answered like the best CA's ({best}); 95% bands; {note}.",
            *source("best_ca_counterfactual", len(data), len(frame)),
        ],
    )
    criterion = str(data["criterion"].iloc[0]) if "criterion" in data.columns else ""
    if criterion:
        doc.para("Best CA criterion: ", criterion.rstrip(".") + ".")


def soft_fail_hole(ctx: BuildContext, doc: Document) -> None:
    """How often a revoked certificate would be accepted because its check failed."""
    doc.heading("The soft-fail hole", 2)
    frame = ctx.table("soft_fail_hole")
    if frame is None:
        missing_table(doc, "soft_fail_hole", what="the soft-fail hole")
        return
    needed = ["policy", "revoked_checks", "clients", "accepted_share", "ci_low", "ci_high"]
    if missing_columns(doc, "soft_fail_hole", frame, needed):
        return

    rows: list[list[Cell]] = [
        [
            str(r.policy),
            fmt_int(r.revoked_checks),
            fmt_int(r.clients),
            fmt_pct_ci(r.accepted_share, r.ci_low, r.ci_high),
        ]
        for r in frame.itertuples()
    ]
    soft = frame[frame["policy"].astype(str) == "soft-fail"]
    if len(soft) and pd.notna(soft.iloc[0]["accepted_share"]):
        r = soft.iloc[0]
        sentence: list[Part] = [
            "Under soft-fail, ",
            strong(fmt_pct_ci(r.accepted_share, r.ci_low, r.ci_high)),
            f" of {fmt_int(r.revoked_checks)} checks of revoked certificates would have been "
            "accepted because the check failed or timed out.",
        ]
        doc.para(*sentence)
        ctx.headlines.append(sentence)
    doc.table(
        ["policy", "checks of revoked certificates", "clients", "accepted [95% CI]"],
        rows,
        [
            "Share of checks of revoked certificates a client would accept under each policy, "
            "because no answer arrived in time (n = checks of revoked certificates).",
            *source("soft_fail_hole", len(rows), len(frame)),
        ],
        align="lrrr",
        widths=[2, 1.5, 0.8, 1.8],
    )


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
