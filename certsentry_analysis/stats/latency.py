"""Latency of wire fetches: sketch quantiles, ECDFs, parametric fits and CA comparisons.

Everything works on the log-binned histograms of `rollup_latency` (relative error
of a bin's value at most `rollups.SKETCH_ALPHA`) and on per-client sums of bin
indexes from `rollup_client_responder`, never on raw checks.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from certsentry_analysis.rollups import GAMMA, LN_GAMMA, ZERO_BIN, bin_value
from certsentry_analysis.stats.rates import linearized_variance

log = logging.getLogger(__name__)

QUANTILES = (0.5, 0.9, 0.95, 0.99)
MODELS = {"lognormal": sps.lognorm, "gamma": sps.gamma, "weibull": sps.weibull_min}
# Fits use at most this many values drawn from the histogram (scipy's MLE is slow).
FIT_SAMPLE = 4000
MIN_FIT_CHECKS = 50


def hist_quantiles(bins: np.ndarray, counts: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Quantiles (ms) of a binned sample: the value of the bin holding rank q*(n-1)."""
    order = np.argsort(bins)
    bins = np.asarray(bins)[order]
    cumulative = np.cumsum(np.asarray(counts, dtype=float)[order])
    if len(cumulative) == 0 or cumulative[-1] <= 0:
        return np.full(len(qs), np.nan)

    ranks = np.asarray(qs) * (cumulative[-1] - 1)
    index = np.searchsorted(cumulative, ranks, side="right")

    return np.asarray(bin_value(bins[np.minimum(index, len(bins) - 1)]), dtype=float)


def _quantile_replicates(
    bins: np.ndarray,
    counts: np.ndarray,
    n_eff: int,
    qs: Sequence[float],
    replicates: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Quantiles of multinomial resamples of size n_eff from the histogram (replicates x q)."""
    probs = counts / counts.sum()
    draws = rng.multinomial(max(n_eff, 1), probs, size=replicates)
    cumulative = np.cumsum(draws, axis=1)
    ranks = np.outer(cumulative[:, -1] - 1, np.asarray(qs))
    out = np.empty((replicates, len(qs)))
    for j in range(len(qs)):
        index = (cumulative <= ranks[:, [j]]).sum(axis=1)
        out[:, j] = bin_value(bins[np.minimum(index, len(bins) - 1)])

    return out


def log_latency_deff(per_client: pd.DataFrame) -> float:
    """Design effect of clustering on mean log latency (per-client bin sums), at least 1."""
    n = per_client["answered"].to_numpy(dtype=float)
    s = per_client["lat_bin_sum"].to_numpy(dtype=float)
    ss = per_client["lat_bin_sumsq"].to_numpy(dtype=float)
    total = n.sum()
    if total < 2 or len(n) < 2:
        return 1.0

    mean = s.sum() / total
    within = ss.sum() / total - mean**2
    if within <= 0:
        return 1.0

    return max(1.0, linearized_variance(s, n) / (within / total))


def latency_quantiles(
    rollup_latency: pd.DataFrame,
    rollup_client_responder: pd.DataFrame,
    operators: pd.DataFrame,
    *,
    qs: Sequence[float] = QUANTILES,
    replicates: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """p50/p90/p95/p99 of answered wire fetches per responder and per operator, with CIs.

    The interval resamples the histogram with n / deff draws, deff being the design
    effect of client clustering on the mean log latency (`log_latency_deff`).
    """
    rng = np.random.default_rng(seed)
    ok = rollup_latency[rollup_latency["failed"] == 0].merge(
        operators[["responder", "operator"]], on="responder", how="left"
    )
    cr = rollup_client_responder[rollup_client_responder["answered"] > 0].merge(
        operators[["responder", "operator"]], on="responder", how="left"
    )
    rows = []
    for level in ("responder", "operator"):
        hist = ok.groupby([level, "method", "lat_bin"], as_index=False)["checks"].sum()
        clients = cr.groupby([level, "method", "client"], as_index=False)[
            ["answered", "lat_bin_sum", "lat_bin_sumsq"]
        ].sum()
        client_groups = dict(iter(clients.groupby([level, "method"])))
        for (name, method), h in hist.groupby([level, "method"]):
            bins = h["lat_bin"].to_numpy()
            counts = h["checks"].to_numpy(dtype=float)
            n = int(counts.sum())
            per_client = client_groups.get((name, method), clients.iloc[:0])
            deff = log_latency_deff(per_client)
            point = hist_quantiles(bins, counts, qs)
            order = np.argsort(bins)
            reps = _quantile_replicates(
                bins[order], counts[order], round(n / deff), qs, replicates, rng
            )
            low, high = np.quantile(reps, [0.025, 0.975], axis=0)
            row: dict[str, object] = {
                "level": level,
                "name": name,
                "method": method,
                "checks": n,
                "clients": len(per_client),
                "deff": deff,
                "geo_mean_ms": float(np.exp(np.sum(bin_log(bins) * counts) / n)),
            }
            for q, value, lo, hi in zip(qs, point, low, high, strict=True):
                tag = f"p{round(q * 100)}"
                row.update({f"{tag}_ms": value, f"{tag}_low": lo, f"{tag}_high": hi})
            rows.append(row)

    return pd.DataFrame(rows)


def bin_log(bins: np.ndarray) -> np.ndarray:
    """Natural log of each bin's representative latency in ms."""
    return np.log(np.asarray(bin_value(bins), dtype=float))


def latency_ecdf(rollup_latency: pd.DataFrame) -> pd.DataFrame:
    """Log-binned histogram and ECDF of answered wire fetches per responder and method."""
    ok = rollup_latency[rollup_latency["failed"] == 0]
    hist = ok.groupby(["responder", "method", "lat_bin"], as_index=False)["checks"].sum()
    hist = hist.sort_values(["responder", "method", "lat_bin"]).reset_index(drop=True)
    hist["latency_ms"] = bin_value(hist["lat_bin"].to_numpy())
    b = hist["lat_bin"].to_numpy(dtype=float)
    upper = (np.floor(np.power(GAMMA, b)) + 1) / 10.0
    hist["upper_ms"] = np.where(b == ZERO_BIN, 0.1, upper)
    hist["cum_checks"] = hist.groupby(["responder", "method"])["checks"].cumsum()
    hist["ecdf"] = hist["cum_checks"] / hist.groupby(["responder", "method"])["checks"].transform(
        "sum"
    )

    return hist


def sample_from_hist(
    bins: np.ndarray, counts: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Latencies (ms) drawn from a histogram, spread log-uniformly inside each bin."""
    probs = np.asarray(counts, dtype=float) / np.sum(counts)
    chosen = rng.choice(np.asarray(bins), size=size, p=probs)
    # Bin i spans (gamma**(i-1), gamma**i] tenths of a ms; jitter removes the ties KS dislikes.
    exponent = chosen.astype(float) - rng.uniform(0.0, 1.0, size)
    values = np.power(GAMMA, exponent) / 10.0

    return np.where(chosen <= 0, np.asarray(bin_value(chosen), dtype=float), values)


def fit_models(sample: np.ndarray) -> pd.DataFrame:
    """Fit each model (location fixed at 0) by maximum likelihood; AIC and KS per model."""
    rows = []
    for name, dist in MODELS.items():
        params = dist.fit(sample, floc=0)
        loglik = float(np.sum(dist.logpdf(sample, *params)))
        ks = sps.kstest(sample, dist.cdf, args=params)
        rows.append(
            {
                "model": name,
                "shape": params[0],
                "scale": params[-1],
                "loglik": loglik,
                "aic": 2 * 2 - 2 * loglik,
                "ks_d": float(ks.statistic),
                "ks_p": float(ks.pvalue),
            }
        )
    out = pd.DataFrame(rows)
    out["delta_aic"] = out["aic"] - out["aic"].min()
    out["chosen"] = out["delta_aic"] == 0

    return out


def latency_fits(rollup_latency: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Lognormal, gamma and Weibull fits per responder and method; lowest AIC is chosen."""
    rng = np.random.default_rng(seed)
    ok = rollup_latency[rollup_latency["failed"] == 0]
    hist = ok.groupby(["responder", "method", "lat_bin"], as_index=False)["checks"].sum()
    frames = []
    for (responder, method), h in hist.groupby(["responder", "method"]):
        n = int(h["checks"].sum())
        if n < MIN_FIT_CHECKS:
            continue

        sample = sample_from_hist(
            h["lat_bin"].to_numpy(), h["checks"].to_numpy(), min(n, FIT_SAMPLE), rng
        )
        fitted = fit_models(sample)
        fitted.insert(0, "method", method)
        fitted.insert(0, "responder", responder)
        fitted.insert(2, "checks", n)
        fitted.insert(3, "sample", len(sample))
        frames.append(fitted)
    if not frames:
        return pd.DataFrame(columns=["responder", "method", "checks", "sample", "model"])

    return pd.concat(frames, ignore_index=True)


def compare_operators(
    rollup_client_responder: pd.DataFrame,
    rollup_latency: pd.DataFrame,
    operators: pd.DataFrame,
    *,
    replicates: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Pairwise test of whether two CA operators' wire latencies differ, per method.

    Effect: ratio of geometric-mean latencies. Clients are resampled jointly for
    both operators (a paired cluster bootstrap, since one client checks many CAs);
    the p-value is the two-sided normal test on the bootstrap standard error, then
    Holm-adjusted over all pairs of a method. ks_distance is the largest ECDF gap.
    """
    rng = np.random.default_rng(seed)
    cr = rollup_client_responder[rollup_client_responder["answered"] > 0].merge(
        operators[["responder", "operator"]], on="responder", how="left"
    )
    ok = rollup_latency[rollup_latency["failed"] == 0].merge(
        operators[["responder", "operator"]], on="responder", how="left"
    )
    rows = []
    for method, group in cr.groupby("method"):
        n = group.pivot_table(
            index="client", columns="operator", values="answered", aggfunc="sum", fill_value=0
        )
        s = group.pivot_table(
            index="client", columns="operator", values="lat_bin_sum", aggfunc="sum", fill_value=0
        ).reindex_like(n)
        if n.shape[1] < 2:
            continue

        names = list(n.columns)
        N = n.to_numpy(dtype=float)
        S = s.to_numpy(dtype=float)
        k = N.shape[0]
        weights = rng.multinomial(k, np.full(k, 1.0 / k), size=replicates).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (weights @ S) / (weights @ N)
        point = S.sum(axis=0) / N.sum(axis=0)
        ecdfs = _operator_ecdfs(ok[ok["method"] == method])
        for i, j in itertools.combinations(range(len(names)), 2):
            diff = means[:, i] - means[:, j]
            diff = diff[np.isfinite(diff)]
            se = float(np.std(diff, ddof=1)) if len(diff) > 1 else float("nan")
            d = point[i] - point[j]
            z = d / se if se > 0 else float("nan")
            low, high = np.quantile(diff, [0.025, 0.975]) if len(diff) else (np.nan, np.nan)
            rows.append(
                {
                    "method": method,
                    "operator_a": names[i],
                    "operator_b": names[j],
                    "clients_a": int((N[:, i] > 0).sum()),
                    "clients_b": int((N[:, j] > 0).sum()),
                    "checks_a": int(N[:, i].sum()),
                    "checks_b": int(N[:, j].sum()),
                    "gm_ratio": float(np.exp(d * LN_GAMMA)),
                    "ci_low": float(np.exp(low * LN_GAMMA)),
                    "ci_high": float(np.exp(high * LN_GAMMA)),
                    "p_value": float(2 * sps.norm.sf(abs(z))) if np.isfinite(z) else float("nan"),
                    "ks_distance": _ks_distance(ecdfs, names[i], names[j]),
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out

    out["p_holm"] = out.groupby("method")["p_value"].transform(_holm)
    out["differ"] = out["p_holm"] < 0.05

    return out


def _operator_ecdfs(ok: pd.DataFrame) -> dict[str, pd.Series]:
    hist = ok.groupby(["operator", "lat_bin"])["checks"].sum()
    out = {}
    for name, h in hist.groupby(level="operator"):
        h = h.droplevel("operator").sort_index()
        out[str(name)] = h.cumsum() / h.sum()

    return out


def _ks_distance(ecdfs: dict[str, pd.Series], a: str, b: str) -> float:
    if a not in ecdfs or b not in ecdfs:
        return float("nan")

    index = ecdfs[a].index.union(ecdfs[b].index)
    fa = ecdfs[a].reindex(index).ffill().fillna(0.0)
    fb = ecdfs[b].reindex(index).ffill().fillna(0.0)

    return float(np.max(np.abs(fa - fb)))


def _holm(p: pd.Series) -> pd.Series:
    values = p.to_numpy(dtype=float)
    order = np.argsort(np.where(np.isnan(values), np.inf, values))
    m = int(np.isfinite(values).sum())
    adjusted = np.full(len(values), np.nan)
    running = 0.0
    for rank, idx in enumerate(order):
        if not np.isfinite(values[idx]):
            continue
        running = max(running, min(1.0, (m - rank) * values[idx]))
        adjusted[idx] = running

    return pd.Series(adjusted, index=p.index)


def crl_size_latency(
    rollup_crl: pd.DataFrame, rollup_client_responder: pd.DataFrame
) -> pd.DataFrame:
    """Per CRL endpoint and day: median CRL size, fetch latency p50/p90, and the pooled
    elasticity of p50 latency with respect to size (OLS of log p50 on log bytes over
    all rows; the same `elasticity` and `elasticity_r` value on every row).
    """
    rows = []
    for (responder, day), g in rollup_crl.groupby(["responder", "day"]):
        by_size = g.groupby("bytes")["fetches"].sum().sort_index()
        cumulative = by_size.cumsum().to_numpy()
        median_bytes = float(by_size.index[np.searchsorted(cumulative, cumulative[-1] / 2)])
        hist = g.groupby("lat_bin")["fetches"].sum()
        p50, p90 = hist_quantiles(hist.index.to_numpy(), hist.to_numpy(), (0.5, 0.9))
        rows.append(
            {
                "responder": responder,
                "day": day,
                "fetches": int(cumulative[-1]),
                "crl_bytes": median_bytes,
                "p50_ms": p50,
                "p90_ms": p90,
            }
        )
    out = pd.DataFrame(
        rows, columns=["responder", "day", "fetches", "crl_bytes", "p50_ms", "p90_ms"]
    )
    crl_clients = (
        rollup_client_responder[
            (rollup_client_responder["method"] == "CRL")
            & (rollup_client_responder["answered"] > 0)
        ]
        .groupby(["responder", "day"])["client"]
        .nunique()
        .rename("clients")
        .reset_index()
    )
    out = out.merge(crl_clients, on=["responder", "day"], how="left")
    out["clients"] = out["clients"].fillna(0).astype("int64")
    usable = out[(out["crl_bytes"] > 0) & (out["p50_ms"] > 0)]
    out["elasticity"] = np.nan
    out["elasticity_r"] = np.nan
    if len(usable) >= 3 and usable["crl_bytes"].nunique() > 1:
        fit = sps.linregress(np.log(usable["crl_bytes"]), np.log(usable["p50_ms"]))
        out["elasticity"] = fit.slope
        out["elasticity_r"] = fit.rvalue

    return out
