"""The simulator's logs: readable, reconcilable with truth, deterministic, private."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from certsentry_analysis.logformat import ERROR_CODES, LogFile, LogFormatError, read_log
from certsentry_analysis.simulate import simulate

# Faults after which the reader must reject the file.
REJECTED = {"garbage_line", "short_line", "bad_value", "broken_gzip"}


@pytest.fixture(scope="module")
def uploads(tiny_world: Path) -> pl.DataFrame:
    return pl.read_parquet(tiny_world / "truth" / "uploads.parquet")


@pytest.fixture(scope="module")
def truth(tiny_world: Path) -> pl.DataFrame:
    return pl.read_parquet(tiny_world / "truth" / "checks")


@pytest.fixture(scope="module")
def parsed(tiny_world: Path, uploads: pl.DataFrame) -> dict[str, LogFile | LogFormatError]:
    """Every log file read with the log-format reader: LogFile or the error raised."""
    out: dict[str, LogFile | LogFormatError] = {}
    for rel in uploads["path"]:
        try:
            out[rel] = read_log(tiny_world / rel)
        except LogFormatError as exc:
            out[rel] = exc
    return out


def test_every_written_file_is_listed_in_uploads(tiny_world: Path, uploads: pl.DataFrame) -> None:
    on_disk = {p.relative_to(tiny_world).as_posix() for p in (tiny_world / "logs").rglob("*.gz")}

    assert on_disk == set(uploads["path"])


def test_reader_rejects_exactly_the_corrupted_files(
    uploads: pl.DataFrame, parsed: dict[str, LogFile | LogFormatError]
) -> None:
    for rel, fault in zip(uploads["path"], uploads["fault"], strict=True):
        result = parsed[rel]
        if fault in REJECTED:
            assert isinstance(result, LogFormatError), (rel, fault)
        else:
            assert not isinstance(result, Exception), (rel, fault, result)


def test_reader_reports_the_injected_bad_line(
    uploads: pl.DataFrame, parsed: dict[str, LogFile | LogFormatError]
) -> None:
    damaged = uploads.filter(pl.col("fault").is_in(["garbage_line", "short_line", "bad_value"]))

    assert len(damaged) > 0
    for rel, bad_lines in zip(damaged["path"], damaged["bad_lines"], strict=True):
        error = parsed[rel]
        assert isinstance(error, LogFormatError)
        assert error.line == bad_lines[0]


def test_truncated_files_lack_the_footer_and_others_have_it(
    uploads: pl.DataFrame, parsed: dict[str, LogFile | LogFormatError]
) -> None:
    readable = uploads.filter(~pl.col("fault").is_in(list(REJECTED)))
    for rel, fault in zip(readable["path"], readable["fault"], strict=True):
        log = parsed[rel]
        assert isinstance(log, LogFile)
        assert log.truncated == (fault == "truncated"), rel


def test_tiny_world_holds_every_kind_of_file(uploads: pl.DataFrame) -> None:
    faults = set(uploads["fault"])
    encodings = set(uploads["encoding"])

    assert {"duplicate", "truncated", "reupload_superseded"} <= faults
    assert faults & REJECTED
    assert {"gzip", "gzip+crlf", "gzip+bom"} <= encodings
    assert set(uploads["format_version"]) == {1, 2}


def test_duplicates_are_byte_identical_to_their_original(
    tiny_world: Path, uploads: pl.DataFrame
) -> None:
    by_id = dict(zip(uploads["upload_id"], uploads["path"], strict=True))
    dups = uploads.filter(pl.col("fault") == "duplicate")
    for rel, original in zip(dups["path"], dups["duplicate_of"], strict=True):
        assert (tiny_world / rel).read_bytes() == (tiny_world / by_id[original]).read_bytes()


def test_log_rows_reconcile_with_truth_checks(
    uploads: pl.DataFrame, parsed: dict[str, LogFile | LogFormatError], truth: pl.DataFrame
) -> None:
    key = ["client_id", "chain_id", "chain_pos", "method"]
    assert truth.select(key).is_duplicated().sum() == 0

    clean = uploads.filter(pl.col("fault").is_in(["none", "reupload_final"]))
    logged = []
    for rel, upload_id in zip(clean["path"], clean["upload_id"], strict=True):
        log = parsed[rel]
        assert isinstance(log, LogFile)
        for row in log.rows:
            logged.append(
                {
                    "client_id": log.header.client_id,
                    "chain_id": row["chain_id"],
                    "chain_pos": row["chain_pos"],
                    "method": row["method"],
                    "log_outcome": row["outcome"],
                    "log_latency": row["latency_ms"],
                    "log_upload": upload_id,
                }
            )
    frame = pl.DataFrame(logged)
    joined = frame.join(truth, on=key, how="left")

    assert joined["outcome"].null_count() == 0
    assert (joined["outcome"] == joined["log_outcome"]).all()
    assert ((joined["latency_ms"] - joined["log_latency"]).abs() < 0.051).all()
    assert (joined["upload_id"] == joined["log_upload"]).all()
    intact = truth.filter(pl.col("upload_id").is_in(clean["upload_id"].implode()))
    assert intact["intact"].all()
    assert len(intact) == len(frame)


def test_lost_rows_are_marked_not_intact(uploads: pl.DataFrame, truth: pl.DataFrame) -> None:
    lost = uploads.filter(
        pl.col("fault").is_in(["truncated", "broken_gzip", "short_line", "bad_value"])
    )
    per_upload = truth.group_by("upload_id").agg((~pl.col("intact")).sum().alias("lost"))
    merged = lost.join(per_upload, on="upload_id")

    assert (merged["rows_lost"] == merged["lost"]).all()


def test_outcome_and_error_fields_are_consistent(truth: pl.DataFrame) -> None:
    failure_codes = [c for c, e in ERROR_CODES.items() if e.failure_class != "status"]
    good = truth.filter(pl.col("outcome") == "good")
    revoked = truth.filter(pl.col("outcome") == "revoked")
    unknown = truth.filter(pl.col("outcome") == "unknown")
    errors = truth.filter(pl.col("outcome") == "error")

    assert good["error"].null_count() == len(good)
    assert len(revoked) > 0 and (revoked["error"] == "CRYPT_E_REVOKED").all()
    assert (unknown["error"] == "CRYPT_E_NOT_IN_REVOCATION_DATABASE").all()
    assert errors["error"].is_in(failure_codes).all()
    assert (errors["cause"] != "none").all()
    assert (truth.filter(pl.col("outcome") != "error")["cause"] == "none").all()


def test_log_fields_follow_the_error_rules(parsed: dict[str, LogFile | LogFormatError]) -> None:
    rows = [r for log in parsed.values() if not isinstance(log, Exception) for r in log.rows]
    for r in rows:
        if r["outcome"] == "revoked":
            assert r["revocation_reason"] is not None
        else:
            assert r["revocation_reason"] is None
        if r["error"] == "HTTP_STATUS_ERROR":
            assert r["http_status"] not in (None, 200)
        if r["error"] == "ERROR_INTERNET_TIMEOUT":
            assert 15000 <= r["latency_ms"] <= 15100
        if r["source"] == "cache":
            assert r["latency_ms"] <= 1.0 and r["http_status"] is None
        assert round(r["latency_ms"], 1) == r["latency_ms"]


def test_end_entity_fields_only_for_opted_in_clients(
    parsed: dict[str, LogFile | LogFormatError],
) -> None:
    seen_optin = False
    for log in parsed.values():
        if isinstance(log, LogFormatError):
            continue
        header = log.header
        has_ee = any(r.get("ee_serial") or r.get("ee_sha256") for r in log.rows)
        if not header.ee_optin:
            assert not has_ee
        elif has_ee:
            seen_optin = True
    assert seen_optin


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = simulate("tiny", seed=5, out_dir=tmp_path / "a", clients=12, days=2)
    b = simulate("tiny", seed=5, out_dir=tmp_path / "b", clients=12, days=2, workers=2)
    c = simulate("tiny", seed=6, out_dir=tmp_path / "c", clients=12, days=2)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())

    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "manifest.json").read_bytes() != (c / "manifest.json").read_bytes()


def test_manifest_lists_every_file_with_its_hash(tiny_world: Path) -> None:
    import hashlib

    manifest = json.loads((tiny_world / "manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    on_disk = {
        p.relative_to(tiny_world).as_posix()
        for p in tiny_world.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }

    assert manifest["scenario"] == "tiny" and manifest["seed"] == 11
    assert set(listed) == on_disk
    some = sorted(listed)[:: max(1, len(listed) // 20)]
    for rel in some:
        assert hashlib.sha256((tiny_world / rel).read_bytes()).hexdigest() == listed[rel]


def test_refuses_to_overwrite_a_folder_that_is_not_a_simulation(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")

    with pytest.raises(FileExistsError, match=r"manifest\.json"):
        simulate("tiny", seed=1, out_dir=tmp_path, clients=2, days=1)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_cli_simulates_into_the_given_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from certsentry_analysis.cli import main

    out = tmp_path / "world"
    code = main(
        [
            "simulate",
            "--scenario",
            "tiny",
            "--seed",
            "3",
            "--out",
            str(out),
            "--clients",
            "6",
            "--days",
            "1",
        ]
    )
    manifest = json.loads((out / "manifest.json").read_text())

    assert code == 0
    assert manifest["overrides"] == {"clients": 6, "days": 1}
    assert f"{manifest['checks']} checks" in capsys.readouterr().out


def test_best_ca_world_is_paired_with_the_baseline(tmp_path: Path) -> None:
    small: dict[str, Any] = {"clients": 8, "days": 1, "sites__count": 300, "pki__crl_kb_max": 5.0}
    key = ["client_id", "chain_id", "site_rank"]
    frames = []
    for name in ("baseline-2012", "best-ca-world"):
        out = simulate(name, seed=4, out_dir=tmp_path / name, **small)
        checks = pl.read_parquet(out / "truth" / "checks")
        frames.append(checks.filter((pl.col("chain_pos") == 0) & ~pl.col("fallback")).select(key))

    assert len(frames[0]) > 0
    assert frames[0].equals(frames[1])
