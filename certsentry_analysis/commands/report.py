"""`certsentry report`: typeset the paper-style report as PDF from a warehouse."""

from __future__ import annotations

import argparse
from pathlib import Path

from certsentry_analysis import config
from certsentry_analysis.commands._common import add_db_argument, resolve_db
from certsentry_analysis.report import build_report

NAME = "report"
HELP = "build the paper-style PDF report from the warehouse's result tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
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
        help=f"PDF to write (default: {config.paths().reports / 'certsentry-report.pdf'})",
    )
    parser.add_argument(
        "--figures",
        type=Path,
        default=None,
        help="folder for the SVG figures (default: figures/ beside the PDF)",
    )


def run(args: argparse.Namespace) -> int:
    """Build the report and print where it went."""
    out = args.out or config.paths().reports / "certsentry-report.pdf"
    written = build_report(resolve_db(args), out, raw_dir=args.raw, figures_dir=args.figures)
    print(written)

    return 0
