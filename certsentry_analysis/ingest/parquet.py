"""The day-partitioned Parquet copy of `current_checks` (hive style `day=YYYY-MM-DD`)."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb

from certsentry_analysis.ingest.schema import CHECK_COLUMNS

log = logging.getLogger(__name__)

PART_NAME = "part-0.parquet"

# Spark reads unsigned 64-bit Parquet integers as decimals and polars/Spark disagree on
# the smaller unsigned ones, so the copy uses signed types wide enough for every value.
_PORTABLE = {
    "UTINYINT": "SMALLINT",
    "USMALLINT": "INTEGER",
    "UINTEGER": "BIGINT",
    "UBIGINT": "DECIMAL(20, 0)",
}
_COLUMNS = ", ".join(
    f"CAST({name} AS {_PORTABLE[kind.split()[0]]}) AS {name}"
    if kind.split()[0] in _PORTABLE
    else name
    for name, kind in CHECK_COLUMNS
    if name != "day"
)
# The partition column lives in the folder name only: Spark refuses a file column that
# repeats a partition column.
# No ORDER BY: no reader relies on row order (rows carry file_id and line_no), and
# sorting each day would cost a full sort of it.
_DAY_ROWS = "SELECT <<columns>> FROM current_checks WHERE day = $day".replace(
    "<<columns>>", _COLUMNS
)


def partition_dir(parquet_dir: Path, day: date) -> Path:
    """The folder holding one day's rows."""
    return parquet_dir / f"day={day.isoformat()}"


def write_days(con: duckdb.DuckDBPyConnection, parquet_dir: Path, days: Sequence[date]) -> int:
    """Rewrite the partitions of `days` from `current_checks`; returns rows written.

    DuckDB streams each day to a temporary file that is then renamed into place, so a
    reader never sees a half-written file; a day without current rows loses its folder.
    """
    written = 0
    for day in sorted(days):
        target_dir = partition_dir(parquet_dir, day)
        count = con.execute(
            "SELECT count(*) FROM current_checks WHERE day = $day", {"day": day}
        ).fetchall()[0][0]
        if count == 0:
            shutil.rmtree(target_dir, ignore_errors=True)
            continue
        target_dir.mkdir(parents=True, exist_ok=True)
        temporary = target_dir / f".tmp-{uuid.uuid4().hex}.parquet"
        con.sql(_DAY_ROWS, params={"day": day}).write_parquet(str(temporary), compression="zstd")
        os.replace(temporary, target_dir / PART_NAME)
        for stale in target_dir.iterdir():
            if stale.name != PART_NAME:
                stale.unlink()
        written += int(count)

    return written
