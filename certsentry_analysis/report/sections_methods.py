"""The estimators behind the result tables and the assumptions they rest on.

Plain text, except for parameters read from the result tables themselves (the breakage
budget, the number of bootstrap replicates is not recorded and so is not quoted).
"""

from __future__ import annotations

from certsentry_analysis.report.context import BuildContext
from certsentry_analysis.report.document import Document, Part, code
from certsentry_analysis.report.formatting import fmt_pct


def estimators(ctx: BuildContext, doc: Document) -> None:
    """Subsection: how each kind of result is estimated, and what it assumes."""
    doc.heading("Estimators and assumptions", 2)
    items: list[list[Part]] = [
        [
            "Failure rates are ratios of failed to attempted wire checks (cache and staple "
            "answers are counted beside, never in the rate). Checks of one client share its "
            "network, so intervals treat the client as the sampling unit: 95% intervals are "
            "widened by the design effect of that clustering or taken from a bootstrap over "
            "clients. The server-side rate counts only failures the attribution assigns to "
            "the responder."
        ],
        [
            "Latency quantiles come from log-binned histograms of answered wire checks; their "
            "intervals resample the histogram with an effective sample size reduced by the "
            "clients' design effect."
        ],
        [
            "Outages are runs of time bins in which the share of failing clients at a "
            "responder rises far above its own baseline, the baseline being re-estimated "
            "without the bins that look like outages."
        ],
        [
            "Attribution labels each client, responder and time bin with failures as server "
            "side (many clients fail at once, or an outage is under way), client side (the "
            "client fails at unrelated responders too, as behind a captive portal) or "
            "ambiguous. It assumes that independent clients rarely fail together by chance."
        ],
        [
            "Hard-fail breakage replays every logged chain validation under a policy and a "
            "timeout; intervals come from a cluster bootstrap over clients. Retries are "
            "credited only with the success rate measured after real failures, because "
            "failures come in runs."
        ],
        [
            "Pushed lists are built from the dataset's own CRLs (a CRLSet under Chrome's size "
            "cap and reason filter; a CRLite filter cascade), and exposure windows combine the "
            "observed validity of online answers with assumed crawl and push delays, listed "
            "in ",
            code("results.exposure_windows"),
            ".",
        ],
        [
            "Cells resting on too few distinct clients are suppressed by the analysis before "
            "they reach any table; suppressed rows are counted but never shown."
        ],
    ]
    frontier = ctx.table("viability_frontier")
    if (
        frontier is not None
        and {"budget_validations", "budget_client_days"} <= set(frontier.columns)
        and len(frontier)
    ):
        b = frontier.iloc[0]
        items.append(
            [
                "A hard-fail policy counts as viable at a timeout when at most "
                f"{fmt_pct(b.budget_validations)} of validations and "
                f"{fmt_pct(b.budget_client_days)} of client-days would break there and at "
                "every longer timeout (the breakage budget of this analysis)."
            ]
        )
    doc.bullets(items)
