"""CryptoAPI's response cache: which checks go to the wire and which are cache hits.

A successful wire answer is cached until its nextUpdate (judged by the client's
clock); a failed fetch caches nothing, so the next check retries on the wire.
"""

from __future__ import annotations

import numpy as np

# Re-timing a check within its chain moves it by at most the chain budget; a cached
# answer is only used if it stays fresh that much longer, so hits never post-date it.
FRESHNESS_MARGIN_S = 21.0


def resolve(
    group: np.ndarray, ts: np.ndarray, failed: np.ndarray, expires: np.ndarray
) -> np.ndarray:
    """For each row, the index of the wire row whose answer serves it (itself if wire).

    `group` identifies one cache entry (client and certificate or CRL), `ts` is the
    client-clock time, `failed` whether the row would fail on the wire and
    `expires` the nextUpdate of the answer it would get.
    """
    n = len(group)
    if n == 0:
        return np.zeros(0, np.int64)

    order = np.lexsort((ts, group))
    raw = group[order]
    t = ts[order]
    new_group = np.r_[True, raw[1:] != raw[:-1]]
    # Dense group numbers keep the combined float key exact to well under a millisecond.
    g = (np.cumsum(new_group) - 1).astype(np.float64)
    span = float(t.max() - t.min()) + 10 * 86400.0
    base = float(t.min()) - 86400.0
    key = g * span + (t - base)
    starts = np.flatnonzero(new_group)
    group_end = np.r_[starts[1:], n]
    end_of = np.repeat(group_end, np.diff(np.r_[starts, n]))

    wire = np.zeros(n, bool)
    current = starts
    fail_sorted = failed[order]
    exp_sorted = expires[order]
    while current.size:
        wire[current] = True
        until = np.where(fail_sorted[current], -np.inf, exp_sorted[current] - FRESHNESS_MARGIN_S)
        target = g[current] * span + (np.maximum(until, t[current]) - base)
        nxt = np.searchsorted(key, target, side="left")
        # A failed fetch is retried by the very next check of the entry.
        nxt = np.where(fail_sorted[current], current + 1, np.maximum(nxt, current + 1))
        current = nxt[nxt < end_of[current]]

    positions = np.where(wire, np.arange(n), 0)
    source_sorted = np.maximum.accumulate(positions)
    result = np.empty(n, np.int64)
    result[order] = order[source_sorted]

    return result
