"""`certsentry rollup`: compute the rollup tables with DuckDB or on a Spark cluster.

Both engines run the same definitions (`certsentry_analysis.rollups`). DuckDB reads the
warehouse (or a Parquet copy); Spark reads the Parquet copy, and with `--logs` first
parses raw logs into one itself. Each table is written as Parquet to OUT/<name>/.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from certsentry_analysis import config, rollups
from certsentry_analysis.commands._common import add_db_argument, resolve_db

NAME = "rollup"
HELP = "compute the rollup tables with DuckDB or Spark (local, cluster or Spark Connect)"

log = logging.getLogger(__name__)

PART_NAME = "part-0.parquet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    parser.add_argument(
        "--master",
        default="local[2]",
        help="Spark master URL (local[2], spark://host:7077, yarn, k8s://...) or Spark "
        "Connect endpoint (sc://host:15002); default local[2]",
    )
    parser.add_argument("--driver-memory", default="4g", help="Spark driver memory (local)")
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Spark setting (repeatable)",
    )
    add_db_argument(parser)
    parser.add_argument(
        "--parquet",
        default=None,
        help="Parquet copy of the checks (day=YYYY-MM-DD/ folders; a local path or a "
        "cluster URI such as s3a://...); default: the warehouse's checks/ folder",
    )
    parser.add_argument(
        "--logs",
        type=Path,
        action="append",
        default=[],
        help="Spark only: parse these raw log files/folders into --parquet first",
    )
    parser.add_argument(
        "--pki", type=Path, action="append", default=[], help="issuer certificates for --logs"
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for the rollup tables (default: <processed>/rollups)",
    )
    parser.add_argument(
        "--only", action="append", choices=sorted(rollups.ROLLUPS), help="rollups to compute"
    )


def _parquet_location(args: argparse.Namespace) -> str:
    if args.parquet:
        return str(args.parquet)

    if args.db:
        return str(Path(args.db).parent / "checks")

    return str(config.paths().checks_parquet)


def _run_duckdb(args: argparse.Namespace, names: list[str], out_dir: Path) -> dict[str, int]:
    """Rollups in DuckDB over the warehouse, or over a Parquet copy when --parquet is given."""
    counts: dict[str, int] = {}
    if args.parquet:
        con = duckdb.connect()
        pattern = str(Path(args.parquet) / "**" / "*.parquet")
        con.read_parquet(pattern, hive_partitioning=True).create_view(rollups.RELATION)
        relation = rollups.RELATION
    else:
        db = resolve_db(args)
        if not db.exists():
            raise FileNotFoundError(f"no warehouse at {db}; run `certsentry ingest` first")
        con = duckdb.connect(str(db), read_only=True)
        relation = "current_checks"

    try:
        for name in names:
            started = time.perf_counter()
            target = out_dir / name
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            order = ", ".join(rollups.ORDER_BY[name])
            relation_sql = rollups.render(name, relation)
            query = con.sql(f"SELECT * FROM ({relation_sql}) AS r ORDER BY {order}")  # noqa: S608
            query.write_parquet(str(target / PART_NAME), compression="zstd")
            counts[name] = int(
                con.read_parquet(str(target / PART_NAME)).aggregate("count(*)").fetchall()[0][0]
            )
            log.info(
                "duckdb %s: %d rows in %.1f s", name, counts[name], time.perf_counter() - started
            )
    finally:
        con.close()

    return counts


def _run_spark(args: argparse.Namespace, names: list[str], out: str) -> dict[str, int]:
    from certsentry_analysis.spark.logparse import parse_logs
    from certsentry_analysis.spark.queries import write_rollups_spark
    from certsentry_analysis.spark.session import spark_session

    conf = {}
    for item in args.conf:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--conf expects KEY=VALUE, got {item!r}")
        conf[key] = value

    parquet = _parquet_location(args)
    with spark_session(args.master, driver_memory=args.driver_memory, conf=conf) as spark:
        if args.logs:
            with tempfile.TemporaryDirectory(prefix="certsentry-spark-") as staging:
                summary = parse_logs(
                    spark,
                    args.logs,
                    Path(parquet),
                    key=config.pseudonym_key(),
                    staging_dir=Path(staging),
                    pki_dirs=args.pki,
                )
            print(
                f"parsed {len(summary.files)} files: {summary.rows_loaded} rows loaded, "
                f"{summary.rows_quarantined} quarantined ({summary.elapsed_s:.1f} s)"
            )
        return write_rollups_spark(spark, parquet, out, names)


def run(args: argparse.Namespace) -> int:
    """Compute the chosen rollups with the chosen engine and print one line per table."""
    if args.logs and args.engine != "spark":
        raise ValueError("--logs needs --engine spark (DuckDB reads logs via `certsentry ingest`)")

    names = list(args.only or rollups.ROLLUPS)
    out = args.out or str(config.paths().processed / "rollups")
    started = time.perf_counter()
    if args.engine == "duckdb":
        counts = _run_duckdb(args, names, Path(out))
    else:
        counts = _run_spark(args, names, out)

    for name, rows in counts.items():
        print(f"{name}: {rows} rows -> {out.rstrip('/')}/{name}/")
    print(f"{args.engine}: {len(counts)} rollups in {time.perf_counter() - started:.1f} s")

    return 0
