"""Results on why checks fail: taxonomy, outages, client- versus server-side attribution."""

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
from certsentry_analysis.report.formatting import fmt_int, fmt_pct
from certsentry_analysis.report.tables import all_suppressed, source, unsuppressed

MAX_ROWS = 30
SIDES = ("server", "client", "ambiguous")


def taxonomy(ctx: BuildContext, doc: Document) -> None:
    """Failures by class, subclass and error code."""
    doc.heading("Failure taxonomy", 2)
    frame = ctx.table("failure_taxonomy")
    if frame is None:
        missing_table(doc, "failure_taxonomy", what="the failure taxonomy")
        return
    needed = [
        "method",
        "responder",
        "failure_class",
        "subclass",
        "error",
        "failures",
        "clients",
        "wire_checks",
        "rate",
        "share",
    ]
    if missing_columns(doc, "failure_taxonomy", frame, needed):
        return

    data = unsuppressed(frame)
    if all_suppressed(doc, "failure_taxonomy", frame, data):
        return
    per_responder = data[data["responder"] != "(all)"]
    labelled = per_responder.assign(
        label=per_responder["responder"] + " (" + per_responder["method"] + ")"
    )
    fig = figures.taxonomy_bars(
        labelled, group="label", category="failure_class", value="failures"
    )
    add_figure(
        ctx,
        doc,
        "failure_taxonomy",
        fig,
        [
            "How each responder's failed wire checks split across failure classes (% of its "
            "failures), responders with most failures first.",
            *source("failure_taxonomy", len(per_responder), len(frame)),
        ],
    )
    overall = data[data["responder"] == "(all)"].sort_values(
        ["method", "failures"], ascending=[True, False], kind="stable"
    )
    sentence: list[Part] = []
    for method, part in overall.groupby("method", sort=True):
        by_class = (
            part.groupby("failure_class")["failures"]
            .sum()
            .sort_values(ascending=False, kind="stable")
        )
        if by_class.sum() <= 0:
            continue
        top = str(by_class.index[0])
        sentence += [
            f"Most {method} failures are {top} failures (",
            strong(fmt_pct(by_class.iloc[0] / by_class.sum())),
            f" of {fmt_int(by_class.sum())}). ",
        ]
    if sentence:
        doc.para(*sentence)
    rows: list[list[Cell]] = [
        [
            str(r.method),
            str(r.failure_class),
            str(r.subclass),
            str(r.error),
            fmt_int(r.failures),
            fmt_pct(r.share),
            fmt_pct(r.rate),
            fmt_int(r.wire_checks),
        ]
        for r in overall.head(MAX_ROWS).itertuples()
    ]
    doc.table(
        [
            "method",
            "class",
            "subclass",
            "error code",
            "failures",
            "share of failures",
            "per wire check",
            "wire checks",
        ],
        rows,
        [
            "Failure taxonomy over all responders: counts, share of the method's failures and "
            "rate per wire check (n = wire checks).",
            *source("failure_taxonomy", len(rows), len(frame)),
        ],
        align="llllrrrr",
        widths=[0.7, 0.9, 1.0, 3.2, 0.8, 0.9, 0.9, 0.9],
        size=7,
    )


def outages(ctx: BuildContext, doc: Document) -> None:
    """Detected responder outages on a timeline."""
    doc.heading("Outages", 2)
    frame = ctx.table("outages")
    if frame is None:
        missing_table(doc, "outages", what="detected responder outages")
        return
    needed = ["responder", "start", "end", "minutes", "wire_checks", "failures"]
    if missing_columns(doc, "outages", frame, needed):
        return

    data = frame.sort_values(["start", "responder"], kind="stable")
    if data.empty:
        doc.para(
            "The outage detector found no period in which a responder failed for many "
            "clients at once."
        )
        return

    period = None
    if ctx.scope.first_day is not None and ctx.scope.last_day is not None:
        period = (
            pd.Timestamp(ctx.scope.first_day),
            pd.Timestamp(ctx.scope.last_day) + pd.Timedelta(days=1),
        )
    fig = figures.outage_timeline(data, label="responder", start="start", end="end", period=period)
    add_figure(
        ctx,
        doc,
        "outage_timeline",
        fig,
        [
            "Detected outages per responder along time (UTC); a bar spans the outage.",
            *source("outages", len(data), len(frame)),
        ],
    )
    total = float(data["minutes"].sum())
    sentence: list[Part] = [
        "The detector found ",
        strong(fmt_int(len(data))),
        f" outages at {fmt_int(data['responder'].nunique())} responders, ",
        strong(f"{fmt_int(total)} minutes"),
        " in all.",
    ]
    doc.para(*sentence)
    ctx.headlines.append(sentence)
    clients = "clients_affected" if "clients_affected" in data.columns else "max_failing_clients"
    rows: list[list[Cell]] = [
        [
            str(r.responder),
            pd.Timestamp(r.start).strftime("%Y-%m-%d %H:%M"),
            fmt_int(r.minutes),
            fmt_int(r.failures),
            fmt_int(r.wire_checks),
            fmt_pct(r.failures / r.wire_checks) if r.wire_checks else "n/a",
            fmt_int(getattr(r, clients, None)),
        ]
        for r in data.head(MAX_ROWS).itertuples()
    ]
    doc.table(
        [
            "responder",
            "start (UTC)",
            "minutes",
            "failures",
            "wire checks",
            "failing share",
            "clients",
        ],
        rows,
        [
            "Detected outages with the checks behind each (n = wire checks during the outage).",
            *source("outages", len(rows), len(frame)),
        ],
        align="llrrrrr",
        widths=[2.4, 1.5, 0.8, 0.8, 0.9, 0.9, 0.7],
        size=7.5,
    )


def attribution(ctx: BuildContext, doc: Document) -> None:
    """Client- versus server-side attribution of failures."""
    doc.heading("Client- versus server-side failures", 2)
    frame = ctx.table("attribution_summary")
    if frame is None:
        missing_table(doc, "attribution_summary", what="client- versus server-side attribution")
        return
    needed = [
        "responder",
        "failures",
        *(f"{s}_failures" for s in SIDES),
        *(f"{s}_share" for s in SIDES),
    ]
    if missing_columns(doc, "attribution_summary", frame, needed):
        return

    data = unsuppressed(frame)
    if all_suppressed(doc, "attribution_summary", frame, data):
        return
    per = data[data["responder"] != "(all)"]
    long = per.melt(
        id_vars=["responder"],
        value_vars=[f"{s}_failures" for s in SIDES],
        var_name="side",
        value_name="n",
    )
    long["side"] = long["side"].str.removesuffix("_failures")
    fig = figures.taxonomy_bars(
        long,
        group="responder",
        category="side",
        value="n",
        xlabel="Share of the responder's failed checks (%)",
    )
    add_figure(
        ctx,
        doc,
        "attribution",
        fig,
        [
            "Failed checks per responder attributed to the server side, the client side, or "
            "neither with confidence (% of the responder's failures).",
            *source("attribution_summary", len(per), len(frame)),
        ],
    )
    total = data[data["responder"] == "(all)"]
    if len(total):
        t = total.iloc[0]
        sentence: list[Part] = [
            "Of ",
            fmt_int(t.failures),
            " failed checks, ",
            strong(fmt_pct(t.server_share)),
            " are attributed to responders, ",
            strong(fmt_pct(t.client_share)),
            " to the clients' own networks, and ",
            fmt_pct(t.ambiguous_share),
            " remain ambiguous.",
        ]
        doc.para(*sentence)
        ctx.headlines.append(sentence)
    clients = "failing_clients" if "failing_clients" in data.columns else "clients"
    rows: list[list[Cell]] = [
        [
            str(r.responder),
            fmt_int(r.failures),
            fmt_pct(r.server_share),
            fmt_pct(r.client_share),
            fmt_pct(r.ambiguous_share),
            fmt_int(getattr(r, clients, None)),
        ]
        for r in data.sort_values("failures", ascending=False, kind="stable")
        .head(MAX_ROWS)
        .itertuples()
    ]
    doc.table(
        ["responder", "failures", "server side", "client side", "ambiguous", "failing clients"],
        rows,
        [
            "Attribution of failed wire checks (n = failures per responder).",
            *source("attribution_summary", len(rows), len(frame)),
        ],
        align="lrrrrr",
        widths=[2.6, 0.9, 0.9, 0.9, 0.9, 0.9],
    )
