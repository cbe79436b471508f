"""The Spark backend for the heavy steps: raw-log parsing and the shared rollups.

`session` starts Spark (local, cluster master or Spark Connect), `logparse` turns raw
logs into the warehouse's Parquet layout with ingestion's rules, `queries` runs the
engine-neutral SQL of `certsentry_analysis.rollups` on Spark, and `parity` compares
a table computed by both engines. PySpark is only imported by these modules.
"""
