"""Registry-configured hard-fail clients as a natural experiment.

Clients whose DefaultFailureMode is 1 (hard-fail for the named issuers) or 2 (hard-fail
for all) really broke a connection whenever a needed check failed. Observed: their
own validations replayed under the matching policy at their own timeout (T = infinity:
what they logged is already cut at their timeout; no retries beyond the logged ones).
Predicted: the model fitted on the soft-fail clients only: each live check of a
hard-fail client's validation fails with its responder's share of unanswered live
checks among soft-fail clients, independently. Agreement says the responder-level
model transfers to users it was not fitted on.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from certsentry_analysis.breakage.policy import Policy
from certsentry_analysis.breakage.replay import ratio_interval
from certsentry_analysis.breakage.world import World

MIN_CLIENTS = 10
# A timeout no logged latency reaches: "as logged" (only checks with no answer break).
AS_LOGGED_MS = 1e12
MODES = {1: "hard-fail-issuers", 2: "hard-fail-all"}


def natural_experiment(world: World, presets: dict[str, Policy]) -> pd.DataFrame:
    """Observed against predicted breakage of the hard-fail clients, per failure mode."""
    rows = []
    G = world.pop.size
    cd_client = world.pop.cd_keys["client_idx"].to_numpy(dtype=np.int64)
    for mode, name in MODES.items():
        if name not in presets:
            continue
        policy = replace(presets[name], timeout_ms=AS_LOGGED_MS, retries=0, stapling_share=0.0)
        pos = world.variant(policy.fallback_to_crl, "included").arrays
        in_scope = world.in_scope(policy, "included")
        vals = world.validations(policy, "included")
        soft = pos.live & in_scope & (pos.failure_mode == 0)
        R = int(pos.responder.max()) + 1 if len(pos.responder) else 1
        tried = np.bincount(pos.responder[soft], minlength=R).astype(np.float64)
        failed = np.bincount(pos.responder[soft], np.isinf(pos.crit[soft]), minlength=R)
        pooled = failed.sum() / max(tried.sum(), 1.0)
        q = np.where(tried > 0, failed / np.maximum(tried, 1.0), pooled)

        mine = (vals.failure_mode == mode) & (vals.client_day >= 0)
        v = vals.select(mine)
        observed = (np.maximum(v.crit_leaf, v.crit_upper) > policy.timeout_ms).astype(float)
        q_leaf = np.where(v.crit_leaf > 0, q[np.minimum(v.responder_leaf, R - 1)], 0.0)
        q_upper = np.where(v.crit_upper > 0, q[np.minimum(v.responder_upper, R - 1)], 0.0)
        predicted = 1.0 - (1.0 - q_leaf) * (1.0 - q_upper)

        clients = np.unique(v.client)
        is_mine = np.zeros(G, dtype=bool)
        is_mine[clients] = True
        val_den = np.where(is_mine, world.pop.validations, 0.0)
        day_den = np.where(is_mine, world.pop.client_days, 0.0)
        row: dict[str, object] = {
            "failure_mode": mode,
            "policy": name,
            "clients": len(clients),
            "validations": int(val_den.sum()),
            "client_days": int(day_den.sum()),
        }
        n_cd = len(cd_client)
        for label, broken in (("observed", observed), ("predicted", predicted)):
            num = np.bincount(v.client, broken, minlength=G)[:, None]
            point, low, high = ratio_interval(num, val_den, world.weights)
            with np.errstate(divide="ignore"):
                day_log = np.bincount(v.client_day, np.log1p(-broken), minlength=n_cd)
            day_num = np.bincount(cd_client, 1.0 - np.exp(day_log), minlength=G)[:, None]
            d_point, d_low, d_high = ratio_interval(day_num, day_den, world.weights)
            row |= {
                f"{label}_validation_breakage": float(point[0]),
                f"{label}_validation_ci_low": float(low[0]),
                f"{label}_validation_ci_high": float(high[0]),
                f"{label}_client_day_breakage": float(d_point[0]),
                f"{label}_client_day_ci_low": float(d_low[0]),
                f"{label}_client_day_ci_high": float(d_high[0]),
            }
        row["suppressed"] = len(clients) < MIN_CLIENTS
        rows.append(row)

    out = pd.DataFrame(rows)
    if not out.empty:
        numeric = [c for c in out.columns if c.startswith(("observed_", "predicted_"))]
        out.loc[out["suppressed"], numeric] = np.nan

    return out
