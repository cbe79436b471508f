"""Run every benchmark script under benchmarks/ in turn; each prints its own table.

The scale curve (bench_scale.py) takes tens of minutes and runs only with --scale.
Benchmarks report ratios against a baseline measured in the same script, because
the machines are shared and absolute timings are noisy.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SLOW = {"bench_scale.py"}


def main() -> int:
    """Run the benchmark scripts and return the number that failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", action="store_true", help="also run the scale curve")
    args = parser.parse_args()

    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        if script.name in SLOW and not args.scale:
            print(f"== {script.name}: skipped (pass --scale)", flush=True)
            continue
        print(f"== {script.name}", flush=True)
        result = subprocess.run([sys.executable, str(script)], check=False)
        if result.returncode != 0:
            print(f"== {script.name}: FAILED with exit code {result.returncode}", flush=True)
            failed += 1

    return failed


if __name__ == "__main__":
    sys.exit(main())
