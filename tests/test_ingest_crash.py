"""Crash safety: a run killed with SIGKILL mid-way, then re-run, equals a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from test_ingest_samples import body, good_rows, header, render, write_samples

from certsentry_analysis import logformat
from certsentry_analysis.ingest import ingest

KEY = bytes.fromhex("24" * 32)
BATCH_LINES = 150

_CHILD = """
import logging, sys
from pathlib import Path
from certsentry_analysis.ingest import ingest
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
ingest([Path(sys.argv[1])], Path(sys.argv[2]), key=bytes.fromhex(sys.argv[3]),
       batch_lines=int(sys.argv[4]))
"""


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 small files over four days, plus the malformed samples and a changed re-upload."""
    from datetime import timedelta

    root = tmp_path_factory.mktemp("crash") / "logs"
    write_samples(root / "samples")
    for n in range(40):
        day = header(n).opened.replace(hour=0, minute=0) + timedelta(days=n % 4)
        rows = good_rows(20, seed=n, day=day)
        data = render(header(100 + n, day=day), body(rows))
        path = root / day.strftime("%Y-%m-%d") / f"upload-{n:03d}.log.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(logformat.gzip_bytes(data))
    resend = render(header(100, day=header(0).opened), body(good_rows(7, seed=99)))
    (root / "resend.log.gz").write_bytes(logformat.gzip_bytes(resend))

    return root


def snapshot(db: Path, parquet_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table (without ingestion timestamps) and the Parquet copy, sorted."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {
            name: con.execute(sql).fetchall()
            for name, sql in {
                "files": "SELECT * EXCLUDE (ingested_at) FROM files ORDER BY file_id",
                "checks": "SELECT * FROM checks ORDER BY file_id, line_no",
                "quarantine": "SELECT * FROM quarantine ORDER BY file_id, line_no",
                "clients": "SELECT * FROM clients ORDER BY client",
                "pending": "SELECT * FROM parquet_pending ORDER BY day",
            }.items()
        }
        out["parquet"] = con.execute(
            "SELECT * FROM read_parquet($g, hive_partitioning = true) ORDER BY file_id, line_no",
            {"g": str(parquet_dir / "**" / "*.parquet")},
        ).fetchall()
    finally:
        con.close()

    return out


def _kill_after_batches(logs: Path, db: Path, batches: int) -> int:
    """Run ingest in a child; SIGKILL it once `batches` batches have committed."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(logs), str(db), KEY.hex(), str(BATCH_LINES)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    committed = 0
    for line in child.stderr:
        committed += "committed" in line
        if committed >= batches:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()

    return child.returncode


@pytest.mark.parametrize("batches", [1, 3])
def test_rerun_after_sigkill_equals_a_clean_run(logs: Path, tmp_path: Path, batches: int) -> None:
    """Kill mid-run, re-run: tables and Parquet equal those of one uninterrupted run."""
    clean_db = tmp_path / "clean" / "w.duckdb"
    ingest([logs], clean_db, key=KEY, batch_lines=BATCH_LINES)
    clean = snapshot(clean_db, clean_db.parent / "checks")

    crashed_db = tmp_path / "crashed" / "w.duckdb"
    crashed_db.parent.mkdir()
    assert _kill_after_batches(logs, crashed_db, batches) == -signal.SIGKILL
    con = duckdb.connect(str(crashed_db), read_only=True)
    partial = con.execute("SELECT count(*) FROM files").fetchall()[0][0]
    con.close()
    assert 0 < partial < len(clean["files"])

    summary = ingest([logs], crashed_db, key=KEY, batch_lines=BATCH_LINES)
    assert summary.files_skipped == partial
    assert snapshot(crashed_db, crashed_db.parent / "checks") == clean
