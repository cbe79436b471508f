"""What a check would get on the wire: latency, failure and its cause, the answer's validity.

Evaluated for every candidate row before caching is resolved (the cache then
decides which rows really went to the wire). Precedence of causes: an attacker
on the path, then client-side episodes and flakiness, then the client's clock,
then responder outages and background failures, then plain slowness (timeout).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from certsentry_analysis.logformat import ERROR_CODES
from certsentry_analysis.simulate.world import CRL_KEY_OFFSET, World, schedule

ERRORS = tuple(ERROR_CODES)
CAUSES = ("none", "server", "client", "attack")
CAUSE_NONE, CAUSE_SERVER, CAUSE_CLIENT, CAUSE_ATTACK = range(4)
# Failure kinds of the scenario's failure and outage mixes, mapped to log errors.
KINDS = (
    "dns",
    "connect",
    "reset",
    "timeout",
    "http",
    "malformed",
    "tryLater",
    "unauthorized",
    "internalError",
    "stale",
    "signature",
)
_KIND_ERROR = {
    "dns": "ERROR_INTERNET_NAME_NOT_RESOLVED",
    "connect": "ERROR_INTERNET_CANNOT_CONNECT",
    "reset": "ERROR_INTERNET_CONNECTION_RESET",
    "timeout": "ERROR_INTERNET_TIMEOUT",
    "http": "HTTP_STATUS_ERROR",
    "malformed": "CRYPT_E_ASN1_CORRUPT",
    "tryLater": "OCSP_TRY_LATER",
    "unauthorized": "OCSP_UNAUTHORIZED",
    "internalError": "OCSP_INTERNAL_ERROR",
    "stale": "CS_STALE_RESPONSE",
    "signature": "NTE_BAD_SIGNATURE",
}
# A CRL endpoint has no OCSP status codes: the same server trouble shows as HTTP errors.
_CRL_HTTP = {"tryLater": 503, "unauthorized": 404, "internalError": 500}
HTTP_5XX = np.array([500, 502, 503, 504])
HTTP_5XX_P = np.array([0.2, 0.2, 0.45, 0.15])
E = {name: i for i, name in enumerate(ERRORS)}


@dataclass
class Candidates:
    """Rows that might go to the wire (inputs to `evaluate`)."""

    client: np.ndarray  # global client index
    ca: np.ndarray  # CA that signed the checked certificate (whose OCSP/CRL is asked)
    cert: np.ndarray  # certificate index, -1 for an intermediate
    method: np.ndarray  # 0 OCSP, 1 CRL
    ts_true: np.ndarray
    ts_client: np.ndarray


@dataclass
class WireResult:
    """The hypothetical wire answer of every candidate row."""

    responder: np.ndarray
    true_latency: np.ndarray
    latency: np.ndarray
    failed: np.ndarray
    error: np.ndarray  # index into ERRORS, -1 none
    http: np.ndarray  # -1 none
    nbytes: np.ndarray  # -1 none
    cause: np.ndarray
    this_update: np.ndarray  # seconds, nan when no answer
    next_update: np.ndarray
    unknown: np.ndarray


def _in_episode(world: World, kind: int, client: np.ndarray, t: np.ndarray) -> np.ndarray:
    ep = world.episodes
    mask = ep.kind == kind
    if not mask.any() or len(client) == 0:
        return np.zeros(len(client), bool)
    c, s, e = ep.client[mask], ep.start[mask], ep.end[mask]
    span = 1e8
    key = c * span + s
    # Running maximum of the keyed end handles overlapping episodes of one client.
    end_key = np.maximum.accumulate(c * span + e)
    probe = client * span + t
    idx = np.searchsorted(key, probe, side="right") - 1
    ok = idx >= 0
    idx = np.maximum(idx, 0)

    return ok & (c[idx] == client) & (probe < end_key[idx])


def _outage_state(
    world: World, responder: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    out = world.outages
    process = world.responders.process[responder]
    if len(out.start) == 0:
        return np.zeros(len(t), bool), np.zeros(len(t))
    span = 1e8
    key = out.process * span + out.start
    probe = process * span + t
    idx = np.searchsorted(key, probe, side="right") - 1
    ok = idx >= 0
    idx = np.maximum(idx, 0)
    active = ok & (out.process[idx] == process) & (t < out.end[idx])

    return active, np.where(active, out.fail_fraction[idx], 0.0)


def _choose(rng: np.random.Generator, mix: dict[str, float], n: int) -> np.ndarray:
    names = list(mix)
    p = np.array([mix[k] for k in names])
    picks = rng.choice(len(names), n, p=p / p.sum())

    return np.array([KINDS.index(k) for k in names])[picks]


def crl_bytes(world: World, ca: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Size of CA `ca`'s CRL published at time `t` (grows with its entries)."""
    out = np.zeros(len(ca), np.int64)
    for c in np.unique(ca):
        rows = ca == c
        entries = np.searchsorted(world.crl_entry_times[c], t[rows], side="right")
        out[rows] = world.crl_base_bytes[c] + entries * world.crl_entry_bytes[c]

    return out


def evaluate(world: World, rows: Candidates, rng: np.random.Generator) -> WireResult:
    """The wire result of every candidate row (independent of caching)."""
    sc = world.scenario
    resp_cfg = sc.responders
    cl = world.clients
    n = len(rows.client)
    per_url = sc.per_url_timeout_ms
    is_crl = rows.method == 1
    responder = np.where(is_crl, world.ca_crl[rows.ca], world.ca_ocsp[rows.ca])
    r = world.responders

    # Latency: responder lognormal x regional factor x client factor, rare SYN-retransmit
    # tail, and for CRLs the transfer time of the CRL's current size.
    region = cl.region[rows.client]
    rtt = np.array([g.rtt_factor for g in sc.regions])[region]
    cdn = np.array([g.cdn_factor for g in sc.regions])[region]
    factor = np.where(r.cdn[responder], cdn, rtt) * cl.latency_factor[rows.client]
    wire = np.exp(r.mu[responder] + r.sigma[responder] * rng.standard_normal(n)) * factor
    wire += np.where(rng.random(n) < resp_cfg.tail_prob, resp_cfg.tail_ms, 0.0)
    sched_key = np.where(
        is_crl, rows.ca + CRL_KEY_OFFSET, rows.cert + 20_000_000 * (rows.cert < 0) * (rows.ca + 1)
    )
    this_update, next_update = schedule(world, responder, sched_key, rows.ts_true)
    size = np.where(is_crl, crl_bytes(world, rows.ca, this_update), r.ocsp_bytes[responder])
    transfer = np.where(is_crl, size * 8.0 / cl.bandwidth_kbps[rows.client], 0.0)
    true_latency = wire + transfer

    kind = np.full(n, -1)
    cause = np.zeros(n, np.int8)
    error = np.full(n, -1)
    http = np.full(n, 200)
    nbytes = size.astype(np.int64)
    latency = true_latency.copy()

    def free() -> np.ndarray:
        return (cause == CAUSE_NONE) & (error < 0)

    # An attacker on the path drops or resets all revocation traffic.
    attacked = _in_episode(world, 2, rows.client, rows.ts_true)
    kind[attacked] = np.where(
        rng.random(attacked.sum()) < 0.6, KINDS.index("timeout"), KINDS.index("reset")
    )
    cause[attacked] = CAUSE_ATTACK

    # Captive portal: HTTP 200 with an HTML page that is no OCSP response or CRL.
    captive = free() & _in_episode(world, 0, rows.client, rows.ts_true)
    error[captive] = E["CRYPT_E_ASN1_CORRUPT"]
    nbytes[captive] = rng.integers(2000, 9000, captive.sum())
    latency[captive] = rng.uniform(20, 300, captive.sum())
    cause[captive] = CAUSE_CLIENT

    # Corporate proxy blocking OCSP only: refused connections or a proxy error page.
    proxy = free() & ~is_crl & _in_episode(world, 1, rows.client, rows.ts_true)
    refused = proxy & (rng.random(n) < 0.7)
    error[refused] = E["ERROR_INTERNET_CANNOT_CONNECT"]
    latency[refused] = rng.uniform(5, 100, refused.sum())
    blocked_page = proxy & ~refused
    error[blocked_page] = E["HTTP_STATUS_ERROR"]
    http[blocked_page] = np.where(rng.random(blocked_page.sum()) < 0.5, 403, 407)
    nbytes[blocked_page] = rng.integers(400, 1600, blocked_page.sum())
    latency[blocked_page] = rng.uniform(5, 100, blocked_page.sum())
    cause[proxy] = CAUSE_CLIENT

    # Everyday client flakiness (Wi-Fi drops, DNS hiccups).
    flaky = free() & (rng.random(n) < cl.flaky_prob[rows.client])
    kind[flaky] = _choose(
        rng, {"dns": 0.3, "connect": 0.3, "reset": 0.2, "timeout": 0.2}, int(flaky.sum())
    )
    cause[flaky] = CAUSE_CLIENT

    # A clock far ahead sees every fresh answer as already expired.
    skewed = free() & (rows.ts_client > next_update)
    kind[skewed] = KINDS.index("stale")
    cause[skewed] = CAUSE_CLIENT

    # Responder outages (down: all fail; degraded: a fraction) and background failures.
    active, fraction = _outage_state(world, responder, rows.ts_true)
    outage = free() & active & (rng.random(n) < fraction)
    kind[outage] = _choose(rng, resp_cfg.outage_mix, int(outage.sum()))
    background = free() & (rng.random(n) < r.base_fail[responder])
    kind[background] = _choose(rng, resp_cfg.failure_mix, int(background.sum()))
    cause[outage | background] = CAUSE_SERVER

    # Plain slowness past the per-URL timeout: the client's fault when the CRL transfer
    # over its link dominates, else the responder's.
    slow = free() & (true_latency > per_url)
    kind[slow] = KINDS.index("timeout")
    cause[slow] = np.where(transfer[slow] > wire[slow], CAUSE_CLIENT, CAUSE_SERVER)

    _apply_kinds(
        kind,
        is_crl,
        error,
        http,
        nbytes,
        latency,
        wire,
        size,
        rng,
        per_url,
        cl.latency_factor[rows.client],
    )
    # A responder serving a stale answer: one it should have replaced long ago.
    server_stale = (kind == KINDS.index("stale")) & (cause == CAUSE_SERVER)
    shift = 1.5 * (next_update - this_update)
    this_update = np.where(server_stale, this_update - shift, this_update)
    next_update = np.where(server_stale, next_update - shift, next_update)
    failed = error >= 0
    no_answer = failed & ~np.isin(error, [E["CS_STALE_RESPONSE"], E["NTE_BAD_SIGNATURE"]])
    this_update = np.where(no_answer, np.nan, this_update)
    next_update = np.where(no_answer, np.nan, next_update)
    unknown = ~is_crl & ~failed & (rng.random(n) < resp_cfg.unknown_prob)

    return WireResult(
        responder=responder,
        true_latency=true_latency,
        latency=latency,
        failed=failed,
        error=error,
        http=np.where(np.isin(error, _NETWORK), -1, http),
        nbytes=np.where(np.isin(error, _NETWORK), -1, nbytes),
        cause=cause,
        this_update=this_update,
        next_update=next_update,
        unknown=unknown,
    )


_NETWORK = [
    E[k]
    for k in (
        "ERROR_INTERNET_NAME_NOT_RESOLVED",
        "ERROR_INTERNET_CANNOT_CONNECT",
        "ERROR_INTERNET_CONNECTION_RESET",
        "ERROR_INTERNET_TIMEOUT",
        "CRYPT_E_REVOCATION_OFFLINE",
    )
]


def _apply_kinds(
    kind: np.ndarray,
    is_crl: np.ndarray,
    error: np.ndarray,
    http: np.ndarray,
    nbytes: np.ndarray,
    latency: np.ndarray,
    wire: np.ndarray,
    size: np.ndarray,
    rng: np.random.Generator,
    per_url: float,
    client_factor: np.ndarray,
) -> None:
    """Turn failure kinds into error codes, HTTP statuses, sizes and latencies (in place)."""
    for k, name in enumerate(KINDS):
        rows = kind == k
        m = int(rows.sum())
        if m == 0:
            continue
        error[rows] = E[_KIND_ERROR[name]]
        if name == "dns":
            latency[rows] = np.minimum(
                per_url, np.exp(rng.normal(np.log(300), 0.8, m)) * client_factor[rows]
            )
        elif name == "connect":
            latency[rows] = np.minimum(per_url - 1, 0.5 * wire[rows] + rng.exponential(1500, m))
        elif name == "reset":
            latency[rows] = wire[rows] * rng.uniform(0.3, 1.0, m)
        elif name == "timeout":
            latency[rows] = per_url + rng.uniform(0, 40, m)
        elif name == "http":
            http[rows] = rng.choice(HTTP_5XX, m, p=HTTP_5XX_P)
            nbytes[rows] = rng.integers(200, 1500, m)
            latency[rows] = wire[rows]
        else:
            latency[rows] = wire[rows]
            if name in _CRL_HTTP:
                crl_rows = rows & is_crl
                error[crl_rows] = E["HTTP_STATUS_ERROR"]
                http[crl_rows] = _CRL_HTTP[name]
                nbytes[rows] = np.where(is_crl[rows], rng.integers(200, 1500, m), 5)
            elif name == "malformed":
                nbytes[rows] = rng.integers(100, 3000, m)
            elif name == "stale":
                nbytes[rows] = size[rows]
