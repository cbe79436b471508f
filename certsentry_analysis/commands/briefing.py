"""`certsentry briefing`: typeset the policy briefing as PDF from a warehouse."""

from __future__ import annotations

import argparse

from certsentry_analysis import config
from certsentry_analysis.commands._common import add_document_arguments, resolve_db
from certsentry_analysis.report import build_briefing

NAME = "briefing"
HELP = "build the 2-4 page policy briefing PDF comparing revocation policies"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_document_arguments(parser, "policy-briefing.pdf")


def run(args: argparse.Namespace) -> int:
    """Build the briefing and print where it went."""
    out = args.out or config.paths().reports / "policy-briefing.pdf"
    written = build_briefing(resolve_db(args), out, raw_dir=args.raw, figures_dir=args.figures)
    print(written)

    return 0
