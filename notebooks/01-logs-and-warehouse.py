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
# # 1. The logs and the warehouse
#
# **Question.** What does the study rest on? What one CertSentry log line records, what
# ingestion loaded into the DuckDB warehouse, what it set aside and why, and how to take
# quick looks at the checks with DuckDB SQL and polars.
#
# **Data.** A raw dataset under `data/raw/<scenario>/` (`make data`) and the warehouse
# built from it (`make ingest`). Paths come from `certsentry_analysis.config`; set
# `CERTSENTRY_DB`, `CERTSENTRY_RAW`, `CERTSENTRY_PROCESSED` or `CERTSENTRY_SCENARIO` to
# point elsewhere.
#
# **Privacy.** Raw files carry the client's install id in their header; this notebook
# never prints it. The warehouse only knows clients by keyed pseudonyms.

# %%
import logging

import duckdb
import pandas as pd
import polars as pl

from certsentry_analysis import config, logformat
from certsentry_analysis.report import facts
from certsentry_analysis.stats.suppression import suppress

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", force=True)
paths = config.paths()
SCENARIO = config.scenario()
RAW_DIR = paths.scenario_dir(SCENARIO)
DB = paths.database
# Ingestion writes the Parquet copy next to the warehouse it fills.
PARQUET = DB.parent / "checks"
print(f"raw dataset: {RAW_DIR}\nwarehouse:   {DB}\nparquet:     {PARQUET}")

# %% [markdown]
# ## What a log line is
#
# Each client uploads one Zeek-style, tab-separated file a day: `#` directives (format
# version, product, failure mode, opt-in, timeout, region, the day it covers), one line
# per revocation check, and a `#close` footer whose absence marks a truncated upload.
# `certsentry_analysis.logformat` is the only module that knows the format; its field
# list is the specification (`docs/log-format.md` renders the same list).

# %%
fields = pd.DataFrame(
    {
        "field": f.name,
        "type": f.zeek_type,
        "unit": f.unit,
        "versions": ",".join(map(str, f.versions)),
        "required": f.name in logformat.REQUIRED_FIELDS,
        "meaning": f.description,
    }
    for f in logformat.FIELDS
)
fields

# %% [markdown]
# The `error` field takes values from a fixed vocabulary. Each code maps to a failure
# class; the statistics use these classes as the failure taxonomy. `status` codes
# (revoked, unknown) are answers, not failures of the check.

# %%
pd.DataFrame(
    {"code": e.code, "class": e.failure_class, "subclass": e.subclass, "meaning": e.meaning}
    for e in logformat.ERROR_CODES.values()
)

# %% [markdown]
# One raw upload, as the collection server stored it. The `#client_id` directive is
# masked here: it is the one value that links a client's files, and ingestion replaces it
# with a keyed hash. Data lines are shown up to the `source` field, so end-entity fields
# of opted-in files stay out of the output too.

# %%
log_files = sorted((RAW_DIR / "logs").rglob("*.log*"))
for sample in log_files:
    # Some uploads are damaged on purpose (the simulator's upload faults): show a readable one.
    try:
        parsed = logformat.read_log(sample)
        break
    except logformat.LogFormatError as exc:
        # Only the field: a header error message can quote the raw client id.
        print(f"skipping {sample.name}: unreadable ({exc.field or 'file'})")
text = logformat.decode_log_bytes(sample, sample.read_bytes())
shown = [f.name for f in logformat.FIELDS].index("source") + 1
for line in text.splitlines()[:18]:
    if line.startswith("#client_id"):
        line = "#client_id\t<masked>"
    elif not line.startswith("#"):
        line = "\t".join(line.split("\t")[:shown]) + "\t..."
    print(line)

# %% [markdown]
# The reader (`logformat.read_log`) turns the same file into a header and typed rows; a
# missing `#close` would show as `truncated`.

# %%
h = parsed.header
print(
    f"{len(log_files)} files; this one: format v{h.version}, {h.product} {h.product_version}, "
    f"failure mode {h.failure_mode} ({logformat.FAILURE_MODES[h.failure_mode]}), "
    f"region {h.region}, opened {h.opened:%Y-%m-%d}, {len(parsed.rows)} checks, "
    f"truncated={parsed.truncated}"
)
columns = ["ts", "process", "chain_pos", "method", "outcome", "error", "latency_ms", "source"]
pd.DataFrame(parsed.rows)[columns].head(8)

# %% [markdown]
# ## What ingestion loaded
#
# `certsentry ingest` reads every file in one bulk DuckDB scan, loads well-formed lines
# into `checks`, records each file in `files` (status `loaded`, `truncated`, `duplicate`
# or `rejected`, with a reason), and puts every malformed line in `quarantine` with the
# field and reason. Analyses read the view `current_checks`. The numbers below are the
# same ones the report's *Data and methods* section prints (`certsentry_analysis.report.facts`).

# %%
con = duckdb.connect(str(DB), read_only=True)
scope = facts.scope(con)
scope

# %%
ingestion = facts.ingestion(con)
print(
    f"{ingestion.files_total} files, {ingestion.rows_loaded} lines loaded, "
    f"{ingestion.rows_quarantined} quarantined"
)
ingestion.files_by_status

# %% [markdown]
# Why files were not loaded as they came (truncated uploads, duplicates, unreadable
# files), then quarantined lines by field and reason. The raw text of quarantined lines
# stays in the warehouse: it can carry end-entity fields from clients that did not opt
# in, so it is not shown here.

# %%
ingestion.reasons.head(10)

# %%
ingestion.quarantine_reasons.head(10)

# %% [markdown]
# ## Quick looks with DuckDB SQL
#
# The warehouse is an ordinary DuckDB file: any SQL works. Checks per method, source and
# outcome:

# %%
con.execute(
    """
    SELECT method, source, outcome, count(*) AS checks,
           round(median(latency_ms), 1) AS median_ms
    FROM current_checks
    GROUP BY ALL
    ORDER BY method, source, checks DESC
    """
).df()

# %% [markdown]
# Data values (a responder's host name, a CA) travel as query *parameters*, never pasted
# into the SQL text. Here: the daily wire-check failure share of the busiest responder.

# %%
busiest = con.execute(
    "SELECT responder FROM current_checks GROUP BY responder ORDER BY count(*) DESC LIMIT 1"
).fetchall()[0][0]
daily = con.execute(
    """
    SELECT day, count(*) AS wire_checks,
           avg(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS failure_share
    FROM current_checks
    WHERE responder = ? AND source = 'wire'
    GROUP BY day ORDER BY day
    """,
    [busiest],
).df()
print(busiest)
daily.head(10)

# %% [markdown]
# ## Quick looks with polars
#
# Ingestion also writes the current checks as day-partitioned Parquet, which polars scans
# lazily without the database. Errors by failure class, joining the log format's
# vocabulary:

# %%
classes = pl.DataFrame(
    {
        "error": list(logformat.ERROR_CODES),
        "failure_class": [e.failure_class for e in logformat.ERROR_CODES.values()],
    }
)
checks = pl.scan_parquet(PARQUET / "**" / "*.parquet", hive_partitioning=True)
(
    checks.filter(pl.col("source") == "wire")
    .join(classes.lazy(), on="error", how="left")
    .with_columns(pl.col("failure_class").fill_null("(answered)"))
    .group_by("method", "failure_class")
    .agg(pl.len().alias("checks"), pl.col("latency_ms").median().alias("median_ms"))
    .sort("method", "checks", descending=[False, True])
    .collect()
)

# %% [markdown]
# The clients by failure mode and region, straight into polars. Like every published
# table of the study, cells with fewer than 10 distinct clients are blanked
# (`certsentry_analysis.stats.suppression`); pseudonyms are never printed.

# %%
per_region = con.sql(
    """
    SELECT failure_mode, region, count(*) AS clients, sum(files)::BIGINT AS files
    FROM clients GROUP BY ALL ORDER BY clients DESC
    """
).df()
per_region["failure_mode"] = per_region["failure_mode"].map(logformat.FAILURE_MODES)
pl.from_pandas(suppress(per_region))

# %%
con.close()

# %% [markdown]
# **Next.** Notebook 2 turns these checks into per-CA failure rates with uncertainty.
