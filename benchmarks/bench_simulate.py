"""Simulator speed: the full model against only writing the same rows as gzip logs.

(a) `simulate` of a scenario (default: baseline-2012, seed 7, the `make report`
    world) with its worker processes;
(b) a baseline that writes the same number of rows in the same number of files
    without the model: one shard's log rows, generated once before the clock
    starts and repeated, rendered with `logformat.format_body`, cut into files of
    the same mean size, gzipped with `logformat.gzip_bytes` and written, by as many
    spawned processes as (a) has workers, each with the workers' environment.

Both write under the same folder (default `data/bench/simulate`, git-ignored), each
run into a folder of its own, and nothing is deleted until every run is done: on a
file system without a journal (ext4 here) creating files is many times slower for a
few minutes after many files were deleted, because the inode allocator steps over
recently freed inodes. So run this benchmark when nothing else on the machine has
just deleted many files, and compare the two rows of one run.

Prints rows, files, wall seconds, CPU seconds (this process and its children) and
rows/s for both, the ratios (a)/(b), and the target: 1 M checks/s written as gzip
logs. Machines are shared: the CPU-time ratio is the comparable figure. Then (c): the
CPU cost per row of each stage on one shard (best of three, this process), which says
how many cores 1 M rows/s would take.

    .venv/bin/python benchmarks/bench_simulate.py [--clients N] [--workers N] [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import math
import multiprocessing
import os
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from certsentry_analysis.logformat import format_body, gzip_bytes, split_body
from certsentry_analysis.simulate import load_scenario, simulate
from certsentry_analysis.simulate.checks import ShardRows, generate_shard
from certsentry_analysis.simulate.core import _worker_environment
from certsentry_analysis.simulate.world import World, build_world
from certsentry_analysis.simulate.writer import (
    TRUTH_COMPRESSION,
    _strings,
    log_frame,
    truth_frame,
)

TARGET_ROWS_PER_S = 1_000_000
FILE_ROWS = 143  # mean rows per log file of baseline-2012
ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)

    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _settle() -> None:
    """Let the file system write back what the previous step wrote, outside the clock."""
    os.sync()
    time.sleep(1.0)


def _write_files(task: tuple[pl.DataFrame, int, int, Path, int]) -> int:
    """Render, split, gzip and write `rows` rows as `files` files (one baseline process)."""
    frame, rows, files, out, first = task
    out.mkdir(parents=True, exist_ok=True)
    sizes = np.full(files, rows // files) + (np.arange(files) < rows % files)
    # Files in groups that fit in the frame: each group is one rendered body.
    group = np.cumsum(sizes) // max(1, len(frame) - int(sizes.max()))
    index = first
    for g in np.unique(group).tolist():
        counts = sizes[group == g]
        body = format_body(frame.head(int(counts.sum())), 2, check_strings=False)
        for piece in split_body(body, counts):
            fd = os.open(out / f"{index}.log.gz", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, gzip_bytes(piece))
            finally:
                os.close(fd)
            index += 1

    return index - first


def _baseline(frame: pl.DataFrame, rows: int, files: int, out: Path, workers: int) -> int:
    """Write `rows` rows in `files` files split over `workers` spawned processes."""
    shares = [rows // workers + (1 if i < rows % workers else 0) for i in range(workers)]
    file_shares = [files // workers + (1 if i < files % workers else 0) for i in range(workers)]
    firsts = np.r_[0, np.cumsum(file_shares)[:-1]].tolist()
    tasks = [
        (frame, r, f, out / f"w{i}", first)
        for i, (r, f, first) in enumerate(zip(shares, file_shares, firsts, strict=True))
    ]
    if workers <= 1:
        return _write_files(tasks[0])
    with _worker_environment():
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers) as pool:
            return sum(pool.map(_write_files, tasks))


def _best_cpu(step: Callable[[], object], repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)

    return best


def _per_row_costs(world: World, shard: ShardRows, scratch: Path) -> list[tuple[str, float]]:
    """CPU microseconds per row of each stage, on one shard's rows."""
    c = shard.columns
    n = len(shard)
    frame = log_frame(world, c)
    body = format_body(frame, 2, check_strings=False)
    counts = np.full(max(1, n // FILE_ROWS), FILE_ROWS)
    counts[-1] += n - counts.sum()
    pieces = split_body(body, counts)
    data = [gzip_bytes(piece) for piece in pieces]
    folders = iter(range(10))

    def create_files() -> None:
        folder = scratch / f"files-{next(folders)}"
        folder.mkdir(parents=True)
        for index, blob in enumerate(data):
            (folder / f"{index}.log.gz").write_bytes(blob)

    file_index = np.repeat(np.arange(len(counts)), counts)
    uploads = _strings(["0" * 32] * len(counts), file_index)
    line_no, intact = np.zeros(n, np.int64), np.ones(n, bool)

    def truth() -> None:
        table = truth_frame(world, c, frame, uploads, line_no, intact)
        table.write_parquet(io.BytesIO(), compression=TRUTH_COMPRESSION)

    shard_index = np.arange(min(world.scenario.shard_clients, world.scenario.clients))
    stages: list[tuple[str, Callable[[], object]]] = [
        ("model: checks (generate_shard)", lambda: generate_shard(world, 0, shard_index)),
        ("model: log columns (log_frame)", lambda: log_frame(world, c)),
        ("model: truth rows and Parquet", truth),
        ("write: render (format_body)", lambda: format_body(frame, 2, check_strings=False)),
        ("write: cut into files", lambda: split_body(body, counts)),
        ("write: gzip", lambda: [gzip_bytes(piece) for piece in pieces]),
        ("write: create the files", create_files),
    ]

    return [(name, _best_cpu(step) / n * 1e6) for name, step in stages]


def main() -> None:
    """Run both measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="baseline-2012")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=None, help="override the client count")
    parser.add_argument("--workers", type=int, default=None, help="worker processes")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs of each")
    parser.add_argument(
        "--dir", type=Path, default=ROOT / "data" / "bench" / "simulate", help="scratch folder"
    )
    args = parser.parse_args()
    overrides = {
        k: getattr(args, k) for k in ("clients", "workers") if getattr(args, k) is not None
    }
    scenario = load_scenario(args.scenario, **overrides)
    workers = max(1, min(scenario.workers, os.cpu_count() or 1))

    # The baseline's rows: one shard of the same world, made before any clock starts.
    world = build_world(scenario, args.seed)
    shard = generate_shard(world, 0, np.arange(min(scenario.shard_clients, scenario.clients)))
    frame = log_frame(world, shard.columns)
    shutil.rmtree(args.dir, ignore_errors=True)  # a crashed earlier run's files
    costs = _per_row_costs(world, shard, args.dir / "per-row")
    del world, shard

    sim_runs, base_runs = [], []
    n_rows = n_files = 0
    for attempt in range(args.repeat):
        _settle()
        cpu0, wall0 = _cpu(), time.perf_counter()
        out = simulate(args.scenario, args.seed, args.dir / f"sim-{attempt}", **overrides)
        sim_runs.append((time.perf_counter() - wall0, _cpu() - cpu0))
        n_rows = int(pl.scan_parquet(out / "truth" / "checks").select(pl.len()).collect().item())
        n_files = sum(1 for _ in (out / "logs").rglob("*.log.gz"))

        _settle()
        cpu0, wall0 = _cpu(), time.perf_counter()
        written = _baseline(frame, n_rows, n_files, args.dir / f"base-{attempt}", workers)
        base_runs.append((time.perf_counter() - wall0, _cpu() - cpu0))
        assert written == n_files, (written, n_files)
    shutil.rmtree(args.dir)

    sim_wall, sim_cpu = min(sim_runs)
    base_wall, base_cpu = min(base_runs)
    print(
        f"simulator benchmark: {args.scenario} seed {args.seed}, {scenario.clients} clients x "
        f"{scenario.days} days, {workers} worker processes, best of {args.repeat}"
    )
    header = (
        f"{'run':<30} {'rows':>10} {'files':>7} {'wall s':>8} {'cpu s':>8} "
        f"{'rows/s wall':>12} {'rows/s cpu':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, wall, cpu in (
        ("(a) simulate (full model)", sim_wall, sim_cpu),
        ("(b) format+gzip+write only", base_wall, base_cpu),
    ):
        print(
            f"{name:<30} {n_rows:>10} {n_files:>7} {wall:>8.2f} {cpu:>8.2f} "
            f"{n_rows / wall:>12,.0f} {n_rows / cpu:>11,.0f}"
        )
    print(f"ratio (a)/(b) rows/s: wall {base_wall / sim_wall:.2f}, cpu {base_cpu / sim_cpu:.2f}")
    print(
        f"target: {TARGET_ROWS_PER_S:,} rows/s written as gzip logs; (a) reaches "
        f"{n_rows / sim_wall / TARGET_ROWS_PER_S:.2f} of it, the writer alone (b) "
        f"{n_rows / base_wall / TARGET_ROWS_PER_S:.2f}"
    )
    print()
    print("(c) CPU per row of each stage, one shard, best of 3, this process:")
    for name, micros in costs:
        print(f"  {name:<34} {micros:6.2f} us")
    for side in ("model", "write"):
        total = sum(m for name, m in costs if name.startswith(side))
        print(
            f"  {side + ' total':<34} {total:6.2f} us: {total:.2f} cores at "
            f"{TARGET_ROWS_PER_S:,} rows/s"
        )


if __name__ == "__main__":
    main()
