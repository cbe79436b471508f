"""Hard-fail breakage model on small synthetic warehouses (causes known by construction)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from breakage_world import brute_force, issuers_frame, make_checks, warehouse
from hypothesis import given, settings
from hypothesis import strategies as st

from certsentry_analysis.breakage import build_tables
from certsentry_analysis.breakage import validations as sql
from certsentry_analysis.breakage.frontier import Budget, viability_frontier
from certsentry_analysis.breakage.policy import (
    PRESETS,
    Policy,
    get_policy,
    scope_issuers,
    timeout_grid,
)
from certsentry_analysis.breakage.replay import above_counts, bootstrap_weights, ratio_interval
from certsentry_analysis.breakage.world import bins_from_cells, load_world
from certsentry_analysis.cli import main

GRID = timeout_grid(12)
NO_RETRY = replace(PRESETS["hard-fail-all"], name="hard-fail-all-no-retry", retries=0)


@pytest.fixture(scope="module")
def checks() -> pd.DataFrame:
    return make_checks(clients=40, days=3, per_day=15.0, seed=3)


@pytest.fixture(scope="module")
def con(checks: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    return warehouse(checks)


def client_bins(checks: pd.DataFrame) -> pd.DataFrame:
    """Stand-in for the statistics layer: bins holding a client-caused failure."""
    failed = checks[checks["cause"] == "client"].assign(
        bin_start=lambda f: f["ts"].dt.floor("5min")
    )
    cells = failed.groupby(["client", "responder", "bin_start"], as_index=False).size()

    return bins_from_cells(cells.assign(side="client"), 5)


def test_presets_cover_the_four_policies() -> None:
    assert set(PRESETS) == {"soft-fail", "hard-fail-all", "hard-fail-issuers", "hard-fail-ev"}
    assert not get_policy("soft-fail").hard
    assert get_policy("hard-fail-all").with_timeout(500).timeout_ms == 500
    with pytest.raises(KeyError, match="soft-fail"):
        get_policy("nope")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "medium"},
        {"timeout_ms": 0},
        {"retries": -1},
        {"stapling_share": 1.5},
        {"scope": "issuers"},
    ],
)
def test_policy_rejects_bad_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="policy 'x'"):
        Policy(**{"name": "x", "mode": "hard", **kwargs})  # type: ignore[arg-type]


def test_timeout_grid_is_log_spaced_from_100_ms_to_30_s() -> None:
    grid = timeout_grid()
    assert len(grid) == 50
    assert grid[0] == pytest.approx(100.0) and grid[-1] == pytest.approx(30_000.0)
    assert np.allclose(np.diff(np.log(grid)), np.log(grid[1] / grid[0]))


def test_scope_matches_comodo_ev_and_stand_in() -> None:
    issuers = issuers_frame()
    comodo, note = scope_issuers(PRESETS["hard-fail-issuers"], issuers)
    assert comodo == {"A" * 40, "D" * 40}
    assert "COMODO" in note
    ev, _ = scope_issuers(PRESETS["hard-fail-ev"], issuers)
    assert ev == {"B" * 40}
    no_comodo = issuers[~issuers["organization"].str.contains("COMODO")].assign(
        checks=[10, 500, 1, 1000]
    )
    stand_in, note = scope_issuers(PRESETS["hard-fail-issuers"], no_comodo)
    assert stand_in == {"C" * 40, "F" * 40}
    assert "stand-in" in note


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(0, 40_000), st.just(np.inf)), min_size=1, max_size=60),
    groups=st.integers(1, 4),
)
def test_above_counts_matches_direct_count(values: list[float], groups: int) -> None:
    v = np.array(values)
    g = np.arange(len(v)) % groups
    counts = above_counts(g, v, GRID, groups)
    direct = np.array([[np.sum(v[g == k] > T) for T in GRID] for k in range(groups)])
    assert np.array_equal(counts, direct)


def test_ratio_interval_brackets_point_and_weights_resample_clients() -> None:
    weights = bootstrap_weights(30, 100, seed=1)
    assert weights.shape == (100, 30) and np.all(weights.sum(axis=1) == 30)
    rng = np.random.default_rng(0)
    num = rng.integers(0, 5, size=(30, 3)).astype(float)
    den = num.sum(axis=1) + 10
    point, low, high = ratio_interval(num, den, weights)
    assert np.allclose(point, num.sum(axis=0) / den.sum())
    assert np.all(low <= point) and np.all(point <= high) and np.all(low < high)


@pytest.mark.parametrize("fallback", [True, False])
def test_replay_equals_position_by_position_recomputation(
    checks: pd.DataFrame, con: duckdb.DuckDBPyConnection, fallback: bool
) -> None:
    policy = replace(NO_RETRY, fallback_to_crl=fallback)
    tables = build_tables(con, policies=[policy], grid=GRID, client_side=None, replicates=50)
    curve = tables["breakage_curves"]
    curve = curve[curve["unit"] == "validation"].set_index("timeout_ms")
    for T in GRID[::3]:
        expected = brute_force(checks, T, fallback=fallback).mean()
        assert curve.loc[T, "breakage"] == pytest.approx(expected, abs=1e-12)
        assert curve.loc[T, "ci_low"] <= expected <= curve.loc[T, "ci_high"]


def test_client_side_removal_matches_recomputation_without_client_failures(
    checks: pd.DataFrame, con: duckdb.DuckDBPyConnection
) -> None:
    tables = build_tables(
        con, policies=[NO_RETRY], grid=GRID, client_side=client_bins(checks), replicates=50
    )
    curves = tables["breakage_curves"]
    val = curves[curves["unit"] == "validation"].pivot(
        index="timeout_ms", columns="client_side", values="breakage"
    )
    assert np.all(val["removed"] <= val["included"] + 1e-12)
    server_only = checks[~((checks["cause"] == "client") & (checks["outcome"] == "error"))]
    n = checks.groupby(["client", "chain_id"]).ngroups
    for T in (GRID[4], GRID[-1]):
        expected = brute_force(server_only, T, fallback=True).sum() / n
        assert val.loc[T, "removed"] == pytest.approx(expected, abs=2 / n)
    share = tables["breakage_attribution"]
    client_row = share[share["level"] == "client_side"]
    assert client_row["share_of_breakage"].iloc[0] > 0.5  # the world is client-failure heavy


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    retries=st.integers(0, 2),
    stapling=st.sampled_from([0.0, 0.5]),
    fallback=st.booleans(),
)
def test_breakage_never_increases_with_timeout(
    seed: int, retries: int, stapling: float, fallback: bool
) -> None:
    con = warehouse(make_checks(clients=12, days=2, per_day=8.0, seed=seed))
    policies = [
        replace(p, retries=retries, stapling_share=stapling, fallback_to_crl=fallback)
        for p in PRESETS.values()
    ]
    curves = build_tables(con, policies=policies, grid=GRID, client_side=None, replicates=20)[
        "breakage_curves"
    ]
    for _, curve in curves.groupby(["policy", "client_side", "unit"]):
        values = curve.sort_values("timeout_ms")["breakage"].to_numpy()
        assert np.all(np.diff(values) <= 1e-12)


def test_soft_fail_breaks_nothing_and_infinite_timeout_leaves_unanswered(
    checks: pd.DataFrame, con: duckdb.DuckDBPyConnection
) -> None:
    grid = np.array([100.0, 1_000.0, np.inf])
    soft = replace(PRESETS["soft-fail"], retries=2, stapling_share=0.3)
    tables = build_tables(
        con, policies=[soft, NO_RETRY], grid=grid, client_side=None, replicates=20
    )
    curves = tables["breakage_curves"]
    assert (curves.loc[curves["policy"] == "soft-fail", ["breakage", "ci_high"]] == 0).all().all()
    at_inf = curves[(curves["policy"] == NO_RETRY.name) & (curves["unit"] == "validation")]
    expected = brute_force(checks, np.inf, fallback=True).mean()
    assert at_inf.set_index("timeout_ms").loc[np.inf, "breakage"] == pytest.approx(expected)
    assert expected > 0


def test_full_stapling_and_fallback_only_reduce_breakage(con: duckdb.DuckDBPyConnection) -> None:
    variants = [
        NO_RETRY,
        replace(NO_RETRY, name="stapled", stapling_share=1.0),
        replace(NO_RETRY, name="no-fallback", fallback_to_crl=False),
        replace(NO_RETRY, name="retry", retries=1),
    ]
    curves = build_tables(con, policies=variants, grid=GRID, client_side=None, replicates=20)[
        "breakage_curves"
    ]
    val = curves[curves["unit"] == "validation"].pivot(
        index="timeout_ms", columns="policy", values="breakage"
    )
    assert np.all(val["stapled"] <= val[NO_RETRY.name])
    assert np.all(val[NO_RETRY.name] <= val["no-fallback"])
    assert np.all(val["retry"] <= val[NO_RETRY.name] + 1e-12)


def test_sql_renders_for_spark() -> None:
    text = sql.render(
        sql.validations_sql(scoped=True), {sql.POSITIONS: "positions_view"}, dialect="spark"
    )
    assert "MAX_BY" in text and "positions_view" in text and "breakage_scope" in text
    spark_positions = sql.render(
        sql.positions_sql(fallback=True, drop_client_side=True),
        {sql.CHECKS: "checks_parquet"},
        dialect="spark",
    )
    assert "checks_parquet" in spark_positions and "OVER (" in spark_positions


def test_frontier_picks_smallest_timeout_within_budget() -> None:
    T = np.array([100.0, 1_000.0, 10_000.0])
    rows = []
    for unit, values in (
        ("validation", [1e-2, 5e-5, 2e-5]),
        ("client_day", [0.5, 0.02, 0.005]),
        ("check", [1e-2, 1e-5, 1e-5]),
    ):
        for t, v in zip(T, values, strict=True):
            rows.append(("p", "included", unit, t, v, v * 0.9, v * 1.1))
    curves = pd.DataFrame(
        rows,
        columns=["policy", "client_side", "unit", "timeout_ms", "breakage", "ci_low", "ci_high"],
    )
    waiting = pd.DataFrame(
        {
            "policy": "p",
            "timeout_ms": T,
            "mean_wait_ms": [50.0, 80.0, 90.0],
            "p95_wait_ms": [100.0, 500.0, 900.0],
        }
    )
    row = viability_frontier(curves, waiting, Budget()).iloc[0]
    assert row["viable"] and row["timeout_ms"] == 10_000.0
    assert row["mean_wait_ms"] == 90.0
    loose = viability_frontier(curves, waiting, Budget(1e-4, 0.05)).iloc[0]
    assert loose["timeout_ms"] == 1_000.0
    with pytest.raises(ValueError, match="client_days"):
        Budget(client_days=2.0)


def test_world_population_counts_every_unit(
    checks: pd.DataFrame, con: duckdb.DuckDBPyConnection
) -> None:
    world = load_world(con, GRID, [NO_RETRY], client_side=None, replicates=10)
    assert world.pop.size == checks["client"].nunique()
    assert world.pop.validations.sum() == checks.groupby(["client", "chain_id"]).ngroups
    assert world.pop.positions.sum() == checks.groupby(["client", "chain_id", "chain_pos"]).ngroups
    assert world.pop.client_days.sum() == checks.groupby(["client", "day"]).ngroups


def test_hardfail_command_prints_viability_table(
    checks: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as target:
        source = warehouse(checks)
        for table in ("current_checks", "issuers"):
            target.register("_t", source.execute(f"SELECT * FROM {table}").df())
            target.execute(f"CREATE TABLE {table} AS SELECT * FROM _t")
            target.unregister("_t")

    code = main(
        [
            "hardfail",
            "--db",
            str(db),
            "--policy",
            "hard-fail-ev",
            "--budget-validations",
            "0.01",
            "--budget-client-days",
            "0.5",
            "--no-attribution",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "hard-fail-ev" in out and "smallest T" in out and "<= 0.01 of validations" in out
