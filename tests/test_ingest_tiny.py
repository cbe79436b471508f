"""Ingestion of the simulated tiny world, checked against the simulator's truth tables."""

from __future__ import annotations

import codecs
import gzip
import random
import shutil
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from test_ingest import assert_reconciles

from certsentry_analysis import logformat
from certsentry_analysis.ingest import ingest, pseudonymise


def _query(db: Path, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql, params=params or {}).pl()
    finally:
        con.close()


def _files_vs_truth(tiny_world: Path, tiny_db: Path) -> pl.DataFrame:
    uploads = pl.read_parquet(tiny_world / "truth" / "uploads.parquet")
    files = _query(
        tiny_db,
        "SELECT 'logs/' || path AS path, status, data_lines AS got_lines, rows_loaded,"
        " is_current, coalesce((SELECT list(line_no ORDER BY line_no) FROM quarantine q"
        "  WHERE q.file_id = files.file_id), []) AS quarantined FROM files",
    )

    return uploads.join(files, on="path", how="full", coalesce=True)


def test_tiny_world_reconciles(tiny_db: Path) -> None:
    """Every file of the simulated world balances: data lines = loaded + quarantined."""
    assert_reconciles(tiny_db)


def test_every_upload_is_recorded_once_with_the_truth_line_counts(
    tiny_world: Path, tiny_db: Path
) -> None:
    """files has one row per upload; readable ones have the simulator's data_lines."""
    joined = _files_vs_truth(tiny_world, tiny_db)
    assert joined["status"].null_count() == 0
    assert joined["upload_id"].null_count() == 0
    readable = joined.filter(pl.col("status").is_in(["loaded", "truncated"]))
    assert (readable["got_lines"] == readable["data_lines"]).all()


def test_quarantined_lines_are_exactly_the_injected_ones(tiny_world: Path, tiny_db: Path) -> None:
    """Line numbers in quarantine equal the simulator's bad_lines, file by file."""
    joined = _files_vs_truth(tiny_world, tiny_db).filter(pl.col("status") != "duplicate")
    readable = joined.filter(pl.col("status").is_in(["loaded", "truncated"]))
    mismatched = readable.filter(pl.col("bad_lines") != pl.col("quarantined"))
    assert mismatched.height == 0, mismatched.select("path", "fault", "bad_lines", "quarantined")
    # truth_rows counts the client-day; a superseded upload held only part of it.
    final = readable.filter(pl.col("fault") != "reupload_superseded")
    lost = final.filter(pl.col("rows_loaded") != pl.col("truth_rows") - pl.col("rows_lost"))
    assert lost.height == 0, lost.select("path", "fault", "truth_rows", "rows_lost")


def test_faults_get_the_right_status(tiny_world: Path, tiny_db: Path) -> None:
    """Broken gzip is rejected, cut uploads truncated, superseded re-uploads not current."""
    joined = _files_vs_truth(tiny_world, tiny_db)
    by_fault = {f: set(g["status"]) for (f,), g in joined.group_by("fault")}
    assert by_fault.get("broken_gzip", {"rejected"}) == {"rejected"}
    assert by_fault.get("truncated", {"truncated"}) == {"truncated"}
    assert joined.filter(pl.col("fault") == "reupload_superseded")["is_current"].sum() == 0
    assert joined.filter(pl.col("fault") == "reupload_final")["is_current"].all()
    # Identical copies: one of each pair is loaded, the other recorded as a duplicate.
    assert (joined["status"] == "duplicate").sum() == (joined["fault"] == "duplicate").sum()


def test_clients_are_the_pseudonyms_of_the_simulated_clients(
    tiny_world: Path, tiny_db: Path, pseudonym_key: bytes
) -> None:
    """clients holds HMAC pseudonyms of exactly the clients that uploaded readable files."""
    uploads = pl.read_parquet(tiny_world / "truth" / "uploads.parquet")
    uploaded = uploads.filter(pl.col("fault") != "broken_gzip")["client_id"].unique()
    expected = {pseudonymise(c, pseudonym_key) for c in uploaded}
    got = set(_query(tiny_db, "SELECT client FROM clients")["client"])
    assert got == expected
    raw = set(uploads["client_id"])
    content = tiny_db.read_bytes()
    assert not any(c.encode() in content for c in raw)


def test_issuers_match_the_simulated_pki(tiny_world: Path, tiny_db: Path) -> None:
    """Every simulated CA certificate is in issuers, with the same key hash; none unknown."""
    truth = pl.read_parquet(tiny_world / "truth" / "issuers.parquet")
    mine = _query(tiny_db, "SELECT issuer_sha1, issuer_spki_sha256, ocsp_urls FROM issuers")
    joined = truth.join(mine, on="issuer_sha1", how="left")
    assert joined["issuer_spki_sha256_right"].null_count() == 0
    assert (joined["issuer_spki_sha256"] == joined["issuer_spki_sha256_right"]).all()
    unknown = _query(tiny_db, "SELECT count(*) AS n FROM checks WHERE unknown_issuer")["n"][0]
    assert unknown == 0


def _corrupt(path: Path, rng: random.Random) -> tuple[str, list[int]]:
    """Damage one file in a random way; returns the kind and the lines that must be bad."""
    text = gzip.decompress(path.read_bytes()).decode()
    lines = text.split("\n")[:-1]
    header_lines = sum(1 for line in lines if line.startswith("#")) - 1
    kind = rng.choice(["garbage", "short", "crlf", "utf16", "nul"])
    bad: list[int] = []
    if kind in ("garbage", "short", "nul") and len(lines) > header_lines + 2:
        index = rng.randrange(header_lines, len(lines) - 1)
        replacement = {
            "garbage": "\\x%%garbage# line\t\t",
            "short": lines[index].rsplit("\t", 3)[0],
            "nul": lines[index].replace("\t", "\x00", 1),
        }[kind]
        lines[index] = replacement
        bad = [index + 1]
    data = "\n".join(lines) + "\n"
    if kind == "crlf":
        raw = data.replace("\n", "\r\n").encode()
    elif kind == "utf16":
        raw = codecs.BOM_UTF16_LE + data.encode("utf-16-le")
    else:
        raw = data.encode()
    path.write_bytes(logformat.gzip_bytes(raw))

    return kind, bad


def test_injected_corruption_is_quarantined_at_the_right_lines(
    tiny_world: Path, tmp_path: Path, pseudonym_key: bytes
) -> None:
    """Corrupt a sample of files; every injected bad line is quarantined, the rest balances."""
    logs = tmp_path / "logs"
    shutil.copytree(tiny_world / "logs", logs)
    uploads = pl.read_parquet(tiny_world / "truth" / "uploads.parquet")
    clean = sorted(uploads.filter(pl.col("fault") == "none")["path"])
    rng = random.Random(5)
    injected: dict[str, list[int]] = {}
    for rel in rng.sample(clean, 12):
        _, bad = _corrupt(tmp_path / rel, rng)
        injected[rel.removeprefix("logs/")] = bad
    db = tmp_path / "w.duckdb"
    ingest([logs], db, key=pseudonym_key)

    assert_reconciles(db)
    got = _query(
        db,
        "SELECT f.path, f.status, coalesce((SELECT list(line_no ORDER BY line_no) FROM quarantine"
        " q WHERE q.file_id = f.file_id), []) AS q FROM files f WHERE f.path IN"
        " (SELECT unnest($paths))",
        {"paths": list(injected)},
    )
    for path, status, quarantined in got.iter_rows():
        assert status == "loaded", path
        assert quarantined == injected[path], path


@pytest.mark.spark
def test_parquet_copy_reads_the_same_in_spark(tiny_db: Path) -> None:
    """Spark reads the hive-partitioned copy with the same row count and day partitions."""
    pyspark = pytest.importorskip("pyspark.sql")
    spark = (
        pyspark.SparkSession.builder.master("local[1]")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        frame = spark.read.parquet(str(tiny_db.parent / "checks"))
        n_spark = frame.count()
        days = {row[0].isoformat() for row in frame.select("day").distinct().collect()}
    finally:
        spark.stop()
    current = _query(
        tiny_db, "SELECT count(*) AS n, list(DISTINCT day::VARCHAR) AS d FROM current_checks"
    )
    assert n_spark == current["n"][0]
    assert days == set(current["d"][0])
