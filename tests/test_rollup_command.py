"""`certsentry rollup --engine duckdb` writes every shared rollup as Parquet."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from certsentry_analysis import rollups
from certsentry_analysis.cli import main


def test_duckdb_rollup_command_writes_every_rollup(
    tiny_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["rollup", "--engine", "duckdb", "--db", str(tiny_db), "--out", str(tmp_path)])

    assert code == 0
    printed = capsys.readouterr().out
    with duckdb.connect(str(tiny_db), read_only=True) as con:
        expected = rollups.run_rollups_duckdb(con, "current_checks")
    with duckdb.connect() as con:
        for name, frame in expected.items():
            pattern = str(tmp_path / name / "*.parquet")
            written = con.read_parquet(pattern).aggregate("count(*)").fetchall()[0][0]
            assert written == len(frame) > 0, name
            assert f"{name}: {len(frame)} rows" in printed


def test_rollup_command_refuses_logs_without_spark(tiny_db: Path, tmp_path: Path) -> None:
    code = main(["rollup", "--engine", "duckdb", "--db", str(tiny_db), "--logs", str(tmp_path)])

    assert code == 2
