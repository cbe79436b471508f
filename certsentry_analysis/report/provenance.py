"""Where a PDF's numbers came from: raw files, manifest, code and dependency versions.

The build date is taken from the data (the latest check, else the manifest's own
date), never from the clock, so rebuilding reproduces it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGE = "certsentry-analysis"
DEPENDENCIES = (
    "duckdb",
    "pandas",
    "numpy",
    "polars",
    "pyarrow",
    "scipy",
    "matplotlib",
    "typst",
    "cryptography",
    "filtercascade",
)
# Manifest keys that may carry the generation time, in order of preference.
_MANIFEST_TIME_KEYS = ("generated_for", "generated_at", "created")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Provenance:
    """The facts printed in the provenance appendix."""

    raw_dir: str | None
    raw_log_files: int | None
    manifest_sha256: str | None
    manifest: dict[str, Any] = field(default_factory=dict)
    scenario: str | None = None
    seed: str | None = None
    versions: list[tuple[str, str]] = field(default_factory=list)
    built_at: datetime = EPOCH


def versions() -> list[tuple[str, str]]:
    """(distribution, version) of this package and the dependencies that shape results."""
    found = []
    for name in (PACKAGE, *DEPENDENCIES):
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            found.append((name, "not installed"))

    return found


def _as_utc(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")

    return stamp.to_pydatetime().replace(microsecond=0)


def read_manifest(raw_dir: Path | None) -> tuple[dict[str, Any], str | None]:
    """The simulator's manifest.json (parsed) and the SHA-256 of its bytes, if present."""
    if raw_dir is None or not (raw_dir / "manifest.json").is_file():
        return {}, None

    data = (raw_dir / "manifest.json").read_bytes()
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{raw_dir / 'manifest.json'}: not valid JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{raw_dir / 'manifest.json'}: expected a JSON object")

    return parsed, hashlib.sha256(data).hexdigest()


def collect(raw_dir: Path | None, last_ts: datetime | None) -> Provenance:
    """Gather the provenance of a build over `raw_dir` whose latest check is `last_ts`."""
    manifest, digest = read_manifest(raw_dir)
    log_files = None
    if raw_dir is not None and raw_dir.is_dir():
        logs = raw_dir / "logs" if (raw_dir / "logs").is_dir() else raw_dir
        log_files = sum(1 for p in logs.rglob("*") if p.is_file() and ".log" in p.name)

    # The latest check dates the data best; a manifest without checks still has its own.
    built_at = _as_utc(last_ts)
    for key in _MANIFEST_TIME_KEYS:
        if built_at is not None:
            break
        built_at = _as_utc(manifest.get(key))
    built_at = built_at or EPOCH

    scenario = manifest.get("scenario")
    if isinstance(scenario, dict):
        scenario = scenario.get("name")
    seed = manifest.get("seed")

    return Provenance(
        raw_dir=None if raw_dir is None else raw_dir.name,
        raw_log_files=log_files,
        manifest_sha256=digest,
        manifest=manifest,
        scenario=None if scenario is None else str(scenario),
        seed=None if seed is None else str(seed),
        versions=versions(),
        built_at=built_at,
    )
