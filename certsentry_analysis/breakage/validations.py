"""The engine-neutral reductions the replay needs: checks to positions to validations.

A *position* is one certificate of one chain validation (client, chain_id, chain_pos):
its OCSP and CRL checks merged into the one status answer the validation needed. Its
*critical time* `crit_ms` is the smallest per-attempt timeout T at which the position
gets an answer: the OCSP latency when OCSP answered; with OCSP-to-CRL fallback, the
time spent on the failed OCSP attempts plus the CRL latency (the CRL must answer within
what is left of T); NEVER_MS when no answer came at all; 0 when the answer came from
the cache or a staple (no live check, never breaks). A validation breaks at T exactly
when one of its positions in scope has crit_ms > T, so each validation reduces to the
largest critical time of its end entity and of the rest of its chain.

The SQL uses only functions DuckDB and Spark SQL share (MAX_BY, window MIN, CASE, LN,
CEIL) and reads relations by fixed names: `checks` (columns of `current_checks`),
`breakage_client_side` (client, responder, bin_start, bin_end: bins whose failures are
client-side), `breakage_positions` and `breakage_scope` (issuer_sha1, scope_key).
`render` substitutes relations and transpiles with sqlglot.
"""

# The SQL f-strings interpolate only module constants and code-chosen fragments, never data.
# ruff: noqa: S608

from __future__ import annotations

import functools
import logging
import time

import duckdb
import numpy as np
import pandas as pd
import sqlglot
from sqlglot import exp

from certsentry_analysis.rollups import GAMMA_LITERAL

log = logging.getLogger(__name__)

# Critical time of a position that never got an answer (an engine-neutral infinity).
NEVER_MS = 1e15

CHECKS = "checks"
CLIENT_SIDE = "breakage_client_side"
POSITIONS = "breakage_positions"
SCOPE = "breakage_scope"


def checks_source(drop_client_side: bool) -> str:
    """SQL of the checks the replay reads: all, or without client-side failures."""
    if not drop_client_side:
        return f"SELECT * FROM {CHECKS}"

    return f"""
SELECT c.* FROM {CHECKS} AS c
LEFT JOIN {CLIENT_SIDE} AS a
  ON a.client = c.client AND a.responder = c.responder
 AND c.ts >= a.bin_start AND c.ts < a.bin_end
WHERE NOT (c.outcome = 'error' AND a.client IS NOT NULL)"""


def positions_sql(*, fallback: bool, drop_client_side: bool) -> str:
    """SQL: one row per (client, chain_id, chain_pos) with its critical and wire times.

    With `drop_client_side`, failed checks inside a client-side attribution bin are
    removed first (as if the failure had not happened), so what remains is breakage
    a CA could be blamed for.
    """
    source = checks_source(drop_client_side)
    rescue = "WHEN crl_ok_ms IS NOT NULL THEN ocsp_failed_ms + crl_ok_ms" if fallback else ""
    crl_time = " + COALESCE(crl_ok_ms, crl_failed_ms, 0)" if fallback else ""

    return f"""
WITH c AS (
  SELECT client, day, ts, chain_id, chain_pos, issuer_sha1, issuer_spki_sha256, method,
         responder, source, latency_ms, failure_mode, region, ee_serial, outcome,
         CASE WHEN outcome = 'error' THEN 1 ELSE 0 END AS failed,
         CASE WHEN source = 'wire' AND method = 'OCSP' THEN 1 ELSE 0 END AS is_ocsp,
         CASE WHEN source = 'wire' AND method = 'CRL' THEN 1 ELSE 0 END AS is_crl
  FROM ({source}) AS src
),
p AS (
  SELECT client, chain_id, chain_pos,
         MIN(day) AS day, MIN(ts) AS ts, MIN(region) AS region,
         MIN(failure_mode) AS failure_mode,
         MIN(issuer_sha1) AS issuer_sha1, MIN(issuer_spki_sha256) AS issuer_spki_sha256,
         MIN(ee_serial) AS ee_serial,
         MAX(CASE WHEN outcome = 'revoked' THEN 1 ELSE 0 END) AS revoked_answer,
         MAX(CASE WHEN source <> 'wire' AND failed = 0 THEN 1 ELSE 0 END) AS offline_ok,
         MAX(is_ocsp) AS has_ocsp,
         MAX(is_crl) AS has_crl,
         MIN(CASE WHEN is_ocsp = 1 AND failed = 0 THEN latency_ms END) AS ocsp_ok_ms,
         SUM(CASE WHEN is_ocsp = 1 AND failed = 1 THEN latency_ms ELSE 0 END) AS ocsp_failed_ms,
         MIN(CASE WHEN is_crl = 1 AND failed = 0 THEN latency_ms END) AS crl_ok_ms,
         SUM(CASE WHEN is_crl = 1 AND failed = 1 THEN latency_ms ELSE 0 END) AS crl_failed_ms,
         MIN(CASE WHEN is_ocsp = 1 THEN responder END) AS ocsp_responder,
         MIN(CASE WHEN is_crl = 1 THEN responder END) AS crl_responder
  FROM c
  GROUP BY client, chain_id, chain_pos
)
SELECT client, chain_id, chain_pos, day,
       MIN(day) OVER (PARTITION BY client, chain_id) AS vday,
       ts, region, failure_mode, issuer_sha1, issuer_spki_sha256, ee_serial, revoked_answer,
       COALESCE(ocsp_responder, crl_responder) AS responder,
       CASE WHEN offline_ok = 0 AND has_ocsp + has_crl > 0 THEN 1 ELSE 0 END AS live,
       CASE
         WHEN offline_ok = 1 THEN 0.0
         WHEN has_ocsp = 1 THEN CASE
           WHEN ocsp_ok_ms IS NOT NULL THEN ocsp_ok_ms
           {rescue}
           ELSE {NEVER_MS} END
         WHEN has_crl = 1 THEN COALESCE(crl_ok_ms, {NEVER_MS})
         ELSE 0.0
       END AS crit_ms,
       CASE
         WHEN offline_ok = 1 THEN 0.0
         WHEN has_ocsp = 1 THEN COALESCE(ocsp_ok_ms, ocsp_failed_ms{crl_time})
         WHEN has_crl = 1 THEN COALESCE(crl_ok_ms, crl_failed_ms)
         ELSE 0.0
       END AS wire_ms
FROM p
"""


def validations_sql(*, scoped: bool) -> str:
    """SQL: one row per validation (and scope key) reduced over its positions in scope.

    Without `scoped` every position is in scope under the key 'all'; with it, positions
    join `breakage_scope` on issuer_sha1 and group by its scope_key (a policy's issuer
    set, or one key per CA organisation).
    """
    key = "s.scope_key" if scoped else "'all'"
    join = f"JOIN {SCOPE} AS s ON s.issuer_sha1 = p.issuer_sha1" if scoped else ""
    group = ", s.scope_key" if scoped else ""
    leaf = "CASE WHEN p.chain_pos = 0 THEN p.crit_ms ELSE -1.0 END"
    upper = "CASE WHEN p.chain_pos > 0 THEN p.crit_ms ELSE -1.0 END"

    def nonnull(column: str, order: str) -> str:
        # DuckDB's MAX_BY skips rows whose value is NULL, Spark's only rows whose ordering
        # is NULL: a NULL ordering for NULL values makes both engines agree.
        return f"CASE WHEN {column} IS NOT NULL THEN {order} END"

    return f"""
SELECT p.client, p.chain_id, {key} AS scope_key,
       MIN(p.vday) AS day, MIN(p.ts) AS ts, MIN(p.region) AS region,
       MIN(p.failure_mode) AS failure_mode,
       MAX(CASE WHEN p.chain_pos = 0 THEN p.crit_ms ELSE 0.0 END) AS crit_leaf_ms,
       MAX(CASE WHEN p.chain_pos > 0 THEN p.crit_ms ELSE 0.0 END) AS crit_upper_ms,
       MAX_BY(p.responder, {nonnull("p.responder", leaf)}) AS responder_leaf,
       MAX_BY(p.responder, {nonnull("p.responder", upper)}) AS responder_upper,
       MAX_BY(p.issuer_sha1, {nonnull("p.issuer_sha1", leaf)}) AS issuer_leaf,
       MAX_BY(p.issuer_sha1, {nonnull("p.issuer_sha1", upper)}) AS issuer_upper,
       SUM(p.live) AS live_positions,
       COUNT(*) AS positions
FROM {POSITIONS} AS p {join}
GROUP BY p.client, p.chain_id{group}
"""


def attempts_sql(*, drop_client_side: bool) -> str:
    """SQL: wire attempts per responder, failed flag and 1 % latency bin (retry model)."""
    return f"""
SELECT responder, CASE WHEN outcome = 'error' THEN 1 ELSE 0 END AS failed,
       CASE WHEN FLOOR(latency_ms * 10) < 1 THEN -1
            ELSE CAST(CEIL(LN(FLOOR(latency_ms * 10)) / LN({GAMMA_LITERAL})) AS INT)
       END AS lat_bin,
       COUNT(*) AS attempts
FROM ({checks_source(drop_client_side)}) AS src
WHERE source = 'wire' AND latency_ms IS NOT NULL
GROUP BY responder, CASE WHEN outcome = 'error' THEN 1 ELSE 0 END,
         CASE WHEN FLOOR(latency_ms * 10) < 1 THEN -1
              ELSE CAST(CEIL(LN(FLOOR(latency_ms * 10)) / LN({GAMMA_LITERAL})) AS INT) END
"""


def retries_sql(*, drop_client_side: bool, window_seconds: int) -> str:
    """SQL: what the same client's next attempt at the same responder did after a failure.

    One row per responder, outcome of the next attempt and its 1 % latency bin, over
    failed wire checks followed by another wire check at that responder within
    `window_seconds` (a code constant): the data's own answer to "does a retry help?",
    client networks and outages included.
    """
    return f"""
WITH w AS (
  SELECT responder, ts, CASE WHEN outcome = 'error' THEN 1 ELSE 0 END AS failed,
         LEAD(ts) OVER (PARTITION BY client, responder ORDER BY ts) AS next_ts,
         LEAD(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END)
           OVER (PARTITION BY client, responder ORDER BY ts) AS next_failed,
         LEAD(latency_ms) OVER (PARTITION BY client, responder ORDER BY ts) AS next_ms
  FROM ({checks_source(drop_client_side)}) AS src
  WHERE source = 'wire'
)
SELECT responder, next_failed AS failed,
       CASE WHEN FLOOR(next_ms * 10) < 1 THEN -1
            ELSE CAST(CEIL(LN(FLOOR(next_ms * 10)) / LN({GAMMA_LITERAL})) AS INT)
       END AS lat_bin,
       COUNT(*) AS attempts
FROM w
WHERE failed = 1 AND next_ts IS NOT NULL AND next_ms IS NOT NULL
  AND next_ts <= ts + INTERVAL '{int(window_seconds)}' SECOND
GROUP BY responder, next_failed,
         CASE WHEN FLOOR(next_ms * 10) < 1 THEN -1
              ELSE CAST(CEIL(LN(FLOOR(next_ms * 10)) / LN({GAMMA_LITERAL})) AS INT) END
"""


def render(sql: str, relations: dict[str, str] | None = None, dialect: str = "duckdb") -> str:
    """`sql` with fixed relation names replaced (e.g. checks -> current_checks), in `dialect`."""
    return _render(sql, tuple(sorted((relations or {}).items())), dialect)


@functools.lru_cache(maxsize=64)
def _render(sql: str, relations: tuple[tuple[str, str], ...], dialect: str) -> str:
    tree = sqlglot.parse_one(sql, read="duckdb")
    for name, relation in relations:
        replacement = sqlglot.parse_one(relation, into=exp.Table, read=dialect)
        for table in tree.find_all(exp.Table):
            if table.name == name and not table.db:
                alias = table.alias
                new = replacement.copy()
                if alias:
                    new.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
                table.replace(new)

    return tree.sql(dialect=dialect, pretty=True)


def materialise_positions(
    con: duckdb.DuckDBPyConnection, *, fallback: bool, drop_client_side: bool
) -> str:
    """Create a temp table of positions for one variant; returns its name.

    With `drop_client_side` the caller must have registered `breakage_client_side`.
    """
    started = time.perf_counter()
    variant = f"{'fb' if fallback else 'nofb'}_{'srv' if drop_client_side else 'all'}"
    name = f"breakage_positions_{variant}"
    sql = render(
        positions_sql(fallback=fallback, drop_client_side=drop_client_side),
        {CHECKS: "current_checks"},
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
    count = con.execute(f"SELECT COUNT(*) FROM {name}").fetchall()[0][0]
    log.info("positions %s: %d rows in %.2f s", name, count, time.perf_counter() - started)

    return name


def fetch_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Run `sql` and return its rows, strings kept as Python objects (no string dtype pass)."""
    columns = {}
    for name, values in con.execute(sql).fetchnumpy().items():
        if isinstance(values, np.ma.MaskedArray):
            fill = None if values.dtype == object else np.nan
            values = np.ma.filled(values.astype(object if fill is None else np.float64), fill)
        columns[name] = pd.Series(values, dtype=object) if values.dtype == object else values

    return pd.DataFrame(columns)


def load_positions(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """The positions of a materialised variant as a DataFrame (no end-entity columns).

    Rows come in a fixed order: the parallel GROUP BY leaves them in a different order on
    every run, and the counterfactual's random tie-breaking follows row order.
    """
    return fetch_frame(
        con,
        f"""SELECT client, chain_id, chain_pos, vday, ts, region, failure_mode, issuer_sha1,
                   responder, live, crit_ms, wire_ms
            FROM {table} ORDER BY client, chain_id, chain_pos""",
    )


def load_validations(
    con: duckdb.DuckDBPyConnection, table: str, scope: pd.DataFrame | None
) -> pd.DataFrame:
    """Validations reduced over the positions of `table` in `scope` (None: every issuer).

    `scope` has columns issuer_sha1, scope_key; it is registered as `breakage_scope`.
    """
    started = time.perf_counter()
    if scope is None:
        sql = render(validations_sql(scoped=False), {POSITIONS: table})
        frame = fetch_frame(con, sql)
    else:
        con.register(SCOPE, scope[["issuer_sha1", "scope_key"]])
        try:
            sql = render(validations_sql(scoped=True), {POSITIONS: table})
            frame = fetch_frame(con, sql)
        finally:
            con.unregister(SCOPE)
    log.debug(
        "validations of %s: %d rows in %.2f s", table, len(frame), time.perf_counter() - started
    )

    return frame
