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


def add_document_arguments(parser: argparse.ArgumentParser, default_pdf: str) -> None:
    """Add the options shared by the PDF-building commands: --db, --raw, --out, --figures."""
    add_db_argument(parser)
    parser.add_argument(
        "--raw",
        type=Path,
        default=None,
        help="raw data folder (manifest.json, logs/) for provenance and calibration (optional)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"PDF to write (default: {config.paths().reports / default_pdf})",
    )
    parser.add_argument(
        "--figures",
        type=Path,
        default=None,
        help="folder for the SVG figures (default: figures/ beside the PDF)",
    )
