"""`simulate`: build the world, generate shards of clients (in parallel), write everything."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from tqdm import tqdm

from certsentry_analysis import __version__
from certsentry_analysis.simulate import truth
from certsentry_analysis.simulate.checks import generate_shard
from certsentry_analysis.simulate.pki import write_pki
from certsentry_analysis.simulate.scenario import load_scenario, scenario_text
from certsentry_analysis.simulate.world import World, build_world
from certsentry_analysis.simulate.writer import ShardOutput, write_shard

log = logging.getLogger(__name__)

# Set in the parent before forking workers, so they inherit the world without pickling.
_WORLD: World | None = None
_OUT: Path | None = None


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
    global _WORLD, _OUT
    tasks = _shards(world)
    workers = min(world.scenario.workers, len(tasks), multiprocessing.cpu_count())
    _WORLD, _OUT = world, out_dir
    bar = tqdm(total=len(tasks), desc="simulate", unit="shard", disable=not progress)
    try:
        if workers <= 1:
            for task in tasks:
                yield _run_shard(task)
                bar.update()
        else:
            # imap keeps shard order, so the output does not depend on the worker count.
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for output in pool.imap(_run_shard, tasks):
                    yield output
                    bar.update()
    finally:
        bar.close()
        _WORLD, _OUT = None, None


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
    for sub in ("logs", "pki", "truth"):
        if (out_dir / sub).exists():
            shutil.rmtree(out_dir / sub)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    world = build_world(sc, seed)
    pki_files = write_pki(world.pki, out_dir / "pki", world.crls)

    files: list[tuple[str, str, int]] = []
    uploads: list[dict[str, Any]] = []
    rows = 0
    writer: pq.ParquetWriter | None = None
    checks_path = out_dir / "truth" / "checks.parquet"
    try:
        for output in _outputs(world, out_dir, progress):
            table = output.checks.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(checks_path, table.schema, compression="zstd")
            writer.write_table(table)
            files.extend(output.files)
            uploads.extend(output.uploads)
            rows += output.rows
    finally:
        if writer is not None:
            writer.close()
    t_logs = time.perf_counter() - t0
    log.info(
        "wrote %d checks in %d log files in %.1f s (%.0f rows/s)",
        rows,
        len(files),
        t_logs,
        rows / max(t_logs, 1e-9),
    )

    checks = pl.scan_parquet(checks_path)
    truth.write_tables(world, out_dir / "truth", uploads, checks)
    manifest = _manifest(world, scenario, overrides, out_dir, files, pki_files, rows)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    log.info(
        "simulated %s (seed %d): %d checks, %d files in %.1f s",
        sc.name,
        seed,
        rows,
        len(files),
        time.perf_counter() - t0,
    )

    return out_dir


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
    for path in [*pki_files, *sorted((out_dir / "truth").glob("*.parquet"))]:
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
