"""Side-by-side comparison of revocation mechanisms, from measured and built numbers.

Rows: online soft-fail, online hard-fail at the viable timeout (from the breakage
stage's results), CRLSet, CRLite, OCSP stapling. Columns: coverage, bytes per client
per day, added latency per connection, what the CA learns, and protection under an
attacker who blocks revocation checks.
"""

from __future__ import annotations

import logging

import duckdb
import pandas as pd

from certsentry_analysis import analysis

log = logging.getLogger(__name__)

# The breakage stage's frontier table and the policy whose viable T the comparison uses.
FRONTIER_TABLE = "viability_frontier"
FRONTIER_POLICY = "hard-fail-all"


def online_traffic(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Online-checking costs measured in the warehouse.

    bytes_per_client_day: revocation bytes fetched on the wire per client-day;
    latency_ms_per_chain: mean over chain validations of the summed wire latency
    (cache hits and staples add nothing); answer_share: wire checks with a status;
    staple_share: chain validations that had a stapled answer.
    """
    row = con.execute(
        """
        WITH per_chain AS (
            SELECT client, chain_id,
                   sum(CASE WHEN source = 'wire' THEN latency_ms ELSE 0 END) AS wire_ms,
                   bool_or(source = 'staple' OR coalesce(stapled, false)) AS stapled
            FROM current_checks GROUP BY client, chain_id
        )
        SELECT
            (SELECT coalesce(sum(bytes), 0) FROM current_checks WHERE source = 'wire')
              / nullif((SELECT count(*) FROM (SELECT DISTINCT client, day FROM current_checks)),
                       0),
            (SELECT avg(wire_ms) FROM per_chain),
            (SELECT avg(CASE WHEN outcome <> 'error' THEN 1.0 ELSE 0.0 END)
               FROM current_checks WHERE source = 'wire'),
            (SELECT avg(CASE WHEN stapled THEN 1.0 ELSE 0.0 END) FROM per_chain),
            (SELECT count(*) FROM current_checks)
        """
    ).fetchall()[0]
    keys = (
        "bytes_per_client_day",
        "latency_ms_per_chain",
        "answer_share",
        "staple_share",
        "checks",
    )

    return {k: float(v) if v is not None else float("nan") for k, v in zip(keys, row, strict=True)}


def latency_at_timeout(con: duckdb.DuckDBPyConnection, timeout_ms: float) -> float:
    """Mean summed wire latency per chain validation when each check stops at the timeout."""
    row = con.execute(
        """
        SELECT avg(wire_ms) FROM (
            SELECT sum(CASE WHEN source = 'wire' THEN least(latency_ms, $1) ELSE 0 END)
                   AS wire_ms
            FROM current_checks GROUP BY client, chain_id
        )
        """,
        [timeout_ms],
    ).fetchall()[0]

    return float(row[0]) if row[0] is not None else float("nan")


def viable_timeout(con: duckdb.DuckDBPyConnection) -> tuple[float | None, str, float | None]:
    """The breakage stage's viable hard-fail timeout (ms), a note, and its mean wait (ms).

    Reads results.viability_frontier for the hard-fail-all policy, preferring the
    reading with client-side failures removed when the breakage stage made one.
    """
    if FRONTIER_TABLE not in set(analysis.result_tables(con)):
        return None, f"missing: no results.{FRONTIER_TABLE} from the breakage stage", None
    frame = analysis.load_table(con, FRONTIER_TABLE)
    needed = {"policy", "client_side", "viable", "timeout_ms"}
    if not needed <= set(frame.columns):
        return None, f"missing: results.{FRONTIER_TABLE} lacks {sorted(needed)}", None
    rows = frame[frame["policy"] == FRONTIER_POLICY]
    if rows.empty:
        return None, f"missing: no {FRONTIER_POLICY} row in results.{FRONTIER_TABLE}", None

    rows = rows.assign(order=rows["client_side"].map({"removed": 0}).fillna(1))
    row = rows.sort_values("order").iloc[0]
    where = f"results.{FRONTIER_TABLE} ({FRONTIER_POLICY}, client-side {row['client_side']})"
    if not bool(row["viable"]) or pd.isna(row["timeout_ms"]):
        return None, f"no viable T: hard-fail breaks the budget at every timeout ({where})", None
    wait = row.get("mean_wait_ms")
    value = float(row["timeout_ms"])

    return (
        value,
        f"viable T = {value:g} ms from {where}",
        (float(wait) if wait is not None and pd.notna(wait) else None),
    )


def mechanisms_table(
    online: dict[str, float] | None,
    viable: tuple[float | None, str, float | None],
    crlset_share: float,
    crlset_bytes: float,
    crlite_bytes_per_day: float,
    crlite_filter_bytes: float,
) -> pd.DataFrame:
    """The side-by-side table; NaN where an input is missing (the note says which)."""
    nan = float("nan")
    on = online or {}
    t_ms, t_note, t_wait = viable
    # The breakage replay's mean wait per validation at T is preferred to our estimate.
    hard_latency = t_wait if t_wait is not None else on.get("latency_ms_per_chain_at_t", nan)
    online_note = "from the warehouse" if online is not None else "missing: no warehouse checks"
    rows = [
        (
            "online soft-fail",
            on.get("answer_share", nan),
            on.get("bytes_per_client_day", nan),
            on.get("latency_ms_per_chain", nan),
            "the responder sees which certificate (site) the client visits, with its IP",
            "none: a blocked check is accepted",
            online_note + "; coverage = share of wire checks that got a status",
        ),
        (
            "online hard-fail at viable T",
            on.get("answer_share", nan) if t_ms else nan,
            on.get("bytes_per_client_day", nan) if t_ms else nan,
            hard_latency,
            "the responder sees which certificate (site) the client visits, with its IP",
            "yes: a blocked check fails the connection (also breaks it when responders fail)",
            t_note,
        ),
        (
            "CRLSet",
            crlset_share,
            crlset_bytes,
            0.0,
            "nothing: the list is pushed to every client",
            "only for the revocations it carries (after crawl and push delay)",
            "coverage = share of the dataset's revocations carried; bytes = one full download "
            "per day (upper bound; Chrome may ship differential updates); lookup is local",
        ),
        (
            "CRLite",
            1.0,
            crlite_bytes_per_day,
            0.0,
            "nothing: the filter is pushed to every client",
            "yes, for every enrolled certificate, after the push delay",
            f"bytes = mean daily stash (delta) size; the initial filter is "
            f"{crlite_filter_bytes:,.0f} bytes; certificates never enrolled get no guarantee",
        ),
        (
            "OCSP stapling",
            on.get("staple_share", nan),
            0.0,
            0.0,
            "nothing: the server fetches the answer",
            "no, unless the certificate demands a staple (must-staple): an attacker omits it",
            "coverage = share of chain validations that carried a staple; the staple rides in "
            "the handshake (a few KB per connection), nothing is pushed",
        ),
    ]
    columns = [
        "mechanism",
        "coverage",
        "bytes_per_client_day",
        "added_latency_ms",
        "ca_learns",
        "blocking_attacker",
        "note",
    ]

    return pd.DataFrame(rows, columns=columns)
