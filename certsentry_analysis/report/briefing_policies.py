"""The briefing's policy comparison: six policies on breakage, protection, bytes and privacy.

Each measure comes from a result table: breakage from the breakage stage's viability
frontier, protection against an attacker who blocks live checks from the exposure
windows, downloads and what third parties learn from the mechanism comparison. A
measure the warehouse cannot supply stays missing (NaN) and is printed as such.

The recommendation is chosen by rules over these numbers, never written in advance:
among policies whose breakage stays within the budget, the one protecting the largest
share of revocations wins; near-ties (within `TIE_MARGIN`) go to the policy that breaks
fewer connections, then to the smaller download.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from certsentry_analysis.report.context import BuildContext
from certsentry_analysis.report.document import Part, strong
from certsentry_analysis.report.formatting import fmt_bytes, fmt_duration_s, fmt_pct

# Protection shares closer than this count as equal; bytes then decide.
TIE_MARGIN = 0.005
NAN = float("nan")


@dataclass(frozen=True)
class PolicySpec:
    """How one briefing row finds its numbers in the result tables."""

    label: str
    frontier_policy: str | None  # viability_frontier.policy (None: no live check)
    exposure_mechanism: str | None  # exposure_windows.mechanism, attacker 'blocking'
    mechanism: str  # revocation_mechanisms.mechanism
    verdict: str | None = None  # replaces the mechanism table's verdict on blocking


SPECS = (
    PolicySpec("Soft-fail", "soft-fail", "online soft-fail", "online soft-fail"),
    PolicySpec(
        "Hard-fail (all CAs)", "hard-fail-all", "online hard-fail", "online hard-fail at viable T"
    ),
    PolicySpec(
        "Hard-fail for chosen CAs", "hard-fail-issuers", None, "online hard-fail at viable T"
    ),
    PolicySpec("CRLSet", None, "CRLSet", "CRLSet"),
    PolicySpec("CRLite", None, "CRLite", "CRLite"),
    PolicySpec("OCSP stapling", None, "OCSP stapling", "OCSP stapling"),
)


def _frontier(ctx: BuildContext) -> pd.DataFrame | None:
    frame = ctx.table("viability_frontier")
    if frame is None or "policy" not in frame.columns:
        return None
    if "client_side" in frame.columns:
        sides = set(frame["client_side"].astype(str))
        side = "removed" if "removed" in sides else "included"
        frame = frame[frame["client_side"].astype(str) == side]

    return frame


def _match(frame: pd.DataFrame | None, column: str, value: str) -> pd.Series | None:
    if frame is None or column not in frame.columns:
        return None
    hits = frame[frame[column].astype(str).str.casefold() == value.casefold()]

    return None if hits.empty else hits.iloc[0]


def _num(row: pd.Series | None, column: str) -> float:
    if row is None or column not in row.index or pd.isna(row[column]):
        return NAN

    return float(row[column])


def _short(text: object) -> str:
    # The mechanism table explains at length; the briefing keeps the verdict before ':'.
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "n/a"

    return str(text).split(":")[0].strip()


def policy_table(ctx: BuildContext) -> pd.DataFrame:
    """One row per briefing policy with every measure found (NaN or 'n/a' when absent)."""
    frontier = _frontier(ctx)
    exposure = ctx.table("exposure_windows")
    if exposure is not None and "attacker" in exposure.columns:
        exposure = exposure[exposure["attacker"].astype(str) == "blocking"]
    mechanisms = ctx.table("revocation_mechanisms")
    budget = NAN
    if frontier is not None and "budget_validations" in frontier.columns and len(frontier):
        budget = float(frontier["budget_validations"].iloc[0])

    rows = []
    for spec in SPECS:
        f = _match(frontier, "policy", spec.frontier_policy) if spec.frontier_policy else None
        e = (
            _match(exposure, "mechanism", spec.exposure_mechanism)
            if (spec.exposure_mechanism)
            else None
        )
        m = _match(mechanisms, "mechanism", spec.mechanism)
        live = spec.frontier_policy is not None
        breakage = _num(f, "validation_breakage") if live else 0.0
        # A live-check policy without a frontier row has unknown viability (None).
        viable: bool | None = True
        if live:
            viable = bool(f["viable"]) if f is not None and "viable" in f.index else None
        if viable and not math.isnan(budget) and breakage > budget:
            viable = False
        rows.append(
            {
                "policy": spec.label,
                "live_check": live,
                "timeout_ms": _num(f, "timeout_ms"),
                "evaluated_at_ms": _num(f, "evaluated_at_ms"),
                "breakage": breakage,
                "breakage_low": _num(f, "validation_ci_low") if live else 0.0,
                "breakage_high": _num(f, "validation_ci_high") if live else 0.0,
                "viable": viable,
                "protection": _num(e, "share_protected"),
                "bytes_per_client_day": _num(m, "bytes_per_client_day"),
                "third_party_learns": _short(m["ca_learns"]) if m is not None else "n/a",
                "blocking_attacker": spec.verdict
                or (_short(m["blocking_attacker"]) if m is not None else "n/a"),
            }
        )

    return pd.DataFrame(rows)


def viability(value: object) -> bool | None:
    """True or False when the data says whether a policy is viable, None when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None

    return bool(value)


def recommend(table: pd.DataFrame) -> tuple[str | None, list[Part]]:
    """The chosen policy and the plain-language reasons, picked by rules over `table`."""
    scored = table[table["protection"].notna()]
    if scored.empty:
        return None, [
            "The warehouse lacks the exposure and breakage tables needed to compare the "
            "policies, so no recommendation is made."
        ]

    known = scored["viable"].map(viability)
    viable = scored[known.map(lambda v: v is True)]
    unknown = scored[known.map(lambda v: v is None)]
    pool = viable if len(viable) else scored
    top = pool["protection"].max()
    near = pool[pool["protection"] >= top - TIE_MARGIN]
    # Near-ties: fewer broken connections first, then the smaller download.
    best = near.sort_values(
        ["breakage", "bytes_per_client_day", "policy"], kind="stable", na_position="last"
    ).iloc[0]

    parts: list[Part] = [
        strong(str(best.policy)),
        " protects against an attacker who blocks revocation checks for ",
        strong(fmt_pct(best.protection)),
        " of revoked certificates",
    ]
    if best.live_check:
        parts += [", breaking ", strong(fmt_pct(best.breakage)), " of connections"]
    else:
        parts.append(" without any live check that could break a connection")
    if not math.isnan(best.bytes_per_client_day):
        parts += [
            ", for ",
            strong(fmt_bytes(best.bytes_per_client_day)),
            " of downloads per user and day",
        ]
    parts.append(". ")

    soft = table[table["policy"] == "Soft-fail"]
    if len(soft) and pd.notna(soft.iloc[0].protection) and best.policy != "Soft-fail":
        parts += [
            "Today's soft-fail default protects ",
            fmt_pct(soft.iloc[0].protection),
            " against the same attacker. ",
        ]
    hard = table[table["policy"] == "Hard-fail (all CAs)"]
    if len(hard):
        h = hard.iloc[0]
        if viability(h.viable) is True and not math.isnan(h.timeout_ms):
            parts += [
                "Hard-fail for all CAs would need a timeout of at least ",
                fmt_duration_s(h.timeout_ms / 1000),
                " to stay within the breakage budget. ",
            ]
        elif viability(h.viable) is False:
            parts.append(
                "Hard-fail for all CAs breaks too many connections at every timeout tested. "
            )
    if len(unknown) and len(viable):
        names = ", ".join(str(p) for p in unknown["policy"])
        parts.append(
            f"Breakage could not be measured for {names} (no breakage result), so "
            "they were not considered. "
        )
    if len(viable) == 0 and len(unknown):
        parts.append("Breakage could not be measured, so this ranking ignores it. ")
    for _, other in near[near["policy"] != best.policy].iterrows():
        if other.breakage > best.breakage:
            why = f"but would break {fmt_pct(other.breakage)} of connections"
        else:
            why = "with a larger download"
        parts.append(f"{other.policy} protects about as well {why}. ")
    if len(viable) == 0 and len(unknown) == 0:
        parts.append(
            "No policy stays within the breakage budget; this choice trades "
            "breakage for protection and should be piloted first. "
        )

    return str(best.policy), parts
