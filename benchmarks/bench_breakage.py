"""Benchmark: the hard-fail sweep (50 timeouts x 4 policies) against one plain rollup pass.

Uses the project warehouse when it exists (`make ingest`), else simulates baseline-2012
with fewer clients into a work folder (reused by later runs). Prints one table: the
wall time of each stage and its ratio to a plain DuckDB GROUP BY over the same checks.

    .venv/bin/python benchmarks/bench_breakage.py [--db PATH] [--clients 400]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from certsentry_analysis import config
from certsentry_analysis.breakage import PRESETS, breakage_curves, build_tables, timeout_grid
from certsentry_analysis.breakage.world import load_world
from certsentry_analysis.rollups import render

T = TypeVar("T")
BENCH_KEY = bytes.fromhex("be" * 32)
PLAIN_ROLLUP = """
SELECT client, responder, method, day, COUNT(*) AS checks,
       SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS failures,
       SUM(latency_ms) AS latency_sum
FROM current_checks GROUP BY client, responder, method, day
"""


def warehouse(args: argparse.Namespace) -> Path:
    """The warehouse to measure: --db, the project's, or a simulated stand-in."""
    if args.db:
        return Path(args.db)
    default = config.paths().database
    if default.exists():
        return default

    from certsentry_analysis.ingest import ingest
    from certsentry_analysis.simulate import simulate

    work = Path(tempfile.gettempdir()) / f"certsentry-bench-breakage-{args.clients}"
    db = work / "certsentry.duckdb"
    if not db.exists():
        raw = simulate(
            config.DEFAULT_SCENARIO, config.DEFAULT_SEED, work / "raw", clients=args.clients
        )
        ingest([raw / "logs"], db, key=BENCH_KEY, pki_dirs=[raw / "pki"])

    return db


def timed(
    label: str, rows: list[tuple[str, float]], fn: Callable[..., T], *a: Any, **kw: Any
) -> T:
    """Run fn, record its wall time under label, return its result."""
    started = time.perf_counter()
    out = fn(*a, **kw)
    rows.append((label, time.perf_counter() - started))

    return out


def main() -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3, help="rollup repetitions (best kept)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    db = warehouse(args)
    policies = list(PRESETS.values())
    grid = timeout_grid(50)
    rows: list[tuple[str, float]] = []
    with duckdb.connect(str(db), read_only=True) as con:
        checks = con.execute("SELECT COUNT(*) FROM current_checks").fetchall()[0][0]
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            con.execute(PLAIN_ROLLUP).df()
            best = min(best, time.perf_counter() - started)
        rows.append(("plain rollup: one DuckDB GROUP BY over the checks", best))
        started = time.perf_counter()
        con.execute(render("rollup_client_responder")).df()
        rows.append(
            ("statistics rollup_client_responder (for scale)", time.perf_counter() - started)
        )

        world = timed(
            "reduce: positions, retry model, population",
            rows,
            load_world,
            con,
            grid,
            policies,
            client_side=None,
        )
        for policy in policies:
            timed(f"validations SQL, {policy.name}", rows, world.validations, policy, "included")
        timed(
            "sweep: 50 timeouts x 4 policies x 3 units + bootstrap",
            rows,
            breakage_curves,
            world,
            policies,
        )
        timed(
            "all breakage tables (build_tables, no attribution)",
            rows,
            build_tables,
            con,
            policies=policies,
            grid=grid,
            client_side=None,
        )

    print(f"bench_breakage: {checks:,} checks in {db}")
    print(f"{'stage':<60} {'seconds':>9} {'x plain rollup':>15}")
    for label, seconds in rows:
        print(f"{label:<60} {seconds:>9.2f} {seconds / best:>15.1f}")
    reduce_and_sweep = sum(
        s for label, s in rows if label.startswith(("reduce", "validations", "sweep"))
    )
    print(
        f"{'reductions + sweep (the 50 x 4 sweep end to end)':<60} {reduce_and_sweep:>9.2f} "
        f"{reduce_and_sweep / best:>15.1f}"
    )

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
