"""Run every analysis stage over a warehouse and store its tables in schema `results`.

Stages run in a fixed order because later ones read earlier results: the
statistics layer (rollups, rates, latency, outages, attribution), then the
hard-fail breakage replay, then the pushed-revocation-list comparison.
Each stage module exposes `compute_all(con, raw_dir=...) -> dict[str, DataFrame]`.
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from pathlib import Path

import duckdb
import pandas as pd

log = logging.getLogger(__name__)

RESULTS_SCHEMA = "results"
STAGES = (
    "certsentry_analysis.stats",
    "certsentry_analysis.breakage",
    "certsentry_analysis.revocation",
)
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def store_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    """Replace `results.<name>` with the rows of `frame`."""
    if not _TABLE_NAME.fullmatch(name):
        raise ValueError(f"result table name {name!r} must be lower-case snake_case")

    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RESULTS_SCHEMA}")
    con.register("_result_frame", frame)
    try:
        # The name is checked against _TABLE_NAME above; the rows travel as a frame.
        con.execute(
            f'CREATE OR REPLACE TABLE {RESULTS_SCHEMA}."{name}" AS SELECT * FROM _result_frame'  # noqa: S608
        )
    finally:
        con.unregister("_result_frame")


def load_table(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """Read `results.<name>` back as a DataFrame."""
    if not _TABLE_NAME.fullmatch(name):
        raise ValueError(f"result table name {name!r} must be lower-case snake_case")

    query = f'SELECT * FROM {RESULTS_SCHEMA}."{name}"'  # noqa: S608 - name checked above

    return con.execute(query).df()


def result_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the tables stored in schema `results`."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
        [RESULTS_SCHEMA],
    ).fetchall()

    return [r[0] for r in rows]


def run_analysis(db_path: Path, *, raw_dir: Path | None = None) -> dict[str, pd.DataFrame]:
    """Compute every stage's tables over the warehouse at `db_path` and store them."""
    if not db_path.exists():
        raise FileNotFoundError(f"no warehouse at {db_path}; run `certsentry ingest` first")

    tables: dict[str, pd.DataFrame] = {}
    with duckdb.connect(str(db_path)) as con:
        for module_name in STAGES:
            started = time.perf_counter()
            module = importlib.import_module(module_name)
            stage_tables = module.compute_all(con, raw_dir=raw_dir)
            for name, frame in stage_tables.items():
                store_table(con, name, frame)
            tables.update(stage_tables)
            log.info(
                "%s: %d tables in %.1f s",
                module_name.rsplit(".", 1)[-1],
                len(stage_tables),
                time.perf_counter() - started,
            )

    return tables
