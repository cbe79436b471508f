"""The client population and client-side episodes (captive portals, proxies, attackers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from certsentry_analysis.simulate.rng import stream
from certsentry_analysis.simulate.scenario import Scenario
from certsentry_analysis.simulate.units import DAY, HOUR

EPISODE_KINDS = ("captive_portal", "proxy_blocks_ocsp", "attacker")


@dataclass
class Clients:
    """The client population."""

    client_id: list[str]
    region: np.ndarray
    bandwidth_kbps: np.ndarray
    latency_factor: np.ndarray
    failure_mode: np.ndarray
    version: np.ndarray
    ee_optin: np.ndarray
    active_prob: np.ndarray
    rate: np.ndarray
    flaky_prob: np.ndarray
    skew_s: np.ndarray
    browser: np.ndarray  # index into process names
    os: np.ndarray


@dataclass
class Episodes:
    """Client-side episodes sorted by (client, start)."""

    client: np.ndarray
    start: np.ndarray
    end: np.ndarray
    kind: np.ndarray  # index into EPISODE_KINDS


def build_clients(scenario: Scenario, seed: int) -> Clients:
    cfg = scenario.client
    rng = stream(seed, "clients")
    n = scenario.clients
    ids = [rng.bytes(16).hex() for _ in range(n)]
    shares = np.array([r.share for r in scenario.regions])
    region = rng.choice(len(shares), n, p=shares / shares.sum()).astype(np.int8)
    bw_median = np.array([r.bandwidth_median_kbps for r in scenario.regions])[region]
    bw_sigma = np.array([r.bandwidth_sigma for r in scenario.regions])[region]
    bandwidth = np.round(bw_median * np.exp(rng.normal(0, 1, n) * bw_sigma)).clip(64, None)
    modes = np.array(cfg.failure_mode_weights)
    failure_mode = rng.choice(3, n, p=modes / modes.sum()).astype(np.int8)
    version = np.where(rng.random(n) < cfg.v1_share, 1, 2).astype(np.int8)
    optin = (rng.random(n) < cfg.ee_optin_share) & (version == 2)
    skew_kind = rng.random(n)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    skew = np.where(
        skew_kind < cfg.skew_days_share,
        sign * rng.uniform(1, 30, n) * DAY,
        np.where(
            skew_kind < cfg.skew_days_share + cfg.skew_minutes_share,
            sign * np.exp(rng.uniform(np.log(120), np.log(6 * HOUR), n)),
            rng.normal(0, 20, n),
        ),
    )

    return Clients(
        client_id=ids,
        region=region,
        bandwidth_kbps=bandwidth,
        latency_factor=np.exp(rng.normal(0, cfg.latency_sigma, n)),
        failure_mode=failure_mode,
        version=version,
        ee_optin=optin,
        active_prob=rng.uniform(cfg.active_day_prob[0], cfg.active_day_prob[1], n),
        rate=cfg.validations_per_day_median * np.exp(rng.normal(0, cfg.validations_sigma, n)),
        flaky_prob=np.minimum(
            0.2, cfg.flaky_prob_median * np.exp(rng.normal(0, cfg.flaky_sigma, n))
        ),
        skew_s=np.round(skew, 3),
        browser=np.where(rng.random(n) < 0.7, 0, 1).astype(np.int8),
        os=rng.choice(4, n, p=[0.55, 0.25, 0.12, 0.08]).astype(np.int8),
    )


def build_episodes(scenario: Scenario, clients: Clients, seed: int) -> Episodes:
    cfg = scenario.client
    rng = stream(seed, "episodes")
    n = len(clients.client_id)
    days = scenario.days
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []

    # Captive portals and firewalls: Poisson per client-day, exponential length.
    counts = rng.poisson(cfg.captive_portal_per_day, (n, days))
    c_idx, d_idx = np.nonzero(counts)
    reps = counts[c_idx, d_idx]
    who = np.repeat(c_idx, reps)
    start = np.repeat(d_idx, reps) * DAY + rng.uniform(0, DAY, len(who))
    length = rng.exponential(cfg.captive_portal_minutes * 60, len(who))
    parts.append((who, start, start + length, 0))

    # Corporate proxies that block OCSP: weekday office hours, local time.
    proxied = np.flatnonzero(rng.random(n) < cfg.proxy_share)
    weekday0 = datetime(scenario.start.year, scenario.start.month, scenario.start.day).weekday()
    workdays = np.array([d for d in range(days) if (weekday0 + d) % 7 < 5], dtype=float)
    offsets = np.array([r.utc_offset_h for r in scenario.regions])[clients.region[proxied]]
    who = np.repeat(proxied, len(workdays))
    day = np.tile(workdays, len(proxied))
    local0 = np.repeat(offsets, len(workdays))
    start = day * DAY + (cfg.proxy_work_hours[0] - local0) * HOUR
    end = day * DAY + (cfg.proxy_work_hours[1] - local0) * HOUR
    parts.append((who, start, end, 1))

    if scenario.attack.enabled:
        att = scenario.attack
        victims = np.flatnonzero(rng.random(n) < att.client_share)
        if len(victims) == 0:
            victims = np.array([int(rng.integers(0, n))])
        start = att.start_day * DAY + rng.uniform(0, 12 * HOUR, len(victims))
        parts.append((victims, start, start + att.duration_hours * HOUR, 2))

    client = np.concatenate([p[0] for p in parts]).astype(np.int64)
    start = np.concatenate([p[1] for p in parts])
    end = np.concatenate([p[2] for p in parts])
    kind = np.concatenate([np.full(len(p[0]), p[3], np.int8) for p in parts])
    order = np.lexsort((start, kind, client))

    return Episodes(client=client[order], start=start[order], end=end[order], kind=kind[order])
