"""Results: responder league table, latency, failure taxonomy, outages, attribution.

Reads the statistics stage's tables (`certsentry_analysis.stats`): league_table,
failure_rates, latency_quantiles, latency_ecdf, failure_taxonomy, outages and
attribution_summary. Rows the analysis suppressed (fewer than k clients) carry no
values and are left out of figures; tables say how many rows they show.
"""

from __future__ import annotations

from certsentry_analysis import figures
from certsentry_analysis.report import sections_failures
from certsentry_analysis.report.context import (
    BuildContext,
    add_figure,
    missing_columns,
    missing_table,
)
from certsentry_analysis.report.document import Cell, Document, Part, strong
from certsentry_analysis.report.formatting import (
    fmt_int,
    fmt_ms,
    fmt_ms_ci,
    fmt_num,
    fmt_pct_ci,
)
from certsentry_analysis.report.tables import all_suppressed, source, unsuppressed

CLAIMED = {
    "league_table",
    "failure_rates",
    "latency_quantiles",
    "latency_ecdf",
    "failure_taxonomy",
    "outages",
    "attribution_summary",
}
MAX_ROWS = 40


def results_section(ctx: BuildContext, doc: Document) -> None:
    """Section: responder health."""
    doc.heading("Responder health")
    method_rates(ctx, doc)
    league(ctx, doc)
    latency(ctx, doc)
    sections_failures.taxonomy(ctx, doc)
    sections_failures.outages(ctx, doc)
    sections_failures.attribution(ctx, doc)


def method_rates(ctx: BuildContext, doc: Document) -> None:
    """Overall failure rate per method: the abstract's first headline."""
    frame = ctx.table("failure_rates")
    if frame is None:
        missing_table(doc, "failure_rates", what="failure rates per method")
        return
    needed = [
        "level",
        "method",
        "wire_checks",
        "clients",
        "failure_rate",
        "failure_ci_low",
        "failure_ci_high",
        "attributable_rate",
        "attributable_ci_low",
        "attributable_ci_high",
    ]
    if missing_columns(doc, "failure_rates", frame, needed):
        return

    rows = unsuppressed(frame[frame["level"] == "method"]).sort_values("method")
    sentence: list[Part] = []
    table: list[list[Cell]] = []
    for r in rows.itertuples():
        rate = fmt_pct_ci(r.failure_rate, r.failure_ci_low, r.failure_ci_high)
        attributable = fmt_pct_ci(
            r.attributable_rate, r.attributable_ci_low, r.attributable_ci_high
        )
        table.append(
            [str(r.method), fmt_int(r.wire_checks), fmt_int(r.clients), rate, attributable]
        )
        sentence += [
            f"Of {fmt_int(r.wire_checks)} {r.method} checks on the wire, ",
            strong(rate),
            " failed, ",
            strong(attributable),
            " for reasons attributed to the responder side. ",
        ]
    if not table:
        doc.note("Every per-method failure rate was suppressed (too few clients).")
        return

    doc.para(*sentence)
    ctx.headlines.append(sentence)
    doc.table(
        ["method", "wire checks", "clients", "failure rate [95% CI]", "server-side rate [95% CI]"],
        table,
        [
            "Failure rates of wire checks per method, with client-clustered 95% intervals.",
            *source("failure_rates", len(table), len(table)),
        ],
        align="lrrrr",
    )


def league(ctx: BuildContext, doc: Document) -> None:
    """Per-responder failure rates and latency with intervals."""
    doc.heading("Responder league table", 2)
    frame = ctx.table("league_table")
    if frame is None:
        missing_table(doc, "league_table", what="the per-responder league table")
        return
    needed = [
        "method",
        "rank",
        "responder",
        "operator",
        "wire_checks",
        "clients",
        "failure_rate",
        "failure_ci_low",
        "failure_ci_high",
        "attributable_rate",
        "attributable_ci_low",
        "attributable_ci_high",
        "p50_ms",
        "p50_low",
        "p50_high",
    ]
    if missing_columns(doc, "league_table", frame, needed):
        return

    shown = unsuppressed(frame)
    if all_suppressed(doc, "league_table", frame, shown):
        return
    hidden = len(frame) - len(shown)
    plotted = shown.assign(label=shown["responder"] + " (" + shown["method"] + ")")
    fig = figures.league_plot(
        plotted, label="label", rate="failure_rate", low="failure_ci_low", high="failure_ci_high"
    )
    add_figure(
        ctx,
        doc,
        "league_failure_rates",
        fig,
        [
            f"Failure rate of wire checks per responder, worst first, with 95% intervals "
            f"({fmt_int(len(shown))} responders shown; {fmt_int(hidden)} suppressed for "
            "having too few clients).",
            *source("league_table", len(shown), len(frame)),
        ],
    )
    if len(shown):
        worst = shown.sort_values("failure_rate", ascending=False, kind="stable").iloc[0]
        best = shown.sort_values("failure_rate", kind="stable").iloc[0]
        doc.para(
            "Raw failure rates range from ",
            strong(fmt_pct_ci(best.failure_rate, best.failure_ci_low, best.failure_ci_high)),
            f" ({best.responder}, {fmt_int(best.wire_checks)} checks) to ",
            strong(fmt_pct_ci(worst.failure_rate, worst.failure_ci_low, worst.failure_ci_high)),
            f" ({worst.responder}, {fmt_int(worst.wire_checks)} checks). Ranks order "
            "responders within a method by the server-side rate, then by median latency.",
        )

    rows: list[list[Cell]] = []
    for r in shown.head(MAX_ROWS).itertuples():
        rows.append(
            [
                fmt_int(r.rank),
                f"{r.responder} ({r.method})",
                str(r.operator),
                fmt_int(r.wire_checks),
                fmt_int(r.clients),
                fmt_pct_ci(r.failure_rate, r.failure_ci_low, r.failure_ci_high),
                fmt_pct_ci(r.attributable_rate, r.attributable_ci_low, r.attributable_ci_high),
                fmt_ms_ci(r.p50_ms, r.p50_low, r.p50_high),
            ]
        )
    doc.table(
        [
            "rank",
            "responder",
            "operator",
            "checks",
            "clients",
            "failure rate",
            "server-side rate",
            "median latency",
        ],
        rows,
        [
            "League table of responders with 95% intervals in brackets; checks are wire "
            "checks (the sample size of each rate).",
            *source("league_table", len(rows), len(frame)),
        ],
        align="rllrrrrr",
        widths=[0.45, 2.3, 1.6, 0.8, 0.7, 1.7, 1.7, 1.5],
        size=7,
    )


def latency(ctx: BuildContext, doc: Document) -> None:
    """Latency ECDFs and quantiles."""
    doc.heading("Latency", 2)
    ecdf = ctx.table("latency_ecdf")
    if ecdf is None:
        missing_table(doc, "latency_ecdf", what="latency distributions")
    elif not missing_columns(
        doc, "latency_ecdf", ecdf, ["responder", "method", "latency_ms", "ecdf", "checks"]
    ):
        data = unsuppressed(ecdf)
        for method in sorted(data["method"].dropna().unique()):
            part = data[data["method"] == method]
            fig = figures.latency_ecdf(
                part, group="responder", latency="latency_ms", prob="ecdf", weight="checks"
            )
            add_figure(
                ctx,
                doc,
                f"latency_ecdf_{str(method).lower()}",
                fig,
                [
                    f"Empirical CDF of the latency of answered {method} wire checks (ms, log "
                    f"scale) for the busiest responders (n = {fmt_int(part['checks'].sum())} "
                    "checks in all).",
                    *source("latency_ecdf", len(part), len(ecdf)),
                ],
            )

    frame = ctx.table("latency_quantiles")
    if frame is None:
        missing_table(doc, "latency_quantiles", what="latency quantiles")
        return
    needed = [
        "level",
        "name",
        "method",
        "checks",
        "clients",
        "p50_ms",
        "p50_low",
        "p50_high",
        "p95_ms",
        "p95_low",
        "p95_high",
        "p99_ms",
        "p99_low",
        "p99_high",
    ]
    if missing_columns(doc, "latency_quantiles", frame, needed):
        return

    per = unsuppressed(frame[frame["level"] == "responder"])
    labelled = per.assign(label=per["name"] + " (" + per["method"] + ")")
    fig = figures.latency_quantiles(
        labelled, label="label", quantiles={"median": "p50_ms", "p95": "p95_ms", "p99": "p99_ms"}
    )
    add_figure(
        ctx,
        doc,
        "latency_quantiles",
        fig,
        [
            "Latency quantiles of answered wire checks per responder (ms, log scale), slowest "
            "median first.",
            *source("latency_quantiles", len(per), len(frame)),
        ],
    )
    if len(per):
        for method in sorted(per["method"].unique()):
            part = per[per["method"] == method]
            fastest = part.sort_values("p50_ms", kind="stable").iloc[0]
            slowest = part.sort_values("p50_ms", kind="stable").iloc[-1]
            doc.para(
                f"Median {method} latency per responder runs from ",
                strong(fmt_ms(fastest.p50_ms)),
                f" ({fastest['name']}) to ",
                strong(fmt_ms(slowest.p50_ms)),
                f" ({slowest['name']}), over {fmt_int(part['checks'].sum())} answered checks.",
            )
    operators = unsuppressed(frame[frame["level"] == "operator"]).sort_values(
        ["method", "p50_ms"], kind="stable"
    )
    rows: list[list[Cell]] = [
        [
            str(r.name),
            str(r.method),
            fmt_int(r.checks),
            fmt_int(r.clients),
            fmt_ms_ci(r.p50_ms, r.p50_low, r.p50_high),
            fmt_ms_ci(r.p95_ms, r.p95_low, r.p95_high),
            fmt_ms_ci(r.p99_ms, r.p99_low, r.p99_high),
            fmt_num(r.deff, 1) if "deff" in frame.columns else "n/a",
        ]
        for r in operators.head(MAX_ROWS).itertuples()
    ]
    doc.table(
        ["operator", "method", "checks", "clients", "median", "p95", "p99", "design effect"],
        rows,
        [
            "Latency quantiles per operator (ms) with 95% intervals that account for clustering "
            "of checks within clients (design effect).",
            *source("latency_quantiles", len(rows), len(frame)),
        ],
        align="llrrrrrr",
        widths=[2, 0.8, 0.9, 0.8, 1.4, 1.4, 1.4, 0.9],
        size=7,
    )
