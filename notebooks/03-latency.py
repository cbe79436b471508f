# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Latency
#
# **Question.** How long does a revocation check take on the wire, per CA and per
# responder? Which parametric model describes the latency distribution, and do CAs
# differ significantly?
#
# **Data.** The warehouse with its `results` tables (`make data ingest analyze`).

# %%
# %matplotlib inline
import logging

import duckdb
import numpy as np
from matplotlib.figure import Figure
from scipy import stats as sps

from certsentry_analysis import config, figures
from certsentry_analysis.analysis import load_table
from certsentry_analysis.report.tables import unsuppressed
from certsentry_analysis.stats import latency

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", force=True)
paths = config.paths()
DB = paths.database
con = duckdb.connect(str(DB), read_only=True)

# %% [markdown]
# ## Distributions
#
# Latency of answered wire checks (cache hits and staples take well under a millisecond and
# are left out). The statistics layer keeps log-binned histograms per responder (relative
# error per bin under 1%) rather than raw values; the ECDFs below are drawn from them,
# one panel per method, as in the report.

# %%
ecdf = unsuppressed(load_table(con, "latency_ecdf"))
ecdf.head()

# %%
figures.latency_ecdf(
    ecdf[ecdf["method"] == "OCSP"], group="responder", prob="ecdf", weight="checks"
)

# %%
figures.latency_ecdf(
    ecdf[ecdf["method"] == "CRL"], group="responder", prob="ecdf", weight="checks"
)

# %% [markdown]
# ## Quantiles with intervals
#
# Median, p90, p95 and p99 per responder, per CA (operator) and per method, with 95%
# intervals from a client-cluster bootstrap; `deff` is the design effect of the log
# latency (how strongly one client's checks resemble each other).

# %%
quantiles = load_table(con, "latency_quantiles")
quantiles[
    [
        "level",
        "name",
        "method",
        "checks",
        "clients",
        "deff",
        "p50_ms",
        "p50_low",
        "p50_high",
        "p95_ms",
        "p99_ms",
    ]
]

# %%
per = unsuppressed(quantiles[quantiles["level"] == "responder"])
figures.latency_quantiles(
    per.assign(label=per["name"] + " (" + per["method"] + ")"),
    label="label",
    quantiles={"median": "p50_ms", "p95": "p95_ms", "p99": "p99_ms"},
)

# %% [markdown]
# ## Fitted models
#
# Lognormal, gamma and Weibull fits (location fixed at 0) per responder, by maximum
# likelihood on a sample drawn from the histogram; `chosen` marks the lowest AIC and
# `ks_d` is the Kolmogorov-Smirnov distance of the fit.

# %%
fits = unsuppressed(load_table(con, "latency_fits"))
fits[fits["chosen"]][["responder", "method", "checks", "model", "shape", "scale", "ks_d"]]

# %%
fits.groupby(["method", "model"])["chosen"].sum().unstack(fill_value=0)

# %% [markdown]
# The same fitting function on *raw* latencies of the busiest responder, straight from the
# warehouse, as a check on the histogram-based fits (a sample of at most 4,000 values,
# the statistics layer's own cap, keeps scipy's maximum likelihood quick).

# %%
busiest = per.sort_values("checks").iloc[-1]
raw = con.execute(
    """
    SELECT latency_ms FROM current_checks
    WHERE responder = ? AND method = ? AND source = 'wire' AND outcome <> 'error'
      AND latency_ms > 0
    """,
    [busiest["name"], busiest["method"]],
).fetchnumpy()["latency_ms"]
rng = np.random.default_rng(0)
sample = rng.choice(raw, size=min(len(raw), latency.FIT_SAMPLE), replace=False)
raw_fits = latency.fit_models(sample)
print(f"{busiest['name']} ({busiest['method']}): {len(raw)} answered wire checks")
raw_fits

# %% [markdown]
# The chosen model against the data on a log axis (a quick notebook-only picture; the
# report's figures are the ECDFs above).

# %%
best = raw_fits.sort_values("aic").iloc[0]
dist = latency.MODELS[best["model"]]
grid = np.geomspace(sample.min(), sample.max(), 200)
fig = Figure(figsize=(6.3, 3.0))
ax = fig.add_subplot()
ax.plot(np.sort(sample), np.linspace(0, 1, len(sample)), label="observed (ECDF)")
ax.plot(grid, dist.cdf(grid, best["shape"], 0, best["scale"]), "--", label=best["model"])
ax.set(xscale="log", xlabel="latency (ms)", ylabel="share of checks")
ax.legend()
fig

# %%
sps.kstest(sample, dist.cdf, args=(best["shape"], 0, best["scale"]))

# %% [markdown]
# ## Do CAs differ?
#
# Pairwise comparisons of operators' latency per method: the ratio of geometric means
# with its interval and p-value from a paired bootstrap over clients (one client checks
# many CAs), the KS distance, and the Holm-adjusted p-value that decides `differ`.

# %%
comparisons = unsuppressed(load_table(con, "latency_comparisons"))
comparisons.sort_values("p_holm")[
    ["method", "operator_a", "operator_b", "gm_ratio", "ci_low", "ci_high", "p_holm", "differ"]
]

# %% [markdown]
# ## CRL size and latency
#
# A CRL fetch downloads the whole list, so bigger CRLs should take longer. Per CRL
# endpoint and day: fetches, CRL size and latency quantiles, and the elasticity of latency
# with respect to size.

# %%
load_table(con, "crl_size_latency")

# %%
con.close()

# %% [markdown]
# **Next.** Notebook 4 asks what these failures and latencies would mean if browsers
# hard-failed.
