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
import os

import duckdb

from certsentry_analysis import config, ingest
from certsentry_analysis.analysis import load_table, result_tables, run_analysis
from certsentry_analysis.report import facts

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", force=True)
paths = config.paths()
SCENARIO = os.environ.get("CERTSENTRY_SCENARIO", config.DEFAULT_SCENARIO)

# %% [markdown]
# ## Point it at your data
#
# `MY_DATA` is the one setting to change: a folder holding your uploaded log files
# (searched recursively for `*.log` and `*.log.gz`; a `logs/` subfolder is used when
# there is one) and, optionally, a `pki/` subfolder with your CA certificates (PEM or DER)
# and CRLs, which name the CAs and feed the CRLSet/CRLite comparison. By default it
# points at the simulated dataset, so the notebook runs as shipped.
#
# Your logs get a warehouse of their own (`OWN_DB`), separate from the study's. Ingestion
# is incremental: re-running the notebook skips files already loaded.

# %%
MY_DATA = paths.scenario_dir(SCENARIO)
OWN_DB = paths.processed / "own-logs" / "certsentry.duckdb"

# %%
log_dir = MY_DATA / "logs" if (MY_DATA / "logs").is_dir() else MY_DATA
pki_dir = MY_DATA / "pki" if (MY_DATA / "pki").is_dir() else None
found = ingest.discover([log_dir])
print(f"{len(found)} log files under {log_dir}; CA certificates and CRLs: {pki_dir}")

# %% [markdown]
# ## Ingest
#
# Client ids are replaced by keyed hashes as the lines load; the key is read from
# `CERTSENTRY_PSEUDONYM_KEY` or the project's git-ignored `.env` (created on first use).
# Every line is either loaded or quarantined with its reason.

# %%
OWN_DB.parent.mkdir(parents=True, exist_ok=True)
summary = ingest.ingest(
    [log_dir],
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
tables = run_analysis(OWN_DB, raw_dir=MY_DATA if pki_dir else None)
print(f"{len(tables)} results tables")

# %% [markdown]
# ## The core tables
#
# What your data covers, then the headline tables. Notebooks 2 to 5 explain each in
# depth; point them at this warehouse with `CERTSENTRY_DB` to read it with them.

# %%
con = duckdb.connect(str(OWN_DB), read_only=True)
facts.scope(con)

# %%
result_tables(con)

# %%
load_table(con, "league_table").head(15)

# %%
load_table(con, "failure_rates").head(15)

# %%
load_table(con, "latency_quantiles").head(15)

# %%
load_table(con, "breakage_curves").head(15)

# %%
load_table(con, "crlset_coverage")

# %%
con.close()

# %% [markdown]
# **From here.** `certsentry report --db <OWN_DB> --raw <MY_DATA>` typesets the full
# report from this warehouse, and the other notebooks read it when started with
# `CERTSENTRY_DB` set to its path.
