"""Who causes breakage: each responder, each CA and the clients' own networks.

At a policy's own timeout, each broken validation is split between its failing end
entity and upper-chain components in proportion to their failure probabilities, and
each component is charged to its responder and to the organisation of its issuer.
Client-side breakage is the difference between the replay with every failure and the
replay with client-side failures removed (statistics-layer attribution); the responder
and CA shares come from the latter, so the shares add up to one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from certsentry_analysis.breakage.inputs import RetryModel, Validations
from certsentry_analysis.breakage.policy import Policy
from certsentry_analysis.breakage.replay import component_failure, stapled
from certsentry_analysis.breakage.world import ClientSide, World

MIN_CLIENTS = 10


def component_breakage(
    policy: Policy, vals: Validations, retry: RetryModel, T: float
) -> tuple[np.ndarray, np.ndarray]:
    """Expected breakage charged to the end-entity and upper components of each validation."""
    column = int(np.searchsorted(retry.grid, T))
    leaf = np.where(stapled(vals.staple_u, policy), 0.0, vals.crit_leaf)
    a_leaf = component_failure(leaf, vals.responder_leaf, T, column, policy, retry)
    a_upper = component_failure(vals.crit_upper, vals.responder_upper, T, column, policy, retry)
    broken = 1.0 - (1.0 - a_leaf) * (1.0 - a_upper)
    total = a_leaf + a_upper
    share = np.divide(a_leaf, total, out=np.zeros_like(total), where=total > 0)

    return broken * share, broken * (1.0 - share)


def breakage_attribution(world: World, policy: Policy) -> pd.DataFrame:
    """Share of the policy's broken validations (at its own T) by responder, CA and side."""
    if not policy.hard:
        return pd.DataFrame()

    T = policy.timeout_ms
    included = world.validations(policy, "included")
    retry_in = world.variant(policy.fallback_to_crl, "included").retry
    total_in = float(sum(x.sum() for x in component_breakage(policy, included, retry_in, T)))
    side: ClientSide = "removed" if world.attribution_available else "included"
    vals = world.validations(policy, side)
    retry = world.variant(policy.fallback_to_crl, side).retry
    leaf, upper = component_breakage(policy, vals, retry, T)
    names = np.append(retry.responders.to_numpy(dtype=object), "(unknown)")
    org_of = dict(zip(world.issuers["issuer_sha1"], world.issuers["organization"], strict=True))
    charged = pd.DataFrame(
        {
            "responder": np.concatenate([names[vals.responder_leaf], names[vals.responder_upper]]),
            "ca": [
                org_of.get(i) or "(unknown issuer)"
                for i in np.concatenate([vals.issuer_leaf, vals.issuer_upper])
            ],
            "client": np.concatenate([vals.client, vals.client]),
            "broken": np.concatenate([leaf, upper]),
        }
    )
    charged = charged[charged["broken"] > 0]
    frames = []
    for level in ("responder", "ca"):
        grouped = charged.groupby(level).agg(
            broken=("broken", "sum"), clients=("client", "nunique")
        )
        frames.append(
            pd.DataFrame(
                {
                    "level": level,
                    "name": grouped.index.astype(str),
                    "broken_validations": grouped["broken"].to_numpy(),
                    "clients": grouped["clients"].to_numpy(),
                }
            )
        )
    client_side = total_in - float(charged["broken"].sum()) if side == "removed" else np.nan
    frames.append(
        pd.DataFrame(
            {
                "level": ["client_side"],
                "name": ["client-side failures"],
                "broken_validations": [client_side],
                "clients": [np.nan],
            }
        )
    )
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "policy", policy.name)
    out.insert(1, "timeout_ms", T)
    out["share_of_breakage"] = out["broken_validations"] / total_in if total_in > 0 else np.nan
    out["validation_breakage"] = out["broken_validations"] / world.pop.validations.sum()
    small = (out["level"] != "client_side") & (out["clients"] < MIN_CLIENTS)
    out["suppressed"] = small
    out.loc[small, ["broken_validations", "share_of_breakage", "validation_breakage"]] = np.nan
    out["attribution"] = world.attribution_note

    return out.sort_values(
        ["level", "broken_validations"], ascending=[True, False], ignore_index=True
    )
