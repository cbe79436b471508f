"""Ingest throughput against a bare DuckDB read_csv of the same files, and peak memory.

At 1x the world is the default simulated scenario, the one `make report` ingests:
`baseline-2012`, seed 7, with the scenario's own client and day counts (2,000 clients
x 14 days, about 3.1 M checks in 21,900 files, read from the scenario file, not written
here). At 4x it has four times the clients (four times the files and rows) over the
same days, to check that peak memory stays flat. Each step runs in a fresh subprocess,
so that its peak RSS is its own:

- `bare`: one `read_csv` over every readable log file, all 21 columns as VARCHAR
  (tab-separated, no quoting, header lines included as rows), materialised into a
  temporary table, so every column of every line is read;
- `ingest`: `certsentry_analysis.ingest.ingest` into a fresh warehouse, including the
  prescan, validation, quarantine, clients and the Parquet export.

Prints one table: rows, wall seconds, CPU seconds, rows/s, ratio ingest/bare (wall and
CPU) and peak RSS. The machines are shared, so each measurement is the best of
`--repeat` runs and the CPU ratio is shown next to the wall-clock one.

Simulating takes about 25 s at 1x and 100 s at 4x. `--keep DIR` keeps the simulated
worlds in DIR (one folder per scenario, seed, clients and days) and reuses them on the
next run; delete them after changing the simulator. `--clients`/`--days` override the
scenario for quick runs, `--sizes 1` skips the 4x world.

    .venv/bin/python benchmarks/bench_ingest.py --keep data/bench/ingest-worlds
    .venv/bin/python benchmarks/bench_ingest.py --clients 250 --days 4 [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCENARIO = "baseline-2012"
SEED = 7
KEY = bytes.fromhex("be" * 32)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)

    return usage.ru_utime + usage.ru_stime


def _readable_logs(world: Path) -> list[str]:
    """Log files a bare read_csv can open: all but the simulator's broken gzip uploads."""
    import polars as pl

    uploads = pl.read_parquet(world / "truth" / "uploads.parquet")
    paths = uploads.filter(pl.col("fault") != "broken_gzip")["path"].to_list()

    return sorted(str(world / p) for p in paths)


def child_bare(world: Path) -> dict[str, Any]:
    """Read every column of every readable file into a temporary table."""
    import duckdb

    files = _readable_logs(world)
    columns = {f"c{i}": "VARCHAR" for i in range(1, 22)}
    con = duckdb.connect()
    started, cpu = time.perf_counter(), _cpu()
    con.execute(
        "CREATE TEMP TABLE bare AS SELECT * FROM read_csv($files, columns = $columns,"
        " delim = '\t', quote = '', escape = '', header = false, auto_detect = false,"
        " strict_mode = false, null_padding = true)",
        {"files": files, "columns": columns},
    )
    wall, cpu = time.perf_counter() - started, _cpu() - cpu
    rows = con.execute("SELECT count(*) FROM bare WHERE NOT starts_with(c1, '#')").fetchall()

    return {"rows": int(rows[0][0]), "wall": wall, "cpu": cpu, "files": len(files)}


def child_ingest(world: Path, work: Path) -> dict[str, Any]:
    """Ingest the world's logs into a fresh warehouse."""
    from certsentry_analysis.ingest import ingest

    db = work / "warehouse.duckdb"
    for stale in (db, work / "warehouse.duckdb.wal"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(work / "checks", ignore_errors=True)
    started, cpu = time.perf_counter(), _cpu()
    summary = ingest([world / "logs"], db, key=KEY, pki_dirs=[world / "pki"])
    wall, cpu = time.perf_counter() - started, _cpu() - cpu

    return {
        "rows": summary.rows_loaded + summary.rows_quarantined,
        "wall": wall,
        "cpu": cpu,
        "files": summary.files_seen,
        "db_mb": db.stat().st_size / 2**20,
    }


def _simulate(world: Path, clients: int, days: int) -> None:
    """Simulate in a fresh interpreter: forking workers after polars has started threads hangs."""
    code = (
        "import sys; from pathlib import Path; from certsentry_analysis.simulate import simulate;"
        "simulate(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]),"
        " clients=int(sys.argv[4]), days=int(sys.argv[5]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, SCENARIO, str(SEED), str(world), str(clients), str(days)],
        check=True,
    )


def _world_dir(root: Path, clients: int, days: int) -> Path:
    """Where a world of this size is simulated (and found again with --keep)."""
    return root / f"{SCENARIO}-s{SEED}-{clients}c-{days}d"


def _run_child(mode: str, world: Path, work: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--world", str(world), "--work", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])

    return result


def _best(mode: str, world: Path, work: Path, repeat: int) -> dict[str, Any]:
    runs = []
    for attempt in range(repeat):
        target = work / f"{mode}-{attempt}"
        target.mkdir(parents=True, exist_ok=True)
        runs.append(_run_child(mode, world, target))

    return min(runs, key=lambda r: float(r["wall"]))


def main() -> int:
    """Simulate, measure and print the table."""
    from certsentry_analysis.simulate import load_scenario

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=None, help="clients at 1x (scenario's)")
    parser.add_argument("--days", type=int, default=None, help="days (scenario's)")
    parser.add_argument("--sizes", default="1,4", help="comma-separated multiples of clients")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep worlds here")
    parser.add_argument("--child", choices=["bare", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--world", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = (
            child_bare(args.world) if args.child == "bare" else child_ingest(args.world, args.work)
        )
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0

    scenario = load_scenario(SCENARIO)
    clients = args.clients if args.clients is not None else scenario.clients
    days = args.days if args.days is not None else scenario.days
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = args.keep or Path(tmp)
        rows = []
        for scale in sizes:
            world = _world_dir(root, clients * scale, days)
            if not (world / "manifest.json").exists():
                _simulate(world, clients * scale, days)
            # Warehouses go to the temporary folder even with --keep: only worlds are kept.
            work = Path(tmp) / f"run-{scale}x"
            bare = _best("bare", world, work, args.repeat)
            ing = _best("ingest", world, work, args.repeat)
            rows.append((scale, bare, ing))
            shutil.rmtree(work, ignore_errors=True)

    header = (
        f"{'size':>4} {'files':>6} {'rows':>9} | {'bare s':>7} {'bare cpu':>8} "
        f"{'bare MB':>7} | {'ingest s':>8} {'ing cpu':>7} {'rows/s':>9} {'ingest MB':>9} "
        f"{'db MB':>6} | {'ratio wall':>10} {'ratio cpu':>9}"
    )
    print(
        f"ingest benchmark: {SCENARIO} seed {SEED}, {clients} clients x {days} days"
        f" at 1x, best of {args.repeat}"
    )
    print(header)
    print("-" * len(header))
    for scale, bare, ing in rows:
        print(
            f"{scale:>3}x {ing['files']:>6} {ing['rows']:>9} | {bare['wall']:>7.2f} "
            f"{bare['cpu']:>8.2f} {bare['max_rss_mb']:>7.0f} | {ing['wall']:>8.2f} "
            f"{ing['cpu']:>7.2f} {ing['rows'] / ing['wall']:>9.0f} {ing['max_rss_mb']:>9.0f} "
            f"{ing['db_mb']:>6.1f} | {ing['wall'] / bare['wall']:>10.2f} "
            f"{ing['cpu'] / bare['cpu']:>9.2f}"
        )
    print("target: ingest wall <= 1.3x bare; peak memory flat from 1x to 4x")

    return 0


if __name__ == "__main__":
    sys.exit(main())
