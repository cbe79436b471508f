"""`certsentry crlset`: inspect, compare and build Chrome CRLSets."""

from __future__ import annotations

import argparse
import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

from certsentry_analysis.revocation import crlset as fmt
from certsentry_analysis.revocation.crlset_build import (
    DEFAULT_CRAWL_DELAY,
    CRLInputError,
    ParentCRL,
    build_crlset,
    certificates_in,
    parent_crl,
)

NAME = "crlset"
HELP = "inspect, diff or build Chrome CRLSets (raw or CRX3)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the inspect, diff and build actions."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    inspect = actions.add_parser("inspect", help="sequence, expiry, parents, serials, size")
    inspect.add_argument("file", type=Path, help="CRLSet file (raw crl-set or .crx)")
    inspect.add_argument(
        "--cap",
        type=int,
        default=fmt.DEFAULT_CAP_BYTES,
        help="size cap to compare with (bytes, default %(default)s)",
    )
    inspect.add_argument("--parents", action="store_true", help="list every parent record")

    diff = actions.add_parser("diff", help="what changed from CRLSet A to CRLSet B")
    diff.add_argument("a", type=Path)
    diff.add_argument("b", type=Path)

    build = actions.add_parser("build", help="build a CRLSet from CRL files (DER or PEM)")
    build.add_argument("crls", type=Path, nargs="+", metavar="CRL")
    build.add_argument("--out", type=Path, required=True, help="CRLSet file to write")
    build.add_argument(
        "--cap",
        type=int,
        default=fmt.DEFAULT_CAP_BYTES,
        help="total size cap in bytes (default %(default)s)",
    )
    build.add_argument(
        "--issuers",
        type=Path,
        default=None,
        help="directory of issuer CA certificates (PEM/DER); default: the "
        "directory of the first CRL",
    )
    build.add_argument(
        "--crawl-delay-hours",
        type=float,
        default=DEFAULT_CRAWL_DELAY.total_seconds() / 3600,
        help="hide revocations younger than this at build time (default %(default)s)",
    )
    build.add_argument(
        "--as-of",
        type=datetime.fromisoformat,
        default=None,
        help="build time (ISO 8601, UTC; default now)",
    )
    build.add_argument("--sequence", type=int, default=1)
    build.add_argument(
        "--skip-unmatched",
        action="store_true",
        help="skip CRLs whose issuer certificate is missing instead of failing",
    )


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _inspect(args: argparse.Namespace) -> int:
    data = args.file.read_bytes()
    crlset = fmt.loads(data, args.file)
    size = len(fmt.encode(crlset))
    expiry = (
        datetime.fromtimestamp(crlset.not_after, UTC).isoformat()
        if crlset.not_after is not None
        else "none"
    )
    print(f"file:        {args.file} ({len(data)} bytes{', CRX3' if data[:4] == b'Cr24' else ''})")
    print(f"sequence:    {crlset.sequence}")
    print(f"not after:   {expiry}")
    print(f"delta from:  {crlset.delta_from}")
    print(f"parents:     {len(crlset.parents)}")
    print(f"serials:     {crlset.num_serials()}")
    print(f"size:        {size} bytes = {100 * size / args.cap:.1f}% of the {args.cap}-byte cap")
    print(f"blocked SPKIs: {len(crlset.blocked_spkis)}")
    for spki in crlset.blocked_spkis:
        print(f"  {_b64(spki)}")
    if crlset.blocked_interception_spkis:
        print(f"blocked interception SPKIs: {len(crlset.blocked_interception_spkis)}")
    if crlset.known_interception_spkis:
        print(f"known interception SPKIs: {len(crlset.known_interception_spkis)}")
    if crlset.limited_subjects:
        print(f"limited subjects: {len(crlset.limited_subjects)}")
    if args.parents:
        for parent, serials in crlset.parents.items():
            print(f"  {parent.hex()}  {len(serials)} serials")

    return 0


def _diff(args: argparse.Namespace) -> int:
    a, b = fmt.read(args.a), fmt.read(args.b)
    d = fmt.diff(a, b)
    for field, (old, new) in d.header_changes.items():
        print(f"header {field}: {old} -> {new}")
    for parent in d.parents_added:
        print(f"+ parent {parent.hex()} ({len(b.parents[parent])} serials)")
    for parent in d.parents_removed:
        print(f"- parent {parent.hex()} ({len(a.parents[parent])} serials)")
    for sign, changes in (("+", d.serials_added), ("-", d.serials_removed)):
        for parent, serials in changes.items():
            for serial in serials:
                print(f"{sign} serial {serial.hex()} under {parent.hex()}")
    for sign, spkis in (("+", d.blocked_added), ("-", d.blocked_removed)):
        for spki in spkis:
            print(f"{sign} blocked SPKI {_b64(spki)}")
    added = sum(len(s) for s in d.serials_added.values())
    removed = sum(len(s) for s in d.serials_removed.values())
    print(
        f"summary: {added} serials added, {removed} removed, {len(d.parents_added)} parents "
        f"added, {len(d.parents_removed)} removed"
    )

    return 0 if d.is_empty() else 1


def _build(args: argparse.Namespace) -> int:
    issuers_dir = args.issuers or args.crls[0].parent
    certs = certificates_in(issuers_dir)
    crls: list[ParentCRL] = []
    for path in args.crls:
        try:
            crls.append(parent_crl(path, certs, source=str(path)))
        except CRLInputError as exc:
            if not args.skip_unmatched:
                raise
            print(f"skipped: {exc}")
    as_of = args.as_of.replace(tzinfo=args.as_of.tzinfo or UTC) if args.as_of else None
    result = build_crlset(
        crls,
        cap_bytes=args.cap,
        as_of=as_of,
        crawl_delay=timedelta(hours=args.crawl_delay_hours),
        sequence=args.sequence,
    )
    fmt.write(result.crlset, args.out)
    total = sum(len(c.revocations) for c in crls)
    print(
        f"wrote {args.out}: {result.size_bytes} bytes (cap {args.cap}), "
        f"{len(result.crlset.parents)} parents, {result.crlset.num_serials()} serials "
        f"of {total} revocations"
    )
    print(
        f"filtered by reason: {result.filtered_by_reason}; held by crawl delay: "
        f"{result.held_by_crawl_delay}; CRLs dropped for the cap: {len(result.dropped_sources)}"
    )
    for source in result.dropped_sources:
        print(f"  dropped {source}")

    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action; diff exits 1 when the files differ."""
    handlers = {"inspect": _inspect, "diff": _diff, "build": _build}

    return handlers[args.action](args)
