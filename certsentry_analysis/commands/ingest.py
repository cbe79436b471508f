"""`certsentry ingest`: load client logs into the DuckDB warehouse."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from certsentry_analysis import config
from certsentry_analysis.commands._common import add_db_argument, resolve_db
from certsentry_analysis.ingest import ingest

NAME = "ingest"
HELP = "load client logs (folders of *.log / *.log.gz, or files) into the warehouse"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("inputs", nargs="+", type=Path, help="log folders or files")
    add_db_argument(parser)
    parser.add_argument(
        "--pki",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="folder of issuer CA certificates (PEM/DER) for the issuers table; repeatable",
    )
    parser.add_argument(
        "--parquet",
        type=Path,
        default=None,
        metavar="DIR",
        help="day-partitioned Parquet copy of current checks (default: DB folder / checks)",
    )


def run(args: argparse.Namespace) -> int:
    """Ingest and print the summary."""
    summary = ingest(
        args.inputs,
        resolve_db(args),
        key=config.pseudonym_key(),
        pki_dirs=args.pki,
        parquet_dir=args.parquet,
        progress=sys.stderr.isatty(),
    )
    for line in summary.lines():
        print(line)

    return 0
