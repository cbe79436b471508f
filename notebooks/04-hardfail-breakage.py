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
# # 4. Hard-fail breakage
#
# **Question.** If browsers hard-failed when a revocation check got no answer, how many
# connections would break, as a function of the timeout and the policy? Which policies
# stay under a tolerable breakage rate, and what would the web look like if every CA
# were as reliable as the best one?
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
