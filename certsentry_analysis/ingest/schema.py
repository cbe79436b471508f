"""The warehouse's tables (see docs/warehouse.md) and the helper that opens it."""

from __future__ import annotations

from pathlib import Path

import duckdb

from certsentry_analysis import logformat

# The columns of `checks`: provenance, then the log fields (with the responder host
# derived from the url right after it), then header context and validation flags.
CHECK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file_id", "BIGINT NOT NULL"),
    ("line_no", "INTEGER NOT NULL"),
    ("client", "VARCHAR NOT NULL"),
    ("day", "DATE NOT NULL"),
    *(
        pair
        for name, kind in logformat.duckdb_columns(logformat.LATEST_VERSION).items()
        for pair in ([(name, kind), ("responder", "VARCHAR")] if name == "url" else [(name, kind)])
    ),
    ("failure_mode", "UTINYINT"),
    ("region", "VARCHAR"),
    ("timeout_ms", "INTEGER"),
    ("skew_flag", "BOOLEAN NOT NULL"),
    ("unknown_issuer", "BOOLEAN NOT NULL"),
)

_CHECKS_DDL = (
    "CREATE TABLE IF NOT EXISTS checks (\n"
    + ",\n".join(f"  {name} {kind}" for name, kind in CHECK_COLUMNS)
    + "\n)"
)

_FILES_DDL = """
CREATE TABLE IF NOT EXISTS files (
  file_id BIGINT NOT NULL,
  path VARCHAR NOT NULL,
  sha256 VARCHAR NOT NULL,
  size_bytes BIGINT NOT NULL,
  client VARCHAR,
  day DATE,
  format_version UTINYINT,
  product VARCHAR,
  product_version VARCHAR,
  os VARCHAR,
  failure_mode UTINYINT,
  ee_optin BOOLEAN,
  region VARCHAR,
  timeout_ms INTEGER,
  opened TIMESTAMP,
  closed TIMESTAMP,
  header_lines INTEGER,
  data_lines INTEGER,
  rows_loaded INTEGER NOT NULL,
  rows_quarantined INTEGER NOT NULL,
  status VARCHAR NOT NULL,
  reason VARCHAR,
  is_current BOOLEAN NOT NULL,
  ingested_at TIMESTAMP NOT NULL
)
"""

_QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
  file_id BIGINT NOT NULL,
  path VARCHAR NOT NULL,
  line_no INTEGER NOT NULL,
  raw_line VARCHAR,
  field VARCHAR,
  reason VARCHAR NOT NULL
)
"""

_ISSUERS_DDL = """
CREATE TABLE IF NOT EXISTS issuers (
  issuer_sha1 VARCHAR NOT NULL,
  issuer_spki_sha256 VARCHAR NOT NULL,
  subject VARCHAR,
  organization VARCHAR,
  common_name VARCHAR,
  ocsp_urls VARCHAR[],
  crl_urls VARCHAR[],
  not_before TIMESTAMP,
  not_after TIMESTAMP,
  source_path VARCHAR
)
"""

_CLIENTS_DDL = """
CREATE TABLE IF NOT EXISTS clients (
  client VARCHAR NOT NULL,
  product VARCHAR,
  product_version VARCHAR,
  os VARCHAR,
  failure_mode UTINYINT,
  ee_optin BOOLEAN,
  region VARCHAR,
  first_day DATE,
  last_day DATE,
  files BIGINT
)
"""

# Days whose Parquet partition must be rewritten; filled in the same transaction
# as the rows, so a crash between loading and exporting is repaired by the next run.
_PARQUET_PENDING_DDL = "CREATE TABLE IF NOT EXISTS parquet_pending (day DATE NOT NULL)"

_CURRENT_VIEW = """
CREATE OR REPLACE VIEW current_checks AS
SELECT c.* FROM checks c JOIN files f USING (file_id) WHERE f.is_current
"""


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every warehouse table and view that does not exist yet."""
    for ddl in (
        _CHECKS_DDL,
        _FILES_DDL,
        _QUARANTINE_DDL,
        _ISSUERS_DDL,
        _CLIENTS_DDL,
        _PARQUET_PENDING_DDL,
        _CURRENT_VIEW,
    ):
        con.execute(ddl)


def connect(db_path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; a writable connection creates missing tables first."""
    db_path = Path(db_path)
    if read_only:
        return duckdb.connect(str(db_path), read_only=True)

    db_path.parent.mkdir(parents=True, exist_ok=True)
    # DuckDB's own progress bar would write to the terminal under tqdm's.
    con = duckdb.connect(str(db_path))
    con.execute("SET enable_progress_bar = false")
    create_schema(con)

    return con
