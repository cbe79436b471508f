"""The ground-truth tables (Parquet) that validation tests compare estimates with."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from certsentry_analysis.simulate.world import EPISODE_KINDS, OUTAGE_KINDS, REASON_NAMES, World

log = logging.getLogger(__name__)


def _ts(world: World, seconds: np.ndarray) -> pl.Series:
    origin = int(world.start.timestamp() * 1000)
    finite = np.isfinite(seconds)
    ms = np.where(finite, np.round(seconds * 1000.0), 0).astype(np.int64) + origin
    series = pl.Series(ms).cast(pl.Datetime("ms", "UTC"))

    return series.set(pl.Series(~finite), None) if (~finite).any() else series


def responders(world: World, checks: pl.LazyFrame) -> pl.DataFrame:
    """Per responder host and method: true latency and failure parameters, realised rate."""
    r = world.responders
    sc = world.scenario.responders
    realised = (
        checks.filter(pl.col("source") == "wire")
        .group_by("responder", "method")
        .agg(
            wire_checks=pl.len(),
            true_failure_rate=(pl.col("cause") == "server").mean(),
        )
        .collect()
    )
    frame = pl.DataFrame(
        {
            "responder": r.host,
            "method": ["OCSP" if m == 0 else "CRL" for m in r.method.tolist()],
            "ca_org": [world.pki.orgs[i].name for i in r.org.tolist()],
            "cdn": r.cdn,
            "latency_mu": r.mu,
            "latency_sigma": r.sigma,
            "latency_mean_ms": np.exp(r.mu + r.sigma**2 / 2),
            "base_failure_prob": r.base_fail,
            "failure_mix": json.dumps(sc.failure_mix, sort_keys=True),
            "outage_mix": json.dumps(sc.outage_mix, sort_keys=True),
            "mtbf_hours": r.mtbf_h,
            "mttr_hours": np.full(len(r.host), sc.mttr_hours),
            "validity_hours": r.validity_s / 3600.0,
            "tail_prob": np.full(len(r.host), sc.tail_prob),
            "tail_ms": np.full(len(r.host), sc.tail_ms),
        }
    )

    return frame.join(realised, on=["responder", "method"], how="left").with_columns(
        pl.col("wire_checks").fill_null(0)
    )


def outages(world: World) -> pl.DataFrame:
    """Outage intervals per responder host (brands on one infrastructure share them)."""
    out = world.outages
    r = world.responders
    rows: dict[str, list[Any]] = {k: [] for k in ("responder", "method", "i")}
    for h, host in enumerate(r.host):
        idx = np.flatnonzero(out.process == r.process[h])
        rows["responder"].extend([host] * len(idx))
        rows["method"].extend(["OCSP" if r.method[h] == 0 else "CRL"] * len(idx))
        rows["i"].extend(idx.tolist())
    i = np.array(rows["i"], np.int64)

    return pl.DataFrame(
        {
            "responder": pl.Series(rows["responder"], dtype=pl.String),
            "method": pl.Series(rows["method"], dtype=pl.String),
            "start": _ts(world, out.start[i]),
            "end": _ts(world, out.end[i]),
            "kind": pl.Series([OUTAGE_KINDS[k] for k in out.kind[i].tolist()], dtype=pl.String),
            "fail_fraction": out.fail_fraction[i],
        }
    ).sort("responder", "start")


def issuers(world: World) -> pl.DataFrame:
    """Every CA certificate (roots and issuing CAs) with its URLs and infrastructure."""
    orgs = world.pki.orgs
    cas = world.pki.cas

    return pl.DataFrame(
        {
            "ca_org": [orgs[ca.org].name for ca in cas],
            "issuer_name": [ca.name for ca in cas],
            "role": [ca.role for ca in cas],
            "issuer_sha1": [ca.sha1 for ca in cas],
            "issuer_spki_sha256": [ca.spki_sha256 for ca in cas],
            "parent_spki_sha256": [cas[ca.parent].spki_sha256 for ca in cas],
            "ocsp_url": pl.Series([ca.ocsp_url for ca in cas], dtype=pl.String),
            "crl_url": pl.Series([ca.crl_url for ca in cas], dtype=pl.String),
            "ev": [ca.ev for ca in cas],
            "market_share": [ca.share for ca in cas],
            "shares_infra_with": pl.Series(
                [
                    orgs[orgs[ca.org].infra].name if orgs[ca.org].infra != ca.org else None
                    for ca in cas
                ],
                dtype=pl.String,
            ),
            "crl_entries": [world.crl_listed[ca.index] for ca in cas],
            "crl_bytes": [len(world.crls[ca.index]) for ca in cas],
            "crl_validity_hours": [ca.crl_validity_h for ca in cas],
            "pem_path": [f"pki/certs/{ca.slug}.pem" for ca in cas],
            "crl_path": [f"pki/crls/{ca.slug}.crl" for ca in cas],
        }
    )


def certificates(world: World) -> pl.DataFrame:
    """Site certificates and every other revoked certificate listed in a CRL."""
    c = world.certs
    spki = [ca.spki_sha256 for ca in world.pki.cas]
    n = len(c.serial)
    rank = np.where(np.arange(n) < c.n_sites, np.arange(n) + 1, -1)
    rank_series = pl.Series(rank)

    return pl.DataFrame(
        {
            "issuer_spki_sha256": pl.Series(spki).gather(c.issuer),
            "serial_hex": [f"{int(s):016x}" for s in c.serial.tolist()],
            "site_rank": rank_series.set(pl.Series(rank < 0), None),
            "not_before": _ts(world, c.not_before),
            "not_after": _ts(world, c.not_after),
            "revoked": c.revoked,
            "revoked_at": _ts(world, c.revoked_at),
            "reason": pl.Series(
                [REASON_NAMES[r] if r >= 0 else None for r in c.reason.tolist()], dtype=pl.String
            ),
            "stapled": c.stapled,
            "attack_victim": np.arange(n) == c.victim,
        }
    )


def clients(world: World) -> pl.DataFrame:
    """Per client: region, network, failure mode, opt-in, flakiness and episode summary."""
    cl = world.clients
    ep = world.episodes
    n = len(cl.client_id)
    counts = {
        k: np.bincount(ep.client[ep.kind == i], minlength=n) for i, k in enumerate(EPISODE_KINDS)
    }
    hours = {
        k: np.bincount(
            ep.client[ep.kind == i], weights=(ep.end - ep.start)[ep.kind == i], minlength=n
        )
        / 3600
        for i, k in enumerate(EPISODE_KINDS)
    }

    return pl.DataFrame(
        {
            "client_id": cl.client_id,
            "region": [world.scenario.regions[r].name for r in cl.region.tolist()],
            "bandwidth_kbps": cl.bandwidth_kbps,
            "latency_factor": cl.latency_factor,
            "failure_mode": cl.failure_mode.astype(np.int64),
            "ee_optin": cl.ee_optin,
            "format_version": cl.version.astype(np.int64),
            "validations_per_day": cl.rate,
            "active_day_prob": cl.active_prob,
            "flaky_prob": cl.flaky_prob,
            "clock_skew_s": cl.skew_s,
            "captive_portal_episodes": counts["captive_portal"],
            "captive_portal_hours": hours["captive_portal"],
            "proxy_blocks_ocsp": counts["proxy_blocks_ocsp"] > 0,
            "attacked": counts["attacker"] > 0,
        }
    )


def client_episodes(world: World) -> pl.DataFrame:
    """Every client-side episode: captive portals, OCSP-blocking proxies, attackers."""
    ep = world.episodes

    return pl.DataFrame(
        {
            "client_id": pl.Series(world.clients.client_id).gather(ep.client),
            "start": _ts(world, ep.start),
            "end": _ts(world, ep.end),
            "kind": pl.Series([EPISODE_KINDS[k] for k in ep.kind.tolist()], dtype=pl.String),
        }
    )


def regions(world: World) -> pl.DataFrame:
    """Region shares and latency factors (multiply the responder lognormal)."""
    return pl.DataFrame(
        [
            {
                "region": r.name,
                "share": r.share,
                "utc_offset_h": r.utc_offset_h,
                "rtt_factor": r.rtt_factor,
                "cdn_factor": r.cdn_factor,
                "bandwidth_median_kbps": r.bandwidth_median_kbps,
            }
            for r in world.scenario.regions
        ]
    )


def uploads(records: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per uploaded file, with the fault injected into it ('none' if clean)."""
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "path": pl.String,
        "upload_id": pl.String,
        "client_id": pl.String,
        "day": pl.String,
        "format_version": pl.Int64,
        "fault": pl.String,
        "encoding": pl.String,
        "data_lines": pl.Int64,
        "truth_rows": pl.Int64,
        "rows_lost": pl.Int64,
        "bad_lines": pl.List(pl.Int64),
        "duplicate_of": pl.String,
    }
    frame = pl.DataFrame(records, schema=schema)

    return frame.with_columns(pl.col("day").str.to_date()).sort("path")


def write_tables(
    world: World, out: Path, upload_records: list[dict[str, Any]], checks: pl.LazyFrame
) -> None:
    """Write every truth table except the per-check one (written by the shards)."""
    t0 = time.perf_counter()
    tables = {
        "responders": responders(world, checks),
        "outages": outages(world),
        "issuers": issuers(world),
        "certificates": certificates(world),
        "clients": clients(world),
        "client_episodes": client_episodes(world),
        "regions": regions(world),
        "uploads": uploads(upload_records),
    }
    for name, frame in tables.items():
        frame.write_parquet(out / f"{name}.parquet", compression="zstd")
    period_end = world.start + timedelta(days=world.scenario.days)
    log.info(
        "wrote %d truth tables (period to %s) in %.2f s",
        len(tables),
        period_end.date(),
        time.perf_counter() - t0,
    )
