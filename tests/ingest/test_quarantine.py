"""Listing, exporting, fixing and re-ingesting quarantined rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
from ingest_cases import VALID, csv_text, ingest, one, query, record

from overdue.ingest.quarantine import export_quarantine, quarantined_rows, reason_counts
from overdue.warehouse import open_warehouse

Write = Callable[..., Path]


def _two_batches(write: Write, wh: Path) -> None:
    ingest([write("a.csv", csv_text([record(case_id="A", monthly_income="-1"), VALID]))], wh)
    ingest([write("b.csv", csv_text([record(case_id="B", monthly_income="-1", outcome="")]))], wh)


def test_reasons_are_counted_per_file(write: Write, wh: Path) -> None:
    """Each file's reasons with their numbers of rows, for one batch or all."""
    _two_batches(write, wh)
    with open_warehouse(wh, read_only=True) as con:
        overall = {(Path(c.file).name, c.reason): c.rows for c in reason_counts(con)}
        second = {(c.batch_id, Path(c.file).name, c.reason) for c in reason_counts(con, 2)}
        assert (quarantined_rows(con), quarantined_rows(con, 2)) == (2, 1)
    assert overall == {
        ("a.csv", "range:monthly_income"): 1,
        ("b.csv", "range:monthly_income"): 1,
        ("b.csv", "required:outcome"): 1,
    }
    assert second == {(2, "b.csv", "range:monthly_income"), (2, "b.csv", "required:outcome")}


def test_export_has_batch_line_reasons_and_the_fields(
    write: Write, wh: Path, tmp_path: Path
) -> None:
    """The export lists where each row came from, why it failed, and its cells as text."""
    _two_batches(write, wh)
    out = tmp_path / "q.csv"
    with open_warehouse(wh, read_only=True) as con:
        assert export_quarantine(con, out) == 2
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 with a BOM
    frame = pl.read_csv(out, infer_schema=False)
    assert frame.select(
        "quarantine_batch", "quarantine_line", "quarantine_reasons", "case_id", "monthly_income"
    ).rows() == [
        ("1", "2", "range:monthly_income", "A", "-1"),
        ("2", "2", "required:outcome; range:monthly_income", "B", "-1"),
    ]


def test_fixed_export_reingests_cleanly(write: Write, wh: Path, tmp_path: Path) -> None:
    """Fix the named cells in the export, ingest it: the rows load, the export columns ignored."""
    _two_batches(write, wh)
    out = tmp_path / "q.csv"
    with open_warehouse(wh, read_only=True) as con:
        export_quarantine(con, out)
    fixed = pl.read_csv(out, infer_schema=False).with_columns(
        pl.lit("8000").alias("monthly_income"), pl.lit("refused").alias("outcome")
    )
    fixed.write_csv(tmp_path / "fixed.csv")
    report = ingest([tmp_path / "fixed.csv"], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined, report.unknown_columns) == (2, 0, ())
    assert query(wh, "SELECT case_id FROM cases ORDER BY 1") == [("A",), ("B",), ("C-0001",)]
    assert one(wh, "SELECT count(*) FROM cases WHERE extra IS NOT NULL") == 0


def test_the_csv_export_never_hands_excel_a_formula(write: Write, wh: Path, tmp_path: Path) -> None:
    """A cell Excel would run as a formula (``=``, ``+``, ``-``, ``@`` first) is written with a
    ``'`` before it (CSV injection); plain numbers such as ``-1`` stay as they are."""
    row = record(case_id="F", monthly_income="-1", region="=cmd|' /C calc'!A0", age_band="@SUM(A1)")
    ingest([write("f.csv", csv_text([row]))], wh)
    out = tmp_path / "q.csv"
    with open_warehouse(wh, read_only=True) as con:
        export_quarantine(con, out)
    cells = pl.read_csv(out, infer_schema=False).row(0, named=True)
    assert (cells["region"], cells["age_band"]) == ("'=cmd|' /C calc'!A0", "'@SUM(A1)")
    assert cells["monthly_income"] == "-1"
