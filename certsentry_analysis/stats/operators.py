"""Which CA operates each responder: the issuer organisation behind most of its checks."""

from __future__ import annotations

import duckdb
import pandas as pd


def responder_operators(
    con: duckdb.DuckDBPyConnection, rollup_checks: pd.DataFrame
) -> pd.DataFrame:
    """responder, operator, issuer (most checked issuer's subject), issuers (count), source.

    The operator is the `issuers.organization` of the issuer with most checks at the
    responder; without an issuer dimension it falls back to the responder's last two
    DNS labels (source says which).
    """
    per = rollup_checks.groupby(["responder", "issuer_spki_sha256"], as_index=False)[
        "checks"
    ].sum()
    issuers = (
        con.execute(
            "SELECT issuer_spki_sha256, any_value(organization) AS organization, "
            "any_value(coalesce(common_name, subject)) AS issuer "
            "FROM issuers GROUP BY issuer_spki_sha256"
        ).df()
        if _has_issuers(con)
        else pd.DataFrame(columns=["issuer_spki_sha256", "organization", "issuer"])
    )
    per = per.merge(issuers, on="issuer_spki_sha256", how="left")
    per = per.sort_values(["responder", "checks"], ascending=[True, False])
    top = per.groupby("responder", as_index=False).first()
    counts = per.groupby("responder")["issuer_spki_sha256"].nunique().rename("issuers")
    top = top.merge(counts.reset_index(), on="responder")
    fallback = top["responder"].str.split(".").str[-2:].str.join(".")
    top["source"] = top["organization"].notna().map({True: "issuers", False: "hostname"})
    top["operator"] = top["organization"].fillna(fallback)

    return top[["responder", "operator", "issuer", "issuers", "source"]]


def _has_issuers(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'issuers'"
    ).fetchall()

    return bool(rows[0][0])
