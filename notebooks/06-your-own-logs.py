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
# # 6. Your own logs
#
# **Question.** What do *your* CertSentry logs say? Point this template at a folder of
# uploaded log files, ingest them into a warehouse of their own, and get the core
# tables.
#
# **Data.** A folder of log files (`.log` or `.log.gz`, format version 1 or 2),
# optionally a folder of CA certificates (PEM) and CRLs (DER).

# %%
import logging
from pathlib import Path

import duckdb

from certsentry_analysis import config, ingest
from certsentry_analysis.analysis import load_table, run_analysis
from certsentry_analysis.report import facts
from certsentry_analysis.report.tables import unsuppressed

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", force=True)
paths = config.paths()
SCENARIO = config.scenario()

# %% [markdown]
# ## Point it at your data
#
# Two settings to change:
#
# - `MY_LOGS`: a folder of uploaded log files, searched recursively for `*.log` and
#   `*.log.gz`. By default one day of the simulated dataset's uploads, so the notebook
#   runs as shipped and quickly.
# - `MY_RAW`: optionally, a folder with a `pki/` subfolder holding your CA certificates
#   (PEM or DER) and CRLs, the layout `certsentry analyze --raw` expects. They name the
#   CAs and feed the CRLSet and CRLite comparison; `None` skips that part.
#
# Your logs get a warehouse of their own (`OWN_DB`), separate from the study's. Ingestion
# is incremental: re-running the notebook skips files already loaded.

# %%
dataset = paths.scenario_dir(SCENARIO)
MY_LOGS = sorted(p for p in (dataset / "logs").iterdir() if p.is_dir())[0]
MY_RAW: Path | None = dataset
OWN_DB = paths.processed / "own-logs" / "certsentry.duckdb"

# %%
pki_dir = MY_RAW / "pki" if MY_RAW is not None and (MY_RAW / "pki").is_dir() else None
found = ingest.discover([MY_LOGS])
print(f"{len(found)} log files under {MY_LOGS}; CA certificates and CRLs: {pki_dir}")

# %% [markdown]
# ## Ingest
#
# Client ids are replaced by keyed hashes as the lines load; the key is read from
# `CERTSENTRY_PSEUDONYM_KEY` or the project's git-ignored `.env` (created on first use).
# Every line is either loaded or quarantined with its reason.

# %%
OWN_DB.parent.mkdir(parents=True, exist_ok=True)
summary = ingest.ingest(
    [MY_LOGS],
    OWN_DB,
    key=config.pseudonym_key(),
    pki_dirs=[pki_dir] if pki_dir else [],
)
print("\n".join(summary.lines()))

# %% [markdown]
# ## Analyse
#
# The same stages as `certsentry analyze`: statistics, hard-fail breakage, pushed
# revocation lists. Stages that lack an input (no CRLs, no opted-in clients) still write
# their tables and say what was missing.

# %%
tables = run_analysis(OWN_DB, raw_dir=MY_RAW if pki_dir else None)
print(f"{len(tables)} results tables")

# %% [markdown]
# ## The core tables
#
# What your data covers and what ingestion set aside, then the headline tables. Notebooks
# 2 to 5 explain each in depth; start them with `CERTSENTRY_DB` set to `OWN_DB` to read
# this warehouse.

# %%
con = duckdb.connect(str(OWN_DB), read_only=True)
facts.scope(con)

# %%
facts.ingestion(con).files_by_status

# %% [markdown]
# Per responder: failure rates with intervals and latency (the league table).

# %%
league = unsuppressed(load_table(con, "league_table"))
league[
    [
        "method",
        "rank",
        "responder",
        "operator",
        "wire_checks",
        "clients",
        "failure_rate",
        "failure_ci_low",
        "failure_ci_high",
        "attributable_rate",
        "p50_ms",
        "p95_ms",
    ]
]

# %% [markdown]
# Per CA: failure rates and median latency.

# %%
rates = load_table(con, "failure_rates")
per_ca = rates[rates["level"] == "operator"][
    ["name", "method", "clients", "failure_rate", "failure_ci_low", "failure_ci_high"]
]
quantiles = load_table(con, "latency_quantiles")
per_ca.merge(
    quantiles[quantiles["level"] == "operator"][["name", "method", "p50_ms", "p95_ms"]],
    on=["name", "method"],
)

# %% [markdown]
# Could these clients hard-fail? The smallest viable timeout per policy; then the share
# of revocations a CRLSet built from your CRLs would carry (empty without `MY_RAW`).

# %%
load_table(con, "viability_frontier")[
    ["policy", "client_side", "viable", "timeout_ms", "validation_breakage", "client_day_breakage"]
]

# %%
coverage = load_table(con, "crlset_coverage")
coverage[coverage["scope"].isin(["overall", "cas"])]

# %%
con.close()

# %% [markdown]
# **From here.** `certsentry report --db <OWN_DB> --raw <MY_RAW>` typesets the full
# report from this warehouse, and the other notebooks read it when started with
# `CERTSENTRY_DB` set to its path.
