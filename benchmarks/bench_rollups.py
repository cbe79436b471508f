"""Benchmark the rollups: time and peak memory over a warehouse and a 10x larger copy.

Usage: python benchmarks/bench_rollups.py [--db WAREHOUSE] [--scale 10]

For each dataset (the warehouse's current checks, and the same checks repeated
`scale` times with distinct client pseudonyms) it runs, each in a fresh process:
all rollups, and a bare `GROUP BY responder, method` count over the same rows;
it reports wall time, peak resident memory of the process, and their ratio. It
then compares quantiles from the latency histogram with exact quantiles
(the same order statistic, rank floor(q (n - 1))) per responder and method.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from certsentry_analysis.config import paths
from certsentry_analysis.rollups import run_rollups_duckdb
from certsentry_analysis.stats.latency import QUANTILES, hist_quantiles

BARE = "SELECT responder, method, count(*) AS n FROM {relation} GROUP BY responder, method"


def _worker(db: str, relation: str, job: str) -> None:
    """Run one job in this (fresh) process and print its time as JSON."""
    con = duckdb.connect(db, read_only=True)
    started = time.perf_counter()
    if job == "rollups":
        out = run_rollups_duckdb(con, relation=relation)
        rows = sum(len(f) for f in out.values())
    else:
        rows = len(con.execute(BARE.format(relation=relation)).fetchall())
    seconds = time.perf_counter() - started
    # VmHWM: this process's peak resident set (reset by exec, unlike a fork's ru_maxrss).
    status = Path("/proc/self/status").read_text(encoding="ascii")
    peak_kib = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
    )
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": peak_kib / 1024}))


def _measure(db: Path, relation: str, job: str) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, output rows) of one job run in a child process."""
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(db), relation, job],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker {job} on {relation} failed: {done.stderr[-500:]!r}")
    result = json.loads(done.stdout)

    return result["seconds"], result["peak_mib"], result["rows"]


def _scaled_copy(source: Path, scale: int, workdir: Path) -> Path:
    """A database with table `checks_x` holding the current checks `scale` times over."""
    target = workdir / f"scaled{scale}.duckdb"
    con = duckdb.connect(str(target))
    con.execute("ATTACH ? AS src (READ_ONLY)", [str(source)])
    con.execute(
        "CREATE TABLE checks_x AS SELECT c.* REPLACE (c.client || '-' || CAST(k AS VARCHAR) "
        "AS client) FROM src.current_checks AS c, range(?) AS r(k)",
        [scale],
    )
    con.close()

    return target


def _sketch_errors(db: Path) -> list[tuple[str, int, float, float]]:
    """(quantile, responders compared, median and max relative error) of histogram quantiles."""
    con = duckdb.connect(str(db), read_only=True)
    hist = run_rollups_duckdb(con, names=("rollup_latency",))["rollup_latency"]
    hist = hist[hist["failed"] == 0]
    answered = con.execute(
        "SELECT responder, method, latency_ms FROM current_checks "
        "WHERE source = 'wire' AND outcome <> 'error'"
    ).df()
    errors: dict[float, list[float]] = {q: [] for q in QUANTILES}
    for (responder, method), values in answered.groupby(["responder", "method"]):
        # the same order statistic the sketch estimates: rank floor(q * (n - 1))
        exact = np.quantile(values["latency_ms"], QUANTILES, method="lower")
        h = hist[(hist["responder"] == responder) & (hist["method"] == method)]
        h = h.groupby("lat_bin")["checks"].sum()
        estimate = hist_quantiles(h.index.to_numpy(), h.to_numpy(), QUANTILES)
        for q, e, x in zip(QUANTILES, estimate, exact, strict=True):
            if x > 0:
                errors[q].append(abs(e / x - 1))

    return [
        (f"p{round(q * 100)}", len(v), float(np.median(v)), float(np.max(v)))
        for q, v in errors.items()
        if v
    ]


def main() -> int:
    """Print the benchmark tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=paths().database)
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    if not args.db.exists():
        print(f"no warehouse at {args.db}; run `make ingest` or pass --db", file=sys.stderr)
        return 2

    con = duckdb.connect(str(args.db), read_only=True)
    n = con.execute("SELECT count(*) FROM current_checks").fetchall()[0][0]
    con.close()
    with tempfile.TemporaryDirectory() as tmp:
        scaled = _scaled_copy(args.db, args.scale, Path(tmp))
        datasets = [
            ("warehouse", args.db, "current_checks", n),
            (f"{args.scale}x", scaled, "checks_x", n * args.scale),
        ]
        print(
            f"{'dataset':>10} {'checks':>12} {'job':>8} {'seconds':>8} {'peak MiB':>9} "
            f"{'out rows':>9} {'time / bare':>11}"
        )
        for name, db, relation, rows in datasets:
            bare = _measure(db, relation, "bare")
            roll = _measure(db, relation, "rollups")
            for job, (sec, mib, out) in (("bare", bare), ("rollups", roll)):
                ratio = sec / bare[0]
                print(
                    f"{name:>10} {rows:>12,} {job:>8} {sec:>8.2f} {mib:>9.0f} {out:>9,} "
                    f"{ratio:>11.1f}"
                )

    print("\nsketch quantiles vs exact order statistics, answered wire checks per responder:")
    print(f"{'quantile':>8} {'groups':>7} {'median rel err':>15} {'max rel err':>12}")
    for q, count, median, worst in _sketch_errors(args.db):
        print(f"{q:>8} {count:>7} {median:>15.4f} {worst:>12.4f}")

    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(main())
