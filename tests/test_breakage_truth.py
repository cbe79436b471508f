"""Hard-fail breakage model against the simulator's ground truth."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from breakage_world import brute_force

from certsentry_analysis.breakage import PRESETS, build_tables
from certsentry_analysis.breakage.policy import timeout_grid
from certsentry_analysis.breakage.world import bins_from_cells
from certsentry_analysis.ingest import ingest, pseudonymise

GRID = timeout_grid(10)
NO_RETRY = replace(PRESETS["hard-fail-all"], name="hard-fail-all-no-retry", retries=0)


def truth_checks(world: Path, key: bytes) -> pd.DataFrame:
    """The simulator's checks that reached the warehouse, with pseudonymous client ids."""
    truth = pd.read_parquet(world / "truth" / "checks")
    truth = truth[truth["intact"]].copy()
    truth["client"] = [pseudonymise(c, key) for c in truth["client_id"]]
    truth["ts"] = truth["ts"].dt.tz_localize(None)

    return truth


def truth_client_bins(truth: pd.DataFrame) -> pd.DataFrame:
    """Attribution stand-in from truth: 5-minute bins holding a client-caused failure."""
    failed = truth[(truth["cause"] == "client") & (truth["outcome"] == "error")]
    cells = (
        failed.assign(bin_start=failed["ts"].dt.floor("5min"))
        .groupby(["client", "responder", "bin_start"], as_index=False)
        .size()
    )

    return bins_from_cells(cells.assign(side="client"), 5)


@pytest.fixture(scope="module")
def tiny_tables(tiny_db: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        return build_tables(
            con, policies=[NO_RETRY, *PRESETS.values()], grid=GRID, client_side=None
        )


def test_replay_matches_brute_force_from_truth(
    tiny_world: Path, pseudonym_key: bytes, tiny_tables: dict[str, pd.DataFrame]
) -> None:
    truth = truth_checks(tiny_world, pseudonym_key)
    curves = tiny_tables["breakage_curves"]
    curve = curves[(curves["policy"] == NO_RETRY.name) & (curves["unit"] == "validation")]
    curve = curve.set_index("timeout_ms")
    for T in GRID[::2]:
        expected = brute_force(truth, T, fallback=True)
        row = curve.loc[T]
        assert row["ci_low"] <= expected.mean() <= row["ci_high"]
        assert row["breakage"] == pytest.approx(expected.mean(), abs=1e-9)
    # Without a timeout, exactly the validations with an unanswered position break.
    assert brute_force(truth, np.inf, fallback=True).mean() > 0


def test_attack_succeeds_under_soft_fail_and_is_blocked_under_hard_fail(
    tiny_tables: dict[str, pd.DataFrame],
) -> None:
    hole = tiny_tables["soft_fail_hole"].set_index("policy")
    assert hole.loc["soft-fail", "revoked_checks"] > 0
    assert hole.loc["soft-fail", "accepted"] > 0
    assert hole.loc["soft-fail", "accepted_share"] > 0
    assert hole.loc["hard-fail-all", "accepted"] == 0
    # Every revoked check left unanswered got through under soft-fail.
    assert hole.loc["soft-fail", "accepted"] >= hole.loc["hard-fail-all", "never_answered"]


def _simulated(
    scenario: str, root: Path, key: bytes, clients: int, days: int
) -> tuple[Path, Path]:
    from certsentry_analysis.simulate import simulate

    world = simulate(scenario, seed=7, out_dir=root / scenario, clients=clients, days=days)
    db = root / f"{scenario}.duckdb"
    ingest([world / "logs"], db, key=key, pki_dirs=[world / "pki"])

    return world, db


@pytest.mark.slow
def test_best_ca_world_agrees_with_counterfactual_from_baseline(
    tmp_path_factory: pytest.TempPathFactory, pseudonym_key: bytes
) -> None:
    root = tmp_path_factory.mktemp("best-ca")
    tables = {}
    for scenario in ("baseline-2012", "best-ca-world"):
        world, db = _simulated(scenario, root, pseudonym_key, clients=120, days=3)
        bins = truth_client_bins(truth_checks(world, pseudonym_key))
        with duckdb.connect(str(db), read_only=True) as con:
            tables[scenario] = build_tables(
                con, policies=[PRESETS["hard-fail-all"]], client_side=bins
            )
    counterfactual = tables["baseline-2012"]["best_ca_counterfactual"]
    observed = tables["best-ca-world"]["breakage_curves"]
    observed = observed[observed["client_side"] == "removed"]
    both = counterfactual.merge(
        observed, on=["policy", "client_side", "unit", "timeout_ms"], suffixes=("", "_bcw")
    )
    # Where failures rather than latency decide (T >= 5 s), the intervals overlap and the
    # counterfactual sits far below what the baseline's own responders produce.
    slow = both[(both["timeout_ms"] >= 5_000) & (both["unit"] != "check")]
    assert len(slow) > 0
    assert np.all(slow["ci_low"] <= slow["ci_high_bcw"] + 1e-12)
    assert np.all(slow["ci_low_bcw"] <= slow["ci_high"] + 1e-12)
    assert slow["observed"].sum() > slow["counterfactual"].sum()
