"""Every path the suite uses, derived from the project root and overridable by environment.

Library modules take paths as arguments; only the CLI, notebooks, tests and the
Makefile resolve defaults here.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(
    os.environ.get("CERTSENTRY_ROOT", Path(__file__).resolve().parent.parent)
).resolve()

DEFAULT_SCENARIO = "baseline-2012"
DEFAULT_SEED = 7
ENV_FILE_NAME = ".env"
PSEUDONYM_KEY_VAR = "CERTSENTRY_PSEUDONYM_KEY"


def _path_from_env(var: str, default: Path) -> Path:
    value = os.environ.get(var)

    return Path(value).resolve() if value else default


@dataclass(frozen=True)
class Paths:
    """The project's directories and well-known files."""

    root: Path
    data: Path
    raw: Path
    processed: Path
    reports: Path
    figures: Path
    notebooks: Path
    scenarios: Path

    @property
    def database(self) -> Path:
        """The DuckDB warehouse file."""
        return _path_from_env("CERTSENTRY_DB", self.processed / "certsentry.duckdb")

    @property
    def checks_parquet(self) -> Path:
        """The day-partitioned Parquet copy of the current checks."""
        return self.processed / "checks"

    def scenario_dir(self, scenario: str) -> Path:
        """Where the simulator writes one scenario's raw data."""
        return self.raw / scenario


def scenario() -> str:
    """The scenario whose raw data notebooks and commands use by default."""
    return os.environ.get("CERTSENTRY_SCENARIO", DEFAULT_SCENARIO)


def paths() -> Paths:
    """Resolve the project's paths, honouring CERTSENTRY_* environment overrides."""
    data = _path_from_env("CERTSENTRY_DATA", PROJECT_ROOT / "data")
    reports = _path_from_env("CERTSENTRY_REPORTS", PROJECT_ROOT / "reports")

    return Paths(
        root=PROJECT_ROOT,
        data=data,
        raw=_path_from_env("CERTSENTRY_RAW", data / "raw"),
        processed=_path_from_env("CERTSENTRY_PROCESSED", data / "processed"),
        reports=reports,
        figures=_path_from_env("CERTSENTRY_FIGURES", reports / "figures"),
        notebooks=PROJECT_ROOT / "notebooks",
        scenarios=Path(__file__).resolve().parent / "scenarios",
    )


def _read_env_file(env_file: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not env_file.exists():
        return values

    for raw in env_file.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip().strip('"').strip("'")

    return values


def pseudonym_key(env_file: Path | None = None) -> bytes:
    """The secret HMAC key that pseudonymises client ids at ingest.

    Taken from the environment variable, else from the git-ignored `.env` file,
    which is created with a fresh random key on first use.
    """
    from_env = os.environ.get(PSEUDONYM_KEY_VAR)
    if from_env:
        return bytes.fromhex(from_env)

    env_file = env_file or PROJECT_ROOT / ENV_FILE_NAME
    stored = _read_env_file(env_file).get(PSEUDONYM_KEY_VAR)
    if stored:
        return bytes.fromhex(stored)

    key = secrets.token_hex(32)
    with env_file.open("a", encoding="utf-8") as handle:
        handle.write("# Secret key for pseudonymising client ids; never commit.\n")
        handle.write(f"{PSEUDONYM_KEY_VAR}={key}\n")
    os.chmod(env_file, 0o600)

    return bytes.fromhex(key)
