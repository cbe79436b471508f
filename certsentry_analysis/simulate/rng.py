"""Named, independent random streams derived from the seed.

Each model component draws from its own stream, so changing one component's
parameters (say, every CA like the best) leaves the other components' draws, and
hence the clients, sites and visits, unchanged: scenarios are paired.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str, *extra: int) -> np.random.Generator:
    """A generator for one named component (and optionally one shard)."""
    entropy = [int(seed), zlib.crc32(name.encode()), *(int(x) for x in extra)]

    return np.random.default_rng(np.random.SeedSequence(entropy))
