"""`ingest`: discover log files, load them in atomic batches, then refresh derived tables.

Stages, each logged once at INFO with counts and elapsed time: discover, issuers,
load (prescan + bulk read, batch by batch), clients, parquet.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from tqdm import tqdm

from certsentry_analysis.ingest import parquet
from certsentry_analysis.ingest.compact import compact_if_bloated, scratch_path
from certsentry_analysis.ingest.issuers import read_issuers
from certsentry_analysis.ingest.load import BatchFile, load_batch, register_unescape
from certsentry_analysis.ingest.prescan import FileScan, scan_file
from certsentry_analysis.ingest.schema import connect

log = logging.getLogger(__name__)

LOG_SUFFIXES = (".log", ".log.gz")
# A batch is committed once it holds this many lines or files, whichever comes first:
# big enough that per-statement overhead vanishes, small enough to keep memory flat.
BATCH_LINES = 250_000
BATCH_FILES = 4_000
# Far enough ahead that the next batch is being scanned while DuckDB loads this one.
_SCAN_AHEAD = 1024
MEMORY_LIMIT = "512MB"
_SCAN_THREADS = 2


@dataclass
class IngestSummary:
    """What one `ingest` run did."""

    files_seen: int = 0
    files_skipped: int = 0
    files_loaded: int = 0
    files_truncated: int = 0
    files_duplicate: int = 0
    files_rejected: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    batches: int = 0
    issuers: int = 0
    parquet_days: int = 0
    rejected_reasons: Counter[str] = field(default_factory=Counter)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        """A human-readable report of the run."""
        out = [
            f"files: {self.files_seen} seen, {self.files_skipped} already ingested, "
            f"{self.files_loaded} loaded, {self.files_truncated} truncated, "
            f"{self.files_duplicate} duplicate, {self.files_rejected} rejected",
            f"lines: {self.rows_loaded} loaded, {self.rows_quarantined} quarantined",
            f"issuers: {self.issuers} in the dimension; parquet days rewritten: "
            f"{self.parquet_days}; {self.elapsed_s:.1f} s",
        ]
        for reason, count in self.rejected_reasons.most_common():
            out.append(f"  rejected file  x{count}: {reason}")
        for reason, count in self.quarantine_reasons.most_common():
            out.append(f"  quarantined line x{count}: {reason}")

        return out


def _walk_logs(folder: str) -> Iterator[str]:
    """Paths of log files under `folder`, recursively (scandir: no stat call per file)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():
                yield from _walk_logs(entry.path)
            elif entry.is_file() and entry.name.endswith(LOG_SUFFIXES):
                yield entry.path


def discover(inputs: Sequence[Path]) -> list[tuple[Path, str]]:
    """Log files under `inputs` as (path, path recorded in the warehouse), in a stable order.

    Directories are searched recursively and their files recorded relative to the
    directory; a file given directly is recorded as given.
    """
    found: list[tuple[Path, str]] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            root = os.path.join(item, "")
            relative = sorted(p[len(root) :].replace(os.sep, "/") for p in _walk_logs(root))
            found.extend((item / rel, rel) for rel in relative)
        elif item.is_file():
            found.append((item, item.as_posix()))
        else:
            raise FileNotFoundError(f"ingest input {item} does not exist")

    return found


def _scans(
    pending: Sequence[tuple[Path, str]],
    staging: Path,
    bar: tqdm,
    skip: Callable[[str, str], bool],
) -> Iterator[FileScan]:
    """Prescan files in order on a small thread pool, up to `_SCAN_AHEAD` files ahead.

    Hashing and inflating release the GIL, so the pool keeps scanning while the caller
    loads the previous batch into DuckDB.
    """
    with ThreadPoolExecutor(_SCAN_THREADS) as pool:
        in_flight: deque[Future[FileScan]] = deque()
        for index, (path, rel) in enumerate(pending):
            in_flight.append(pool.submit(scan_file, path, rel, staging, index, skip, True))
            if len(in_flight) >= _SCAN_AHEAD:
                yield in_flight.popleft().result()
                bar.update(1)
        while in_flight:
            yield in_flight.popleft().result()
            bar.update(1)


def _load_issuers(con: duckdb.DuckDBPyConnection, pki_dirs: Sequence[Path]) -> int:
    """Add new issuers; when any was added, recompute the unknown_issuer flags."""
    started = time.perf_counter()
    records = read_issuers(pki_dirs) if pki_dirs else []
    added = 0
    if records:
        con.register("new_issuers", pa.Table.from_pylist(records))
        try:
            con.execute("BEGIN TRANSACTION")
            added = len(
                con.execute(
                    "INSERT INTO issuers SELECT * FROM new_issuers"
                    " WHERE issuer_sha1 NOT IN (SELECT issuer_sha1 FROM issuers)"
                    " RETURNING issuer_sha1"
                ).fetchall()
            )
            if added:
                con.execute(
                    "UPDATE checks SET unknown_issuer = false"
                    " WHERE unknown_issuer AND issuer_sha1 IN (SELECT issuer_sha1 FROM issuers)"
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("new_issuers")
    total = con.execute("SELECT count(*) FROM issuers").fetchall()[0][0]
    log.info(
        "issuers: %d certificates read, %d new, %d in the dimension (%.2f s)",
        len(records),
        added,
        total,
        time.perf_counter() - started,
    )

    return int(total)


_REBUILD_CLIENTS = """
INSERT INTO clients
SELECT client,
  arg_max(product, (day, closed, sha256)), arg_max(product_version, (day, closed, sha256)),
  arg_max(os, (day, closed, sha256)), arg_max(failure_mode, (day, closed, sha256)),
  arg_max(ee_optin, (day, closed, sha256)), arg_max(region, (day, closed, sha256)),
  min(day), max(day), count(*)
FROM files WHERE status IN ('loaded', 'truncated') AND client IS NOT NULL
GROUP BY client ORDER BY client
"""


def _rebuild_clients(con: duckdb.DuckDBPyConnection) -> int:
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM clients")
        con.execute(_REBUILD_CLIENTS)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    count = int(con.execute("SELECT count(*) FROM clients").fetchall()[0][0])
    log.info("clients: %d rebuilt from files (%.2f s)", count, time.perf_counter() - started)

    return count


def _export_parquet(con: duckdb.DuckDBPyConnection, parquet_dir: Path) -> int:
    """Rewrite pending days, and any current day whose partition folder is missing."""
    started = time.perf_counter()
    pending = {row[0] for row in con.execute("SELECT day FROM parquet_pending").fetchall()}
    current = {
        row[0]
        for row in con.execute(
            "SELECT DISTINCT day FROM files WHERE is_current AND rows_loaded > 0"
        ).fetchall()
    }
    missing = {day for day in current if not parquet.partition_dir(parquet_dir, day).is_dir()}
    days = sorted(pending | missing)
    rows = parquet.write_days(con, parquet_dir, days)
    con.execute("DELETE FROM parquet_pending WHERE day IN (SELECT unnest($days))", {"days": days})
    log.info(
        "parquet: %d days rewritten, %d rows, under %s (%.2f s)",
        len(days),
        rows,
        parquet_dir,
        time.perf_counter() - started,
    )

    return len(days)


def ingest(
    inputs: Sequence[Path],
    db_path: Path,
    *,
    key: bytes,
    pki_dirs: Sequence[Path] = (),
    parquet_dir: Path | None = None,
    progress: bool = False,
    batch_lines: int = BATCH_LINES,
) -> IngestSummary:
    """Load client logs (directories searched for *.log, *.log.gz, or files) into the warehouse.

    Files already ingested (same path and content) are skipped; a file whose content was
    already ingested under another path is recorded as a duplicate. Each batch of files
    is committed in one transaction, so an interrupted run is completed by re-running.
    `batch_lines` bounds the lines per batch (smaller: less memory, more commits).
    """
    started = time.perf_counter()
    summary = IngestSummary()
    parquet_dir = Path(parquet_dir) if parquet_dir is not None else Path(db_path).parent / "checks"

    found = discover(inputs)
    summary.files_seen = len(found)
    # A copy left by a compaction that was killed is incomplete; the warehouse is intact.
    scratch_path(Path(db_path)).unlink(missing_ok=True)
    con = connect(db_path)
    # Bounded so that peak memory does not grow with the warehouse; temp tables spill.
    con.execute("SET memory_limit = $limit", {"limit": MEMORY_LIMIT})
    try:
        register_unescape(con)
        known = {
            (path, sha): file_id
            for file_id, path, sha in con.execute(
                "SELECT file_id, path, sha256 FROM files"
            ).fetchall()
        }
        first_by_sha: dict[str, int] = {}
        for (_, sha), file_id in sorted(known.items(), key=lambda kv: kv[1]):
            first_by_sha.setdefault(sha, file_id)
        next_id = max(known.values(), default=0) + 1
        pending = found
        known_paths = {path for path, _ in known}
        log.info(
            "discover: %d log files under %d inputs, %d paths already in the warehouse (%.2f s)",
            len(found),
            len(inputs),
            sum(rel in known_paths for _, rel in found),
            time.perf_counter() - started,
        )

        summary.issuers = _load_issuers(con, pki_dirs)

        load_started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="certsentry-ingest-") as staging_text:
            staging = Path(staging_text)
            bar = tqdm(total=len(pending), unit="file", disable=not progress, desc="ingest")
            batch: list[BatchFile] = []
            lines_in_batch = 0
            for scan in _scans(pending, staging, bar, lambda rel, sha: (rel, sha) in known):
                if (scan.rel_path, scan.sha256) in known:
                    summary.files_skipped += 1
                    continue
                duplicate_of = first_by_sha.get(scan.sha256)
                batch.append(BatchFile(next_id, scan, duplicate_of))
                known[(scan.rel_path, scan.sha256)] = next_id
                first_by_sha.setdefault(scan.sha256, next_id)
                next_id += 1
                lines_in_batch += scan.total_lines
                if lines_in_batch >= batch_lines or len(batch) >= BATCH_FILES:
                    _flush(con, batch, key, summary)
                    batch, lines_in_batch = [], 0
            if batch:
                _flush(con, batch, key, summary)
            bar.close()
        log.info(
            "load: %d files in %d batches: %d loaded, %d truncated, %d duplicate, "
            "%d rejected, %d skipped; %d rows loaded, %d quarantined (%.2f s)",
            summary.files_seen - summary.files_skipped,
            summary.batches,
            summary.files_loaded,
            summary.files_truncated,
            summary.files_duplicate,
            summary.files_rejected,
            summary.files_skipped,
            summary.rows_loaded,
            summary.rows_quarantined,
            time.perf_counter() - load_started,
        )

        _rebuild_clients(con)
        summary.parquet_days = _export_parquet(con, parquet_dir)
        con.execute("CHECKPOINT")
        compact_if_bloated(con, Path(db_path))
    finally:
        con.close()
    summary.elapsed_s = time.perf_counter() - started

    return summary


def _load_isolating_failures(
    con: duckdb.DuckDBPyConnection, batch: list[BatchFile], key: bytes
) -> dict[int, tuple[int, int]]:
    """Load a batch; if DuckDB refuses it, load file by file and reject the files it refuses.

    The prescan makes every file readable, so this only runs on inputs it did not foresee;
    one bad file then costs its own rows, not the batch's.
    """
    try:
        return load_batch(con, batch, key)
    except (duckdb.Error, RuntimeError) as exc:
        if len(batch) == 1:
            item = batch[0]
            log.error("%s: could not be loaded, recorded as rejected: %s", item.scan.rel_path, exc)
            item.scan.reject(f"could not be read by DuckDB: {str(exc).splitlines()[0]}")
            return load_batch(con, batch, key)
        log.warning("batch of %d files failed (%s); loading them one by one", len(batch), exc)

    counts: dict[int, tuple[int, int]] = {}
    for item in batch:
        counts.update(_load_isolating_failures(con, [item], key))

    return counts


def _flush(
    con: duckdb.DuckDBPyConnection, batch: list[BatchFile], key: bytes, summary: IngestSummary
) -> None:
    started = time.perf_counter()
    counts = _load_isolating_failures(con, batch, key)
    summary.batches += 1
    for item in batch:
        scan = item.scan
        if item.duplicate_of is not None:
            summary.files_duplicate += 1
        elif scan.status == "rejected":
            summary.files_rejected += 1
            summary.rejected_reasons[re.sub(r"[0-9]+", "N", scan.reason or "unknown")] += 1
        else:
            summary.files_truncated += scan.status == "truncated"
            summary.files_loaded += scan.status == "loaded"
            loaded, quarantined = counts.get(item.file_id, (0, 0))
            summary.rows_loaded += loaded
            summary.rows_quarantined += quarantined
    # Counts and positions inside reasons would make every reason unique: group without them.
    reasons = con.execute(
        "SELECT regexp_replace(reason, '[0-9]+', 'N', 'g'), count(*) FROM quarantine"
        " WHERE file_id BETWEEN $lo AND $hi GROUP BY 1",
        {"lo": batch[0].file_id, "hi": batch[-1].file_id},
    ).fetchall()
    summary.quarantine_reasons.update({reason: int(n) for reason, n in reasons})
    log.debug("batch of %d files committed (%.2f s)", len(batch), time.perf_counter() - started)
