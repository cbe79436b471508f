"""CRLite cascade: size and build/lookup time against the valid-to-revoked ratio.

Prints one row per ratio: filter bytes, bits per revoked key, layers, build seconds,
microseconds per lookup, and the build time relative to the smallest ratio (timings
on shared machines are noisy; the ratio column is the comparable one).
"""

from __future__ import annotations

import random
import time

from certsentry_analysis.revocation import crlite

REVOKED = 20_000
RATIOS = (2, 10, 20, 50)
LOOKUPS = 20_000


def main() -> None:
    """Build one cascade per ratio and print the table."""
    rng = random.Random(1)
    issuer = rng.randbytes(32)
    revoked = {crlite.crlite_key(issuer, rng.randbytes(16)) for _ in range(REVOKED)}
    print(
        f"{'ratio':>5} {'bytes':>9} {'bits/rev':>8} {'layers':>6} {'build s':>8} "
        f"{'us/lookup':>9} {'rel build':>9}"
    )
    base = None
    for ratio in RATIOS:
        valid = [crlite.crlite_key(issuer, rng.randbytes(16)) for _ in range(ratio * REVOKED)]
        built = crlite.build_cascade(revoked, valid)
        probes = valid[:LOOKUPS]
        started = time.perf_counter()
        for key in probes:
            built.is_revoked(key)
        per_lookup = (time.perf_counter() - started) / len(probes) * 1e6
        base = base or built.build_seconds
        print(
            f"{ratio:>5} {built.size_bytes:>9} {built.bits_per_revocation:>8.2f} "
            f"{built.layers:>6} {built.build_seconds:>8.2f} {per_lookup:>9.1f} "
            f"{built.build_seconds / base:>9.2f}"
        )


if __name__ == "__main__":
    main()
