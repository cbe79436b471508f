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
# # 2. Per-CA failure rates
#
# **Question.** How often does an online revocation check fail, per CA and per
# responder, with honest uncertainty? What kinds of failure are they, who is to blame
# (the responder, the client's network, an attacker), and when were the outages?
#
# **Data.** The warehouse with its `results` tables (`make data ingest analyze`).

# %%
# %matplotlib inline
import logging

import duckdb

from certsentry_analysis import config, figures
from certsentry_analysis.analysis import load_table
from certsentry_analysis.stats import rates, suppression, taxonomy

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", force=True)
paths = config.paths()
DB = paths.database
con = duckdb.connect(str(DB), read_only=True)

# %% [markdown]
# ## The league table
#
# One row per responder (OCSP responder or CRL endpoint) and method: wire checks, clients,
# the raw failure rate and the *attributable* one (failures the statistics layer blames on
# the server rather than the client's network), each with a 95% interval, latency
# quantiles, outage minutes and CRL size. Rank 1 is the most reliable responder of its
# method. Rows with fewer than 10 distinct clients are suppressed.

# %%
league = load_table(con, "league_table")
league[
    [
        "method",
        "rank",
        "responder",
        "operator",
        "wire_checks",
        "clients",
        "failure_rate",
        "attributable_rate",
        "outage_minutes",
    ]
]

# %% [markdown]
# The report's league figure: failure rate with its interval, worst on top.

# %%
figures.league_plot(
    league.dropna(subset=["failure_rate"]),
    label="responder",
    rate="failure_rate",
    low="failure_ci_low",
    high="failure_ci_high",
)

# %% [markdown]
# ## Why the intervals are wide
#
# Checks of one client are correlated (a flaky network, a captive portal), so a
# binomial interval on N checks would be far too narrow. `certsentry_analysis.stats.rates`
# resamples *clients*; the design effect `deff` says how many checks count as one
# independent observation. Per CA (the responder's operator):

# %%
fr = load_table(con, "failure_rates")
per_ca = fr[fr["level"] == "operator"]
per_ca[
    [
        "name",
        "method",
        "wire_checks",
        "clients",
        "failure_rate",
        "failure_ci_low",
        "failure_ci_high",
        "failure_deff",
    ]
]

# %%
figures.share_bars(
    per_ca.dropna(subset=["failure_rate"]).assign(label=per_ca["name"] + " " + per_ca["method"]),
    label="label",
    share="failure_rate",
    low="failure_ci_low",
    high="failure_ci_high",
    xlabel="Failure rate of wire checks per CA (%; bars: 95% interval)",
)

# %% [markdown]
# The same estimator answers new questions: here the failure rate by the client's region,
# from per-client counts queried straight from the warehouse, with the published tables'
# small-cell rule applied.

# %%
per_client = con.execute(
    """
    SELECT client, coalesce(region, '(none)') AS region, count(*) AS wire_checks,
           count(*) FILTER (WHERE outcome = 'error') AS failures
    FROM current_checks WHERE source = 'wire'
    GROUP BY ALL
    """
).df()
by_region = rates.clustered_rates(per_client, ["region"], "failures", "wire_checks", seed=0)
clients = per_client.groupby("region")["client"].nunique().rename("clients").reset_index()
suppression.suppress(by_region.merge(clients, on="region"))

# %% [markdown]
# ## What kind of failures
#
# Every error code of the log format maps to one failure class (network, http, protocol,
# freshness); `status` codes (revoked, unknown) are answers, not failures.

# %%
taxonomy.taxonomy_table()

# %%
tax = load_table(con, "failure_taxonomy")
tax.head(12)

# %%
figures.taxonomy_bars(tax, group="operator", category="failure_class", value="failures")

# %% [markdown]
# ## Whose fault: attribution
#
# A failure seen by one client while others reach the same responder points at the client
# (its network, a proxy, a captive portal); failures seen by many clients at once point at
# the server. The attribution summary splits each responder's failures accordingly.

# %%
attribution = load_table(con, "attribution_summary")
attribution

# %% [markdown]
# ## Outages
#
# Periods in which a responder failed for many clients at once, detected from the
# per-responder time bins: start, end, minutes and how many clients were affected.

# %%
outages = load_table(con, "outages")
outages

# %%
figures.outage_timeline(outages, label="responder", start="start", end="end")

# %% [markdown]
# Day by day, for the least reliable responder (linearised intervals, as the daily
# table uses):

# %%
daily = load_table(con, "failure_rates_daily")
worst = league.dropna(subset=["failure_rate"]).sort_values("failure_rate").iloc[-1]
daily[(daily["responder"] == worst["responder"]) & (daily["method"] == worst["method"])]

# %%
con.close()

# %% [markdown]
# **Next.** Notebook 3 looks at how long the checks that *did* answer took.
