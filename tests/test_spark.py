"""Spark backend: the shared rollups and the raw-log parser give what DuckDB gives.

One local[2] session serves the module; the data is the session's tiny world.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pytest

from certsentry_analysis import logformat, rollups
from certsentry_analysis.spark.parity import table_differences
from certsentry_analysis.spark.queries import to_spark_sql
from certsentry_analysis.spark.session import java_available

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """A local[2] session with the environment PySpark needs on this machine."""
    if not java_available():
        pytest.skip("no Java runtime on PATH or JAVA_HOME: local Spark cannot start")

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from certsentry_analysis.spark.session import create_session

    session = create_session("local[2]", driver_memory="1g")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_parse(
    spark: SparkSession,
    tiny_world: Path,
    pseudonym_key: bytes,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, pd.DataFrame]:
    """The tiny world's logs parsed by Spark: (checks Parquet, quarantine Parquet, files)."""
    from certsentry_analysis.spark.logparse import parse_logs

    out = tmp_path_factory.mktemp("spark-parse")
    summary = parse_logs(
        spark,
        [tiny_world / "logs"],
        out / "checks",
        key=pseudonym_key,
        staging_dir=out / "staging",
        pki_dirs=[tiny_world / "pki"],
        quarantine_dir=out / "quarantine",
    )

    return out / "checks", out / "quarantine", summary.files


def _read_parquet(folder: Path) -> pd.DataFrame:
    con = duckdb.connect()
    try:
        pattern = str(folder / "**" / "*.parquet")
        return con.read_parquet(pattern, hive_partitioning=True).df()
    finally:
        con.close()


def test_spark_rollups_equal_duckdb_rollups(spark: SparkSession, tiny_db: Path) -> None:
    from certsentry_analysis.spark.queries import run_rollups_spark

    with duckdb.connect(str(tiny_db), read_only=True) as con:
        expected = rollups.run_rollups_duckdb(con, "current_checks")
    got = run_rollups_spark(spark, tiny_db.parent / "checks")

    assert sorted(got) == sorted(rollups.ROLLUPS)
    for name, frame in expected.items():
        assert len(frame) > 0, f"{name} is empty: the parity check would prove nothing"
        assert table_differences(frame, got[name], list(rollups.ORDER_BY[name])) == [], name


def test_spark_parse_yields_ingested_rows(
    spark_parse: tuple[Path, Path, pd.DataFrame], tiny_db: Path
) -> None:
    checks_dir, _, _ = spark_parse
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        expected = con.execute("SELECT * FROM current_checks").df()
    got = _read_parquet(checks_dir)

    assert len(expected) > 1000
    assert table_differences(expected, got[list(expected.columns)], ["file_id", "line_no"]) == []


def test_spark_parse_classifies_files_and_lines_as_ingest(
    spark_parse: tuple[Path, Path, pd.DataFrame], tiny_db: Path
) -> None:
    _, quarantine_dir, files = spark_parse
    columns = ["file_id", "path", "status", "is_current", "rows_loaded", "rows_quarantined"]
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        expected_files = con.execute(f"SELECT {', '.join(columns)} FROM files").df()
        expected_bad = con.execute("SELECT file_id, line_no, field, reason FROM quarantine").df()
    got_bad = _read_parquet(quarantine_dir)[["file_id", "line_no", "field", "reason"]]

    assert table_differences(expected_files, files[columns], ["file_id"]) == []
    assert table_differences(expected_bad, got_bad, ["file_id", "line_no"]) == []


def test_spark_parse_unescapes_strings_like_the_reader(
    spark: SparkSession, pseudonym_key: bytes, tmp_path: Path
) -> None:
    from certsentry_analysis.spark.logparse import parse_logs

    tricky = ["a\tb", "back\\slash", "(empty)", "-", "", "x#y", "percent%41+plus", "é ü", "\x7f"]
    opened = datetime(2012, 4, 2, tzinfo=UTC)
    header = logformat.LogHeader(
        version=2,
        client_id="ab" * 16,
        product="CertSentry",
        product_version="1.0",
        os="Windows 7",
        failure_mode=0,
        ee_optin=False,
        opened=opened,
        timeout_ms=None,
    )
    rows = [
        {
            "ts": opened + timedelta(seconds=i, milliseconds=123),
            "process": value,
            "chain_id": i,
            "chain_pos": 0,
            "issuer_sha1": "A" * 40,
            "issuer_spki_sha256": "b" * 64,
            "method": "OCSP",
            "url": f"http://ocsp.example.com/{value}",
            "outcome": "good",
            "latency_ms": 12.5,
            "source": "wire",
            "stapled": False,
        }
        for i, value in enumerate(tricky)
    ]
    logformat.write_log_rows(tmp_path / "logs" / "one.log.gz", header, rows, closed=opened)
    expected = logformat.read_log(tmp_path / "logs" / "one.log.gz").rows

    parse_logs(
        spark,
        [tmp_path / "logs"],
        tmp_path / "checks",
        key=pseudonym_key,
        staging_dir=tmp_path / "staging",
    )
    got = _read_parquet(tmp_path / "checks").sort_values("line_no")

    assert list(got["process"]) == [r["process"] for r in expected]
    assert list(got["url"]) == [r["url"] for r in expected]
    assert list(got["responder"]) == ["ocsp.example.com"] * len(tricky)


def test_exact_quantiles_stay_exact_on_spark() -> None:
    sql = (
        "SELECT quantile_cont(x, 0.5) AS a, quantile_cont(0.9) WITHIN GROUP (ORDER BY x) AS b,"
        " quantile_disc(x, 0.25) AS c FROM t"
    )

    spark_sql = to_spark_sql("q", sql)

    assert "PERCENTILE(x, 0.5)" in spark_sql
    assert "PERCENTILE(x, 0.9)" in spark_sql
    assert "PERCENTILE_DISC(0.25) WITHIN GROUP (ORDER BY x" in spark_sql
    assert "APPROX" not in spark_sql.upper()


def test_breakage_reductions_equal_on_both_engines(spark: SparkSession, tiny_db: Path) -> None:
    from certsentry_analysis.breakage import validations
    from certsentry_analysis.spark.queries import run_breakage_spark

    got = run_breakage_spark(spark, tiny_db.parent / "checks", fallback=True)
    current = {validations.CHECKS: "current_checks"}
    keys = {
        "breakage_positions": ["client", "chain_id", "chain_pos"],
        "breakage_validations": ["client", "chain_id"],
        "breakage_attempts": ["responder", "failed", "lat_bin"],
    }
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        positions_sql = validations.positions_sql(fallback=True, drop_client_side=False)
        positions = con.execute(validations.render(positions_sql, current)).df()
        con.register(validations.POSITIONS, positions)
        expected = {
            "breakage_positions": positions,
            "breakage_validations": con.execute(validations.validations_sql(scoped=False)).df(),
            "breakage_attempts": con.execute(
                validations.render(validations.attempts_sql(drop_client_side=False), current)
            ).df(),
        }

    # Upper-chain positions can tie on their critical time (two cache hits, two
    # unanswered checks); MAX_BY then picks any of them in either engine, so the
    # upper-chain arg-max columns are left out. The leaf has one position per validation.
    arg_max = ["responder_upper", "issuer_upper"]
    expected["breakage_validations"] = expected["breakage_validations"].drop(columns=arg_max)
    got["breakage_validations"] = got["breakage_validations"].drop(columns=arg_max)
    for name, frame in expected.items():
        assert len(frame) > 0, name
        assert table_differences(frame, got[name], keys[name]) == [], name
