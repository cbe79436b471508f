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
