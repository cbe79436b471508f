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
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pandas as pd

from certsentry_analysis import logformat
from certsentry_analysis.ingest import parse_sql
from certsentry_analysis.ingest.issuers import read_issuers
from certsentry_analysis.ingest.pipeline import discover
from certsentry_analysis.ingest.prescan import FileScan, scan_file
from certsentry_analysis.ingest.pseudonym import pseudonymise
from certsentry_analysis.ingest.schema import CHECK_COLUMNS
from certsentry_analysis.spark.session import quiet_pyspark_warnings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

READABLE = ("loaded", "truncated")
_ALL_FIELDS = logformat.fields_for(logformat.LATEST_VERSION)
_POSITION = {f.name: i + 1 for i, f in enumerate(_ALL_FIELDS)}
# Largest value of each unsigned DuckDB type, so Spark (which has none) rejects the same.
_UNSIGNED_MAX = {
    "UTINYINT": 255,
    "USMALLINT": 65535,
    "UINTEGER": 4294967295,
    "UBIGINT": 18446744073709551615,
}
_SIGNED_MAX = {"INTEGER": 2147483647, "BIGINT": 9223372036854775807}
# Spark types that read back like DuckDB's Parquet columns (Spark has no unsigned types).
_SPARK_TYPE = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp_ntz",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "UTINYINT": "smallint",
    "USMALLINT": "int",
    "UINTEGER": "bigint",
    "UBIGINT": "decimal(20,0)",
}
_RESPONDER_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(\[[^\]]*\]|[^/?#:]*)"
_ESCAPED_BYTE = r"\\x([0-9a-fA-F]{2})"


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

    TODO(staging copies are written to a local folder, so on a cluster `staging_dir`
    must be a path every executor shares, e.g. an NFS mount).
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
    from pyspark.sql import functions as F

    _unsplit_plain_files(spark, uris)
    lines = (
        spark.read.text(uris)
        .withColumn("_uri", F.input_file_name())
        .withColumn("_rid", F.monotonically_increasing_id())
    )
    firsts = lines.groupBy("_uri").agg(F.min("_rid").alias("_first"))
    context = F.broadcast(firsts.join(F.broadcast(meta), "_uri", "right"))
    numbered = lines.join(context, "_uri").withColumn(
        "line_no", (F.col("_rid") - F.col("_first") + 1).cast("int")
    )

    return numbered.where(
        (F.col("line_no") > F.col("header_lines"))
        & (F.col("line_no") <= F.col("header_lines") + F.col("data_lines"))
    )


def _only_chars(raw: Column, pattern: str) -> Column:
    return raw.rlike(f"^[{pattern}]*$")


def _count_bad(f: logformat.Field, raw: Column) -> Column:
    from pyspark.sql import functions as F

    limit = _UNSIGNED_MAX.get(f.duckdb_type) or _SIGNED_MAX[f.duckdb_type]
    number = raw.try_cast("decimal(38,0)")

    return ~_only_chars(raw, "0-9") | number.isNull() | (number > F.lit(Decimal(limit)))


def _field_checks(f: logformat.Field, params: dict[str, Any]) -> list[tuple[Column, str]]:
    """(condition that makes the raw value bad, reason) pairs, as ingestion's `_checks`."""
    from pyspark.sql import functions as F

    raw = F.col(f"r_{f.name}")
    is_set = raw != "-"
    out: list[tuple[Column, str]] = []
    if f.name in logformat.REQUIRED_FIELDS:
        out.append((raw == "-", "required field is unset"))
    if f.zeek_type == "time":
        value = raw.try_cast("double")
        bad = (
            ~_only_chars(raw, "0-9.")
            | value.isNull()
            | ~value.between(params["time_min"], params["time_max"])
        )
        out.append((is_set & bad, "bad time value"))
    elif f.zeek_type == "count":
        reason = f"bad count value (not a {f.duckdb_type})"
        out.append((is_set & _count_bad(f, raw), reason))
        if f.name == "http_status":
            status = raw.try_cast("int")
            out.append((is_set & ~status.between(100, 599), "out of range"))
        if f.name == "bytes":
            out.append((is_set & (raw.try_cast("bigint") > params["bytes_max"]), "out of range"))
    elif f.zeek_type == "interval":
        value = raw.try_cast("double")
        bad = ~_only_chars(raw, "0-9.") | value.isNull() | (value > params["latency_max"])
        out.append((is_set & bad, "bad or out-of-range interval value"))
    elif f.zeek_type == "bool":
        out.append((is_set & ~raw.isin("T", "F"), "bad bool value (not T or F)"))
    elif f.allowed is not None:
        out.append((is_set & ~raw.isin(*params[f"enum_{f.name}"]), "not an allowed value"))
    elif f"pattern_{f.name}" in params:
        pattern = f"^(?:{params[f'pattern_{f.name}']})$"
        out.append((is_set & ~raw.rlike(pattern), "malformed hex digest or serial"))

    return out


def _problem(params: dict[str, Any]) -> tuple[Column, Column]:
    """The first problem of a line and the field it is in (NULL for a good line).

    One CASE picks the number of the first rule that fires; reason and field are
    then looked up by that number, so the long rule list is evaluated once per line.
    """
    from pyspark.sql import functions as F

    line = F.col("value")
    expected = F.when(F.col("version") == 1, params["field_count_v1"]).otherwise(
        params["field_count_v2"]
    )
    rules: list[tuple[Column, str | None, str | None]] = [
        (F.col("forced_reason").isNotNull(), None, None),
        (line.isNull() | (line == ""), "empty line", None),
        (line.startswith("#"), "unexpected directive line", None),
        (F.col("n_fields") != expected, None, None),
    ]
    for f in _ALL_FIELDS:
        for condition, reason in _field_checks(f, params):
            rules.append((condition, reason, f.name))
    rules.append((F.col("responder") == "", "url has no host", "url"))

    # A NULL condition (a v2 field of a v1 line) is not a problem, as in SQL CASE.
    first = F.when(F.coalesce(rules[0][0], F.lit(False)), 1)
    for number, (condition, _, _) in enumerate(rules[1:], start=2):
        first = first.when(F.coalesce(condition, F.lit(False)), number)
    rule = F.col("_rule")
    reasons = F.array(*[F.lit(r or "") for _, r, _ in rules])
    fields = F.array(*[F.lit(f).cast("string") for _, _, f in rules])
    reason = (
        F.when(rule.isNull(), None)
        .when(rule == 1, F.col("forced_reason"))
        .when(rule == 4, F.format_string("expected %d fields, got %d", expected, "n_fields"))
        .otherwise(F.element_at(reasons, rule))
    )
    field = F.when(rule == 1, F.col("forced_field")).otherwise(F.element_at(fields, rule))

    return first, F.struct(reason.alias("reason"), field.alias("field"))


def _unescape(raw: Column) -> Column:
    """logformat.unescape in Spark SQL: `\\xHH` escapes become the characters they name.

    Percent signs and plus signs are protected first so `url_decode` only turns
    the former escapes back. Escapes above 0x7f never come from the log writer
    (it escapes control characters and the backslash only).
    """
    from pyspark.sql import functions as F

    protected = F.replace(F.replace(raw, F.lit("%"), F.lit("%25")), F.lit("+"), F.lit("%2B"))
    decoded = F.try_url_decode(F.regexp_replace(protected, _ESCAPED_BYTE, "%$1"))

    return (
        F.when(raw == "(empty)", F.lit(""))
        .when(raw.contains("\\"), F.coalesce(decoded, raw))
        .otherwise(raw)
    )


def _typed(f: logformat.Field) -> Column:
    """The typed value of one field of a good line, as ingestion's `_value`."""
    from pyspark.sql import functions as F

    raw = F.col(f"r_{f.name}")
    if f.zeek_type == "time":
        millis = F.round(raw.try_cast("double") * 1000).try_cast("bigint")
        typed = F.timestamp_millis(millis).cast("timestamp_ntz")
    elif f.zeek_type in {"count", "interval"}:
        typed = raw.try_cast(_SPARK_TYPE[f.duckdb_type])
    elif f.zeek_type == "bool":
        typed = raw == "T"
    elif f.allowed is not None:
        typed = raw
    else:
        typed = _unescape(raw)
    if f.optin_only:
        typed = F.when(F.col("ee_optin"), typed)

    return F.when(raw != "-", typed).cast(_SPARK_TYPE[f.duckdb_type])


def parse_lines(
    spark: SparkSession,
    meta: DataFrame,
    forced: DataFrame | None,
    uris: list[str],
    known_issuers: Collection[str],
) -> DataFrame:
    """Numbered, split and classified lines: raw fields plus `reason` and `field`."""
    from pyspark.sql import functions as F

    params = parse_sql.parse_parameters()
    lines = _numbered_lines(spark, meta, uris)
    if forced is not None:
        lines = lines.join(F.broadcast(forced), ["file_id", "line_no"], "left")
    else:
        lines = lines.select(
            "*",
            *(
                F.lit(None).cast("string").alias(c)
                for c in ("forced_reason", "forced_field", "forced_raw")
            ),
        )

    parts = F.split(F.col("value"), "\t", -1)
    n_fields = F.size(parts)
    raws = [
        F.when(n_fields >= _POSITION[f.name], F.element_at(parts, _POSITION[f.name])).alias(
            f"r_{f.name}"
        )
        for f in _ALL_FIELDS
    ]
    lines = lines.select("*", n_fields.alias("n_fields"), *raws)
    url = F.col("r_url")
    responder = F.lower(F.regexp_extract(url, _RESPONDER_PATTERN, 1))
    lines = lines.withColumn("responder", F.when(url.isNotNull() & (url != "-"), responder))
    first, problem = _problem(params)
    issuers = spark.createDataFrame([(i,) for i in sorted(known_issuers)], "_issuer string")

    return (
        lines.withColumn("_rule", first)
        .select("*", problem.alias("_problem"))
        .select(
            "*",
            F.col("_problem.reason").alias("reason"),
            F.col("_problem.field").alias("field"),
            F.coalesce(F.col("forced_raw"), F.col("value")).alias("raw_line"),
        )
        .join(F.broadcast(issuers), F.col("r_issuer_sha1") == F.col("_issuer"), "left")
    )


def classified_frame(parsed: DataFrame) -> DataFrame:
    """Every data line once: the `checks` columns for good lines, the reason for bad ones.

    Typed values are only computed for good lines (a CASE guards every cast), so
    Spark's ANSI mode never sees a malformed value; the raw text is only kept for
    bad lines, which keeps the persisted frame small.
    """
    from pyspark.sql import functions as F

    params = parse_sql.parse_parameters()
    tolerance = int(params["skew_tolerance"].total_seconds())
    good = F.col("reason").isNull()
    values: dict[str, Column] = {f.name: _typed(f) for f in _ALL_FIELDS}
    ts = values["ts"]
    day_start = F.col("day").cast("timestamp_ntz")
    values["responder"] = F.col("responder")
    values["skew_flag"] = (ts < day_start - F.expr(f"INTERVAL {tolerance} SECONDS")) | (
        ts >= day_start + F.expr(f"INTERVAL {86400 + tolerance} SECONDS")
    )
    values["unknown_issuer"] = F.col("_issuer").isNull()
    context = ("file_id", "line_no", "client", "day", "failure_mode", "region", "timeout_ms")
    columns = []
    for name, kind in CHECK_COLUMNS:
        value = F.col(name) if name in context else F.when(good, values[name])
        columns.append(value.cast(_SPARK_TYPE[kind.split()[0]]).alias(name))

    return parsed.select(
        *columns,
        F.col("is_current"),
        F.col("reason"),
        F.col("field"),
        F.when(~good, F.col("raw_line")).alias("raw_line"),
    )


def checks_frame(classified: DataFrame) -> DataFrame:
    """The good lines of current files as rows of `checks` (docs/warehouse.md)."""
    from pyspark.sql import functions as F

    current = classified.where(F.col("reason").isNull() & F.col("is_current"))

    return current.select(*(name for name, _ in CHECK_COLUMNS))


def quarantine_frame(classified: DataFrame, files: pd.DataFrame) -> DataFrame:
    """The rejected lines as rows of the warehouse's `quarantine` table."""
    from pyspark.sql import functions as F

    paths = classified.sparkSession.createDataFrame(
        [(int(i), str(p)) for i, p in zip(files["file_id"], files["path"], strict=True)],
        "file_id bigint, path string",
    )

    return (
        classified.where(F.col("reason").isNotNull())
        .join(F.broadcast(paths), "file_id")
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
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

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
        good = F.col("reason").isNull()
        with quiet_pyspark_warnings():
            counts = (
                classified.groupBy("file_id")
                .agg(
                    F.count(F.when(good, 1)).alias("rows_loaded"),
                    F.count(F.when(~good, 1)).alias("rows_quarantined"),
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
