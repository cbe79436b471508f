"""Scale curve: simulate, ingest and roll up at growing sizes, with DuckDB and Spark local[2].

Each step runs as its own process (the `certsentry` program or a short Python
snippet); its wall time and the peak resident memory of its whole process tree
(sampled every 0.2 s, so a Spark step counts the driver, the JVM and the Python
workers) are recorded in WORK/results.json after every step. A rerun skips the
steps already measured, so the script can be stopped and resumed, and sizes can
be added later (`--sizes 5e7`). The table and the log-log slope of time against
rows go to docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_scale.py --sizes 1e6,1e7 --spark-sizes 1e6,1e7
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CERTSENTRY = str(VENV_BIN / "certsentry")
SCENARIO = "baseline-2012"
SEED = 7
DAYS = 14
# Checks per client over the 14 days of baseline-2012, measured with 100 clients
# (146,028 checks); the client count for a target size is derived from it.
CHECKS_PER_CLIENT = 1460.0
BENCH_KEY = "be" * 32
STEPS = (
    ("simulate", "python"),
    ("ingest", "duckdb"),
    ("rollup", "duckdb"),
    ("parse", "spark"),
    ("rollup", "spark"),
)

SPARK_PARSE = """
import sys
from pathlib import Path
from certsentry_analysis.spark.logparse import parse_logs
from certsentry_analysis.spark.session import spark_session
raw, out, staging, memory = sys.argv[1:5]
with spark_session("local[2]", driver_memory=memory) as spark:
    summary = parse_logs(spark, [Path(raw) / "logs"], Path(out), key=bytes.fromhex(sys.argv[5]),
                         staging_dir=Path(staging), pki_dirs=[Path(raw) / "pki"])
print(summary.rows_loaded)
"""


def _tree_sample(process: psutil.Process, cpu: dict[int, float]) -> int:
    """Resident bytes of the process tree; records each member's CPU seconds in `cpu`."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
            times = proc.cpu_times()
            # Own time only: a parent's children_* time repeats its reaped children's,
            # which were sampled as members of the tree themselves.
            cpu[proc.pid] = times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue

    return total


def measure(command: list[str], log_path: Path) -> dict[str, float]:
    """Run `command`, returning wall seconds and the peak RSS of its process tree (MB)."""
    env = dict(
        os.environ,
        CERTSENTRY_PSEUDONYM_KEY=BENCH_KEY,
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
    )
    peak = 0
    cpu: dict[int, float] = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        process = psutil.Process(child.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    peak = max(peak, _tree_sample(process, cpu))
                except psutil.NoSuchProcess:
                    return
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = child.wait()
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if code != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(command)} failed with exit code {code}:\n{tail}")

    # CPU seconds of the step's processes: what the kernel accounted to the child and
    # the descendants it waited for, or (for processes it did not wait for, such as a
    # JVM) the sum of the last samples, whichever is larger. A fairer measure than
    # wall time on a machine shared with other jobs.
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(max(reaped, sum(cpu.values())), 1),
        "peak_rss_mb": round(peak / 2**20, 1),
    }


def _label(size: float) -> str:
    exponent = int(math.log10(size))
    mantissa = size / 10**exponent

    return f"{mantissa:g}e{exponent}"


def run_size(
    size: float,
    work: Path,
    results: dict[str, Any],
    engines: set[str],
    memory: str,
    results_path: Path,
) -> None:
    """Measure every step at one size, skipping those already in `results`."""
    label = _label(size)
    entry = results.setdefault(label, {"target_rows": int(size)})
    base = work / label
    raw, warehouse, spark_dir = base / "raw", base / "warehouse", base / "spark"
    logs = base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    clients = max(1, round(size / CHECKS_PER_CLIENT))
    commands = {
        ("simulate", "python"): [
            CERTSENTRY,
            "simulate",
            "--scenario",
            SCENARIO,
            "--seed",
            str(SEED),
            "--out",
            str(raw),
            "--clients",
            str(clients),
            "--days",
            str(DAYS),
        ],
        ("ingest", "duckdb"): [
            CERTSENTRY,
            "ingest",
            str(raw / "logs"),
            "--pki",
            str(raw / "pki"),
            "--db",
            str(warehouse / "certsentry.duckdb"),
        ],
        ("rollup", "duckdb"): [
            CERTSENTRY,
            "rollup",
            "--engine",
            "duckdb",
            "--db",
            str(warehouse / "certsentry.duckdb"),
            "--out",
            str(warehouse / "rollups"),
        ],
        ("parse", "spark"): [
            sys.executable,
            "-c",
            SPARK_PARSE,
            str(raw),
            str(spark_dir / "checks"),
            str(spark_dir / "staging"),
            memory,
            BENCH_KEY,
        ],
        ("rollup", "spark"): [
            CERTSENTRY,
            "rollup",
            "--engine",
            "spark",
            "--master",
            "local[2]",
            "--driver-memory",
            memory,
            "--parquet",
            str(warehouse / "checks"),
            "--out",
            str(spark_dir / "rollups"),
        ],
    }
    for step, engine in STEPS:
        key = f"{step}/{engine}"
        wanted = engine in engines or f"{engine}/{step}" in engines
        if key in entry.get("steps", {}) or not wanted:
            continue
        if step == "simulate" and raw.exists():
            shutil.rmtree(raw)
        if step == "ingest" and warehouse.exists():
            shutil.rmtree(warehouse)
        print(f"[{datetime.now(UTC):%H:%M:%S}] {label} {key} ...", flush=True)
        measured = measure(commands[(step, engine)], logs / f"{step}-{engine}.log")
        measured["load_avg_1m"] = round(os.getloadavg()[0], 1)
        if step == "simulate":
            manifest = json.loads((raw / "manifest.json").read_text())
            entry["rows"] = int(manifest["checks"])
            entry["files"] = len(manifest["files"])
            entry["raw_bytes"] = sum(int(f["bytes"]) for f in manifest["files"])
        entry.setdefault("steps", {})[key] = measured
        print(f"    {measured}", flush=True)
        results_path.write_text(json.dumps(results, indent=1, sort_keys=True))
    if (step_dir := spark_dir / "staging").exists():
        shutil.rmtree(step_dir)


def merged(paths: list[Path]) -> dict[str, Any]:
    """Results of several runs (files), merged step by step; later files win."""
    out: dict[str, Any] = {}
    for path in paths:
        if not path.exists():
            continue
        for label, entry in json.loads(path.read_text()).items():
            target = out.setdefault(label, {})
            target.update({k: v for k, v in entry.items() if k != "steps"})
            target.setdefault("steps", {}).update(entry.get("steps", {}))

    return out


def _load_range(results: dict[str, Any]) -> str:
    loads = [
        float(m["load_avg_1m"])
        for e in results.values()
        for m in e.get("steps", {}).values()
        if "load_avg_1m" in m
    ]

    return f"{min(loads):.1f} to {max(loads):.1f}" if loads else "not recorded"


def _points(results: dict[str, Any], key: str, measure: str) -> list[tuple[float, float]]:
    """(rows, measure) of one step at every size where it was measured, by rows."""
    return sorted(
        (e["rows"], e["steps"][key][measure])
        for e in results.values()
        if key in e.get("steps", {})
        and "rows" in e
        and isinstance(e["steps"][key].get(measure), (int, float))
    )


def slopes(results: dict[str, Any], measure: str = "seconds") -> dict[str, tuple[float, int]]:
    """Log-log slope of `measure` (seconds or cpu_s) against rows per step, and sizes used."""
    out: dict[str, tuple[float, int]] = {}
    keys = sorted({k for e in results.values() for k in e.get("steps", {})})
    for key in keys:
        points = _points(results, key, measure)
        if len(points) >= 2:
            x = np.log([p[0] for p in points])
            y = np.log([p[1] for p in points])
            out[key] = (float(np.polyfit(x, y, 1)[0]), len(points))

    return out


def top_slope(results: dict[str, Any], key: str) -> float | None:
    """Slope of wall time between the two largest sizes: the cost as rows grow, once
    fixed costs (process and JVM start) no longer matter."""
    points = _points(results, key, "seconds")
    if len(points) < 2:
        return None
    (x0, y0), (x1, y1) = points[-2], points[-1]

    return math.log(y1 / y0) / math.log(x1 / x0)


def _machine() -> list[str]:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    java_lines = (java.stderr or java.stdout).splitlines() or ["unknown"]
    import duckdb
    import pyspark

    disk = shutil.disk_usage(ROOT)

    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores",
        f"- memory: {psutil.virtual_memory().total / 2**30:.0f} GiB, no swap"
        if not psutil.swap_memory().total
        else f"- memory: {psutil.virtual_memory().total / 2**30:.0f} GiB",
        f"- disk: {disk.total / 2**30:.0f} GiB ({disk.free / 2**30:.0f} GiB free at the end)",
        f"- OS: {platform.platform()}; Python {platform.python_version()}",
        f"- Java: {java_lines[0]}",
        f"- DuckDB {duckdb.__version__}; PySpark {pyspark.__version__} (local[2])",
    ]


def render(results: dict[str, Any], commands: list[str]) -> str:
    """docs/benchmarks.md: machine, table of steps, slopes."""
    lines = [
        "# Benchmarks: the scale curve",
        "",
        "Written by `benchmarks/bench_scale.py`; do not edit by hand. The runs that",
        "measured this table, in order (a run skips the steps already measured):",
        "",
        *(f"    {command}" for command in commands),
        "",
        "World: scenario `baseline-2012` (seed 7), 14 days, the client count scaled to reach",
        "each size. Every step runs as its own process; time is wall-clock, memory the",
        "peak resident set of the step's whole process tree (driver, JVM and Python workers",
        "for Spark), sampled every 0.2 s; `CPU s` the user and system seconds of that tree",
        "(`-` where not recorded). `load` is the machine's 1-minute load average when the",
        f"step ended ({_load_range(results)} in this table, on 2 cores): a load far above 2",
        "means the machine was shared with other jobs and wall times are inflated; CPU",
        "seconds are less affected.",
        "",
        "## Machine",
        "",
        *_machine(),
        "",
        "## Steps",
        "",
        "| target | checks | files | step | engine | seconds | CPU s | checks/s | peak RSS MB "
        "| load |",
        "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, entry in sorted(results.items(), key=lambda kv: kv[1]["target_rows"]):
        rows = entry.get("rows", 0)
        measured = entry.get("steps", {})
        for step, engine in STEPS:
            m = measured.get(f"{step}/{engine}")
            if m is None:
                continue
            rate = f"{rows / m['seconds']:,.0f}" if rows and m["seconds"] else "-"
            lines.append(
                f"| {label} | {rows:,} | {entry.get('files', 0):,} | {step} | {engine} | "
                f"{m['seconds']:.1f} | {m.get('cpu_s', '-')} | {rate} | "
                f"{m['peak_rss_mb']:,.0f} | "
                f"{m.get('load_avg_1m', '-')} |"
            )
    lines += [
        "",
        "## Log-log slope of time against rows",
        "",
        "A slope of 1 is linear scaling; the target is at most 1.1. Fixed costs (process",
        "and JVM start, about 5-10 s for Spark) flatten the slope at small sizes.",
        "",
        "`slope (wall)` and `slope (CPU)` are least-squares fits over every size;",
        "`largest two` is the wall-time slope between the two largest sizes.",
        "",
        "| step | engine | sizes | slope (wall) | slope (CPU) | largest two |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    cpu_slopes = slopes(results, "cpu_s")
    for key, (slope, n) in slopes(results).items():
        step, engine = key.split("/")
        cpu = f"{cpu_slopes[key][0]:.2f}" if key in cpu_slopes else "-"
        top = top_slope(results, key)
        top_text = "-" if top is None else f"{top:.2f}"
        lines.append(f"| {step} | {engine} | {n} | {slope:.2f} | {cpu} | {top_text} |")
    lines.append("")

    return "\n".join(lines)


def main() -> int:
    """Measure the requested sizes (resuming earlier runs) and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7,5e7", help="target checks, comma-separated")
    parser.add_argument(
        "--spark-sizes", default="1e6,1e7", help="sizes at which Spark parses the raw logs"
    )
    parser.add_argument(
        "--spark-rollup-sizes",
        default=None,
        help="sizes at which Spark rolls up the Parquet copy (default: --spark-sizes)",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench", help="scratch")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--driver-memory", default="6g", help="Spark driver memory")
    parser.add_argument("--render-only", action="store_true", help="only rewrite the table")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="results file of this run (default WORK/results.json); a second run at the "
        "same time must use its own",
    )
    parser.add_argument(
        "--spark-only",
        action="store_true",
        help="run only the Spark steps (simulate and ingest done by another run in WORK)",
    )
    parser.add_argument(
        "--merge", type=Path, action="append", default=[], help="other results files to show"
    )
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    results_path = args.results or args.work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    sources = [results_path, *args.merge]
    # Every measuring run appends its command line, so the table names all of them.
    commands_path = results_path.with_name(results_path.stem + "-commands.json")
    commands = json.loads(commands_path.read_text()) if commands_path.exists() else []
    if not args.render_only:
        commands.append(" ".join(["python", "benchmarks/bench_scale.py", *sys.argv[1:]]))
        commands_path.write_text(json.dumps(commands, indent=1))
    spark_sizes = {float(s) for s in args.spark_sizes.split(",") if s}
    rollup_text = args.spark_sizes if args.spark_rollup_sizes is None else args.spark_rollup_sizes
    spark_rollup_sizes = {float(s) for s in rollup_text.split(",") if s}
    if not args.render_only:
        for size in sorted(float(s) for s in args.sizes.split(",") if s):
            engines = set() if args.spark_only else {"python", "duckdb"}
            if size in spark_sizes:
                engines.add("spark/parse")
            if size in spark_rollup_sizes:
                engines.add("spark/rollup")
            run_size(size, args.work, results, engines, args.driver_memory, results_path)
            args.out.write_text(render(merged(sources), commands))

    args.out.write_text(render(merged(sources), commands))
    print(args.out.read_text())

    return 0


if __name__ == "__main__":
    sys.exit(main())
