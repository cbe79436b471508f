"""The conda environment, the pyproject pins and the constraints file must not drift apart."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from the PyPI distribution names.
CONDA_NAMES = {"duckdb": "python-duckdb"}


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for group in project["optional-dependencies"].values():
        requirements.extend(group)
    pins = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        assert version, f"pyproject requirement {requirement!r} is not pinned with =="
        pins[name.lower()] = version

    return pins


def _environment_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = re.fullmatch(r"\s*-\s+([A-Za-z0-9_.-]+)(==|=)([0-9][^\s#]*)\s*", line)
        if match:
            pins[match.group(1).lower()] = match.group(3)

    return pins


def _constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[name.lower().replace("_", "-")] = version

    return pins


@pytest.mark.parametrize("name,version", sorted(_pyproject_pins().items()))
def test_environment_yml_pins_same_version_as_pyproject(name: str, version: str) -> None:
    environment = _environment_pins()
    conda_name = CONDA_NAMES.get(name, name)

    assert environment.get(conda_name) == version, (
        f"environment.yml pins {conda_name}={environment.get(conda_name)}, "
        f"pyproject.toml pins {name}=={version}"
    )


@pytest.mark.parametrize("name,version", sorted(_pyproject_pins().items()))
def test_constraints_pin_same_version_as_pyproject(name: str, version: str) -> None:
    assert _constraint_pins().get(name.replace("_", "-")) == version
