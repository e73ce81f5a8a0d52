"""The case store (Hive-partitioned Parquet) against the warehouse it is written from.

Here beside the ingest tests, whose helpers (real files ingested into a real warehouse) it uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from ingest_cases import csv_text, ingest, record
from typer.testing import CliRunner

from overdue import warehouse
from overdue.casestore import CaseStore, CaseStoreError, store_cases, sync_warehouse
from overdue.cli import app
from overdue.config import Settings
from settings_support import settings_in


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[Any, ...]]:
    return sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def _warehouse_cases(wh: Path) -> list[tuple[Any, ...]]:
    with warehouse.open_warehouse(wh, read_only=True) as con:
        return _rows(con, "cases")


def _store_cases(store: CaseStore) -> list[tuple[Any, ...]]:
    """The current cases as another machine reads them: a fresh DuckDB without the warehouse."""
    with warehouse.scratch() as con:
        store_cases(con, store)
        return _rows(con, "store_cases")


def _batch(path: Path, ids: range, updated: str, outcome: str = "refused") -> Path:
    rows = [record(case_id=f"C-{i}", record_updated_at=updated, outcome=outcome) for i in ids]
    path.write_text(csv_text(rows), encoding="utf-8")
    return path


def _files(store: Path) -> dict[str, int]:
    """Every file in the store folder and when it was last written."""
    return {str(p.relative_to(store)): p.stat().st_mtime_ns for p in store.rglob("*")}


def test_the_store_holds_the_warehouse_cases_batch_after_batch(tmp_path: Path) -> None:
    """Three batches replacing each other's cases (newer versions win, an older one loses, a
    duplicate inside a file): after each, the store's current cases are the warehouse's, and a
    store exported once at the end from the warehouse holds them too."""
    wh, store = tmp_path / "w.duckdb", CaseStore(str(tmp_path / "store"))
    first = _batch(tmp_path / "1.csv", range(0, 6), "2025-03-01 00:00:00")
    newer = _batch(tmp_path / "2.csv", range(3, 9), "2025-04-01 00:00:00", "agreed_modified")
    older = tmp_path / "3.csv"
    rows = [
        record(case_id="C-0", record_updated_at="2025-01-01 00:00:00"),  # older: loses
        record(case_id="C-4", record_updated_at="2025-05-01 00:00:00", outcome="agreed_modified"),
        record(case_id="C-4", record_updated_at="2025-06-01 00:00:00"),  # duplicate: wins
        record(case_id="C-20", record_updated_at="2025-05-01 00:00:00"),
    ]
    older.write_text(csv_text(rows), encoding="utf-8")
    for number, path in enumerate((first, newer, older), start=1):
        report = ingest([path], wh).batches[0]
        assert report.status == "loaded"
        assert sync_warehouse(wh, store) == [number]
        assert _store_cases(store) == _warehouse_cases(wh)
    assert report.rows_replaced == 2  # C-0 older than stored, the first C-4 of the file
    assert sorted(_files(Path(store.location))) == [
        f"batch_id={n}{part}" for n in (1, 2, 3) for part in ("", "/part-0.parquet")
    ]
    moved = CaseStore(str(tmp_path / "moved"))
    assert sync_warehouse(wh, moved) == [1, 2, 3]
    assert _store_cases(moved) == _warehouse_cases(wh)
    with warehouse.scratch() as con:
        kept = store_cases(con, moved).filter("case_id = 'C-4'").fetchall()
    assert [(r[-3], r[-2]) for r in kept] == [(3, 4)]  # batch 3's version, from its line 4


def test_a_rerun_and_a_rolled_back_batch_write_nothing(tmp_path: Path) -> None:
    """Ingesting the same file again stores nothing and writes no file; a batch whose
    transaction was rolled back has no rows, so no file either."""
    wh, store = tmp_path / "w.duckdb", CaseStore(str(tmp_path / "store"))
    path = _batch(tmp_path / "1.csv", range(0, 4), "2025-03-01 00:00:00")
    ingest([path], wh)
    assert sync_warehouse(wh, store) == [1]
    written = _files(Path(store.location))
    assert ingest([path], wh).batches[0].status == "already_loaded"
    assert sync_warehouse(wh, store) == []
    with (
        warehouse.open_warehouse(wh) as con,
        pytest.raises(RuntimeError),
        warehouse.transaction(con),
    ):
        con.execute("INSERT INTO cases SELECT * REPLACE (2 AS batch_id) FROM cases")
        raise RuntimeError("the batch failed before its commit")
    assert sync_warehouse(wh, store) == []
    assert _files(Path(store.location)) == written


def test_a_batch_whose_write_was_killed_is_written_again_whole(tmp_path: Path) -> None:
    """A partition left with only a temporary file (its writer killed before the rename) is
    not read; the next sync writes the batch and removes the temporary file."""
    wh, store = tmp_path / "w.duckdb", CaseStore(str(tmp_path / "store"))
    ingest([_batch(tmp_path / "1.csv", range(0, 3), "2025-03-01 00:00:00")], wh)
    folder = tmp_path / "store" / "batch_id=1"
    folder.mkdir(parents=True)
    (folder / ".part-0.parquet.0123abcd.tmp").write_bytes(b"PAR1 cut short")
    assert _store_cases(store) == []
    assert sync_warehouse(wh, store) == [1]
    assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]
    assert _store_cases(store) == _warehouse_cases(wh)


def test_a_store_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    """A store where no folder can be made: ``CaseStoreError`` saying the next export writes
    what is missing; the warehouse keeps the batch, and a later export into a good store does."""
    wh = tmp_path / "w.duckdb"
    ingest([_batch(tmp_path / "1.csv", range(0, 2), "2025-03-01 00:00:00")], wh)
    (tmp_path / "blocked").write_text("a file where the store's folder should be")
    with pytest.raises(CaseStoreError, match="store export` writes what the store lacks"):
        sync_warehouse(wh, CaseStore(str(tmp_path / "blocked" / "store")))
    assert len(_warehouse_cases(wh)) == 2
    assert sync_warehouse(wh, CaseStore(str(tmp_path / "store"))) == [1]


def test_an_empty_store_is_an_empty_case_table(tmp_path: Path) -> None:
    """A store with no batch yet reads as no cases, with the warehouse's columns and types."""
    wh = tmp_path / "w.duckdb"
    warehouse.connect(wh).close()
    with warehouse.scratch() as con:
        columns = store_cases(con, CaseStore(str(tmp_path / "store"))).dtypes
    with warehouse.open_warehouse(wh, read_only=True) as con:
        assert columns == con.table("cases").dtypes


def _overdue(folder: Path, *args: str, **env: str) -> tuple[int, str]:
    """``overdue ARGS`` in this process with the settings in ``folder`` and ``env``: its exit
    code and output."""
    with settings_in(folder, **env):
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_ingest_writes_the_store_only_when_one_is_set(tmp_path: Path) -> None:
    """`overdue ingest` without OVERDUE_CASE_STORE writes the warehouse alone, as always; with
    it, the batch's file too, and it says how many (never rows or identifiers)."""
    assert Settings.model_fields["case_store"].default is None
    path = _batch(tmp_path / "1.csv", range(0, 3), "2025-03-01 00:00:00")
    alone = tmp_path / "alone"
    alone.mkdir()
    code, output = _overdue(alone, "ingest", str(path), OVERDUE_CASE_STORE="")
    assert code == 0, output
    assert "case store" not in output
    written = sorted(p.name for p in alone.iterdir())  # the warehouse and its writer lock
    assert written == ["warehouse.duckdb", "warehouse.duckdb.lock"]
    store = tmp_path / "store"
    code, output = _overdue(tmp_path, "ingest", str(path), OVERDUE_CASE_STORE=str(store))
    assert code == 0, output
    assert "case store: 1 batch(es) written" in output
    assert "C-0" not in output
    assert (store / "batch_id=1" / "part-0.parquet").is_file()


def _httpfs_installed() -> bool:
    with warehouse.scratch() as con:
        row = con.execute(
            "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.skipif(_httpfs_installed(), reason="httpfs is installed here")
def test_an_object_store_without_httpfs_is_one_clear_line(tmp_path: Path) -> None:
    """An s3:// store with DuckDB's httpfs not installed: `overdue store export` exits 2 with
    one line saying to install it beforehand; nothing is downloaded, no secret printed."""
    ingest([_batch(tmp_path / "1.csv", range(0, 2), "2025-03-01 00:00:00")], tmp_path / "w.duckdb")
    code, output = _overdue(
        tmp_path,
        "store",
        "export",
        "--warehouse",
        str(tmp_path / "w.duckdb"),
        OVERDUE_CASE_STORE="s3://bucket/cases",
        OVERDUE_CASE_STORE_SECRET="s3cr3t-v4lue",
    )
    assert code == 2, output
    assert next(line for line in output.splitlines() if line.strip()).startswith("error:")
    assert "httpfs" in output and "install it beforehand" in output
    assert "Traceback" not in output and "s3cr3t-v4lue" not in output
    assert not _httpfs_installed()  # nothing was downloaded
