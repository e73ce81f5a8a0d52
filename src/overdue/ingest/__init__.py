"""Ingest: case-record files (CSV, Parquet, JSON Lines) into the DuckDB warehouse.

``read`` finds files and streams their rows as text, ``normalise`` types the values,
``validate`` checks them against the contract, ``pii`` screens for personal data, ``load``
writes one batch per file in one transaction, and ``quarantine`` lists and exports the rows
that were refused.
"""

from overdue.ingest.load import BatchReport, IngestSummary, ingest_file, ingest_paths
from overdue.ingest.read import SourceError

__all__ = ["BatchReport", "IngestSummary", "SourceError", "ingest_file", "ingest_paths"]
