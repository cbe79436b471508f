"""Replay the observed checks under a policy across a grid of timeouts.

Without retries a validation breaks at T exactly when the larger critical time of its
end entity and of the rest of its chain exceeds T, so every curve is the survival
function of one number per validation (or per client-day: the largest of its
validations), read off a per-client histogram over the grid in one pass. With retries,
a failing component is rescued with probability 1 - (1 - p)^r, p the responder's
per-attempt success probability; the sweep then loops over the grid, each step a few
vectorised passes. Intervals: percentile cluster bootstrap over clients (the same
resampled clients for every policy, threshold and unit).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from certsentry_analysis.breakage.inputs import Population, Positions, RetryModel, Validations
from certsentry_analysis.breakage.policy import Policy

log = logging.getLogger(__name__)

DEFAULT_REPLICATES = 200
LEVEL = 0.95
UNITS = ("check", "validation", "client_day")


def bootstrap_weights(clients: int, replicates: int, seed: int) -> np.ndarray:
    """(replicates, clients) multinomial counts: how often each client is drawn."""
    rng = np.random.default_rng(seed)
    if clients == 0:
        return np.zeros((replicates, 0))

    return rng.multinomial(clients, np.full(clients, 1.0 / clients), size=replicates).astype(
        np.float64
    )


def ratio_interval(
    num: np.ndarray, den: np.ndarray, weights: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and percentile interval of sum(num)/sum(den) per column of `num`.

    `num` is (clients, J), `den` (clients,); each bootstrap row of `weights` reweights
    whole clients.
    """
    total = den.sum()
    point = num.sum(axis=0) / total if total > 0 else np.full(num.shape[1], np.nan)
    if weights.shape[0] == 0 or total == 0:
        return point, point.copy(), point.copy()

    reps = (weights @ num) / np.maximum(weights @ den, 1e-300)[:, None]
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(reps, [tail, 1.0 - tail], axis=0)

    return point, np.minimum(low, point), np.maximum(high, point)


def above_counts(
    group: np.ndarray,
    values: np.ndarray,
    grid: np.ndarray,
    groups: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """(groups, J): per group, the (weighted) number of values strictly above each T_j."""
    J = len(grid)
    above = np.searchsorted(grid, values, side="left")  # grid points below each value
    flat = np.bincount(group * (J + 1) + above, weights=weights, minlength=groups * (J + 1))
    hist = flat.reshape(groups, J + 1)
    at_least = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]

    return at_least[:, 1:]


def component_failure(
    crit: np.ndarray,
    responder: np.ndarray,
    T: float,
    column: int,
    policy: Policy,
    retry: RetryModel | None,
) -> np.ndarray:
    """Probability a component still fails at T after the policy's retries."""
    failing = (crit > T).astype(np.float64)
    if policy.retries == 0 or retry is None:
        return failing
    success = retry.retry_success[responder, column]

    return failing * (1.0 - success) ** policy.retries


def finite(grid: np.ndarray) -> np.ndarray:
    """The grid with T = infinity as the largest float: a never-answered check still fails."""
    return np.minimum(np.asarray(grid, dtype=np.float64), np.finfo(np.float64).max)


def stapled(u: np.ndarray, policy: Policy) -> np.ndarray:
    """Which validations the policy's stapling share covers (fixed draw per validation)."""
    return u < policy.stapling_share


def _grid_columns(grid: np.ndarray, retry: RetryModel | None) -> np.ndarray:
    if retry is None:
        return np.zeros(len(grid), dtype=np.int64)
    columns = np.searchsorted(retry.grid, grid)
    if np.any(columns >= len(retry.grid)) or not np.allclose(retry.grid[columns], grid):
        raise ValueError("the retry model was estimated on a grid lacking some sweep timeouts")

    return columns


def breakage_matrices(
    policy: Policy,
    pop: Population,
    vals: Validations,
    pos: Positions,
    in_scope: np.ndarray,
    grid: np.ndarray,
    retry: RetryModel | None,
) -> dict[str, np.ndarray]:
    """Per-client expected broken checks, validations and client-days: (clients, J) each."""
    G, J = pop.size, len(grid)
    out = {unit: np.zeros((G, J)) for unit in UNITS}
    grid = finite(grid)
    if not policy.hard or G == 0:
        return out

    leaf = np.where(stapled(vals.staple_u, policy), 0.0, vals.crit_leaf)
    upper = vals.crit_upper
    keep = vals.client_day >= 0
    cd_client = pop.cd_keys["client_idx"].to_numpy(dtype=np.int64)
    n_cd = len(cd_client)
    p_mask = in_scope & pos.live & ~(pos.leaf & stapled(pos.staple_u, policy))
    p_crit = pos.crit[p_mask]
    p_client = pos.client[p_mask]

    if policy.retries == 0 or retry is None:
        worst = np.maximum(leaf, upper)[keep]
        out["validation"] = above_counts(vals.client[keep], worst, grid, G)
        day_worst = np.zeros(n_cd)
        np.maximum.at(day_worst, vals.client_day[keep], worst)
        out["client_day"] = above_counts(cd_client, day_worst, grid, G)
        out["check"] = above_counts(p_client, p_crit, grid, G)
        return out

    columns = _grid_columns(grid, retry)
    p_resp = pos.responder[p_mask]
    # Only components failing at the smallest T can fail at a larger one (the grid is
    # sorted), so each step works on the survivors of the previous one. Components that
    # do not fail contribute exact zeros to the sums, so the results are unchanged.
    v_idx = np.flatnonzero(keep & (np.maximum(leaf, upper) > grid.min()))
    p_idx = np.flatnonzero(p_crit > grid.min())
    with np.errstate(divide="ignore"):
        for j in np.argsort(grid, kind="stable"):
            T = grid[j]
            v_idx = v_idx[np.maximum(leaf[v_idx], upper[v_idx]) > T]
            p_idx = p_idx[p_crit[p_idx] > T]
            a_leaf = component_failure(
                leaf[v_idx], vals.responder_leaf[v_idx], T, columns[j], policy, retry
            )
            a_upper = component_failure(
                upper[v_idx], vals.responder_upper[v_idx], T, columns[j], policy, retry
            )
            broken = 1.0 - (1.0 - a_leaf) * (1.0 - a_upper)
            out["validation"][:, j] = np.bincount(vals.client[v_idx], broken, minlength=G)
            log_intact = np.bincount(vals.client_day[v_idx], np.log1p(-broken), minlength=n_cd)
            out["client_day"][:, j] = np.bincount(cd_client, 1.0 - np.exp(log_intact), minlength=G)
            a_pos = component_failure(p_crit[p_idx], p_resp[p_idx], T, columns[j], policy, retry)
            out["check"][:, j] = np.bincount(p_client[p_idx], a_pos, minlength=G)

    return out


def sweep(
    policy: Policy,
    pop: Population,
    vals: Validations,
    pos: Positions,
    in_scope: np.ndarray,
    grid: np.ndarray,
    retry: RetryModel | None,
    weights: np.ndarray,
    *,
    client_side: str = "included",
) -> pd.DataFrame:
    """Breakage curves of one policy: one row per timeout and unit, with intervals."""
    started = time.perf_counter()
    matrices = breakage_matrices(policy, pop, vals, pos, in_scope, grid, retry)
    denominators = {
        "check": pop.positions,
        "validation": pop.validations,
        "client_day": pop.client_days,
    }
    frames = []
    for unit in UNITS:
        point, low, high = ratio_interval(matrices[unit], denominators[unit], weights)
        frames.append(
            pd.DataFrame(
                {
                    "policy": policy.name,
                    "client_side": client_side,
                    "unit": unit,
                    "timeout_ms": grid,
                    "breakage": point,
                    "ci_low": low,
                    "ci_high": high,
                    "broken": matrices[unit].sum(axis=0),
                    "units": denominators[unit].sum(),
                }
            )
        )
    log.debug(
        "sweep %s (%s): %d timeouts in %.2f s",
        policy.name,
        client_side,
        len(grid),
        time.perf_counter() - started,
    )

    return pd.concat(frames, ignore_index=True)


def waiting_time(
    policy: Policy,
    pop: Population,
    pos: Positions,
    in_scope: np.ndarray,
    grid: np.ndarray,
    retry: RetryModel | None,
    weights: np.ndarray,
) -> pd.DataFrame:
    """Time users wait on live checks per validation at each T (latency truncated at T).

    Positions of a validation are checked one after another, so a validation waits the
    sum of its positions' wire times, each cut at T; retries of hard-failing checks add
    their backoff and the responder's expected truncated attempt time.
    """
    live = pos.live & ~(pos.leaf & stapled(pos.staple_u, policy))
    # Only live checks wait: work on them alone, renumbering their validations densely.
    validation, val_index = np.unique(pos.validation[live], return_inverse=True)
    n_val = len(validation)
    val_client = np.zeros(n_val, dtype=np.int64)
    val_client[val_index] = pos.client[live]
    wire = pos.wire_ms[live]
    retrying = policy.hard and policy.retries > 0 and retry is not None
    if retrying:
        needed = in_scope[live]
        crit = pos.crit[live]
        responder = pos.responder[live]
    columns = _grid_columns(grid, retry)
    limits = finite(grid)
    rows = []
    per_client = np.zeros((pop.size, len(grid)))
    for j, T in enumerate(grid):
        wait = np.minimum(wire, T)
        if retrying and retry is not None:
            failing = needed & (crit > limits[j])
            success = retry.retry_success[responder[failing], columns[j]]
            attempt = retry.mean_truncated[responder[failing], columns[j]]
            still = np.ones(len(success))
            extra = np.zeros(len(success))
            for k in range(1, policy.retries + 1):
                extra += still * (policy.backoff_before(k) + attempt)
                still = still * (1.0 - success)
            wait[failing] += extra
        per_val = np.bincount(val_index, wait, minlength=n_val)
        per_client[:, j] = np.bincount(val_client, per_val, minlength=pop.size)
        q = np.quantile(per_val, [0.5, 0.95, 0.99]) if n_val else np.full(3, np.nan)
        rows.append((T, *q))
    point, low, high = ratio_interval(per_client, pop.validations, weights)
    frame = pd.DataFrame(rows, columns=["timeout_ms", "p50_wait_ms", "p95_wait_ms", "p99_wait_ms"])
    frame.insert(0, "policy", policy.name)
    frame.insert(2, "mean_wait_ms", point)
    frame.insert(3, "ci_low", low)
    frame.insert(4, "ci_high", high)

    return frame
