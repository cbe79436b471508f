"""`certsentry crlite`: inspect CRLite filter-cascade and stash files."""

from __future__ import annotations

import argparse
from pathlib import Path

from certsentry_analysis.revocation import crlite

NAME = "crlite"
HELP = "inspect a CRLite filter cascade or stash file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the inspect action."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    inspect = actions.add_parser("inspect", help="layers and sizes of a cascade, or a stash")
    inspect.add_argument("file", type=Path)
    inspect.add_argument(
        "--stash", action="store_true", help="read FILE as a stash (new serials per issuer)"
    )


def _inspect_stash(path: Path) -> None:
    stash = crlite.read_stash(path.read_bytes(), str(path))
    print(f"stash:   {path} ({path.stat().st_size} bytes)")
    print(f"issuers: {len(stash)}")
    print(f"serials: {sum(len(s) for s in stash.values())}")
    for issuer, serials in sorted(stash.items(), key=lambda item: -len(item[1])):
        print(f"  {issuer.hex()}  {len(serials)} serials")


def _inspect_cascade(path: Path) -> None:
    cascade = crlite.load_cascade(path.read_bytes(), str(path))
    print(f"cascade:  {path} ({path.stat().st_size} bytes)")
    print(f"version:  {cascade.version}")
    print(f"inverted: {bool(cascade.invertedLogic)}")
    print(f"salt:     {cascade.salt.hex() if cascade.salt else 'none'}")
    print(f"layers:   {cascade.layerCount()} ({cascade.bitCount()} bits)")
    for layer in cascade.filters:
        print(
            f"  layer {layer.level}: {layer.size} bits, {layer.nHashFuncs} hashes, "
            f"{layer.hashAlg.name}"
        )


def run(args: argparse.Namespace) -> int:
    """Print what the file holds."""
    if args.stash:
        _inspect_stash(args.file)
    else:
        _inspect_cascade(args.file)

    return 0
