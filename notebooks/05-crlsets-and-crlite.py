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
# # 5. CRLSets and CRLite
#
# **Question.** How much of the revocation population do pushed lists carry? Chrome's
# CRLSet (size-capped, reason-filtered) against a Mozilla-style CRLite filter cascade:
# coverage by count, by CA and by traffic, and the window during which a revoked
# certificate still passes.
#
# **Data.** The warehouse with its `results` tables (`make data ingest analyze`) and the
# dataset's CA certificates and CRLs under `data/raw/<scenario>/pki/`, or a real CRLSet
# file you supply.

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
