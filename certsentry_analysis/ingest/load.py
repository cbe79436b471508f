"""Load one batch of prescanned files into the warehouse in a single transaction.

The prescan has already decompressed (and where needed normalised) every file, so the
batch's lines are handed to DuckDB as one Arrow table `stage_lines(file_id, line_no,
line)`, cut at newlines with numpy (no Python loop over lines; an empty line is NULL,
as DuckDB's CSV reader gives it), instead of being decompressed a second time by
`read_csv`. The line count of every file is checked against the prescan's.
Classification, typing and quarantine are set-based SQL (see `parse_sql`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa

from certsentry_analysis import logformat
from certsentry_analysis.ingest import parse_sql
from certsentry_analysis.ingest.prescan import FileScan
from certsentry_analysis.ingest.pseudonym import pseudonymise

log = logging.getLogger(__name__)

READABLE = ("loaded", "truncated")

_PROBLEMS = pa.Table.from_pylist(
    parse_sql.problems_table(),
    schema=pa.schema([("code", pa.int32()), ("reason", pa.string()), ("field", pa.string())]),
)


@dataclass(frozen=True)
class BatchFile:
    """A prescanned file with its warehouse identity decided."""

    file_id: int
    scan: FileScan
    duplicate_of: int | None = None


def register_unescape(con: duckdb.DuckDBPyConnection) -> None:
    """Register the Zeek `\\xHH` unescape as a vectorised UDF (only rows with a backslash)."""

    def unescape_batch(values: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else logformat.unescape(v) for v in values.to_pylist()],
            type=pa.string(),
        )

    with contextlib.suppress(duckdb.InvalidInputException):
        con.remove_function(parse_sql.UNESCAPE_FUNCTION)
    # DuckDB 2.0's stubs want an enum that its public modules do not export.
    con.create_function(  # type: ignore[call-overload]
        parse_sql.UNESCAPE_FUNCTION, unescape_batch, ["VARCHAR"], "VARCHAR", type="arrow"
    )


def _naive(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment

    return moment.astimezone(UTC).replace(tzinfo=None)


def _file_rows(files: Sequence[BatchFile], key: bytes, now: datetime) -> pa.Table:
    """The `files` rows of a batch, before row counts are known."""
    rows = []
    for item in files:
        scan, header = item.scan, item.scan.header
        status, reason = scan.status, scan.reason
        if item.duplicate_of is not None:
            status, reason = "duplicate", f"same content as file_id {item.duplicate_of}"
        readable = status in READABLE
        rows.append(
            {
                "file_id": item.file_id,
                "path": scan.rel_path,
                "sha256": scan.sha256,
                "size_bytes": scan.size_bytes,
                "client": None if header is None else pseudonymise(header.client_id, key),
                "day": None if header is None else header.opened.date(),
                "format_version": None if header is None else header.version,
                "version": None if header is None else header.version,
                "product": None if header is None else header.product,
                "product_version": None if header is None else header.product_version,
                "os": None if header is None else header.os,
                "failure_mode": None if header is None else header.failure_mode,
                "ee_optin": None if header is None else header.ee_optin,
                "region": None if header is None else header.region,
                "timeout_ms": None if header is None else header.timeout_ms,
                "opened": None if header is None else _naive(header.opened),
                "closed": scan.closed,
                "header_lines": scan.header_lines if readable else None,
                "data_lines": scan.data_lines if readable else None,
                "rows_loaded": 0,
                "rows_quarantined": 0,
                "status": status,
                "reason": reason,
                "is_current": False,
                "ingested_at": now,
                "read_path": str(scan.read_path) if readable else None,
                "compression": scan.compression,
                "total_lines": scan.total_lines,
            }
        )

    return pa.Table.from_pylist(rows)


def _forced_rows(files: Sequence[BatchFile]) -> pa.Table:
    seen: set[tuple[int, int]] = set()
    rows = []
    for item in files:
        for forced in item.scan.forced:
            if (item.file_id, forced.line_no) in seen:
                continue
            seen.add((item.file_id, forced.line_no))
            rows.append(
                {
                    "file_id": item.file_id,
                    "line_no": forced.line_no,
                    "reason": forced.reason,
                    "field": forced.field,
                    "raw_line": forced.raw_line,
                }
            )
    schema = pa.schema(
        [
            ("file_id", pa.int64()),
            ("line_no", pa.int32()),
            ("reason", pa.string()),
            ("field", pa.string()),
            ("raw_line", pa.string()),
        ]
    )

    return pa.Table.from_pylist(rows, schema=schema)


def _is_read(item: BatchFile) -> bool:
    """Whether the file's lines are loaded (a duplicate's are not)."""
    return item.duplicate_of is None and item.scan.status in READABLE


def _stage_lines(files: Sequence[BatchFile]) -> pa.Table:
    """Every line of the batch's readable files: (file_id, line_no, line), in file order."""
    texts: list[bytes] = []
    file_ids: list[int] = []
    counts: list[int] = []
    for item in files:
        if not _is_read(item):
            continue
        scan = item.scan
        if scan.data is None:
            raise RuntimeError(f"{scan.rel_path}: the prescan kept no text to load")
        text = scan.data
        if text and not text.endswith(b"\n"):
            text += b"\n"
        count = text.count(b"\n")
        if count != scan.total_lines:
            raise RuntimeError(
                f"{scan.rel_path}: {count} lines staged, the prescan counted {scan.total_lines}"
            )
        texts.append(text)
        file_ids.append(item.file_id)
        counts.append(count)
    joined = b"".join(texts)
    ends = np.flatnonzero(np.frombuffer(joined, dtype=np.uint8) == ord("\n"))
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else ends
    lengths = ends - starts
    offsets = np.zeros(len(ends) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # An empty line is NULL, as DuckDB's CSV reader returns it.
    present = lengths > 0
    line = pa.Array.from_buffers(
        pa.large_string(),
        len(ends),
        [
            pa.py_buffer(np.packbits(present, bitorder="little").tobytes()),
            pa.py_buffer(offsets.tobytes()),
            pa.py_buffer(joined.replace(b"\n", b"")),
        ],
        null_count=int(len(ends) - np.count_nonzero(present)),
    )
    count_array = np.asarray(counts, dtype=np.int64)
    first = np.repeat(np.cumsum(count_array) - count_array, count_array)
    line_no = (np.arange(len(ends), dtype=np.int64) - first + 1).astype(np.int32)

    return pa.table(
        {
            "file_id": pa.array(np.repeat(np.asarray(file_ids, dtype=np.int64), count_array)),
            "line_no": pa.array(line_no),
            "line": line,
        }
    )


# Counted from the tables just written (checks by its file_id range, which zone maps
# make cheap), so the reconciliation in `files` is a measurement, not an assumption.
_COUNT_ROWS = """
UPDATE files SET rows_loaded = c.loaded, rows_quarantined = c.quarantined
FROM (
  SELECT b.file_id, coalesce(l.n, 0) AS loaded, coalesce(q.n, 0) AS quarantined
  FROM batch b
  LEFT JOIN (
    SELECT file_id, count(*) AS n FROM checks WHERE file_id BETWEEN $lo AND $hi GROUP BY file_id
  ) l USING (file_id)
  LEFT JOIN (SELECT file_id, count(*) AS n FROM bad GROUP BY file_id) q USING (file_id)
) c
WHERE files.file_id = c.file_id
"""

_INSERT_FILES = """
INSERT INTO files SELECT file_id, path, sha256, size_bytes, client, day, format_version,
  product, product_version, os, failure_mode, ee_optin, region, timeout_ms, opened, closed,
  header_lines, data_lines, rows_loaded, rows_quarantined, status, reason, is_current,
  ingested_at
FROM batch ORDER BY file_id
"""

# The current file of a client-day is the one closed last (a truncated file, which has
# no #close, loses to any closed one); ties go to the larger SHA-256 so the choice never
# depends on the order in which files were ingested.
_MARK_CURRENT = """
UPDATE files SET is_current = (files.file_id = w.file_id)
FROM (
  SELECT client, day, file_id FROM (
    SELECT client, day, file_id, row_number() OVER (
      PARTITION BY client, day ORDER BY closed DESC NULLS LAST, sha256 DESC) AS rank
    FROM files
    WHERE status IN ('loaded', 'truncated')
      AND (client, day) IN (SELECT client, day FROM batch WHERE status IN ('loaded', 'truncated'))
  ) WHERE rank = 1
) w
WHERE files.client = w.client AND files.day = w.day AND files.status IN ('loaded', 'truncated')
"""

_MARK_PARQUET = """
INSERT INTO parquet_pending
SELECT DISTINCT day FROM batch
WHERE status IN ('loaded', 'truncated') AND day NOT IN (SELECT day FROM parquet_pending)
"""


def load_batch(
    con: duckdb.DuckDBPyConnection, files: Sequence[BatchFile], key: bytes
) -> dict[int, tuple[int, int]]:
    """Load one batch atomically; returns file_id -> (rows loaded, rows quarantined)."""
    table = _file_rows(files, key, datetime.now(UTC).replace(tzinfo=None))
    forced = _forced_rows(files)
    con.register("batch", table)
    con.register("forced", forced)
    con.register("problems", _PROBLEMS)
    timings: dict[str, float] = {}

    def timed(step: str, sql: str, params: Mapping[str, object] | None = None) -> None:
        started = time.perf_counter()
        con.execute(sql, params)
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - started

    try:
        con.execute("BEGIN TRANSACTION")
        timed("files", _INSERT_FILES)
        if any(_is_read(item) for item in files):
            started = time.perf_counter()
            con.register("stage_lines", _stage_lines(files))
            timings["stage"] = time.perf_counter() - started
            params = parse_sql.parse_parameters()
            for step, statement in (
                ("bad", parse_sql.bad_lines_sql()),
                ("checks", parse_sql.insert_checks_sql()),
            ):
                timed(step, statement, _used(statement, params))
            timed("quarantine", parse_sql.INSERT_QUARANTINE_SQL)
            bounds = {"lo": files[0].file_id, "hi": files[-1].file_id}
            timed("count", _COUNT_ROWS, bounds)
            timed("current", _MARK_CURRENT)
            timed("pending", _MARK_PARQUET)
        counts = con.execute(
            "SELECT file_id, rows_loaded, rows_quarantined FROM files"
            " WHERE file_id IN (SELECT file_id FROM batch)"
        ).fetchall()
        started = time.perf_counter()
        con.execute("COMMIT")
        timings["commit"] = time.perf_counter() - started
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("batch")
        con.unregister("forced")
        con.unregister("problems")
        con.unregister("stage_lines")
        con.execute("DROP TABLE IF EXISTS temp.bad")

    log.debug(
        "batch of %d files: %s",
        len(files),
        ", ".join(f"{step} {seconds:.2f} s" for step, seconds in timings.items()),
    )

    return {file_id: (loaded, quarantined) for file_id, loaded, quarantined in counts}


def _used(sql: str, params: dict[str, object]) -> dict[str, object]:
    """Only the named parameters a statement mentions (DuckDB rejects unused ones)."""
    return {name: value for name, value in params.items() if f"${name}" in sql}
