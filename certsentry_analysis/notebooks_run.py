"""Execute the research notebooks headlessly and keep the executed copies.

The notebooks live in `notebooks/` as jupytext percent files; this module reads
each one, runs it top to bottom in a fresh kernel with nbclient, and writes the
executed `.ipynb` into a target folder (by default `reports/notebooks/`, which git
ignores). Which warehouse and raw dataset a notebook reads is passed to its kernel
through the same `CERTSENTRY_*` environment variables `certsentry_analysis.config`
honours, plus `CERTSENTRY_SCENARIO` for the raw dataset's folder name.

Usage: `python -m certsentry_analysis.notebooks_run --out reports/notebooks`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from certsentry_analysis import config

log = logging.getLogger(__name__)

# The kernel name every notebook declares. jupyter_client starts a "python3" kernel
# whose command is plain `python` with the current interpreter, so the notebooks run
# in this venv without installing a user-wide kernel spec.
KERNEL_NAME = "python3"
SCENARIO_VAR = "CERTSENTRY_SCENARIO"
DEFAULT_TIMEOUT_S = 600
KERNEL_READY_TIMEOUT_S = 120
KERNEL_ATTEMPTS = 2
# Research notebooks are numbered by topic: "01-logs-and-warehouse.py".
_NOTEBOOK_NAME = re.compile(r"\d{2}-[a-z0-9-]+\.py")


class NotebookRunError(RuntimeError):
    """A notebook failed; the message names it and the cell, the partial copy is kept."""


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook: its source, the executed copy and how long it took."""

    source: Path
    executed: Path
    cells: int
    seconds: float


def notebook_sources(directory: Path) -> list[Path]:
    """The numbered jupytext notebooks in `directory`, in reading order."""
    if not directory.is_dir():
        raise FileNotFoundError(f"no notebook folder at {directory}")

    return sorted(p for p in directory.iterdir() if _NOTEBOOK_NAME.fullmatch(p.name))


def kernel_environment(
    *,
    db: Path | None = None,
    raw: Path | None = None,
    processed: Path | None = None,
    scenario: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a notebook kernel: `base` (default: ours) plus path overrides."""
    env = dict(os.environ if base is None else base)
    overrides = {
        "CERTSENTRY_DB": db,
        "CERTSENTRY_RAW": raw,
        "CERTSENTRY_PROCESSED": processed,
        SCENARIO_VAR: scenario,
    }
    for name, value in overrides.items():
        if value is not None:
            env[name] = str(Path(value).resolve()) if isinstance(value, Path) else value

    return env


def cells_with_outputs(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of code cells that carry outputs or an execution count (not fit to commit)."""
    return [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]


def _failed_cell(nb: nbformat.NotebookNode) -> int | None:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index

    return None


async def _execute(
    source: Path, out_dir: Path, env: Mapping[str, str] | None, timeout_s: int
) -> NotebookRun:
    # A kernel whose first messages are lost leaves nbclient waiting forever with both
    # sides idle (seen here now and then with ZeroMQ over TCP). The watchdog turns that
    # into a timeout, and the notebook runs once more in a fresh kernel; a cell that is
    # really too slow fails the second time as well.
    for attempt in range(1, KERNEL_ATTEMPTS + 1):
        try:
            return await _execute_once(source, out_dir, env, timeout_s)
        except TimeoutError:
            if attempt == KERNEL_ATTEMPTS:
                raise NotebookRunError(
                    f"{source.name}: no progress for {timeout_s} s in {attempt} kernels"
                ) from None
            log.warning("%s: kernel stalled; retrying in a fresh kernel", source.name)

    raise AssertionError("unreachable")


async def _execute_once(
    source: Path, out_dir: Path, env: Mapping[str, str] | None, timeout_s: int
) -> NotebookRun:
    started = time.perf_counter()
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=timeout_s,
        resources={"metadata": {"path": str(source.parent)}},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{source.stem}.ipynb"

    kernel_env = dict(env) if env is not None else kernel_environment()
    try:
        async with client.async_setup_kernel(env=kernel_env):
            assert client.kc is not None
            reply = await asyncio.wait_for(
                client.async_wait_for_reply(await _maybe_await(client.kc.kernel_info())),
                timeout=KERNEL_READY_TIMEOUT_S,
            )
            if reply is not None and "language_info" in reply["content"]:
                nb.metadata["language_info"] = reply["content"]["language_info"]
            for index, cell in enumerate(nb.cells):
                await asyncio.wait_for(
                    client.async_execute_cell(cell, index), timeout=timeout_s + 30
                )
            client.set_widgets_metadata()
    except CellExecutionError as exc:
        nbformat.write(nb, executed)
        cell = _failed_cell(nb)
        where = f"cell {cell + 1} of {len(nb.cells)}" if cell is not None else "a cell"
        raise NotebookRunError(
            f"{source.name}: {where} failed (partial copy in {executed}):\n{exc}"
        ) from exc

    nbformat.write(nb, executed)
    seconds = time.perf_counter() - started
    log.info("%s: %d cells in %.1f s -> %s", source.name, len(nb.cells), seconds, executed)

    return NotebookRun(source=source, executed=executed, cells=len(nb.cells), seconds=seconds)


async def _maybe_await(value: object) -> str:
    """jupyter_client returns a message id, or an awaitable of one for async clients."""
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        value = await value

    return str(value)


def execute_notebook(
    source: Path,
    out_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: int = DEFAULT_TIMEOUT_S,
) -> NotebookRun:
    """Run one jupytext notebook in a fresh kernel and write `out_dir/<stem>.ipynb`.

    The kernel's working directory is the notebook's folder, as in JupyterLab. On
    failure the partially executed copy is still written, for reading the traceback.

    Raises:
        NotebookRunError: a cell raised; the message names the notebook and cell.
    """
    return asyncio.run(_execute(source, out_dir, env, timeout_s))


def execute_all(
    sources: Sequence[Path],
    out_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    jobs: int = 1,
) -> dict[Path, NotebookRun | NotebookRunError]:
    """Execute every notebook, `jobs` kernels at a time; a failure does not stop the others.

    Each notebook gets its own kernel, so running two at once is safe: they share only
    read-only access to the warehouse. Returns each source's run or its error.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")

    async def run_all() -> list[NotebookRun | BaseException]:
        gate = asyncio.Semaphore(jobs)

        async def one(source: Path) -> NotebookRun:
            async with gate:
                return await _execute(source, out_dir, env, timeout_s)

        return await asyncio.gather(*(one(s) for s in sources), return_exceptions=True)

    started = time.perf_counter()
    results: dict[Path, NotebookRun | NotebookRunError] = {}
    for source, result in zip(sources, asyncio.run(run_all()), strict=True):
        if isinstance(result, (NotebookRun, NotebookRunError)):
            results[source] = result
        else:
            # Anything else (a kernel that would not start, a timeout) is not a cell's fault.
            raise result
    failed = sum(isinstance(r, NotebookRunError) for r in results.values())
    log.info(
        "notebooks: %d executed, %d failed in %.1f s into %s",
        len(results) - failed,
        failed,
        time.perf_counter() - started,
        out_dir,
    )

    return results


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of `python -m certsentry_analysis.notebooks_run`."""
    paths = config.paths()
    parser = argparse.ArgumentParser(
        prog="python -m certsentry_analysis.notebooks_run",
        description="Execute the jupytext notebooks headlessly and write executed .ipynb copies.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=paths.reports / "notebooks",
        help="folder for the executed notebooks (default: %(default)s)",
    )
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=paths.notebooks,
        help="folder holding the jupytext .py notebooks (default: %(default)s)",
    )
    parser.add_argument("--db", type=Path, default=None, help="warehouse (sets CERTSENTRY_DB)")
    parser.add_argument(
        "--raw", type=Path, default=None, help="raw data root (sets CERTSENTRY_RAW)"
    )
    parser.add_argument(
        "--processed",
        type=Path,
        default=None,
        help="processed-data folder, where notebook 6 keeps its warehouse "
        "(sets CERTSENTRY_PROCESSED)",
    )
    parser.add_argument(
        "--scenario",
        default=None,
        help=f"raw dataset folder under the raw root (sets {SCENARIO_VAR}; "
        f"notebooks default to {config.DEFAULT_SCENARIO})",
    )
    parser.add_argument(
        "--timeout", type=int, default=DEFAULT_TIMEOUT_S, help="seconds allowed per cell"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="notebooks executed at once (default: %(default)s)"
    )
    parser.add_argument(
        "only",
        nargs="*",
        help="run only notebooks whose file name starts with one of these (e.g. 03)",
    )

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: execute the notebooks and print where the executed copies are."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    sources = notebook_sources(args.notebooks)
    if args.only:
        sources = [s for s in sources if s.name.startswith(tuple(args.only))]
    if not sources:
        log.error("no notebooks matched in %s", args.notebooks)
        return 1

    env = kernel_environment(
        db=args.db, raw=args.raw, processed=args.processed, scenario=args.scenario
    )
    results = execute_all(sources, args.out, env=env, timeout_s=args.timeout, jobs=args.jobs)
    for result in results.values():
        if isinstance(result, NotebookRunError):
            log.error("%s", result)
        else:
            print(f"{result.executed}  ({result.cells} cells, {result.seconds:.1f} s)")
    if any(isinstance(r, NotebookRunError) for r in results.values()):
        return 1

    return 0


if __name__ == "__main__":
    sys.exit(main())
