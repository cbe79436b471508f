"""Paths derive from the project root and honour overrides; the pseudonym key is kept secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from certsentry_analysis import config


def test_default_paths_live_under_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CERTSENTRY_DATA", "CERTSENTRY_RAW", "CERTSENTRY_PROCESSED", "CERTSENTRY_DB"):
        monkeypatch.delenv(var, raising=False)

    paths = config.paths()

    assert paths.raw == config.PROJECT_ROOT / "data" / "raw"
    assert paths.database == config.PROJECT_ROOT / "data" / "processed" / "certsentry.duckdb"
    assert paths.scenario_dir("tiny") == paths.raw / "tiny"
    assert (paths.root / "pyproject.toml").exists()


def test_environment_variables_override_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CERTSENTRY_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("CERTSENTRY_DB", str(tmp_path / "w.duckdb"))

    paths = config.paths()

    assert paths.raw == tmp_path / "d" / "raw"
    assert paths.processed == tmp_path / "d" / "processed"
    assert paths.database == tmp_path / "w.duckdb"


def test_pseudonym_key_is_created_once_and_private(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(config.PSEUDONYM_KEY_VAR, raising=False)
    env_file = tmp_path / ".env"

    first = config.pseudonym_key(env_file)
    second = config.pseudonym_key(env_file)

    assert first == second
    assert len(first) == 32
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_pseudonym_key_prefers_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(config.PSEUDONYM_KEY_VAR, "ab" * 32)

    assert config.pseudonym_key(tmp_path / ".env") == bytes.fromhex("ab" * 32)
    assert not (tmp_path / ".env").exists()
