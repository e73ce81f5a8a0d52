"""Warehouses as older versions of the code left them, for tests of migrations and upgrades."""

from __future__ import annotations

import duckdb

from overdue.warehouse import MIGRATIONS


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
