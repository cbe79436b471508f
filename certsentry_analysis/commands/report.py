"""`certsentry report`: typeset the paper-style report as PDF from a warehouse."""

from __future__ import annotations

import argparse

from certsentry_analysis import config
from certsentry_analysis.commands._common import add_document_arguments, resolve_db
from certsentry_analysis.report import build_report

NAME = "report"
HELP = "build the paper-style PDF report from the warehouse's result tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_document_arguments(parser, "certsentry-report.pdf")


def run(args: argparse.Namespace) -> int:
    """Build the report and print where it went."""
    out = args.out or config.paths().reports / "certsentry-report.pdf"
    written = build_report(resolve_db(args), out, raw_dir=args.raw, figures_dir=args.figures)
    print(written)

    return 0
