"""Raw client logs into the warehouse's Parquet layout, on Spark.

The per-file work is ingestion's own prescan (`certsentry_analysis.ingest.prescan`:
hash, gzip framing, `#` header via `logformat.parse_header`, `#close` footer, a
normalised copy of odd files), run as Spark tasks over the file list. The rows are
read by Spark's line reader and checked with the rules of ingestion's SQL
(`certsentry_analysis.ingest.parse_sql`: the same limits, patterns, enumerations and
reasons), so a well-formed file yields the same rows on both engines.

Why lines and not Spark's CSV reader: the CSV reader drops empty lines (which would
renumber every later line of a file whose bad lines the prescan blanked out) and
cannot tell an empty field from a missing one, so the field-count rule would change.
Splitting each line on tab keeps both exact, as ingestion's DuckDB reader does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as sf

from certsentry_analysis import logformat
from certsentry_analysis.ingest import parse_sql
from certsentry_analysis.ingest.issuers import read_issuers
from certsentry_analysis.ingest.pipeline import discover
from certsentry_analysis.ingest.prescan import FileScan, scan_file
from certsentry_analysis.ingest.pseudonym import pseudonymise
from certsentry_analysis.ingest.schema import CHECK_COLUMNS
from certsentry_analysis.spark.linecheck import SPARK_TYPE, problem_columns, typed_value
from certsentry_analysis.spark.session import is_connect, quiet_pyspark_warnings

log = logging.getLogger(__name__)

READABLE = ("loaded", "truncated")
_ALL_FIELDS = logformat.fields_for(logformat.LATEST_VERSION)
_POSITION = {f.name: i + 1 for i, f in enumerate(_ALL_FIELDS)}
_RESPONDER_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(\[[^\]]*\]|[^/?#:]*)"


@dataclass(frozen=True)
class SparkParseSummary:
    """What a Spark parse of raw logs produced."""

    files: pd.DataFrame
    rows_loaded: int
    rows_quarantined: int
    elapsed_s: float


def prescan_files(
    spark: SparkSession, files: Sequence[tuple[Path, str]], staging_dir: Path
) -> list[FileScan]:
    """Run ingestion's per-file prescan as Spark tasks; results come back in input order.

    Staging copies are written to a local folder, so on a cluster `staging_dir` must
    be a path every executor shares, e.g. an NFS mount.
    """
    staging_dir.mkdir(parents=True, exist_ok=True)
    staging = str(staging_dir)
    jobs = [(str(path), rel, index) for index, (path, rel) in enumerate(files)]
    if not jobs:
        return []

    slices = min(len(jobs), spark.sparkContext.defaultParallelism * 4)

    def scan(job: tuple[str, str, int]) -> FileScan:
        path, rel, index = job
        return scan_file(Path(path), rel, Path(staging), index)

    return spark.sparkContext.parallelize(jobs, slices).map(scan).collect()


def _file_table(scans: Sequence[FileScan], key: bytes) -> pd.DataFrame:
    """One row per input file with ingestion's identity, duplicate and current-file rules.

    File ids follow discovery order from 1, as in a fresh warehouse. A file whose
    bytes equal an earlier file's is a duplicate; of a client-day's readable files
    the one closed last is current (a truncated file loses to any closed one; ties
    go to the larger SHA-256), and only current files reach the Parquet copy.
    """
    first_by_sha: dict[str, int] = {}
    records: list[dict[str, Any]] = []
    for file_id, scan in enumerate(scans, start=1):
        status, reason = scan.status, scan.reason
        duplicate_of = first_by_sha.setdefault(scan.sha256, file_id)
        if duplicate_of != file_id:
            status, reason = "duplicate", f"same content as file_id {duplicate_of}"
        readable = status in READABLE
        header = scan.header if readable else None
        records.append(
            {
                "file_id": file_id,
                "path": scan.rel_path,
                "sha256": scan.sha256,
                "size_bytes": scan.size_bytes,
                "client": pseudonymise(header.client_id, key) if header else None,
                "day": header.opened.date() if header else None,
                "format_version": header.version if header else None,
                "failure_mode": header.failure_mode if header else None,
                "ee_optin": header.ee_optin if header else None,
                "region": header.region if header else None,
                "timeout_ms": header.timeout_ms if header else None,
                "closed": scan.closed,
                "header_lines": scan.header_lines if header else None,
                "data_lines": scan.data_lines if header else None,
                "status": status,
                "reason": reason,
                "read_uri": scan.read_path.resolve().as_uri()
                if readable and scan.read_path
                else None,
            }
        )
    files = pd.DataFrame.from_records(records)
    files["is_current"] = False
    readable_files = files[files["status"].isin(READABLE)]
    if not readable_files.empty:
        ranked = readable_files.assign(_closed=readable_files["closed"].notna()).sort_values(
            ["client", "day", "_closed", "closed", "sha256"], ascending=False, kind="stable"
        )
        winners = ranked.drop_duplicates(["client", "day"], keep="first")["file_id"]
        files.loc[files["file_id"].isin(winners), "is_current"] = True

    return files


def _metadata_frame(spark: SparkSession, files: pd.DataFrame) -> DataFrame:
    readable = files[files["read_uri"].notna()]
    rows = [
        (
            str(r.read_uri),
            int(r.file_id),
            str(r.client),
            r.day,
            int(r.format_version),
            bool(r.ee_optin),
            int(r.failure_mode),
            None if r.region is None or pd.isna(r.region) else str(r.region),
            None if r.timeout_ms is None or pd.isna(r.timeout_ms) else int(r.timeout_ms),
            int(r.header_lines),
            int(r.data_lines),
            bool(r.is_current),
        )
        for r in readable.itertuples(index=False)
    ]
    schema = (
        "_uri string, file_id bigint, client string, day date, version int, ee_optin boolean, "
        "failure_mode smallint, region string, timeout_ms int, header_lines int, data_lines int, "
        "is_current boolean"
    )

    return spark.createDataFrame(rows, schema)


def _forced_frame(spark: SparkSession, scans: Sequence[FileScan]) -> DataFrame | None:
    """Lines the prescan already quarantined (None when there are none)."""
    # The first reason found for a line wins, as in ingestion.
    first: dict[tuple[int, int], tuple[int, int, str, str | None, str]] = {}
    for file_id, scan in enumerate(scans, start=1):
        for f in scan.forced:
            row = (file_id, f.line_no, f.reason, f.field, f.raw_line)
            first.setdefault((file_id, f.line_no), row)
    if not first:
        return None

    schema = (
        "file_id bigint, line_no int, forced_reason string, forced_field string, forced_raw string"
    )

    return spark.createDataFrame(list(first.values()), schema)


def _unsplit_plain_files(spark: SparkSession, uris: list[str]) -> None:
    """Make Spark's split size at least the size of the largest uncompressed input file.

    The split size is min(maxPartitionBytes, max(openCostInBytes, bytes per core)),
    so raising both bounds above the largest plain file keeps each file in one task.
    """
    largest = 0
    for uri in uris:
        if not uri.endswith(".gz") and uri.startswith("file:"):
            largest = max(largest, Path(unquote(urlparse(uri).path)).stat().st_size)
    for key, default in (
        ("spark.sql.files.maxPartitionBytes", 128 << 20),
        ("spark.sql.files.openCostInBytes", 4 << 20),
    ):
        spark.conf.set(key, str(max(default, largest + 1)))


def _numbered_lines(spark: SparkSession, meta: DataFrame, uris: list[str]) -> DataFrame:
    """Every line of the readable files with its 1-based line number and file context.

    Spark reads a file's lines in order within one task and numbers rows
    consecutively per partition, so a line's number is its id minus the id of
    its file's first line. That needs every file read whole by one task: gzip
    files always are; plain files are only split when larger than the split size,
    which `_unsplit_plain_files` raises above the largest of them.
    """
    _unsplit_plain_files(spark, uris)
    lines = (
        spark.read.text(uris)
        .withColumn("_uri", sf.input_file_name())
        .withColumn("_rid", sf.monotonically_increasing_id())
    )
    firsts = lines.groupBy("_uri").agg(sf.min("_rid").alias("_first"))
    context = sf.broadcast(firsts.join(sf.broadcast(meta), "_uri", "right"))
    numbered = lines.join(context, "_uri").withColumn(
        "line_no", (sf.col("_rid") - sf.col("_first") + 1).cast("int")
    )

    return numbered.where(
        (sf.col("line_no") > sf.col("header_lines"))
        & (sf.col("line_no") <= sf.col("header_lines") + sf.col("data_lines"))
    )


def parse_lines(
    spark: SparkSession,
    meta: DataFrame,
    forced: DataFrame | None,
    uris: list[str],
    known_issuers: Collection[str],
) -> DataFrame:
    """Numbered, split and classified lines: raw fields plus `reason` and `field`."""
    params = parse_sql.parse_parameters()
    lines = _numbered_lines(spark, meta, uris)
    if forced is not None:
        lines = lines.join(sf.broadcast(forced), ["file_id", "line_no"], "left")
    else:
        lines = lines.select(
            "*",
            *(
                sf.lit(None).cast("string").alias(c)
                for c in ("forced_reason", "forced_field", "forced_raw")
            ),
        )

    parts = sf.split(sf.col("value"), "\t", -1)
    n_fields = sf.size(parts)
    raws = [
        sf.when(n_fields >= _POSITION[f.name], sf.element_at(parts, _POSITION[f.name])).alias(
            f"r_{f.name}"
        )
        for f in _ALL_FIELDS
    ]
    lines = lines.select("*", n_fields.alias("n_fields"), *raws)
    url = sf.col("r_url")
    responder = sf.lower(sf.regexp_extract(url, _RESPONDER_PATTERN, 1))
    lines = lines.withColumn("responder", sf.when(url.isNotNull() & (url != "-"), responder))
    first, problem = problem_columns(params)
    issuers = spark.createDataFrame([(i,) for i in sorted(known_issuers)], "_issuer string")

    return (
        lines.withColumn("_rule", first)
        .select("*", problem.alias("_problem"))
        .select(
            "*",
            sf.col("_problem.reason").alias("reason"),
            sf.col("_problem.field").alias("field"),
            sf.coalesce(sf.col("forced_raw"), sf.col("value")).alias("raw_line"),
        )
        .join(sf.broadcast(issuers), sf.col("r_issuer_sha1") == sf.col("_issuer"), "left")
    )


def classified_frame(parsed: DataFrame) -> DataFrame:
    """Every data line once: the `checks` columns for good lines, the reason for bad ones.

    Typed values are only computed for good lines (a CASE guards every cast), so
    Spark's ANSI mode never sees a malformed value; the raw text is only kept for
    bad lines, which keeps the persisted frame small.
    """
    params = parse_sql.parse_parameters()
    tolerance = int(params["skew_tolerance"].total_seconds())
    good = sf.col("reason").isNull()
    values: dict[str, Column] = {f.name: typed_value(f) for f in _ALL_FIELDS}
    ts = values["ts"]
    day_start = sf.col("day").cast("timestamp_ntz")
    values["responder"] = sf.col("responder")
    values["skew_flag"] = (ts < day_start - sf.expr(f"INTERVAL {tolerance} SECONDS")) | (
        ts >= day_start + sf.expr(f"INTERVAL {86400 + tolerance} SECONDS")
    )
    values["unknown_issuer"] = sf.col("_issuer").isNull()
    context = ("file_id", "line_no", "client", "day", "failure_mode", "region", "timeout_ms")
    columns = []
    for name, kind in CHECK_COLUMNS:
        value = sf.col(name) if name in context else sf.when(good, values[name])
        columns.append(value.cast(SPARK_TYPE[kind.split()[0]]).alias(name))

    return parsed.select(
        *columns,
        sf.col("is_current"),
        sf.col("reason"),
        sf.col("field"),
        sf.when(~good, sf.col("raw_line")).alias("raw_line"),
    )


def checks_frame(classified: DataFrame) -> DataFrame:
    """The good lines of current files as rows of `checks` (docs/warehouse.md)."""
    current = classified.where(sf.col("reason").isNull() & sf.col("is_current"))

    return current.select(*(name for name, _ in CHECK_COLUMNS))


def quarantine_frame(classified: DataFrame, files: pd.DataFrame) -> DataFrame:
    """The rejected lines as rows of the warehouse's `quarantine` table."""
    paths = classified.sparkSession.createDataFrame(
        [(int(i), str(p)) for i, p in zip(files["file_id"], files["path"], strict=True)],
        "file_id bigint, path string",
    )

    return (
        classified.where(sf.col("reason").isNotNull())
        .join(sf.broadcast(paths), "file_id")
        .select("file_id", "path", "line_no", "raw_line", "field", "reason")
    )


def parse_logs(
    spark: SparkSession,
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    key: bytes,
    staging_dir: Path,
    pki_dirs: Sequence[Path] = (),
    quarantine_dir: Path | None = None,
) -> SparkParseSummary:
    """Parse raw logs with Spark into `out_dir/day=YYYY-MM-DD/*.parquet` (checks columns).

    Follows ingestion's rules: the same file ids, duplicates, current file per
    client-day, line checks and quarantine reasons; only rows of current files are
    written, as in the warehouse's Parquet copy. Rejected lines go to
    `quarantine_dir` as Parquet when given. `pki_dirs` hold the issuer certificates
    that decide `unknown_issuer`.
    """
    if is_connect(spark):
        raise ValueError(
            "raw-log parsing needs a classic Spark session (local or cluster master): the "
            "per-file prescan runs Python tasks, which Spark Connect clients cannot submit"
        )

    started = time.perf_counter()
    scans = prescan_files(spark, discover(inputs), staging_dir)
    files = _file_table(scans, key)
    uris = [str(u) for u in files["read_uri"].dropna()]
    if not uris:
        raise ValueError(f"no readable CertSentry log under {[str(p) for p in inputs]}")

    known_issuers = {str(r["issuer_sha1"]) for r in read_issuers(pki_dirs)} if pki_dirs else set()
    meta = _metadata_frame(spark, files)
    parsed = parse_lines(spark, meta, _forced_frame(spark, scans), uris, known_issuers)
    # Classified once and kept on local disk: the counts, the checks and the
    # quarantine then read it instead of decompressing and classifying again.
    classified = classified_frame(parsed).persist(StorageLevel.DISK_ONLY)
    try:
        good = sf.col("reason").isNull()
        with quiet_pyspark_warnings():
            counts = (
                classified.groupBy("file_id")
                .agg(
                    sf.count(sf.when(good, 1)).alias("rows_loaded"),
                    sf.count(sf.when(~good, 1)).alias("rows_quarantined"),
                )
                .toPandas()
            )
        checks = checks_frame(classified)
        checks.write.mode("overwrite").partitionBy("day").parquet(str(out_dir))
        if quarantine_dir is not None:
            quarantine = quarantine_frame(classified, files)
            quarantine.write.mode("overwrite").parquet(str(quarantine_dir))
    finally:
        classified.unpersist()

    files = files.drop(columns=["read_uri"]).merge(counts, on="file_id", how="left")
    for column in ("rows_loaded", "rows_quarantined"):
        files[column] = files[column].fillna(0).astype("int64")
    elapsed = time.perf_counter() - started
    summary = SparkParseSummary(
        files=files,
        rows_loaded=int(files["rows_loaded"].sum()),
        rows_quarantined=int(files["rows_quarantined"].sum()),
        elapsed_s=elapsed,
    )
    log.info(
        "spark parse: %d files (%s), %d rows loaded, %d quarantined in %.1f s",
        len(files),
        ", ".join(f"{n} {s}" for s, n in files["status"].value_counts().sort_index().items()),
        summary.rows_loaded,
        summary.rows_quarantined,
        elapsed,
    )

    return summary
