"""compute_all end to end: table names, suppression, taxonomy, league table invariants."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from certsentry_analysis.logformat import ERROR_CODES
from certsentry_analysis.stats import compute_all
from certsentry_analysis.stats.suppression import suppress
from certsentry_analysis.stats.taxonomy import classify, failure_taxonomy, taxonomy_table

sys.path.insert(0, str(Path(__file__).parent))
from stats_synthetic import load, make_world

TABLES = {
    "attribution_cells",
    "league_table",
    "failure_rates",
    "failure_rates_daily",
    "failure_taxonomy",
    "latency_quantiles",
    "latency_ecdf",
    "latency_fits",
    "latency_comparisons",
    "crl_size_latency",
    "outages",
    "attribution_summary",
    "responder_operators",
}


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """compute_all over synthetic world seed 3 (300 clients, 3 days), k = 10."""
    return compute_all(load(make_world(3)), replicates=200, seed=3)


def test_compute_all_returns_every_documented_table(tables: dict[str, pd.DataFrame]) -> None:
    assert set(tables) == TABLES
    for name, frame in tables.items():
        assert not frame.empty, name


def test_league_table_ranks_and_intervals(tables: dict[str, pd.DataFrame]) -> None:
    league = tables["league_table"]
    ranked = league[~league["suppressed"]]
    for _, group in ranked.groupby("method"):
        assert group["rank"].tolist() == list(range(1, len(group) + 1))
        assert group["attributable_rate"].is_monotonic_increasing
    assert (ranked["failure_ci_low"] <= ranked["failure_rate"]).all()
    assert (ranked["failure_rate"] <= ranked["failure_ci_high"]).all()
    assert (ranked["attributable_rate"] <= ranked["failure_rate"] + 1e-12).all()
    assert (ranked["p50_ms"] <= ranked["p95_ms"]).all()
    assert (ranked["p95_ms"] <= ranked["p99_ms"]).all()
    assert ranked.loc[ranked["method"] == "CRL", "crl_bytes"].gt(0).all()


def test_cache_hits_are_not_in_the_rates(tables: dict[str, pd.DataFrame]) -> None:
    rates = tables["failure_rates"]
    overall = rates[rates["level"] == "method"]
    assert (overall["cache_checks"] > 0).all()
    assert np.allclose(overall["failure_rate"], overall["failures"] / overall["wire_checks"])


def test_small_cells_are_suppressed() -> None:
    frame = pd.DataFrame(
        {
            "responder": ["a", "b"],
            "clients": [9, 10],
            "failure_rate": [0.1, 0.2],
            "checks": [100, 200],
        }
    )
    out = suppress(frame, k=10)
    assert out["suppressed"].tolist() == [True, False]
    assert out.loc[0, ["clients", "failure_rate", "checks"]].isna().all()
    assert out.loc[0, "responder"] == "a"
    assert out.loc[1, "failure_rate"] == 0.2


def test_suppression_applies_to_published_tables() -> None:
    con = load(make_world(4, clients=8, days=1, responders=3))
    out = compute_all(con, replicates=50, k=10)
    for name in ("league_table", "failure_rates", "latency_quantiles"):
        frame = out[name]
        assert frame.loc[frame["clients"].notna(), "clients"].ge(10).all(), name
        assert frame["suppressed"].any(), name


def test_every_error_code_has_one_failure_class() -> None:
    table = taxonomy_table()
    assert set(table["error"]) == set(ERROR_CODES)
    classes = classify(pd.Series(["ERROR_INTERNET_TIMEOUT", "NOT_A_CODE", None]))
    assert classes["failure_class"].tolist() == ["network", "other", "other"]


def test_taxonomy_shares_sum_to_one() -> None:
    rollup = pd.DataFrame(
        {
            "responder": ["r1", "r1", "r1", "r2"],
            "issuer_spki_sha256": "i",
            "method": "OCSP",
            "source": "wire",
            "outcome": ["error", "error", "good", "error"],
            "error": ["ERROR_INTERNET_TIMEOUT", "OCSP_TRY_LATER", None, None],
            "checks": [3, 1, 96, 2],
            "clients": [3, 1, 50, 2],
        }
    )
    operators = pd.DataFrame({"responder": ["r1", "r2"], "operator": ["A", "B"]})
    tax = failure_taxonomy(rollup, operators)
    for _, group in tax.groupby("responder"):
        assert abs(group["share"].sum() - 1) < 1e-9
    r1 = tax[tax["responder"] == "r1"].set_index("error")
    assert r1.loc["ERROR_INTERNET_TIMEOUT", "rate"] == 0.03
    assert r1.loc["OCSP_TRY_LATER", "failure_class"] == "protocol"
    assert tax.loc[tax["responder"] == "r2", "failure_class"].tolist() == ["other"]


def test_compute_all_on_the_tiny_simulated_warehouse(tiny_db: Path) -> None:
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        out = compute_all(con, replicates=50)
    assert set(out) == TABLES
    assert len(out["league_table"]) > 0
