"""Session-wide fixtures: one tiny simulated world and its warehouse, shared by all tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_KEY = bytes.fromhex("5e" * 32)
TINY_SEED = 11

# Tests never touch the user's data/ or reports/: pin the key so runs are repeatable.
os.environ.setdefault("CERTSENTRY_PSEUDONYM_KEY", TEST_KEY.hex())
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(scope="session")
def pseudonym_key() -> bytes:
    """The fixed HMAC key the test warehouses are built with."""
    return TEST_KEY


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `tiny` scenario simulated once per session (logs, PKI, truth, manifest)."""
    from certsentry_analysis.simulate import simulate

    out = tmp_path_factory.mktemp("world") / "tiny"

    return simulate("tiny", seed=TINY_SEED, out_dir=out)


@pytest.fixture(scope="session")
def tiny_db(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny world ingested into a DuckDB warehouse (with its Parquet copy)."""
    from certsentry_analysis.ingest import ingest

    db = tmp_path_factory.mktemp("warehouse") / "certsentry.duckdb"
    ingest([tiny_world / "logs"], db, key=TEST_KEY, pki_dirs=[tiny_world / "pki"])

    return db
