"""Responders (one per host and method) with their true parameters, and their outages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from certsentry_analysis.simulate.pki import Pki
from certsentry_analysis.simulate.rng import stream
from certsentry_analysis.simulate.scenario import Scenario
from certsentry_analysis.simulate.units import DAY, HOUR

OUTAGE_KINDS = ("down", "degraded")


@dataclass
class Responders:
    """One row per (host, method): the hosts clients contact, with their true parameters."""

    host: list[str]
    method: np.ndarray  # 0 OCSP, 1 CRL
    org: np.ndarray  # operator (infrastructure owner)
    process: np.ndarray  # outage process id (shared by brands on one infrastructure)
    cdn: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    base_fail: np.ndarray
    mtbf_h: np.ndarray
    validity_s: np.ndarray
    ocsp_bytes: np.ndarray


@dataclass
class Outages:
    """Outage intervals sorted by (process, start); ends are running maxima per process."""

    process: np.ndarray
    start: np.ndarray
    end: np.ndarray
    kind: np.ndarray  # index into OUTAGE_KINDS
    fail_fraction: np.ndarray


def _lognormal_mu(mean: float, sigma: float) -> float:
    return float(np.log(mean) - sigma**2 / 2)


def build_responders(scenario: Scenario, pki: Pki, seed: int) -> tuple[Responders, dict[str, int]]:
    cfg = scenario.responders
    rng = stream(seed, "responders")
    n_orgs = len(pki.orgs)
    # Operators running their own (non-CDN) responders are ranked at random: the first
    # gets the best mean, the last the worst, the rest log-uniform in between (Hurst's
    # 2012 range). Brands on another operator's infrastructure use its parameters.
    draw = rng.permutation(n_orgs)
    owners = [int(i) for i in draw if pki.orgs[i].infra == i and not pki.orgs[i].cdn]
    others = [int(i) for i in draw if int(i) not in owners]
    order = np.array(owners + others)
    position = np.zeros(n_orgs)
    if len(owners) > 1:
        position[owners] = np.linspace(0.0, 1.0, len(owners))
    position[others] = rng.uniform(0.0, 1.0, len(others))
    ocsp_mean = np.exp(
        np.log(cfg.ocsp_mean_ms[0]) + position * np.log(cfg.ocsp_mean_ms[1] / cfg.ocsp_mean_ms[0])
    )
    crl_mean = np.exp(
        np.log(cfg.crl_mean_ms[0]) + position * np.log(cfg.crl_mean_ms[1] / cfg.crl_mean_ms[0])
    )
    sigma = cfg.ocsp_sigma[0] + position * (cfg.ocsp_sigma[1] - cfg.ocsp_sigma[0])
    fail = np.exp(
        rng.uniform(np.log(cfg.base_failure_prob[0]), np.log(cfg.base_failure_prob[1]), n_orgs)
    )
    mtbf = np.exp(rng.uniform(np.log(cfg.mtbf_hours[0]), np.log(cfg.mtbf_hours[1]), n_orgs))
    validity = rng.uniform(cfg.ocsp_validity_hours[0], cfg.ocsp_validity_hours[1], n_orgs)
    crl_validity = rng.uniform(cfg.crl_validity_hours[0], cfg.crl_validity_hours[1], n_orgs)
    nbytes = rng.integers(cfg.ocsp_bytes[0], cfg.ocsp_bytes[1] + 1, n_orgs)
    if cfg.all_like_best:
        best = int(order[0])
        ocsp_mean[:] = ocsp_mean[best]
        crl_mean[:] = crl_mean[best]
        sigma[:] = sigma[best]
        fail[:] = cfg.base_failure_prob[0]
        mtbf[:] = cfg.mtbf_hours[1]

    hosts: list[str] = []
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "method",
            "org",
            "process",
            "cdn",
            "mu",
            "sigma",
            "fail",
            "mtbf",
            "validity",
            "bytes",
        )
    }
    index: dict[str, int] = {}
    for org in pki.orgs:
        infra = pki.orgs[org.infra]
        for method, prefix in ((0, "ocsp"), (1, "crl")):
            host = f"{prefix}.{org.domain}"
            if host in index:
                continue
            index[host] = len(hosts)
            hosts.append(host)
            i = infra.index
            if infra.cdn:
                mu, sd = float(np.log(cfg.cdn_median_ms)), cfg.cdn_sigma
            elif method == 0:
                mu, sd = _lognormal_mu(float(ocsp_mean[i]), float(sigma[i])), float(sigma[i])
            else:
                mu, sd = _lognormal_mu(float(crl_mean[i]), float(sigma[i])), float(sigma[i])
            for key, value in (
                ("method", method),
                ("org", i),
                ("process", 2 * i + method),
                ("cdn", infra.cdn),
                ("mu", mu),
                ("sigma", sd),
                ("fail", fail[i]),
                ("mtbf", mtbf[i]),
                ("validity", (validity if method == 0 else crl_validity)[i] * HOUR),
                ("bytes", nbytes[i]),
            ):
                cols[key].append(float(value))

    responders = Responders(
        host=hosts,
        method=np.array(cols["method"], np.int8),
        org=np.array(cols["org"], np.int32),
        process=np.array(cols["process"], np.int32),
        cdn=np.array(cols["cdn"], bool),
        mu=np.array(cols["mu"]),
        sigma=np.array(cols["sigma"]),
        base_fail=np.array(cols["fail"]),
        mtbf_h=np.array(cols["mtbf"]),
        validity_s=np.array(cols["validity"]),
        ocsp_bytes=np.array(cols["bytes"], np.int64),
    )

    return responders, index


def build_outages(scenario: Scenario, responders: Responders, seed: int) -> Outages:
    cfg = scenario.responders
    rng = stream(seed, "outages")
    horizon = (scenario.days + 1) * DAY
    rows: list[tuple[int, float, float, int, float]] = []
    for process in sorted(set(responders.process.tolist())):
        mtbf = float(responders.mtbf_h[responders.process == process][0]) * HOUR
        # Start inside a random phase of the up period so outages are not aligned at t=0.
        t = -rng.exponential(mtbf)
        while True:
            t += rng.exponential(mtbf)
            if t >= horizon:
                break
            length = rng.exponential(cfg.mttr_hours * HOUR)
            down = rng.random() < cfg.down_share
            fraction = 1.0 if down else rng.uniform(*cfg.degraded_fail_fraction)
            if t + length > -DAY:
                rows.append((process, t, t + length, 0 if down else 1, fraction))
            t += length
    if not rows:
        empty = np.zeros(0)
        return Outages(empty.astype(np.int32), empty, empty, empty.astype(np.int8), empty)
    arr = np.array(rows)

    return Outages(
        process=arr[:, 0].astype(np.int32),
        start=arr[:, 1],
        end=arr[:, 2],
        kind=arr[:, 3].astype(np.int8),
        fail_fraction=arr[:, 4],
    )
