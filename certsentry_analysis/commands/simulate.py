"""`certsentry simulate`: generate a scenario's client logs, PKI and ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from certsentry_analysis import config
from certsentry_analysis.simulate import simulate

NAME = "simulate"
HELP = "simulate a scenario's CertSentry client logs, PKI and ground truth"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument(
        "--scenario",
        default=config.DEFAULT_SCENARIO,
        help="shipped scenario name (tiny, baseline-2012, cdn-2016, best-ca-world, attack) "
        f"or a TOML path (default: {config.DEFAULT_SCENARIO})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=config.DEFAULT_SEED,
        help=f"random seed (default: {config.DEFAULT_SEED})",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: data/raw/<scenario>)"
    )
    parser.add_argument("--clients", type=int, default=None, help="override the client count")
    parser.add_argument("--days", type=int, default=None, help="override the period length")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (output is identical for any count)",
    )


def run(args: argparse.Namespace) -> int:
    """Simulate and print a one-line summary from the manifest."""
    overrides = {
        k: getattr(args, k) for k in ("clients", "days", "workers") if getattr(args, k) is not None
    }
    name = Path(args.scenario).stem if args.scenario.endswith(".toml") else args.scenario
    out = args.out if args.out is not None else config.paths().scenario_dir(name)
    try:
        simulate(args.scenario, args.seed, out, progress=sys.stderr.isatty(), **overrides)
    except FileExistsError as exc:
        print(f"certsentry simulate: error: {exc}", file=sys.stderr)
        return 2
    manifest = json.loads((out / "manifest.json").read_text())
    print(
        f"{manifest['scenario']} seed {manifest['seed']}: {manifest['checks']} checks in "
        f"{manifest['log_files']} log files -> {out}"
    )

    return 0
