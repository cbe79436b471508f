"""Failure taxonomy: every error code of the log format mapped to one failure class.

The classes come from `logformat.ERROR_CODES` (network, http, protocol, freshness);
codes of class "status" (revoked, unknown) are answers, not failures, and a failed
check without a recognised code is counted as class "other".
"""

from __future__ import annotations

import pandas as pd

from certsentry_analysis.logformat import ERROR_CODES, FAILURE_CLASSES

OTHER = "other"
ANSWER_CLASS = "status"


def taxonomy_table() -> pd.DataFrame:
    """The error vocabulary as a table: error, failure_class, subclass, hresult, meaning."""
    rows = [
        {
            "error": e.code,
            "failure_class": e.failure_class,
            "subclass": e.subclass,
            "hresult": e.hresult,
            "meaning": e.meaning,
        }
        for e in ERROR_CODES.values()
    ]

    return pd.DataFrame(rows)


def classify(error: pd.Series) -> pd.DataFrame:
    """failure_class and subclass for each error code (unrecognised or missing: other)."""
    classes = {code: e.failure_class for code, e in ERROR_CODES.items()}
    subclasses = {code: e.subclass for code, e in ERROR_CODES.items()}
    failure_class = error.map(classes).fillna(OTHER)
    subclass = error.map(subclasses).fillna(error.fillna("unspecified"))

    return pd.DataFrame({"failure_class": failure_class, "subclass": subclass})


def failure_taxonomy(rollup_checks: pd.DataFrame, operators: pd.DataFrame) -> pd.DataFrame:
    """Failures of wire checks by class, subclass and code, per method and per responder.

    Rows with responder "(all)" aggregate every responder of a method. `rate` is
    failures per wire check of that scope; `share` the fraction of its failures.
    Each row's `clients` is the largest distinct-client count of its cells, a lower
    bound on the clients behind it (distinct counts do not add across cells).
    """
    wire = rollup_checks[rollup_checks["source"] == "wire"]
    failed = wire[wire["outcome"] == "error"].copy()
    failed[["failure_class", "subclass"]] = classify(failed["error"]).to_numpy()
    failed["error"] = failed["error"].fillna("unspecified")
    keys = ["failure_class", "subclass", "error"]

    frames = []
    for scope_cols, label in ((["method", "responder"], None), (["method"], "(all)")):
        totals = wire.groupby(scope_cols, as_index=False)["checks"].sum()
        totals = totals.rename(columns={"checks": "wire_checks"})
        grouped = failed.groupby([*scope_cols, *keys], as_index=False).agg(
            failures=("checks", "sum"), clients=("clients", "max")
        )
        grouped = grouped.merge(totals, on=scope_cols, how="left")
        if label is not None:
            grouped["responder"] = label
        scope_failures = grouped.groupby(scope_cols)["failures"].transform("sum")
        grouped["share"] = grouped["failures"] / scope_failures
        grouped["rate"] = grouped["failures"] / grouped["wire_checks"]
        frames.append(grouped)

    out = pd.concat(frames, ignore_index=True)
    out = out.merge(operators[["responder", "operator"]], on="responder", how="left")
    out["failure_class"] = pd.Categorical(
        out["failure_class"], categories=[*FAILURE_CLASSES, OTHER], ordered=True
    )
    out = out.sort_values(
        ["method", "responder", "failure_class", "failures"], ascending=[True, True, True, False]
    )
    out["failure_class"] = out["failure_class"].astype(str)
    columns = [
        "method",
        "responder",
        "operator",
        "failure_class",
        "subclass",
        "error",
        "failures",
        "clients",
        "wire_checks",
        "rate",
        "share",
    ]

    return out[columns].reset_index(drop=True)
