"""One shard of clients over the whole period: chain validations and the checks they make.

Steps: client-days and validations (diurnal, Zipf sites), expansion into checks
(leaf against the issuing CA, intermediate against the root), OCSP caching, OCSP to
CRL fallback, CRL caching, then re-timing within each chain under the per-chain
time budget. The result is one flat table of rows in log order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from certsentry_analysis.simulate import cache
from certsentry_analysis.simulate.rng import stream
from certsentry_analysis.simulate.wire import (
    CAUSE_NONE,
    CAUSE_SERVER,
    Candidates,
    E,
    evaluate,
)
from certsentry_analysis.simulate.world import DAY, HOUR, World, schedule

OUTCOMES = ("good", "revoked", "unknown", "error")
SOURCES = ("wire", "cache", "staple")
METHODS = ("OCSP", "CRL")


@dataclass
class ShardRows:
    """The checks of one shard, sorted by (client, day, time): one row per log line."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["client"])


def _validations(
    world: World, clients: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Chain validations of the shard's clients: client, day, client-clock time, site."""
    sc = world.scenario
    cl = world.clients
    days = sc.days
    weekday0 = world.start.weekday()
    weekend = np.array([(weekday0 + d) % 7 >= 5 for d in range(days)])
    day_factor = np.where(weekend, sc.client.weekend_factor, 1.0)
    active = rng.random((len(clients), days)) < cl.active_prob[clients][:, None]
    counts = rng.poisson(cl.rate[clients][:, None] * day_factor[None, :]) * active
    c_idx, d_idx = np.nonzero(counts)
    reps = counts[c_idx, d_idx]
    client = np.repeat(clients[c_idx], reps)
    day = np.repeat(d_idx, reps)
    n = len(client)

    # Local hour from the diurnal profile, converted to UTC seconds of the client's day.
    diurnal = np.array(sc.client.diurnal)
    hour = np.searchsorted(np.cumsum(diurnal) / diurnal.sum(), rng.random(n), side="right")
    offset = np.array([r.utc_offset_h for r in sc.regions])[cl.region[client]]
    second = ((hour + rng.random(n) - offset) * HOUR) % DAY
    ts_client = np.round(day * DAY + second, 3)
    site = np.minimum(
        np.searchsorted(world.certs.site_cdf, rng.random(n)), world.certs.n_sites - 1
    )

    # Attack: the victim client visits the attacker's site while the attacker is on path.
    ep = world.episodes
    victims = (ep.kind == 2) & np.isin(ep.client, clients)
    if victims.any() and world.certs.victim >= 0:
        rate = sc.attack.visits_per_hour / HOUR
        lengths = ep.end[victims] - ep.start[victims]
        visits = rng.poisson(rate * lengths)
        who = np.repeat(ep.client[victims], visits)
        t_true = np.repeat(ep.start[victims], visits) + rng.random(visits.sum()) * np.repeat(
            lengths, visits
        )
        t_client = np.round(t_true + cl.skew_s[who], 3)
        a_day = np.floor(t_client / DAY).astype(np.int64)
        keep = (a_day >= 0) & (a_day < days)
        client = np.concatenate([client, who[keep]])
        day = np.concatenate([day, a_day[keep]])
        ts_client = np.concatenate([ts_client, t_client[keep]])
        site = np.concatenate([site, np.full(int(keep.sum()), world.certs.victim)])
        n = len(client)

    # Host process: mostly the client's browser, otherwise the global mix.
    browser = cl.browser[client]
    other = np.searchsorted(world.process_cdf, rng.random(n), side="right")
    process = np.where(rng.random(n) < 0.7, browser, other)

    order = np.lexsort((site, ts_client, client))
    client, day, ts_client, site, process = (
        a[order] for a in (client, day, ts_client, site, process)
    )
    first = np.r_[True, client[1:] != client[:-1]]
    start_of = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    chain_id = np.arange(n) - start_of + 1

    return {
        "client": client,
        "day": day,
        "ts_client": ts_client,
        "site": site,
        "process": process,
        "chain_id": chain_id,
    }


def _resolve(
    world: World, cand: Candidates, rng: np.random.Generator, group_key: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Evaluate candidates, resolve the cache; returns per-row values and wire mask."""
    res = evaluate(world, cand, rng)
    src = cache.resolve(group_key, cand.ts_client, res.failed, res.next_update)
    is_wire = src == np.arange(len(src))
    hit_latency = np.round(np.minimum(rng.exponential(0.25, len(src)), 1.0), 1)
    cols = {
        "responder": res.responder,
        "true_latency": res.true_latency,
        "latency": np.where(is_wire, res.latency, hit_latency),
        "error": np.where(is_wire, res.error, -1),
        "http": np.where(is_wire, res.http, -1),
        "nbytes": np.where(is_wire, res.nbytes, -1),
        "cause": np.where(is_wire, res.cause, CAUSE_NONE),
        "this_update": res.this_update[src],
        "next_update": res.next_update[src],
        "unknown": res.unknown[src],
        "source": np.where(is_wire, 0, 1),
        "failed": np.where(is_wire, res.failed, False),
    }

    return cols, is_wire


def generate_shard(world: World, shard: int, clients: np.ndarray) -> ShardRows:
    """Simulate every check of `clients` (global indices) over the whole period."""
    rng = stream(world.seed, "checks", shard)
    certs = world.certs
    val = _validations(world, clients, rng)
    n_val = len(val["client"])

    # Expand: position 0 is the leaf (checked with its issuing CA's responder), position
    # 1 the issuing CA certificate (checked with its root's responder).
    v = np.repeat(np.arange(n_val), 2)
    pos = np.tile(np.array([0, 1]), n_val)
    site = val["site"][v]
    issuing = certs.issuer[site]
    ca = np.where(pos == 0, issuing, world.ca_parent[issuing])
    cert = np.where(pos == 0, site, -1)
    client = val["client"][v]
    ts_client = val["ts_client"][v]
    ts_true = ts_client - world.clients.skew_s[client]
    has_ocsp = world.ca_ocsp[ca] >= 0
    # Only a certificate with an OCSP pointer can have its status stapled.
    stapled = (pos == 0) & certs.stapled[site] & has_ocsp
    method = np.where(has_ocsp, 0, 1)

    # OCSP first (cache entry per client and certificate).
    o = has_ocsp & ~stapled
    cert_key = np.where(cert >= 0, cert, certs.n_sites + issuing)
    o_cols, _o_wire = _resolve(
        world,
        Candidates(client[o], ca[o], cert[o], method[o], ts_true[o], ts_client[o]),
        rng,
        client[o].astype(np.int64) * (certs.n_sites + len(world.ca_parent)) + cert_key[o],
    )

    # Fallback to the CRL when an OCSP fetch failed and the certificate has a CRL pointer.
    o_idx = np.flatnonzero(o)
    fb = o_cols["failed"] & (world.ca_crl[ca[o]] >= 0)
    fb_rows = o_idx[fb]
    fb_delay = o_cols["latency"][fb] / 1000.0
    c_rows = np.r_[np.flatnonzero(~has_ocsp & ~stapled), fb_rows]
    c_shift = np.r_[np.zeros(len(c_rows) - len(fb_rows)), fb_delay]
    c_cols, _ = _resolve(
        world,
        Candidates(
            client[c_rows],
            ca[c_rows],
            cert[c_rows],
            np.ones(len(c_rows), np.int64),
            ts_true[c_rows] + c_shift,
            ts_client[c_rows] + c_shift,
        ),
        rng,
        client[c_rows].astype(np.int64) * len(world.ca_parent) + ca[c_rows],
    )

    # Stapled leaves: the server's OCSP answer, fetched by the server recently.
    s_idx = np.flatnonzero(stapled)
    s_resp = world.ca_ocsp[ca[s_idx]]
    s_tu, s_nu = schedule(world, s_resp, cert[s_idx], ts_true[s_idx])
    s_cols = {
        "responder": s_resp,
        "true_latency": np.zeros(len(s_idx)),
        "latency": np.round(rng.uniform(0, 0.5, len(s_idx)), 1),
        "error": np.full(len(s_idx), -1),
        "http": np.full(len(s_idx), -1),
        "nbytes": np.full(len(s_idx), -1),
        "cause": np.zeros(len(s_idx), np.int8),
        "this_update": s_tu,
        "next_update": s_nu,
        "unknown": np.zeros(len(s_idx), bool),
        "source": np.full(len(s_idx), 2),
        "failed": np.zeros(len(s_idx), bool),
    }

    base = np.r_[o_idx, c_rows, s_idx]
    parts = (o_cols, c_cols, s_cols)
    cols = {k: np.concatenate([p[k] for p in parts]) for k in o_cols}
    cols["method"] = np.r_[
        np.zeros(len(o_idx), np.int8), np.ones(len(c_rows), np.int8), np.zeros(len(s_idx), np.int8)
    ]
    cols["sub"] = np.r_[
        np.zeros(len(o_idx)),
        np.zeros(len(c_rows) - len(fb_rows)),
        np.ones(len(fb_rows)),
        np.zeros(len(s_idx)),
    ].astype(np.int8)
    for name, arr in (("v", v), ("pos", pos), ("ca", ca), ("cert", cert), ("client", client)):
        cols[name] = arr[base]
    cols = _finish(world, cols, val)

    return ShardRows(cols)


def _finish(
    world: World, cols: dict[str, np.ndarray], val: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Order rows within chains, apply the per-chain budget, set outcomes, sort for the log."""
    sc = world.scenario
    certs = world.certs
    order = np.lexsort((cols["sub"], cols["pos"], cols["v"]))
    cols = {k: a[order] for k, a in cols.items()}
    v = cols["v"]
    n = len(v)
    first = np.r_[True, v[1:] != v[:-1]] if n else np.zeros(0, bool)
    start_of = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else first

    # Per-chain budget: checks run one after another; once the accumulated time reaches
    # the budget, CryptoAPI gives up with CRYPT_E_REVOCATION_OFFLINE.
    lat = cols["latency"]
    cum = np.cumsum(lat)
    before = cum - lat
    chain_before = before - before[start_of]
    budget = sc.per_chain_timeout_ms
    allowed = np.clip(budget - chain_before, 0.0, None)
    cut = (cols["source"] == 0) & (lat > allowed + 1e-9)
    cols["error"] = np.where(cut, E["CRYPT_E_REVOCATION_OFFLINE"], cols["error"])
    cols["latency"] = np.where(cut, allowed, lat)
    cols["http"] = np.where(cut, -1, cols["http"])
    cols["nbytes"] = np.where(cut, -1, cols["nbytes"])
    cols["this_update"] = np.where(cut, np.nan, cols["this_update"])
    cols["next_update"] = np.where(cut, np.nan, cols["next_update"])
    # A check cut by the budget inherits the cause of the slow check before it.
    previous = np.where(first, CAUSE_NONE, np.r_[CAUSE_NONE, cols["cause"][:-1]])
    inherited = np.where(previous != CAUSE_NONE, previous, CAUSE_SERVER)
    cut_cause = np.where(cols["cause"] != CAUSE_NONE, cols["cause"], inherited)
    cols["cause"] = np.where(cut, cut_cause, cols["cause"])
    cols["failed"] = cols["failed"] | cut

    lat = cols["latency"]
    cum = np.cumsum(lat)
    before = cum - lat
    offset_ms = before - before[start_of]
    cols["ts_client"] = np.round(val["ts_client"][v] + offset_ms / 1000.0, 3)
    cols["ts_true"] = cols["ts_client"] - world.clients.skew_s[cols["client"]]
    cols["day"] = val["day"][v]
    cols["chain_id"] = val["chain_id"][v]
    cols["process"] = val["process"][v]
    cols["site"] = val["site"][v]

    # Outcome of the answer actually used (its thisUpdate decides whether it knew).
    leaf = cols["cert"] >= 0
    cert = np.where(leaf, cols["cert"], 0)
    knew = leaf & certs.revoked[cert] & (certs.revoked_at[cert] <= cols["this_update"])
    failed = cols["error"] >= 0
    outcome = np.where(failed, 3, np.where(knew, 1, np.where(cols["unknown"], 2, 0)))
    cols["outcome"] = outcome.astype(np.int8)
    cols["error"] = np.where(
        outcome == 1,
        E["CRYPT_E_REVOKED"],
        np.where(outcome == 2, E["CRYPT_E_NOT_IN_REVOCATION_DATABASE"], cols["error"]),
    )
    cols["reason"] = np.where(outcome == 1, certs.reason[cert], -1)
    cols["latency"] = np.round(cols["latency"], 1)
    cols["true_latency"] = np.round(cols["true_latency"], 1)

    order = np.lexsort(
        (
            cols["sub"],
            cols["pos"],
            cols["chain_id"],
            cols["ts_client"],
            cols["day"],
            cols["client"],
        )
    )

    return {k: a[order] for k, a in cols.items()}
