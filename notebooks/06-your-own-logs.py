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

from certsentry_analysis import config
from certsentry_analysis.analysis import load_table

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", force=True)
paths = config.paths()
SCENARIO = os.environ.get("CERTSENTRY_SCENARIO", config.DEFAULT_SCENARIO)
RAW_DIR = paths.scenario_dir(SCENARIO)
DB = paths.database
con = duckdb.connect(str(DB), read_only=True)
