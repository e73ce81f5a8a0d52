"""Prepared parts committed by the one writer store what a local ingest of the files stores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from overdue.ingest.load import ingest_path
from overdue.ingest.parts import commit_parts, known_contents, prepare_part, row_ranges
from overdue.ingest.sources import SourceMapping, find_mapping
from overdue.simulate import write_simulation
from overdue.warehouse import open_warehouse
from parts_support import BAD_AT, large_parquet
from warehouse_support import warehouse_rows

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 7, 1)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, SourceMapping | None]]:
    """A Parquet file; a CSV file repeating 50 of its cases and with a row that cannot be
    split; an empty file (refused); the LendingClub extract through its source mapping."""
    folder = tmp_path_factory.mktemp("parts")
    simulated = write_simulation(folder / "sim.parquet", rows=400, seed=3, as_of=AS_OF)
    cases = pl.read_parquet(simulated.cases_path)
    cases[:250].write_parquet(folder / "a.parquet")
    cases[200:].write_csv(folder / "b.csv")
    with (folder / "b.csv").open("a", encoding="utf-8") as handle:
        handle.write("a row,that cannot be split\n")
    (folder / "empty.csv").write_bytes(b"")
    lendingclub = find_mapping("lendingclub", ROOT / "sources")
    extract = ROOT / "tests" / "ingest" / "data" / "lendingclub_extract.csv"
    return [
        (folder / "a.parquet", None),
        (folder / "b.csv", None),
        (folder / "empty.csv", None),
        (extract, lendingclub),
    ]


def prepared_and_committed(
    files: list[tuple[Path, SourceMapping | None]], target: Path, staging: Path
) -> list[str]:
    """Each file prepared into ``staging`` (what it already holds not read), then committed into
    ``target`` in order; the statuses."""
    statuses = []
    for path, mapping in files:
        with open_warehouse(target) as con:
            known = known_contents(con, mapping)
        part = prepare_part(path, staging, run_id="r", as_of=AS_OF, known=known, mapping=mapping)
        with open_warehouse(target) as con:
            statuses.append(commit_parts(con, [part]).status)
    return statuses


def test_committed_parts_store_what_a_local_ingest_stores(
    files: list[tuple[Path, SourceMapping | None]], tmp_path: Path
) -> None:
    """Same cases (the later version of a repeated case wins), quarantined rows and batches,
    refusals and mapped files included."""
    local = tmp_path / "local.duckdb"
    for path, mapping in files:
        ingest_path(path, local, run_id="r", as_of=AS_OF, mapping=mapping)
    target = tmp_path / "parts.duckdb"
    statuses = prepared_and_committed(files, target, tmp_path / "staging")
    assert statuses == ["loaded", "loaded", "refused", "loaded"]
    rows = warehouse_rows(target)
    assert rows == warehouse_rows(local)
    assert len(rows["quarantine"]) >= 1


def test_the_same_files_again_store_nothing(
    files: list[tuple[Path, SourceMapping | None]], tmp_path: Path
) -> None:
    """A second pass finds every content stored: no new batch, nothing changed, and the
    loaded files are not even read (no part written; the refused one is read to say why)."""
    target = tmp_path / "parts.duckdb"
    prepared_and_committed(files, target, tmp_path / "first")
    before = warehouse_rows(target)
    statuses = prepared_and_committed(files, target, tmp_path / "second")
    assert statuses == ["already_loaded", "already_loaded", "refused", "already_loaded"]
    assert warehouse_rows(target) == before
    assert len(list((tmp_path / "second").iterdir())) == 1


def test_a_large_parquet_file_prepared_in_row_ranges_is_stored_as_one_local_batch(
    tmp_path: Path,
) -> None:
    """2,000 rows in ranges of 700: one batch, the same cases (the case repeated in a later range
    replaced by its later row), the quarantined row under its line in the file; again: nothing
    new, and no range read."""
    path = large_parquet(tmp_path, AS_OF)
    local = tmp_path / "local.duckdb"
    ingest_path(path, local, run_id="r", as_of=AS_OF)
    ranges = row_ranges(path, 700)
    assert [(r.start, r.stop) for r in ranges if r] == [(0, 700), (700, 1400), (1400, 2000)]
    target = tmp_path / "parts.duckdb"
    reports = []
    for staging in (tmp_path / "first", tmp_path / "second"):
        with open_warehouse(target) as con:
            known = known_contents(con, None)
        parts = [
            prepare_part(path, staging, run_id="r", as_of=AS_OF, known=known, rows=rows)
            for rows in ranges
        ]
        with open_warehouse(target) as con:
            reports.append(commit_parts(con, parts))
    assert [(r.status, r.batch_id) for r in reports] == [("loaded", 1), ("already_loaded", 1)]
    assert (reports[0].rows_read, reports[0].rows_replaced, reports[0].rows_quarantined) == (
        2_000,
        1,
        1,
    )
    rows = warehouse_rows(target)
    assert rows == warehouse_rows(local)
    assert [line for _, line, *_ in rows["quarantine"]] == [BAD_AT + 1]
    assert not (tmp_path / "second").exists()


def test_a_csv_file_is_prepared_whole() -> None:
    """CSV records may span lines: a CSV file is one part, however many rows it has."""
    extract = ROOT / "tests" / "ingest" / "data" / "lendingclub_extract.csv"
    assert row_ranges(extract, 1) == (None,)


def test_a_file_changed_between_its_ranges_stores_nothing(tmp_path: Path) -> None:
    """Ranges read from two versions of a file (other SHA-256s) are not committed together."""
    path = large_parquet(tmp_path, AS_OF)
    first, second = row_ranges(path, 1_000)
    parts = [prepare_part(path, tmp_path / "staging", run_id="r", as_of=AS_OF, rows=first)]
    pl.read_parquet(path)[:1_500].write_parquet(path)
    parts.append(prepare_part(path, tmp_path / "staging", run_id="r", as_of=AS_OF, rows=second))
    target = tmp_path / "parts.duckdb"
    with open_warehouse(target) as con, pytest.raises(RuntimeError, match="changed"):
        commit_parts(con, parts)
    assert warehouse_rows(target) == {"cases": [], "quarantine": [], "batches": []}
