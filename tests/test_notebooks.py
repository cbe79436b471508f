"""The research notebooks run on the tiny scenario; none is committed with outputs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest

from certsentry_analysis import config
from certsentry_analysis.analysis import run_analysis
from certsentry_analysis.notebooks_run import (
    NotebookRun,
    NotebookRunError,
    cells_with_outputs,
    execute_all,
    execute_notebook,
    kernel_environment,
    main,
    notebook_sources,
)

NOTEBOOKS = config.PROJECT_ROOT / "notebooks"
TOPICS = (
    "01-logs-and-warehouse",
    "02-failure-rates",
    "03-latency",
    "04-hardfail-breakage",
    "05-crlsets-and-crlite",
    "06-your-own-logs",
)


@pytest.fixture(scope="module")
def notebook_env(
    tiny_world: Path, tiny_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Kernel environment pointing at an analysed copy of the tiny warehouse."""
    processed = tmp_path_factory.mktemp("notebook-warehouse")
    # A copy: the analysis writes schema `results`, other tests read the original.
    shutil.copytree(tiny_db.parent, processed, dirs_exist_ok=True)
    db = processed / tiny_db.name
    run_analysis(db, raw_dir=tiny_world)
    reports = tmp_path_factory.mktemp("notebook-reports")

    env = kernel_environment(
        db=db, raw=tiny_world.parent, processed=processed, scenario=tiny_world.name
    )
    env["CERTSENTRY_REPORTS"] = str(reports)
    env["CERTSENTRY_FIGURES"] = str(reports / "figures")

    return env


@pytest.fixture(scope="module")
def executed(
    notebook_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, NotebookRun | NotebookRunError]:
    """Every notebook executed once, two kernels at a time (the tests' machines have 2 cores)."""
    out = tmp_path_factory.mktemp("executed-notebooks")
    # Cells on the tiny world take seconds; a short limit makes the runner's retry of a
    # stalled kernel cost two minutes instead of ten.
    results = execute_all(
        notebook_sources(NOTEBOOKS), out, env=notebook_env, jobs=2, timeout_s=120
    )

    return {source.stem: result for source, result in results.items()}


def test_notebooks_are_the_six_topics_in_order() -> None:
    assert [p.stem for p in notebook_sources(NOTEBOOKS)] == list(TOPICS)


@pytest.mark.parametrize("stem", TOPICS)
def test_notebook_opens_with_its_question_and_data(stem: str) -> None:
    nb = jupytext.read(NOTEBOOKS / f"{stem}.py")
    first = nb.cells[0]

    assert first.cell_type == "markdown"
    assert "**Question.**" in first.source
    assert "**Data.**" in first.source


@pytest.mark.parametrize("stem", TOPICS)
def test_notebook_executes_on_the_tiny_scenario(
    stem: str, executed: dict[str, NotebookRun | NotebookRunError]
) -> None:
    run = executed[stem]
    if isinstance(run, NotebookRunError):
        pytest.fail(str(run), pytrace=False)
    nb = nbformat.read(run.executed, as_version=4)

    assert run.executed.name == f"{stem}.ipynb"
    assert all(out.get("output_type") != "error" for c in nb.cells for out in c.get("outputs", []))
    # Every code cell ran: the last one has an execution count.
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells[-1].execution_count is not None


def test_failing_notebook_names_the_cell_and_keeps_a_partial_copy(tmp_path: Path) -> None:
    source = tmp_path / "99-broken.py"
    source.write_text(
        "# %% [markdown]\n# A notebook that fails\n\n# %%\nx = 1\n\n# %%\n1 / 0\n",
        encoding="utf-8",
    )

    with pytest.raises(NotebookRunError, match=r"99-broken\.py: cell 3 of 3 failed"):
        execute_notebook(source, tmp_path / "out", env=kernel_environment())

    partial = nbformat.read(tmp_path / "out" / "99-broken.ipynb", as_version=4)
    assert partial.cells[1].execution_count is not None


def test_one_failing_notebook_does_not_stop_the_others(tmp_path: Path) -> None:
    good = tmp_path / "01-good.py"
    good.write_text("# %%\nanswer = 42\n", encoding="utf-8")
    bad = tmp_path / "02-bad.py"
    bad.write_text("# %%\nraise ValueError('broken on purpose')\n", encoding="utf-8")

    results = execute_all([good, bad], tmp_path / "out", env=kernel_environment(), jobs=2)

    assert isinstance(results[good], NotebookRun)
    assert isinstance(results[bad], NotebookRunError)
    assert "broken on purpose" in str(results[bad])


def test_execute_all_needs_at_least_one_job(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        execute_all([], tmp_path, jobs=0)


def test_kernel_environment_overrides_paths_and_keeps_the_rest(tmp_path: Path) -> None:
    env = kernel_environment(
        db=tmp_path / "w.duckdb", scenario="tiny", base={"PATH": "/bin", "CERTSENTRY_DB": "old"}
    )

    assert env == {
        "PATH": "/bin",
        "CERTSENTRY_DB": str((tmp_path / "w.duckdb").resolve()),
        "CERTSENTRY_SCENARIO": "tiny",
    }


def test_notebook_sources_take_only_numbered_notebooks(tmp_path: Path) -> None:
    for name in ("02-b.py", "01-a.py", "helpers.py", "01-a.ipynb", "README.md"):
        (tmp_path / name).write_text("", encoding="utf-8")

    assert [p.name for p in notebook_sources(tmp_path)] == ["01-a.py", "02-b.py"]


def test_runner_fails_when_no_notebook_matches(tmp_path: Path) -> None:
    assert main(["--notebooks", str(NOTEBOOKS), "--out", str(tmp_path), "99"]) == 1
    assert not list(tmp_path.iterdir())


def test_cells_with_outputs_finds_outputs_and_execution_counts() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("1 + 1"),
        nbformat.v4.new_code_cell("2 + 2", execution_count=3),
        nbformat.v4.new_code_cell(
            "print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")]
        ),
    ]

    assert cells_with_outputs(nb) == [2, 3]


def test_no_committed_notebook_carries_outputs() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "*.ipynb"],
        cwd=config.PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    dirty = {}
    for name in listed:
        nb = nbformat.read(config.PROJECT_ROOT / name, as_version=4)
        if cells := cells_with_outputs(nb):
            dirty[name] = cells
    assert dirty == {}
