"""The `certsentry` command-line program.

Each subcommand lives in its own module under `certsentry_analysis.commands` and
exposes NAME, HELP, `add_arguments(parser)` and `run(args) -> int`. This module
wires them together and is the only place that configures logging.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from certsentry_analysis import __version__, commands

log = logging.getLogger(__name__)


def _command_modules() -> list[ModuleType]:
    found = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        found.append(importlib.import_module(f"{commands.__name__}.{info.name}"))

    return found


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="certsentry",
        description="Analyse CertSentry revocation-check logs: simulate, ingest, analyse, report.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _command_modules():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        command.add_argument(
            "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
        )
        module.add_arguments(command)
        command.set_defaults(handler=module.run)

    return parser


def configure_logging(verbosity: int) -> None:
    """Send the package's log lines to stderr at a level chosen by -v flags."""
    level = logging.WARNING if verbosity < 0 else logging.INFO
    if verbosity >= 2:
        level = logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `certsentry` program."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)

    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        log.debug("command failed", exc_info=True)
        print(f"certsentry {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
