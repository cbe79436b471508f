"""Attribution on a synthetic world whose causes are known."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from certsentry_analysis.rollups import run_rollups_duckdb
from certsentry_analysis.stats.attribution import (
    ATTRIBUTION_BIN_MINUTES,
    attribute,
    attribute_failures,
)

sys.path.insert(0, str(Path(__file__).parent))
from stats_synthetic import load, make_world


@pytest.fixture(scope="module")
def world_and_cells() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic world seed 2 (300 clients, 3 days) and its attributed cells."""
    world = make_world(2)
    con = load(world)
    roll = run_rollups_duckdb(con, names=("rollup_client_bins",))
    cells, _ = attribute(roll["rollup_client_bins"], seed=2)
    return world.checks, cells


def test_most_failures_are_attributed_to_their_true_side(
    world_and_cells: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    checks, cells = world_and_cells
    failed = checks[(checks["source"] == "wire") & (checks["outcome"] == "error")].copy()
    failed["bin_start"] = failed["ts"].dt.floor(f"{ATTRIBUTION_BIN_MINUTES}min")
    joined = failed.merge(cells, on=["client", "responder", "bin_start"], how="left")
    assert joined["side"].notna().all()
    assert (joined["side"] == joined["cause"]).mean() >= 0.9


def test_every_failed_cell_gets_one_side(
    world_and_cells: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, cells = world_and_cells
    assert set(cells["side"]) <= {"server", "client", "ambiguous"}
    assert not cells.duplicated(["client", "responder", "bin_start"]).any()
    assert (cells["bin_start"].dt.minute % ATTRIBUTION_BIN_MINUTES == 0).all()


def test_attribute_failures_reads_the_warehouse() -> None:
    con = load(make_world(3, clients=80, days=1, responders=4))
    out = attribute_failures(con)
    assert {"client", "responder", "bin_start", "side"} <= set(out.columns)
    assert (
        out["failures"].sum()
        == con.execute(
            "SELECT count(*) FROM current_checks WHERE source = 'wire' AND outcome = 'error'"
        ).fetchall()[0][0]
    )
