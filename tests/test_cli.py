"""The `certsentry` program: every subcommand registers, documents itself and reports errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from certsentry_analysis import cli


def _subcommands() -> list[str]:
    return [module.NAME for module in cli._command_modules()]


def test_every_command_module_declares_its_interface() -> None:
    for module in cli._command_modules():
        assert isinstance(module.NAME, str) and module.NAME
        assert isinstance(module.HELP, str) and module.HELP
        assert callable(module.add_arguments)
        assert callable(module.run)


@pytest.mark.parametrize("name", _subcommands())
def test_subcommand_help_exits_cleanly(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])

    assert info.value.code == 0
    assert "--verbose" in capsys.readouterr().out


def test_top_level_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])

    out = capsys.readouterr().out
    for name in _subcommands():
        assert name in out


def test_analyze_on_missing_warehouse_reports_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["analyze", "--db", f"{tmp_path}/absent.duckdb"])

    assert code == 2
    assert "no warehouse at" in capsys.readouterr().err
