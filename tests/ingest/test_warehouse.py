"""The warehouse file: created and migrated by the code, one writer at a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from overdue.reports.queries import approach_effects, model_runs
from overdue.warehouse import (
    MIGRATIONS,
    WarehouseLockedError,
    migrate,
    open_warehouse,
    schema_version,
    transaction,
)
from warehouse_support import insert_model_run, schema_up_to


def test_a_new_warehouse_has_every_migration(tmp_path: Path) -> None:
    """Opening a new file for writing creates the tables and records the schema version."""
    with open_warehouse(tmp_path / "w.duckdb") as con:
        assert schema_version(con) == MIGRATIONS[-1].version
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {"batches", "cases", "quarantine", "schema_migrations"} <= tables


def test_migrating_twice_applies_nothing(tmp_path: Path) -> None:
    """Migrations run once; a second run finds nothing to do."""
    with open_warehouse(tmp_path / "w.duckdb") as con:
        assert migrate(con) == []
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (
            len(MIGRATIONS),
        )


def test_migration_4_keeps_model_runs_made_before_the_self_check(tmp_path: Path) -> None:
    """A warehouse trained before the self-check existed keeps its runs, with no self-check;
    a report reading it read-only, before any migration, finds none either."""
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        schema_up_to(con, 3)
        insert_model_run(con)
        assert [run["self_check"] for run in model_runs(con)] == [None], "read before migrating"
        assert migrate(con)[0] == 4  # and every later step
        assert con.execute("SELECT model_version, self_check FROM model_runs").fetchall() == [
            ("m-1", None)
        ]
    finally:
        con.close()


def test_migration_5_keeps_runs_made_before_observed_rates_and_sensitivity(
    tmp_path: Path,
) -> None:
    """A run trained before migration 5 reads, before and after migrating, with no
    sensitivity and no observed rates."""
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        schema_up_to(con, 4)
        insert_model_run(con)
        assert [run["sensitivity"] for run in model_runs(con)] == [None], "read before migrating"
        assert {"naive", "n_agreed"} <= set(approach_effects(con, "m-1", "r-1").columns)
        assert migrate(con) == [5, 6]
        assert [run["sensitivity"] for run in model_runs(con)] == [None]
        assert {"naive", "n_agreed"} <= {
            r[0] for r in con.execute("DESCRIBE approach_effects").fetchall()
        }
    finally:
        con.close()


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    """An error inside a transaction rolls every statement of it back."""
    with open_warehouse(tmp_path / "w.duckdb") as con:
        with pytest.raises(RuntimeError), transaction(con):
            con.execute("INSERT INTO quarantine VALUES (1, 1, ['x'], '{}')")
            raise RuntimeError("stop")
        assert con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


def test_reading_a_missing_warehouse_says_what_to_do(tmp_path: Path) -> None:
    """A read-only open of a missing file does not create it and points to ingest."""
    with pytest.raises(FileNotFoundError, match="overdue ingest"):
        open_warehouse(tmp_path / "none.duckdb", read_only=True).__enter__()
    assert not (tmp_path / "none.duckdb").exists()


def test_a_second_writer_is_told_the_warehouse_is_busy(tmp_path: Path) -> None:
    """While another process writes the file, opening it raises WarehouseLockedError."""
    path = tmp_path / "w.duckdb"
    with open_warehouse(path):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "time.sleep(30)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseLockedError, match="another process"):
            open_warehouse(path).__enter__()
    finally:
        holder.kill()
        holder.wait()
