"""Revocation-checking policies the breakage model replays, and the shipped presets.

A policy says which failed checks break a connection (soft-fail: none; hard-fail: those
of issuers in scope), how long a client waits for one attempt (the timeout T), how
often it retries, whether a failed OCSP check may fall back to the CRL, and what share
of sites staple an OCSP response (a stapled connection makes no live check for its end
entity). Caching is always as observed: a cache hit never breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

Mode = Literal["soft", "hard"]
Scope = Literal["all", "issuers", "ev"]

# The sweep of the issue: 100 ms to 30 s, log-spaced.
GRID_MIN_MS = 100.0
GRID_MAX_MS = 30_000.0
GRID_POINTS = 50
# Issuing CAs whose subject names one of these patterns are treated as EV issuers: the
# warehouse's issuer dimension carries no EV flag, only names.
EV_NAME_PATTERN = re.compile(r"\bEV\b|Extended Validation", re.IGNORECASE)


@dataclass(frozen=True)
class Policy:
    """One revocation-checking policy; `timeout_ms` is the per-attempt timeout T."""

    name: str
    mode: Mode
    scope: Scope = "all"
    issuer_organizations: tuple[str, ...] = ()
    timeout_ms: float = 10_000.0
    retries: int = 0
    backoff_ms: float = 250.0
    backoff_factor: float = 2.0
    fallback_to_crl: bool = True
    stapling_share: float = 0.0
    # With no organisation of `issuer_organizations` in the data, hard-fail for the
    # largest organisation instead (the simulator's CA names are fictional).
    largest_org_if_absent: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("soft", "hard"):
            raise ValueError(
                f"policy {self.name!r}: mode must be 'soft' or 'hard', got {self.mode!r}"
            )
        if self.scope not in ("all", "issuers", "ev"):
            raise ValueError(f"policy {self.name!r}: unknown scope {self.scope!r}")
        if self.scope == "issuers" and not self.issuer_organizations:
            raise ValueError(f"policy {self.name!r}: scope 'issuers' needs issuer_organizations")
        if not self.timeout_ms > 0:
            raise ValueError(
                f"policy {self.name!r}: timeout_ms must be > 0, got {self.timeout_ms}"
            )
        if self.retries < 0:
            raise ValueError(f"policy {self.name!r}: retries must be >= 0, got {self.retries}")
        if not 0.0 <= self.stapling_share <= 1.0:
            raise ValueError(
                f"policy {self.name!r}: stapling_share must lie in [0, 1], "
                f"got {self.stapling_share}"
            )

    @property
    def hard(self) -> bool:
        """True when failed checks in scope break the connection."""
        return self.mode == "hard"

    def with_timeout(self, timeout_ms: float) -> Policy:
        """The same policy with another per-attempt timeout."""
        return replace(self, timeout_ms=float(timeout_ms))

    def backoff_before(self, attempt: int) -> float:
        """Wait in ms before retry number `attempt` (1-based)."""
        return float(self.backoff_ms * self.backoff_factor ** (attempt - 1))

    def describe(self) -> str:
        """One line for tables and logs."""
        scope = {
            "all": "all CAs",
            "ev": "EV issuers",
            "issuers": "issuers of " + ", ".join(self.issuer_organizations),
        }[self.scope]
        parts = [
            f"{self.mode}-fail for {scope}",
            f"T={self.timeout_ms:g} ms",
            f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}",
            "OCSP->CRL fallback" if self.fallback_to_crl else "no fallback",
            f"stapling {self.stapling_share:.0%}",
        ]

        return "; ".join(parts)


# Firefox's hard-fail timeout (security.OCSP.timeoutMilliseconds.hard) was 10 s.
_HARD_ALL = Policy(
    "hard-fail-all",
    "hard",
    "all",
    timeout_ms=10_000.0,
    retries=1,
    backoff_ms=250.0,
    fallback_to_crl=True,
)

PRESETS: dict[str, Policy] = {
    p.name: p
    for p in (
        # Firefox's soft-fail OCSP timeout was 2 s; failures are accepted.
        Policy("soft-fail", "soft", "all", timeout_ms=2_000.0, fallback_to_crl=True),
        _HARD_ALL,
        # DefaultFailureMode=1: hard-fail only for the named organisation's issuing CAs.
        replace(
            _HARD_ALL,
            name="hard-fail-issuers",
            scope="issuers",
            issuer_organizations=("Comodo",),
            largest_org_if_absent=True,
        ),
        replace(_HARD_ALL, name="hard-fail-ev", scope="ev"),
    )
}


def get_policy(name: str) -> Policy:
    """A preset by name; raises KeyError naming the known presets."""
    if name not in PRESETS:
        raise KeyError(f"unknown policy {name!r}; presets: {', '.join(PRESETS)}")

    return PRESETS[name]


def timeout_grid(
    points: int = GRID_POINTS, low_ms: float = GRID_MIN_MS, high_ms: float = GRID_MAX_MS
) -> np.ndarray:
    """Log-spaced timeouts in ms from `low_ms` to `high_ms` inclusive."""
    if points < 2 or not 0 < low_ms < high_ms:
        raise ValueError(f"bad grid: {points} points from {low_ms} to {high_ms} ms")

    return np.geomspace(low_ms, high_ms, points)


def organizations_in_scope(policy: Policy, organizations: pd.Series) -> list[str]:
    """The organisations of `organizations` that `policy` hard-fails for (scope 'issuers').

    Matching is a case-insensitive substring test, so "Comodo" covers "COMODO CA Limited".
    """
    names = sorted({str(o) for o in organizations.dropna().unique()})
    wanted = [w.casefold() for w in policy.issuer_organizations]

    return [n for n in names if any(w in n.casefold() for w in wanted)]


def is_ev_issuer(subject: str | None, common_name: str | None) -> bool:
    """Whether an issuing CA's names mark it as an EV issuer (see EV_NAME_PATTERN)."""
    text = " ".join(s for s in (subject, common_name) if s)

    return bool(EV_NAME_PATTERN.search(text))


def scope_issuers(policy: Policy, issuers: pd.DataFrame) -> tuple[frozenset[str] | None, str]:
    """The issuer_sha1 values `policy` hard-fails for (None: every issuer) and a note.

    `issuers` is the warehouse's issuer dimension (issuer_sha1, subject, organization,
    common_name). Checks of issuers missing from it are out of a restricted scope.
    """
    if policy.scope == "all":
        return None, "all issuers"

    if policy.scope == "ev":
        ev = [
            is_ev_issuer(s, c)
            for s, c in zip(issuers["subject"], issuers["common_name"], strict=True)
        ]
        chosen = issuers.loc[np.asarray(ev, dtype=bool), "issuer_sha1"]
        return frozenset(chosen.astype(str)), f"{len(chosen)} EV issuing CAs (by name)"

    orgs = organizations_in_scope(policy, issuers["organization"])
    note = "issuers of " + ", ".join(orgs) if orgs else ""
    if not orgs and policy.largest_org_if_absent and issuers["organization"].notna().any():
        # Largest by checks when the caller counted them, else by issuing CAs.
        weight = issuers["checks"] if "checks" in issuers else pd.Series(1, issuers.index)
        largest = str(weight.groupby(issuers["organization"]).sum().idxmax())
        orgs = [largest]
        note = (
            f"no issuer of {', '.join(policy.issuer_organizations)} in the data; "
            f"stand-in: issuers of {largest}"
        )
    chosen = issuers.loc[issuers["organization"].isin(orgs), "issuer_sha1"]

    return frozenset(chosen.astype(str)), note or "no issuer in scope"
