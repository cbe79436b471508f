"""`certsentry analyze`: compute every result table into the warehouse's `results` schema."""

from __future__ import annotations

import argparse
from pathlib import Path

from certsentry_analysis.analysis import run_analysis
from certsentry_analysis.commands._common import add_db_argument, resolve_db

NAME = "analyze"
HELP = "compute failure rates, latency, outages, breakage and CRLSet tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_db_argument(parser)
    parser.add_argument(
        "--raw",
        type=Path,
        default=None,
        help="raw data folder whose pki/ holds issuer certificates and CRLs (optional)",
    )


def run(args: argparse.Namespace) -> int:
    """Run all analysis stages and list the tables written."""
    tables = run_analysis(resolve_db(args), raw_dir=args.raw)
    for name, frame in sorted(tables.items()):
        print(f"results.{name}: {len(frame)} rows")

    return 0
