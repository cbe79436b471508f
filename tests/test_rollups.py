"""Rollup SQL: bins match the Python definition, edge cases, Spark transpilation, totals."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certsentry_analysis import rollups

sys.path.insert(0, str(Path(__file__).parent))
from stats_synthetic import load, make_world


@pytest.fixture(scope="module")
def world_con() -> duckdb.DuckDBPyConnection:
    """A small synthetic warehouse (seed 5)."""
    return load(make_world(5, clients=60, days=2, responders=4, checks_per_client_day=30))


def _sql_bins(values: list[float]) -> list[int | None]:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE current_checks (client VARCHAR, responder VARCHAR, "
        "issuer_spki_sha256 VARCHAR, method VARCHAR, source VARCHAR, outcome VARCHAR, "
        "error VARCHAR, region VARCHAR, process VARCHAR, bytes UINTEGER, "
        "http_status USMALLINT, ts TIMESTAMP, latency_ms DOUBLE)"
    )
    con.executemany(
        "INSERT INTO current_checks VALUES ('c', 'r', 'i', 'OCSP', 'wire', 'good', NULL, 'EU', "
        "'p', NULL, NULL, TIMESTAMP '2012-06-04 10:07:00', ?)",
        [[v] for v in values],
    )
    frame = rollups.run_rollups_duckdb(con, names=("rollup_latency",))["rollup_latency"]

    return sorted(int(b) for b in np.repeat(frame["lat_bin"], frame["checks"]))


def test_bin_boundaries_are_far_from_integer_inputs() -> None:
    assert rollups.check_bin_margin() > 1e-11


def test_sql_bins_equal_python_bins_at_edges() -> None:
    edges = [0.0, 0.05, 0.0999, 0.1, 0.15, 0.2, 1.0, 9.99, 10.0, 15000.0, 1e6]
    boundary = [math.floor(rollups.GAMMA**k) / 10 for k in (40, 200, 500)]
    values = edges + boundary + [b + 0.1 for b in boundary]

    assert _sql_bins(values) == sorted(rollups.bin_of(np.array(values)).tolist())


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=20))
def test_sql_bins_equal_python_bins(values: list[float]) -> None:
    assert _sql_bins(values) == sorted(rollups.bin_of(np.array(values)).tolist())


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0.2, max_value=1e6, allow_nan=False))
def test_bin_value_is_within_alpha_of_the_latency(latency: float) -> None:
    value = float(rollups.bin_value(rollups.bin_of(np.array([latency])))[0])
    # alpha from the log spacing plus the 0.1 ms flooring to integer tenths
    assert abs(value - latency) <= rollups.SKETCH_ALPHA * latency + 0.1


def test_zero_latency_has_its_own_bin() -> None:
    assert rollups.bin_of(np.array([0.0, 0.09]))[0] == rollups.ZERO_BIN
    assert _sql_bins([0.0, 0.09]) == [rollups.ZERO_BIN, rollups.ZERO_BIN]


@pytest.mark.parametrize("name", sorted(rollups.ROLLUPS))
def test_spark_sql_uses_no_duckdb_only_functions(name: str) -> None:
    sql = rollups.render(name, "checks", dialect="spark")
    assert "FROM checks" in sql
    for duckdb_only in ("EPOCH", "GROUP BY ALL", "::", "HUGEINT", "LIST(", "QUANTILE"):
        assert duckdb_only not in sql.upper()


def test_render_substitutes_the_relation() -> None:
    sql = rollups.render("rollup_checks", "main.current_checks")
    assert "main.current_checks" in sql
    assert "FROM checks" not in sql


def test_rollup_totals_match_the_checks(world_con: duckdb.DuckDBPyConnection) -> None:
    out = rollups.run_rollups_duckdb(world_con)
    total, wire, failed = world_con.execute(
        "SELECT count(*), count(*) FILTER (source = 'wire'), "
        "count(*) FILTER (source = 'wire' AND outcome = 'error') FROM current_checks"
    ).fetchall()[0]

    assert out["rollup_checks"]["checks"].sum() == total
    assert out["rollup_latency"]["checks"].sum() == wire
    assert out["rollup_client_responder"]["wire_checks"].sum() == wire
    assert out["rollup_client_responder"]["failures"].sum() == failed
    assert out["rollup_responder_bins"]["failures"].sum() == failed
    assert out["rollup_client_bins"]["wire_checks"].sum() == wire
    assert set(out["rollup_responder_bins"]["minute"]) <= set(range(0, 60, rollups.BIN_MINUTES))
    for name, frame in out.items():
        assert list(frame.columns[: len(rollups.ORDER_BY[name])]) == list(
            rollups.ORDER_BY[name]
        ), name
        assert all(str(t) != "float64" for c, t in frame.dtypes.items() if c.endswith("checks"))


def test_rollups_are_deterministic(world_con: duckdb.DuckDBPyConnection) -> None:
    first = rollups.run_rollups_duckdb(world_con)
    second = rollups.run_rollups_duckdb(world_con)
    for name in rollups.ROLLUPS:
        assert first[name].equals(second[name]), name
