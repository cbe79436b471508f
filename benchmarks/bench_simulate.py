"""Simulator speed: the full model against only writing the same rows as gzip logs.

(a) `simulate` of a scenario (default: baseline-2012, seed 7) with its workers;
(b) a baseline that writes the same number of rows without the model: a pre-built
    log frame (one shard's rows, repeated) rendered with `logformat.format_body`,
    split into files of the same mean size, gzipped with `logformat.gzip_bytes` and
    written, in one process.
Prints rows, wall seconds, CPU seconds (this process and its children) and rows/s
for both, and their ratios. Machines are shared: the CPU-time ratio is the
comparable figure.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from certsentry_analysis.logformat import format_body, gzip_bytes, split_body
from certsentry_analysis.simulate import load_scenario, simulate
from certsentry_analysis.simulate.checks import generate_shard
from certsentry_analysis.simulate.world import build_world
from certsentry_analysis.simulate.writer import log_frame


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _baseline(frame: pl.DataFrame, rows: int, files: int, out: Path, chunk: int) -> None:
    """Render, split, gzip and write `rows` rows in `files` files without any model."""
    per_file = max(1, rows // files)
    written = 0
    index = 0
    while written < rows:
        n = min(chunk, rows - written)
        reps = -(-n // len(frame))
        part = pl.concat([frame] * reps).head(n)
        body = format_body(part, 2, check_strings=False)
        counts = np.full(n // per_file, per_file)
        counts[-1] += n - counts.sum()
        for piece in split_body(body, counts):
            (out / f"{index}.log.gz").write_bytes(gzip_bytes(piece))
            index += 1
        written += n


def main() -> None:
    """Run both measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="baseline-2012")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=None, help="override the client count")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="simulation worker processes (1 compares like with like)",
    )
    args = parser.parse_args()
    overrides = {
        k: getattr(args, k) for k in ("clients", "workers") if getattr(args, k) is not None
    }

    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        root = Path(tmp)
        cpu0, wall0 = _cpu(), time.perf_counter()
        out = simulate(args.scenario, args.seed, root / "sim", **overrides)
        sim_wall, sim_cpu = time.perf_counter() - wall0, _cpu() - cpu0
        rows = pl.scan_parquet(out / "truth" / "checks.parquet").select(pl.len()).collect()
        n_rows = int(rows.item())
        n_files = sum(1 for _ in (out / "logs").rglob("*.log.gz"))
        shutil.rmtree(out)

        scenario = load_scenario(args.scenario, **overrides)
        world = build_world(scenario, args.seed)
        shard = generate_shard(world, 0, np.arange(min(scenario.shard_clients, scenario.clients)))
        frame = log_frame(world, shard.columns)
        (root / "base").mkdir()
        cpu0, wall0 = _cpu(), time.perf_counter()
        _baseline(frame, n_rows, n_files, root / "base", len(frame))
        base_wall, base_cpu = time.perf_counter() - wall0, _cpu() - cpu0

    print(
        f"{'run':<28} {'rows':>10} {'files':>7} {'wall s':>8} {'cpu s':>8} "
        f"{'rows/s wall':>12} {'rows/s cpu':>11}"
    )
    for name, wall, cpu in (
        (f"(a) simulate {args.scenario}", sim_wall, sim_cpu),
        ("(b) format+gzip+write only", base_wall, base_cpu),
    ):
        print(
            f"{name:<28} {n_rows:>10} {n_files:>7} {wall:>8.1f} {cpu:>8.1f} "
            f"{n_rows / wall:>12,.0f} {n_rows / cpu:>11,.0f}"
        )
    print(f"ratio (a)/(b) rows/s: wall {base_wall / sim_wall:.2f}, cpu {base_cpu / sim_cpu:.2f}")
    print(f"simulation workers: {scenario.workers}; baseline: 1 process")


if __name__ == "__main__":
    main()
