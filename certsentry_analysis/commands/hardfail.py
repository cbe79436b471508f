"""`certsentry hardfail`: would hard-fail revocation checking be viable, and at what timeout?"""

from __future__ import annotations

import argparse
import math

import duckdb
import pandas as pd

from certsentry_analysis.analysis import load_table, result_tables
from certsentry_analysis.breakage import PRESETS, Budget, build_tables, get_policy
from certsentry_analysis.breakage.frontier import viability_frontier
from certsentry_analysis.commands._common import add_db_argument, resolve_db

NAME = "hardfail"
HELP = "print the hard-fail viability table (smallest timeout within a breakage budget)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_db_argument(parser)
    parser.add_argument(
        "--policy",
        action="append",
        choices=sorted(PRESETS),
        metavar="NAME",
        help=f"policy preset (repeatable; default: all of {', '.join(PRESETS)})",
    )
    parser.add_argument(
        "--budget-validations",
        type=float,
        default=Budget().validations,
        metavar="X",
        help="largest acceptable share of broken validations (default: %(default)g)",
    )
    parser.add_argument(
        "--budget-client-days",
        type=float,
        default=Budget().client_days,
        metavar="Y",
        help="largest acceptable share of client-days with a break (default: %(default)g)",
    )
    parser.add_argument(
        "--no-attribution",
        action="store_true",
        help="when replaying, skip the client-side attribution (only the all-failures rows)",
    )
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="replay from the checks even when `certsentry analyze` stored the curves",
    )


def _stored(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, pd.DataFrame] | None:
    tables = set(result_tables(con))
    if not {"breakage_curves", "waiting_time", "frontier_by_ca"} <= tables:
        return None
    curves = load_table(con, "breakage_curves")
    if not set(names) <= set(curves["policy"]):
        return None

    return {
        "breakage_curves": curves,
        "waiting_time": load_table(con, "waiting_time"),
        "frontier_by_ca": load_table(con, "frontier_by_ca"),
    }


def _percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.4f}%"


def _format(frontier: pd.DataFrame) -> str:
    rows = [
        (
            "policy",
            "failures",
            "viable",
            "smallest T",
            "validations broken [95% CI]",
            "client-days broken [95% CI]",
            "mean wait",
        )
    ]
    for r in frontier.itertuples():
        T = "none <= 30 s" if not r.viable else f"{r.timeout_ms / 1000:.2f} s"
        if r.policy in PRESETS and not PRESETS[str(r.policy)].hard:
            T = "any (never breaks)"
        at = "" if r.viable else f" (at {r.evaluated_at_ms / 1000:g} s)"
        rows.append(
            (
                r.policy,
                "all" if r.client_side == "included" else "server-side",
                "yes" if r.viable else "no",
                T,
                f"{_percent(r.validation_breakage)} [{_percent(r.validation_ci_low)}, "
                f"{_percent(r.validation_ci_high)}]{at}",
                f"{_percent(r.client_day_breakage)} [{_percent(r.client_day_ci_low)}, "
                f"{_percent(r.client_day_ci_high)}]",
                f"{r.mean_wait_ms:.0f} ms",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def run(args: argparse.Namespace) -> int:
    """Print the viability frontier for the chosen policies and budget."""
    budget = Budget(validations=args.budget_validations, client_days=args.budget_client_days)
    names = args.policy or list(PRESETS)
    db = resolve_db(args)
    if not db.exists():
        raise FileNotFoundError(f"no warehouse at {db}; run `certsentry ingest` first")

    with duckdb.connect(str(db), read_only=True) as con:
        tables = None if args.recompute else _stored(con, names)
        if tables is None:
            tables = build_tables(
                con,
                policies=[get_policy(n) for n in names],
                budget=budget,
                client_side=None if args.no_attribution else "auto",
            )
    curves = tables["breakage_curves"]
    curves = curves[curves["policy"].isin(names)]
    frontier = viability_frontier(curves, tables["waiting_time"], budget)

    print(
        f"Hard-fail viability: budget <= {budget.validations:g} of validations and "
        f"<= {budget.client_days:g} of client-days broken"
    )
    print(_format(frontier))
    by_ca = tables["frontier_by_ca"]
    if not by_ca.empty:
        # Judged against this budget, whichever budget the stored table was made with.
        alone = by_ca[
            (by_ca["all_validation_breakage_max_t"] > budget.validations)
            | (by_ca["client_day_breakage_max_t"] > budget.client_days)
        ]
        names_alone = ", ".join(alone["ca"]) if len(alone) else "none"
        print(f"\nCAs whose responders alone break the budget at 30 s: {names_alone}")

    return 0
