"""Ingestion: every sample lands where it should, counts reconcile, re-runs add nothing."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from test_ingest_samples import (
    DAY,
    Expected,
    body,
    client_id,
    good_rows,
    header,
    render,
    write_samples,
)

from certsentry_analysis import logformat
from certsentry_analysis.ingest import connect, ingest, pseudonymise

KEY = bytes.fromhex("42" * 32)


def _table(db: Path, sql: str, params: dict[str, object] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expected], Path]:
    """The sample folder, its expectations and a warehouse ingested from it."""
    root = tmp_path_factory.mktemp("samples")
    expected = write_samples(root / "logs")
    db = root / "w.duckdb"
    ingest([root / "logs"], db, key=KEY)

    return root / "logs", expected, db


def assert_reconciles(db: Path) -> None:
    """data_lines = rows_loaded + rows_quarantined, and both match the row tables."""
    bad = _table(
        db,
        """
        SELECT f.path, f.data_lines, f.rows_loaded, f.rows_quarantined,
          (SELECT count(*) FROM checks c WHERE c.file_id = f.file_id),
          (SELECT count(*) FROM quarantine q WHERE q.file_id = f.file_id)
        FROM files f
        WHERE f.status IN ('loaded', 'truncated') AND (
          f.data_lines IS DISTINCT FROM f.rows_loaded + f.rows_quarantined
          OR f.rows_loaded <> (SELECT count(*) FROM checks c WHERE c.file_id = f.file_id)
          OR f.rows_quarantined <> (SELECT count(*) FROM quarantine q WHERE q.file_id = f.file_id))
        """,
    )
    assert bad == []
    unread = _table(
        db,
        "SELECT path FROM files WHERE status NOT IN ('loaded', 'truncated')"
        " AND (rows_loaded <> 0 OR rows_quarantined <> 0 OR reason IS NULL)",
    )
    assert unread == []


def test_every_sample_gets_its_expected_status_and_counts(
    samples: tuple[Path, dict[str, Expected], Path],
) -> None:
    """Each malformed or odd sample is loaded, truncated or rejected as specified."""
    _, expected, db = samples
    rows = _table(db, "SELECT path, status, rows_loaded, rows_quarantined, reason FROM files")
    assert {r[0] for r in rows} == set(expected)
    for path, status, loaded, quarantined, reason in rows:
        exp = expected[path]
        assert status == exp.status, (path, reason)
        assert exp.reason_contains in (reason or ""), path
        if status != "rejected":
            assert (loaded, quarantined) == (exp.loaded, exp.quarantined), path
    assert_reconciles(db)


def test_line_numbers_point_at_the_original_lines(
    samples: tuple[Path, dict[str, Expected], Path],
) -> None:
    """Quarantined raw lines equal the decompressed file's line at line_no (1-based)."""
    folder, _, db = samples
    rows = _table(
        db,
        "SELECT q.path, q.line_no, q.raw_line, q.reason FROM quarantine q"
        " WHERE q.reason NOT LIKE 'incomplete%' ORDER BY 1, 2",
    )
    assert rows
    for path, line_no, raw_line, _ in rows:
        text = gzip.decompress((folder / path).read_bytes()).decode()
        assert text.split("\n")[line_no - 1].removesuffix("\r") == (raw_line or "")


def test_loaded_rows_equal_the_reference_reader(
    samples: tuple[Path, dict[str, Expected], Path],
) -> None:
    """Typed values of clean files match `logformat.read_log`, row by row, unescaped."""
    folder, expected, db = samples
    for path, exp in expected.items():
        if exp.status != "loaded" or exp.quarantined or path.startswith("ee-"):
            continue
        ref = logformat.read_log(folder / path)
        got = _table(
            db,
            "SELECT c.line_no, c.ts, c.process, c.url, c.latency_ms, c.ee_serial, f.header_lines"
            " FROM checks c JOIN files f USING (file_id) WHERE f.path = $p ORDER BY line_no",
            {"p": path},
        )
        assert len(got) == len(ref.rows), path
        for index, (row, want) in enumerate(zip(got, ref.rows, strict=True)):
            line_no, ts, process, url, latency, ee_serial, header_lines = row
            assert line_no == header_lines + index + 1
            assert ts == want["ts"].replace(tzinfo=None)
            assert (process, url, latency) == (want["process"], want["url"], want["latency_ms"])
            assert ee_serial == (want.get("ee_serial") if ref.header.ee_optin else None)


def test_raw_client_ids_never_reach_the_warehouse_or_parquet(
    samples: tuple[Path, dict[str, Expected], Path],
) -> None:
    """Only HMAC pseudonyms are stored; no raw 32-hex client id appears in any file."""
    _, _, db = samples
    clients = {r[0] for r in _table(db, "SELECT client FROM clients")}
    assert pseudonymise(client_id(1), KEY) in clients
    raw_ids = [client_id(n).encode() for n in range(30)]
    for path in [db, *sorted(db.parent.joinpath("checks").rglob("*.parquet"))]:
        content = path.read_bytes()
        assert not any(raw in content for raw in raw_ids), path


def test_parquet_copy_holds_the_current_checks(
    samples: tuple[Path, dict[str, Expected], Path],
) -> None:
    """The hive-partitioned copy has the current rows, readable by DuckDB and polars."""
    _, _, db = samples
    n_current = _table(db, "SELECT count(*) FROM current_checks")[0][0]
    glob = str(db.parent / "checks" / "**" / "*.parquet")
    by_duckdb = duckdb.sql(
        "SELECT count(*), min(day) FROM read_parquet($g, hive_partitioning = true)",
        params={"g": glob},
    ).fetchall()[0]
    assert by_duckdb[0] == n_current
    frame = pl.read_parquet(glob, hive_partitioning=True)
    assert frame.height == n_current
    assert "day" in frame.columns


def test_reingesting_the_same_files_adds_nothing(
    samples: tuple[Path, dict[str, Expected], Path], tmp_path: Path
) -> None:
    """A second run over the same folder skips every file and leaves the tables equal."""
    folder, _, db = samples
    copy = tmp_path / "w.duckdb"
    shutil.copy(db, copy)
    before = _snapshot(copy)
    summary = ingest([folder], copy, key=KEY)
    assert summary.files_skipped == summary.files_seen
    assert summary.rows_loaded == 0
    assert _snapshot(copy) == before


def _snapshot(db: Path) -> dict[str, list[tuple[object, ...]]]:
    tables = {
        "files": "SELECT * EXCLUDE (ingested_at) FROM files ORDER BY file_id",
        "checks": "SELECT * FROM checks ORDER BY file_id, line_no",
        "quarantine": "SELECT * FROM quarantine ORDER BY file_id, line_no",
        "clients": "SELECT * FROM clients ORDER BY client",
        "issuers": "SELECT * FROM issuers ORDER BY issuer_sha1",
    }

    return {name: _table(db, sql) for name, sql in tables.items()}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(logformat.gzip_bytes(data))


def test_duplicate_content_under_a_new_path_is_recorded_not_loaded(tmp_path: Path) -> None:
    """Same bytes at a second path: status duplicate, no rows added."""
    data = render(header(1), body(good_rows(5)))
    _write(tmp_path / "logs" / "a.log.gz", data)
    db = tmp_path / "w.duckdb"
    ingest([tmp_path / "logs"], db, key=KEY)
    _write(tmp_path / "logs" / "sub" / "b.log.gz", data)
    summary = ingest([tmp_path / "logs"], db, key=KEY)

    assert summary.files_duplicate == 1 and summary.files_skipped == 1
    rows = _table(db, "SELECT path, status, reason FROM files ORDER BY file_id")
    assert rows[1][:2] == ("sub/b.log.gz", "duplicate")
    assert "file_id 1" in rows[1][2]
    assert _table(db, "SELECT count(*) FROM checks") == [(5,)]


def test_changed_reupload_is_kept_and_the_later_close_is_current(tmp_path: Path) -> None:
    """Two different uploads of one client-day: both kept, the one closed later is current."""
    from datetime import timedelta

    rows = good_rows(8)
    early = logformat.render_log(header(1), body(rows[:5]), closed=DAY + timedelta(hours=20))
    late = logformat.render_log(header(1), body(rows), closed=DAY + timedelta(hours=23))
    _write(tmp_path / "logs" / "z-early.log.gz", early)
    _write(tmp_path / "logs" / "a-late.log.gz", late)
    db = tmp_path / "w.duckdb"
    ingest([tmp_path / "logs"], db, key=KEY)

    files = _table(db, "SELECT path, is_current FROM files ORDER BY path")
    assert files == [("a-late.log.gz", True), ("z-early.log.gz", False)]
    assert _table(db, "SELECT count(*) FROM checks") == [(13,)]
    assert _table(db, "SELECT count(*) FROM current_checks") == [(8,)]


def test_skewed_timestamps_and_unknown_issuers_are_flagged_but_kept(tmp_path: Path) -> None:
    """ts a day away from the file's day sets skew_flag; issuers absent from the PKI flag."""
    from datetime import timedelta

    rows = good_rows(4)
    rows[0]["ts"] = DAY + timedelta(days=3)
    _write(tmp_path / "logs" / "a.log.gz", render(header(1), body(rows)))
    db = tmp_path / "w.duckdb"
    ingest([tmp_path / "logs"], db, key=KEY)

    flags = _table(db, "SELECT skew_flag, unknown_issuer FROM checks ORDER BY line_no")
    assert [f[0] for f in flags] == [True, False, False, False]
    assert all(f[1] for f in flags)


def test_end_entity_fields_are_dropped_unless_the_file_opted_in(
    samples: tuple[Path, dict[str, Expected], Path],
) -> None:
    """ee_serial/ee_sha256 survive only for #ee_optin T files; the rows themselves stay."""
    _, _, db = samples
    rows = _table(
        db,
        "SELECT f.ee_optin, count(*), count(c.ee_serial), count(c.ee_sha256)"
        " FROM checks c JOIN files f USING (file_id)"
        " WHERE f.path IN ('good-optin.log.gz', 'ee-without-optin.log.gz')"
        " GROUP BY 1 ORDER BY 1",
    )
    assert rows == [(False, 6, 0, 0), (True, 6, 6, 6)]


def test_connect_creates_the_documented_tables(tmp_path: Path) -> None:
    """A fresh warehouse has every table and the current_checks view."""
    con = connect(tmp_path / "w.duckdb")
    names = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    con.close()
    assert {"checks", "files", "quarantine", "issuers", "clients", "current_checks"} <= names


def test_pseudonymise_is_keyed_hmac_prefix() -> None:
    """Different keys give different pseudonyms; the output is 16 lower-case hex."""
    a = pseudonymise(client_id(1), KEY)
    assert a != pseudonymise(client_id(1), b"other key")
    assert len(a) == 16 and int(a, 16) >= 0


def test_a_file_the_loader_refuses_is_rejected_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If one file of a batch cannot be loaded, only that file is rejected; the batch loads.

    The loader stages the text the prescan kept and refuses a file whose line count
    disagrees with the prescan's; a prescan bug is simulated by miscounting one file.
    """
    from certsentry_analysis.ingest import pipeline

    for n in range(3):
        _write(tmp_path / "logs" / f"f{n}.log.gz", render(header(n), body(good_rows(5, n))))

    real = pipeline.scan_file

    def miscounting(*args: Any, **kwargs: Any) -> Any:
        scan = real(*args, **kwargs)
        if scan.rel_path == "f1.log.gz":
            scan.total_lines += 1
        return scan

    monkeypatch.setattr(pipeline, "scan_file", miscounting)
    db = tmp_path / "w.duckdb"
    summary = ingest([tmp_path / "logs"], db, key=KEY)

    assert summary.files_rejected == 1
    rows = _table(db, "SELECT path, status, rows_loaded FROM files ORDER BY path")
    assert rows[0] == ("f0.log.gz", "loaded", 5)
    assert rows[1][:2] == ("f1.log.gz", "rejected")
    assert rows[2] == ("f2.log.gz", "loaded", 5)
    assert_reconciles(db)


def test_a_deleted_parquet_partition_is_rewritten_by_the_next_run(tmp_path: Path) -> None:
    """The Parquet copy is repaired from the warehouse, even when no file is new."""
    _write(tmp_path / "logs" / "a.log.gz", render(header(1), body(good_rows(5))))
    db = tmp_path / "w.duckdb"
    ingest([tmp_path / "logs"], db, key=KEY)
    shutil.rmtree(tmp_path / "checks")
    summary = ingest([tmp_path / "logs"], db, key=KEY)

    assert summary.parquet_days == 1
    assert len(pl.read_parquet(tmp_path / "checks" / "**" / "*.parquet")) == 5


def test_cli_ingest_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`certsentry ingest DIR --db PATH` loads the folder and reports counts and reasons."""
    from certsentry_analysis.cli import main

    expected = write_samples(tmp_path / "logs")
    monkeypatch.setenv("CERTSENTRY_PSEUDONYM_KEY", KEY.hex())
    code = main(["ingest", str(tmp_path / "logs"), "--db", str(tmp_path / "w.duckdb")])

    out = capsys.readouterr().out
    assert code == 0
    assert f"files: {len(expected)} seen" in out
    assert "rejected file" in out and "quarantined line" in out


def test_a_bloated_warehouse_is_compacted_to_the_same_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Many one-file batches leave free blocks; the rewrite keeps every row and the view."""
    from certsentry_analysis.ingest import compact

    for n in range(6):
        _write(tmp_path / "logs" / f"f{n}.log.gz", render(header(n), body(good_rows(50, n))))
    plain, compacted = tmp_path / "plain.duckdb", tmp_path / "compacted.duckdb"
    monkeypatch.setattr(compact, "MIN_FREE_BYTES", 1 << 62)
    ingest([tmp_path / "logs"], plain, key=KEY, batch_lines=1)
    monkeypatch.setattr(compact, "MIN_FREE_BYTES", 0)
    monkeypatch.setattr(compact, "MIN_FREE_SHARE", 0.0)
    with caplog.at_level("INFO", logger="certsentry_analysis.ingest.compact"):
        ingest([tmp_path / "logs"], compacted, key=KEY, batch_lines=1)

    assert "compact: warehouse rewritten" in caplog.text
    assert not compact.scratch_path(compacted).exists()
    assert _snapshot(compacted) == _snapshot(plain)
    assert _table(compacted, "SELECT count(*) FROM current_checks") == [(300,)]
