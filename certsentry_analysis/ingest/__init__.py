"""Bulk ingestion of CertSentry client logs into the DuckDB warehouse (docs/warehouse.md)."""

from certsentry_analysis.ingest.pipeline import IngestSummary, discover, ingest
from certsentry_analysis.ingest.pseudonym import pseudonymise
from certsentry_analysis.ingest.schema import connect

__all__ = ["IngestSummary", "connect", "discover", "ingest", "pseudonymise"]
