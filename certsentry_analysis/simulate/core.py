"""`simulate`: build the world, generate shards of clients (in parallel), write everything."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm import tqdm

from certsentry_analysis import __version__
from certsentry_analysis.simulate import truth
from certsentry_analysis.simulate.checks import generate_shard
from certsentry_analysis.simulate.pki import write_pki
from certsentry_analysis.simulate.scenario import load_scenario, scenario_text
from certsentry_analysis.simulate.world import World, build_world
from certsentry_analysis.simulate.writer import ShardOutput, truth_part, write_shard

log = logging.getLogger(__name__)

# Each worker process receives the world once (pool initializer), not per shard.
_WORLD: World | None = None
_OUT: Path | None = None


def _init_worker(world: World | None, out_dir: Path | None) -> None:
    global _WORLD, _OUT
    _WORLD, _OUT = world, out_dir


def _run_shard(task: tuple[int, np.ndarray]) -> ShardOutput:
    shard, clients = task
    assert _WORLD is not None and _OUT is not None
    rows = generate_shard(_WORLD, shard, clients)

    return write_shard(_WORLD, shard, rows, _OUT)


def _shards(world: World) -> list[tuple[int, np.ndarray]]:
    size = world.scenario.shard_clients
    n = len(world.clients.client_id)

    return [(i, np.arange(s, min(n, s + size))) for i, s in enumerate(range(0, n, size))]


def _outputs(world: World, out_dir: Path, progress: bool) -> Iterator[ShardOutput]:
    tasks = _shards(world)
    workers = min(world.scenario.workers, len(tasks), multiprocessing.cpu_count())
    bar = tqdm(total=len(tasks), desc="simulate", unit="shard", disable=not progress)
    try:
        if workers <= 1:
            _init_worker(world, out_dir)
            for task in tasks:
                yield _run_shard(task)
                bar.update()
        else:
            # Spawned (not forked) workers: forking a process whose polars thread pool is
            # running can deadlock. map keeps shard order, so the output does not depend
            # on the worker count. Unlike multiprocessing.Pool, which waits forever for a
            # worker that was killed (say, by the kernel when memory ran out), the
            # executor fails at once.
            context = multiprocessing.get_context("spawn")
            with (
                _worker_environment(),
                ProcessPoolExecutor(workers, context, _init_worker, (world, out_dir)) as pool,
            ):
                try:
                    yield from _progress(pool.map(_run_shard, tasks), bar)
                except BrokenProcessPool as error:
                    raise RuntimeError(
                        "a simulation worker process died (killed, or out of memory); "
                        "the output folder is incomplete: run simulate again"
                    ) from error
    finally:
        bar.close()
        _init_worker(None, None)


# Generating a shard allocates and frees arrays of many megabytes. By default glibc
# returns such blocks to the kernel at once and polars' jemalloc soon after, so every
# shard faults its pages in afresh: a million page faults for the default scenario,
# a third of the run's CPU time on this virtual machine. Spawned workers keep freed
# memory (a run in-process leaves the caller's allocator alone).
_WORKER_ENVIRONMENT = {
    # Spawned workers start with one polars thread each: the cores are already shared.
    "POLARS_MAX_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 32),
    "MALLOC_TOP_PAD_": str(1 << 28),
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1",
}


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """Environment that spawned workers inherit (see `_WORKER_ENVIRONMENT`)."""
    previous = {name: os.environ.get(name) for name in _WORKER_ENVIRONMENT}
    os.environ.update(_WORKER_ENVIRONMENT)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def _progress(outputs: Iterator[ShardOutput], bar: tqdm) -> Iterator[ShardOutput]:
    for output in outputs:
        yield output
        bar.update()


def simulate(
    scenario: str | Path, seed: int, out_dir: Path, *, progress: bool = False, **overrides: Any
) -> Path:
    """Simulate a scenario into out_dir: logs/, pki/, truth/*.parquet and manifest.json.

    `scenario` is a shipped name or a TOML path; `overrides` replace scenario keys
    (`clients=50`, `days=2`, `sites__count=500`). Same scenario, seed and overrides
    give byte-identical output.
    """
    t0 = time.perf_counter()
    sc = load_scenario(scenario, **overrides)
    out_dir = Path(out_dir)
    previous = _clear(out_dir)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    world = build_world(sc, seed)
    pki_files = write_pki(world.pki, out_dir / "pki", world.crls)

    files: list[tuple[str, str, int]] = []
    uploads: list[dict[str, Any]] = []
    rows = 0
    checks_dir = truth_part(out_dir, 0).parent
    checks_dir.mkdir(parents=True)
    for output in _outputs(world, out_dir, progress):
        files.extend(output.files)
        uploads.extend(output.uploads)
        rows += output.rows
    t_logs = time.perf_counter() - t0
    log.info(
        "wrote %d checks in %d log files in %.1f s (%.0f rows/s)",
        rows,
        len(files),
        t_logs,
        rows / max(t_logs, 1e-9),
    )

    checks = pl.scan_parquet(checks_dir / "*.parquet")
    truth.write_tables(world, out_dir / "truth", uploads, checks)
    manifest = _manifest(world, scenario, overrides, out_dir, files, pki_files, rows)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    _discard(previous)
    log.info(
        "simulated %s (seed %d): %d checks, %d files in %.1f s",
        sc.name,
        seed,
        rows,
        len(files),
        time.perf_counter() - t0,
    )

    return out_dir


def _clear(out_dir: Path) -> Path | None:
    """Move a previous simulation's output aside; refuse to touch any other non-empty folder.

    Returns the folder holding the old output, for `_discard` once the new files are
    written: on a file system without a journal (like the ext4 of the project's
    build machines) creating files is many times slower for minutes after mass
    deletions, so the old files are deleted after the new ones exist, not before.
    """
    for stale in out_dir.glob(".previous-*"):  # left by an interrupted run
        shutil.rmtree(stale)
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return None
    if not (out_dir / "manifest.json").exists():
        raise FileExistsError(
            f"{out_dir} is not empty and holds no manifest.json of an earlier simulation; "
            "choose an empty or new output folder"
        )
    old = out_dir / f".previous-{os.getpid()}"
    old.mkdir()
    for sub in ("logs", "pki", "truth", "manifest.json"):
        if (out_dir / sub).exists():
            (out_dir / sub).rename(old / sub)

    return old


def _discard(old: Path | None) -> None:
    if old is not None:
        shutil.rmtree(old)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(
    world: World,
    scenario: str | Path,
    overrides: dict[str, Any],
    out_dir: Path,
    files: list[tuple[str, str, int]],
    pki_files: list[Path],
    rows: int,
) -> dict[str, Any]:
    listed = sorted(files)
    for path in [*pki_files, *sorted((out_dir / "truth").rglob("*.parquet"))]:
        listed.append((path.relative_to(out_dir).as_posix(), _sha256(path), path.stat().st_size))
    sc = world.scenario

    return {
        "scenario": sc.name,
        "scenario_source": str(scenario),
        "scenario_sha256": hashlib.sha256(scenario_text(scenario).encode()).hexdigest(),
        # The worker count never changes the output, so it is not part of the record.
        "overrides": {k: v for k, v in sorted(overrides.items()) if k != "workers"},
        "seed": world.seed,
        "package_version": __version__,
        "period": {"start": world.start.date().isoformat(), "days": sc.days},
        "clients": sc.clients,
        "checks": rows,
        "log_files": len(files),
        # A time derived from the scenario, not the wall clock, keeps reruns identical.
        "generated_for": world.start.isoformat(),
        "files": [{"path": p, "sha256": h, "bytes": b} for p, h, b in sorted(listed)],
    }
