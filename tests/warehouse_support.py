"""Warehouses as older versions of the code left them, for tests of migrations and upgrades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from overdue.warehouse import MIGRATIONS, open_warehouse


def schema_up_to(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Apply the migrations up to ``version`` only, recorded as the migrator records them."""
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for step in MIGRATIONS[:version]:
        con.execute(step.sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [step.version, step.name])


def insert_model_run(con: duckdb.DuckDBPyConnection, version: str = "m-1") -> None:
    """One training run in ``model_runs`` with the columns of migration 2."""
    con.execute(
        "INSERT INTO model_runs (model_version, run_id, trained_at, outcome, snapshot_hash, "
        "feature_set_version, cases, labelled, train_rows, calibration_rows, test_rows, period, "
        "metrics, diagnostics, bundle_path) VALUES (?, 'r-1', now(), 'agreement', 's', 'fs-1', "
        "10, 9, 5, 2, 2, '{}', '{}', '{}', 'models/m-1')",
        [version],
    )


INGEST_TABLES = {
    "cases": "*",
    "quarantine": "*",
    # when and in which run differ between two ingests of the same files, nothing else may
    "batches": "* EXCLUDE (run_id, started_at, finished_at)",
}


def warehouse_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the ingest tables (``INGEST_TABLES``), sorted."""
    with open_warehouse(path, read_only=True) as con:
        return {
            table: con.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()
            for table, columns in INGEST_TABLES.items()
        }
