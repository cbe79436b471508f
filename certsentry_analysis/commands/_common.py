"""Argument helpers shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from certsentry_analysis import config


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """Add the `--db PATH` option, defaulting to the project's warehouse."""
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help=f"DuckDB warehouse (default: {config.paths().database})",
    )


def resolve_db(args: argparse.Namespace) -> Path:
    """The warehouse path chosen on the command line, or the project default."""
    return Path(args.db) if args.db else config.paths().database
