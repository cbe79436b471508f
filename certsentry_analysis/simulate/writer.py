"""Render one shard's checks as log files (through `logformat`) and its truth rows."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from certsentry_analysis.logformat import (
    LogHeader,
    format_body,
    gzip_bytes,
    header_times,
    render_parts,
    split_body,
)
from certsentry_analysis.simulate import faults
from certsentry_analysis.simulate.checks import METHODS, OUTCOMES, SOURCES, ShardRows
from certsentry_analysis.simulate.rng import stream
from certsentry_analysis.simulate.wire import CAUSES, ERRORS
from certsentry_analysis.simulate.world import DAY, REASON_NAMES, World

PRODUCT = "CertSentry"
PRODUCT_VERSION = {1: "0.9.4-beta", 2: "1.2.1"}


# The per-check truth is written by each shard as one part of a Parquet dataset, in
# the worker that made it: sending the rows back to one writer process would cost more
# than generating them. LZ4 encodes about twice as fast as zstd here.
TRUTH_CHECKS_DIR = "checks"
TRUTH_COMPRESSION: Final = "lz4"


def truth_part(out_dir: Path, shard: int) -> Path:
    """Where shard `shard` writes its per-check truth (parts sort in shard order)."""
    return out_dir / "truth" / TRUTH_CHECKS_DIR / f"part-{shard:05d}.parquet"


@dataclass
class ShardOutput:
    """What a shard wrote: its upload records and file hashes (truth rows are on disk)."""

    uploads: list[dict[str, Any]]
    files: list[tuple[str, str, int]]  # relative path, sha256, size
    rows: int


def _strings(table: Sequence[str | None], idx: np.ndarray) -> pl.Series:
    safe = np.where(idx < 0, len(table), idx)

    return pl.Series([*table, None], dtype=pl.String).gather(safe)


def _times(origin_ms: int, seconds: np.ndarray) -> pl.Series:
    ms = np.round(seconds * 1000.0)
    values = pl.Series(np.where(np.isnan(ms), 0, ms).astype(np.int64) + origin_ms)
    values = values.cast(pl.Datetime("ms", "UTC"))

    return values.set(pl.Series(np.isnan(ms)), None) if np.isnan(ms).any() else values


def _nullable(values: np.ndarray) -> pl.Series:
    series = pl.Series(values.astype(np.int64))

    return series.set(pl.Series(values < 0), None) if (values < 0).any() else series


def log_frame(world: World, c: dict[str, np.ndarray]) -> pl.DataFrame:
    """The log columns (format version 2 superset) of a shard's rows."""
    origin = int(world.start.timestamp() * 1000)
    ca = c["ca"]
    method = c["method"]
    url = np.where(method == 0, world.ca_ocsp_url[ca], world.ca_crl_url[ca])
    leaf = c["cert"] >= 0
    optin = world.clients.ee_optin[c["client"]] & leaf
    site = np.where(optin, c["site"], -1)

    return pl.DataFrame(
        {
            "ts": _times(origin, c["ts_client"]),
            "process": _strings(world.processes, c["process"]),
            "chain_id": c["chain_id"].astype(np.int64),
            "chain_pos": c["pos"].astype(np.int64),
            "issuer_sha1": _strings([ca.sha1 for ca in world.pki.cas], ca),
            "issuer_spki_sha256": _strings([ca.spki_sha256 for ca in world.pki.cas], ca),
            "method": _strings(list(METHODS), method),
            "url": _strings(world.urls, url),
            "outcome": _strings(list(OUTCOMES), c["outcome"]),
            "error": _strings(list(ERRORS), c["error"]),
            "http_status": _nullable(c["http"]),
            "bytes": _nullable(c["nbytes"]),
            "latency_ms": c["latency"],
            "source": _strings(list(SOURCES), c["source"]),
            "this_update": _times(origin, c["this_update"]),
            "next_update": _times(origin, c["next_update"]),
            "revocation_reason": _strings(list(REASON_NAMES), c["reason"]),
            # A site staples only when its leaf has an OCSP pointer to fetch from.
            "stapled": world.certs.stapled[c["site"]]
            & (world.ca_ocsp[world.certs.issuer[c["site"]]] >= 0),
            "ee_serial": _strings(world.serial_hex, site),
            "ee_sha256": _strings(world.ee_sha256, site),
        }
    )


def _header(world: World, client: int, opened: datetime) -> LogHeader:
    cl = world.clients
    version = int(cl.version[client])

    return LogHeader(
        version=version,
        client_id=cl.client_id[client],
        product=PRODUCT,
        product_version=PRODUCT_VERSION[version],
        os=world.os_names[int(cl.os[client])],
        failure_mode=int(cl.failure_mode[client]),
        ee_optin=bool(cl.ee_optin[client]),
        opened=opened,
        timeout_ms=int(world.scenario.per_url_timeout_ms) if version == 2 else None,
        region=world.scenario.regions[int(cl.region[client])].name,
    )


def write_shard(world: World, shard: int, rows: ShardRows, out_dir: Path) -> ShardOutput:
    """Write the shard's log files under out_dir/logs and its truth part; return the uploads."""
    c = rows.columns
    n = len(rows)
    rng = stream(world.seed, "uploads", shard)
    fault_rng = stream(world.seed, "faults", shard)
    frame = log_frame(world, c)

    key = c["client"].astype(np.int64) * 100_000 + c["day"]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, n])
    n_files = len(starts)
    file_client = c["client"][starts]
    file_version = world.clients.version[file_client]
    row_version = np.repeat(file_version, counts)
    bodies: dict[int, list[bytes]] = {}
    for version in (1, 2):
        mask = row_version == version
        body = format_body(frame.filter(pl.Series(mask)), version, check_strings=False)
        bodies[version] = split_body(body, counts[file_version == version])
    # Each file's body, in file order (bodies were rendered per format version).
    order = np.argsort(file_version, kind="stable")
    file_body: list[bytes] = [b""] * n_files
    for f, body in zip(order.tolist(), bodies[1] + bodies[2], strict=True):
        file_body[f] = body

    kinds = faults.choose(world.scenario.faults, fault_rng, n_files)
    origin = world.start.timestamp()
    ts_epoch = c["ts_client"] + origin
    if n:
        opened_at = np.floor(np.minimum.reduceat(ts_epoch, starts)).astype(np.int64)
        closed_at = np.floor(np.maximum.reduceat(ts_epoch, starts)).astype(np.int64) + 1
    else:
        opened_at = closed_at = starts
    opened_text = header_times(opened_at)
    closed_text = header_times(closed_at)
    # Three upload ids per file (the file, a duplicate, a re-upload), drawn in bulk.
    id_hex = rng.bytes(48 * n_files).hex()

    # One header per client; every file of a client differs only in its #open line.
    client_headers: dict[int, LogHeader] = {}
    parts: dict[int, tuple[bytes, bytes, int]] = {}
    for client, first in zip(*np.unique(file_client, return_index=True), strict=True):
        header = _header(world, int(client), datetime.fromtimestamp(int(opened_at[first]), UTC))
        client_headers[int(client)] = header
        before, after = render_parts(header)
        parts[int(client)] = (before, after, len(header.lines()))

    # Rows of untouched files sit at header + 1, 2, ...; faulted files are redone below.
    file_head = np.array([parts[int(cl)][2] for cl in file_client.tolist()], np.int64)
    line_col = np.repeat(file_head + 1 - starts, counts) + np.arange(n)
    intact_col = np.ones(n, bool)
    file_upload: list[str] = [""] * n_files

    uploads: list[dict[str, Any]] = []
    pending: list[tuple[str, bytes]] = []
    sizes: list[int] = []
    stores: list[Future[list[str]]] = []
    day_names = _day_folders(world, out_dir, c["day"][starts])
    file_days = c["day"][starts].tolist()
    client_list = file_client.tolist()
    version_list = file_version.tolist()
    for f, (start, count) in enumerate(zip(starts.tolist(), counts.tolist(), strict=True)):
        client = client_list[f]
        version = version_list[f]
        kind = kinds[f]
        base = 3 * f * 32
        day = day_names[file_days[f]]
        before, after, head_lines = parts[client]
        if kind == "none" or count < 2:
            upload_id = id_hex[base : base + 32]
            data = gzip_bytes(
                b"".join(
                    (
                        before,
                        b"#open\t" + opened_text[f] + b"\n",
                        after,
                        file_body[f],
                        b"#close\t" + closed_text[f] + b"\n",
                    )
                )
            )
            done = [faults.Upload(upload_id, data, "none", "gzip", count)]
        else:
            opened = datetime.fromtimestamp(int(opened_at[f]), tz=UTC)
            result = faults.make_uploads(
                replace(client_headers[client], opened=opened),
                head_lines,
                file_body[f],
                ts_epoch[start : start + count],
                kind,
                fault_rng,
                [id_hex[base + 32 * j : base + 32 * (j + 1)] for j in range(3)],
                n_lines=count,
            )
            line_col[start : start + count] = result.line_no
            intact_col[start : start + count] = result.intact
            done = result.uploads
        file_upload[f] = done[0].upload_id
        for up in done:
            rel = f"logs/{day}/{up.upload_id}.log.gz"
            pending.append((f"{out_dir}/{rel}", up.data))
            sizes.append(len(up.data))
            uploads.append(
                {
                    "path": rel,
                    "upload_id": up.upload_id,
                    "client_id": client_headers[client].client_id,
                    "day": day,
                    "format_version": version,
                    "fault": up.fault,
                    "encoding": up.encoding,
                    "data_lines": up.data_lines,
                    "truth_rows": count,
                    "rows_lost": up.rows_lost,
                    "bad_lines": up.bad_lines,
                    "duplicate_of": up.duplicate_of,
                }
            )
        if len(pending) >= _WRITE_BATCH:
            stores.append(_file_pool().submit(_store_many, pending))
            pending = []
    if pending:
        stores.append(_file_pool().submit(_store_many, pending))

    hashes = [digest for store in stores for digest in store.result()]  # re-raises failures
    files = [
        (up["path"], digest, size) for up, digest, size in zip(uploads, hashes, sizes, strict=True)
    ]
    file_index = np.repeat(np.arange(n_files), counts)
    truth = truth_frame(world, c, frame, _strings(file_upload, file_index), line_col, intact_col)
    truth.write_parquet(truth_part(out_dir, shard), compression=TRUTH_COMPRESSION)

    return ShardOutput(uploads=uploads, files=files, rows=n)


def _day_folders(world: World, out_dir: Path, file_days: np.ndarray) -> dict[int, str]:
    """Folder name (the date) per day index present, each folder created."""
    names = {}
    for day in np.unique(file_days).tolist():
        names[day] = (world.start + timedelta(days=day)).date().isoformat()
        (out_dir / "logs" / names[day]).mkdir(parents=True, exist_ok=True)

    return names


# Creating thousands of small files costs more in the kernel (and in waits for the
# file system journal on a busy disk) than compressing them; threads overlap those
# waits with the next file's work. File contents never depend on the threads.
_FILE_THREADS = 4
_POOL: ThreadPoolExecutor | None = None


def _file_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(_FILE_THREADS, thread_name_prefix="simulate-write")

    return _POOL


_WRITE_BATCH = 128


def _store_many(batch: list[tuple[str, bytes]]) -> list[str]:
    """Create (or replace) each file with three system calls; return their SHA-256 (hex)."""
    digests = []
    for path, data in batch:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        digests.append(hashlib.sha256(data).hexdigest())

    return digests


def truth_frame(
    world: World,
    c: dict[str, np.ndarray],
    frame: pl.DataFrame,
    upload: pl.Series,
    line_no: np.ndarray,
    intact: np.ndarray,
) -> pl.DataFrame:
    """The per-check truth: hidden cause, true latency, where the row landed."""
    origin = int(world.start.timestamp() * 1000)
    leaf = c["cert"] >= 0

    return pl.DataFrame(
        {
            "client_id": _strings(world.clients.client_id, c["client"]),
            "chain_id": frame["chain_id"],
            "chain_pos": frame["chain_pos"],
            "method": frame["method"],
            "ts": frame["ts"],
            "ts_true": _times(origin, c["ts_true"]),
            "day": _days(world, c["day"]),
            "responder": _strings(world.responders.host, c["responder"]),
            "issuer_spki_sha256": frame["issuer_spki_sha256"],
            "site_rank": _nullable(np.where(leaf, c["site"] + 1, -1)),
            # The certificate checked: the site's leaf, or the issuing CA certificate.
            "serial_hex": _strings(
                world.serial_hex + [f"{ca.serial:016x}" for ca in world.pki.cas],
                np.where(leaf, c["site"], world.certs.n_sites + world.certs.issuer[c["site"]]),
            ),
            "source": frame["source"],
            "outcome": frame["outcome"],
            "error": frame["error"],
            "latency_ms": frame["latency_ms"],
            "true_latency_ms": c["true_latency"],
            "cause": _strings(list(CAUSES), c["cause"].astype(np.int64)),
            "fallback": c["sub"] == 1,
            "upload_id": upload,
            "line_no": line_no,
            "intact": intact,
        }
    )


def _days(world: World, day: np.ndarray) -> pl.Series:
    epoch_day = int(world.start.timestamp() // DAY)

    return pl.Series((day + epoch_day).astype(np.int32)).cast(pl.Date)
