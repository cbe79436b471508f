"""The static world: PKI, responders and outages, sites and certificates, clients, episodes.

Times are float seconds relative to the scenario start (00:00 UTC of `start`).
Everything is held in numpy arrays indexed by responder, site, CA or client.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from certsentry_analysis.logformat import REVOCATION_REASONS
from certsentry_analysis.simulate.pki import CRL_ENTRY_BYTES, Pki, build_crl, build_pki, sign_pki
from certsentry_analysis.simulate.population import (
    EPISODE_KINDS,
    Clients,
    Episodes,
    build_clients,
    build_episodes,
)
from certsentry_analysis.simulate.responders import (
    OUTAGE_KINDS,
    Outages,
    Responders,
    build_outages,
    build_responders,
)
from certsentry_analysis.simulate.rng import stream
from certsentry_analysis.simulate.scenario import Scenario
from certsentry_analysis.simulate.units import DAY, HOUR

log = logging.getLogger(__name__)

__all__ = [
    "DAY",
    "EPISODE_KINDS",
    "HOUR",
    "OUTAGE_KINDS",
    "REASON_NAMES",
    "World",
    "build_world",
    "schedule",
]

REASON_NAMES = tuple(REVOCATION_REASONS)


@dataclass
class Certificates:
    """Site certificates (first `n_sites` rows) followed by other revoked certificates."""

    n_sites: int
    issuer: np.ndarray  # CA index
    serial: np.ndarray  # int64 (63-bit positive)
    revoked: np.ndarray
    revoked_at: np.ndarray  # seconds, +inf when not revoked
    reason: np.ndarray  # index into REASON_NAMES, -1 when not revoked
    not_before: np.ndarray
    not_after: np.ndarray
    stapled: np.ndarray
    site_cdf: np.ndarray
    victim: int  # site served by the attacker (-1 without attack)


@dataclass
class World:
    """Everything that does not depend on which client does what when."""

    scenario: Scenario
    seed: int
    start: datetime
    pki: Pki
    responders: Responders
    ca_ocsp: np.ndarray  # responder index per CA for certificates it issued (-1 none)
    ca_crl: np.ndarray
    ca_crl_validity_s: np.ndarray
    urls: list[str]
    ca_ocsp_url: np.ndarray  # index into urls
    ca_crl_url: np.ndarray
    ca_parent: np.ndarray
    outages: Outages
    certs: Certificates
    crl_base_bytes: np.ndarray  # per CA: DER bytes of an empty CRL
    crl_entry_bytes: np.ndarray  # per CA: DER bytes one entry adds
    crls: dict[int, bytes]  # per CA: the DER CRL current at the end of the period
    crl_listed: dict[int, int]  # per CA: entries in that CRL
    crl_entry_times: list[np.ndarray]  # per CA: sorted revocation times of its CRL entries
    clients: Clients
    episodes: Episodes
    processes: list[str]
    process_cdf: np.ndarray
    os_names: list[str]
    ee_sha256: list[str]
    serial_hex: list[str]


def _certificates(
    scenario: Scenario, pki: Pki, seed: int
) -> tuple[Certificates, list[np.ndarray], np.ndarray]:
    cfg = scenario.pki
    rng = stream(seed, "certificates")
    n_sites = scenario.sites.count
    period = scenario.days * DAY
    issuing = pki.issuing()
    shares = np.array([ca.share for ca in issuing])
    site_issuer = np.array(
        [issuing[i].index for i in rng.choice(len(issuing), n_sites, p=shares / shares.sum())]
    )
    reason_w = np.array([cfg.reasons.get(r, 0.0) for r in REASON_NAMES])
    reason_p = reason_w / reason_w.sum()

    site_revoked = rng.random(n_sites) < cfg.site_revoked_share
    during = rng.random(n_sites) < cfg.revoked_during_share
    when = np.where(
        during,
        rng.uniform(0, period, n_sites),
        rng.uniform(-cfg.revoked_before_days * DAY, 0, n_sites),
    )
    victim = -1
    if scenario.attack.enabled:
        # The attacker serves a certificate whose key was stolen and which was revoked
        # before the period; the legitimate site moved on, so only the attacker serves
        # it (the last site, which ordinary visits never pick).
        victim = n_sites - 1
        site_revoked[victim] = True
        when[victim] = -30 * DAY
    site_reason = np.where(site_revoked, rng.choice(len(REASON_NAMES), n_sites, p=reason_p), -1)
    if victim >= 0:
        site_reason[victim] = REASON_NAMES.index("keyCompromise")

    # Other revoked certificates of each issuing CA, sized so the CRLs span
    # crl_kb_min..crl_kb_max log-linearly with the issuer's share of the market.
    log_share = np.log(np.array([ca.share for ca in pki.cas]) + 1e-12)
    iss_idx = np.array([ca.index for ca in issuing])
    lo, hi = log_share[iss_idx].min(), log_share[iss_idx].max()
    extra_issuer, extra_when = [], []
    for ca in issuing:
        pos = 0.0 if hi == lo else (log_share[ca.index] - lo) / (hi - lo)
        target_kb = np.exp(np.log(cfg.crl_kb_min) + pos * np.log(cfg.crl_kb_max / cfg.crl_kb_min))
        n = max(0, int((target_kb * 1024 - 400) / CRL_ENTRY_BYTES))
        in_period = rng.random(n) < min(0.9, cfg.crl_growth_per_day * scenario.days)
        extra_when.append(
            np.where(
                in_period,
                rng.uniform(0, period, n),
                rng.uniform(-cfg.revoked_before_days * DAY, 0, n),
            )
        )
        extra_issuer.append(np.full(n, ca.index))
    e_issuer = np.concatenate(extra_issuer).astype(np.int32)
    e_when = np.concatenate(extra_when)
    n_extra = len(e_issuer)

    issuer = np.concatenate([site_issuer, e_issuer]).astype(np.int32)
    total = n_sites + n_extra
    serial = rng.integers(1, 2**63 - 1, total, dtype=np.int64)
    revoked = np.concatenate([site_revoked, np.ones(n_extra, bool)])
    # CRLs carry whole seconds; so does the truth.
    revoked_at = np.where(revoked, np.floor(np.concatenate([when, e_when])), np.inf)
    reason = np.concatenate([site_reason, rng.choice(len(REASON_NAMES), n_extra, p=reason_p)])
    not_before = -rng.uniform(30, 720, total) * DAY
    # A revoked certificate was issued before it was revoked.
    not_before = np.where(
        revoked, np.minimum(not_before, revoked_at - rng.uniform(30, 300, total) * DAY), not_before
    )
    not_after = not_before + rng.choice([365.0, 730.0, 1095.0], total) * DAY
    not_after = np.maximum(not_after, (scenario.days + 30) * DAY)
    not_before, not_after = np.floor(not_before), np.floor(not_after)
    stapled = np.zeros(total, bool)
    stapled[:n_sites] = rng.random(n_sites) < scenario.sites.stapled_share
    if victim >= 0:
        stapled[victim] = False

    weights = np.arange(1, n_sites + 1, dtype=float) ** -scenario.sites.zipf_exponent
    if victim >= 0:
        weights[victim] = 0.0
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]

    entry_times = []
    for ca in pki.cas:
        mask = revoked & (issuer == ca.index)
        entry_times.append(np.sort(revoked_at[mask]))
    base = np.full(len(pki.cas), 420.0)

    certs = Certificates(
        n_sites=n_sites,
        issuer=issuer,
        serial=serial,
        revoked=revoked,
        revoked_at=revoked_at,
        reason=reason.astype(np.int16),
        not_before=not_before,
        not_after=not_after,
        stapled=stapled,
        site_cdf=cdf,
        victim=victim,
    )

    return certs, entry_times, base


def schedule(
    world: World, responder: np.ndarray, key: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """thisUpdate and nextUpdate of the answer current at `t`.

    Answers are re-signed every half validity; each certificate (OCSP) or CRL has
    its own phase so refreshes are spread out.
    """
    validity = world.responders.validity_s[responder]
    refresh = validity / 2
    phase = ((key.astype(np.float64) * 0.6180339887498949) % 1.0) * refresh
    this_update = np.floor((t - phase) / refresh) * refresh + phase

    return this_update, this_update + validity


CRL_KEY_OFFSET = 10_000_000


def _build_crls(world: World) -> None:
    """Sign each CA's CRL as published at the end of the period; measure entry sizes."""
    t0 = time.perf_counter()
    end = np.array([world.scenario.days * DAY])
    certs = world.certs
    for ca in world.pki.cas:
        org = world.pki.orgs[ca.org]
        responder = world.ca_crl[ca.index : ca.index + 1]
        this_update, _ = schedule(world, responder, np.array([ca.index + CRL_KEY_OFFSET]), end)
        when = float(this_update[0])
        listed = np.flatnonzero((certs.issuer == ca.index) & (certs.revoked_at <= when))
        listed = listed[np.argsort(certs.revoked_at[listed], kind="stable")]
        stamp = world.start + timedelta(seconds=when)
        empty = build_crl(ca, org, np.zeros(0, np.int64), np.zeros(0), [], stamp)
        der = build_crl(
            ca,
            org,
            certs.serial[listed],
            certs.revoked_at[listed] + world.start.timestamp(),
            [REASON_NAMES[i] for i in certs.reason[listed]],
            stamp,
        )
        world.crls[ca.index] = der
        world.crl_listed[ca.index] = len(listed)
        world.crl_base_bytes[ca.index] = len(empty)
        if len(listed):
            world.crl_entry_bytes[ca.index] = (len(der) - len(empty)) / len(listed)
    log.info(
        "signed %d CRLs (%d entries, %.0f KB) in %.2f s",
        len(world.crls),
        int(np.isfinite(certs.revoked_at).sum()),
        sum(len(d) for d in world.crls.values()) / 1024,
        time.perf_counter() - t0,
    )


def build_world(scenario: Scenario, seed: int) -> World:
    """Build the static world for a scenario and seed (deterministic)."""
    t0 = time.perf_counter()
    start = datetime(scenario.start.year, scenario.start.month, scenario.start.day, tzinfo=UTC)
    pki = build_pki(scenario, seed)
    sign_pki(pki, start)
    responders, host_index = build_responders(scenario, pki, seed)

    urls: list[str] = []
    url_index: dict[str, int] = {}

    def url_id(url: str | None) -> int:
        if url is None:
            return -1
        if url not in url_index:
            url_index[url] = len(urls)
            urls.append(url)
        return url_index[url]

    def host_of(url: str | None) -> int:
        return -1 if url is None else host_index[url.split("/")[2]]

    ca_ocsp = np.array([host_of(ca.ocsp_url) for ca in pki.cas], np.int32)
    ca_crl = np.array([host_of(ca.crl_url) for ca in pki.cas], np.int32)
    ca_ocsp_url = np.array([url_id(ca.ocsp_url) for ca in pki.cas], np.int32)
    ca_crl_url = np.array([url_id(ca.crl_url) for ca in pki.cas], np.int32)
    crl_validity = responders.validity_s[ca_crl]
    for ca, validity in zip(pki.cas, crl_validity, strict=True):
        ca.crl_validity_h = float(validity / HOUR)

    certs, entry_times, base = _certificates(scenario, pki, seed)
    processes = list(scenario.client.process_weights)
    weights = np.array([scenario.client.process_weights[p] for p in processes])
    clients = build_clients(scenario, seed)
    episodes = build_episodes(scenario, clients, seed)
    serial_hex = [f"{int(s):016x}" for s in certs.serial[: certs.n_sites]]
    spki = [ca.spki_sha256 for ca in pki.cas]
    ee_sha = [
        hashlib.sha256(f"{spki[i]}:{s}".encode()).hexdigest()
        for i, s in zip(certs.issuer[: certs.n_sites].tolist(), serial_hex, strict=True)
    ]
    world = World(
        scenario=scenario,
        seed=seed,
        start=start,
        pki=pki,
        responders=responders,
        ca_ocsp=ca_ocsp,
        ca_crl=ca_crl,
        ca_crl_validity_s=crl_validity,
        urls=urls,
        ca_ocsp_url=ca_ocsp_url,
        ca_crl_url=ca_crl_url,
        ca_parent=np.array([ca.parent for ca in pki.cas], np.int32),
        outages=build_outages(scenario, responders, seed),
        certs=certs,
        crl_base_bytes=base,
        crl_entry_bytes=np.full(len(pki.cas), float(CRL_ENTRY_BYTES)),
        crls={},
        crl_listed={},
        crl_entry_times=entry_times,
        clients=clients,
        episodes=episodes,
        processes=processes,
        process_cdf=np.cumsum(weights) / weights.sum(),
        os_names=["Windows 7 SP1", "Windows XP SP3", "Windows Vista SP2", "Windows 8"],
        ee_sha256=ee_sha,
        serial_hex=serial_hex,
    )
    _build_crls(world)
    log.info(
        "built world: %d CAs, %d responders, %d outages, %d certificates (%d sites), "
        "%d clients, %d episodes in %.2f s",
        len(pki.cas),
        len(responders.host),
        len(world.outages.start),
        len(certs.serial),
        certs.n_sites,
        len(clients.client_id),
        len(episodes.start),
        time.perf_counter() - t0,
    )

    return world
