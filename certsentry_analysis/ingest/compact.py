"""Rewrite the warehouse file when many small commits have left it full of free blocks.

Each committed batch makes DuckDB rewrite the table's last, partly filled row group, so
after a batched load about half of the file can be free blocks. Copying the database
into a fresh file and renaming it over the old one gives the size of a single load.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

# Rewrite only when it pays: enough free space, in absolute and relative terms.
MIN_FREE_BYTES = 32 * 2**20
MIN_FREE_SHARE = 0.25


def scratch_path(db_path: Path) -> Path:
    """Where the compacted copy is built before it replaces the warehouse."""
    return db_path.with_name(db_path.name + ".compacting")


def free_space(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(free bytes, total bytes) of the connection's database file."""
    rows = con.execute(
        "SELECT block_size, total_blocks, free_blocks FROM pragma_database_size()"
        " WHERE database_name = current_database()"
    ).fetchall()
    block_size, total, free = rows[0]

    return int(free) * int(block_size), int(total) * int(block_size)


def compact_if_bloated(con: duckdb.DuckDBPyConnection, db_path: Path) -> bool:
    """Copy the database to a fresh file and swap it in when it is mostly free blocks.

    Closes `con` when it compacts. Crash-safe: the warehouse is replaced only by an
    atomic rename of a complete copy; a leftover copy is deleted by the next run.
    """
    started = time.perf_counter()
    free, total = free_space(con)
    if free < MIN_FREE_BYTES or free < MIN_FREE_SHARE * total:
        return False

    target = scratch_path(db_path)
    target.unlink(missing_ok=True)
    source = con.execute("SELECT current_database()").fetchall()[0][0]
    quoted = '"' + str(source).replace('"', '""') + '"'
    con.execute("ATTACH $path AS compact_target", {"path": str(target)})
    con.execute(f"COPY FROM DATABASE {quoted} TO compact_target")
    con.execute("DETACH compact_target")
    con.close()
    os.replace(target, db_path)
    log.info(
        "compact: warehouse rewritten from %.1f MiB (%.0f%% free) to %.1f MiB (%.2f s)",
        total / 2**20,
        100 * free / total,
        db_path.stat().st_size / 2**20,
        time.perf_counter() - started,
    )

    return True
