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
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

PART_NAME = "part-0.parquet"

# Spark reads unsigned 64-bit Parquet integers as decimals and polars/Spark disagree on
# the smaller unsigned ones, so the copy uses signed types wide enough for every value.
_SIGNED = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.decimal128(20, 0),
}


def _portable(table: pa.Table) -> pa.Table:
    fields = [
        pa.field(f.name, _SIGNED.get(f.type, f.type), nullable=f.nullable) for f in table.schema
    ]

    return table.cast(pa.schema(fields))


def partition_dir(parquet_dir: Path, day: date) -> Path:
    """The folder holding one day's rows."""
    return parquet_dir / f"day={day.isoformat()}"


def write_days(
    con: duckdb.DuckDBPyConnection, parquet_dir: Path, days: Sequence[date]
) -> int:
    """Rewrite the partitions of `days` from `current_checks`; returns rows written.

    Each partition is written to a temporary file and renamed into place, so a reader
    never sees a half-written file; a day without current rows loses its folder.
    """
    written = 0
    for day in sorted(days):
        table = con.sql(
            "SELECT * EXCLUDE (day) FROM current_checks WHERE day = $day"
            " ORDER BY file_id, line_no",
            params={"day": day},
        ).to_arrow_table()
        target_dir = partition_dir(parquet_dir, day)
        if table.num_rows == 0:
            shutil.rmtree(target_dir, ignore_errors=True)
            continue
        target_dir.mkdir(parents=True, exist_ok=True)
        temporary = target_dir / f".tmp-{uuid.uuid4().hex}.parquet"
        pq.write_table(_portable(table), temporary, compression="zstd")
        os.replace(temporary, target_dir / PART_NAME)
        for stale in target_dir.iterdir():
            if stale.name != PART_NAME:
                stale.unlink()
        written += table.num_rows

    return written
