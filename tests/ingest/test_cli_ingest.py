"""`overdue ingest` and `overdue quarantine` as a user runs them: a real process."""

from __future__ import annotations

from pathlib import Path

from ingest_cases import VALID, csv_text, record

from cli_support import overdue

SECRET = "13812345678"


def test_ingest_prints_a_balanced_summary_without_raw_values(tmp_path: Path) -> None:
    """The summary balances, names the reasons, and never shows the personal data it found."""
    path = tmp_path / "a.csv"
    rows = [VALID, record(case_id="C-2", debtor_ref=SECRET), record(case_id="C-3", dependents="x")]
    path.write_text(csv_text(rows, header=[*VALID, "debtor_ref", "dependents"]), encoding="utf-8")
    wh = tmp_path / "w.duckdb"
    result = overdue("ingest", str(path), "--warehouse", str(wh))
    assert result.returncode == 3, result.stderr  # some rows quarantined, the rest loaded
    assert "rows read 3 = loaded 1 + quarantined 2 + replaced duplicates 0" in result.stdout
    assert "pii:mobile:debtor_ref" in result.stdout
    assert SECRET not in result.stdout + result.stderr

    again = overdue("ingest", str(path), "--warehouse", str(wh))
    assert "already loaded (batch 1)" in again.stdout

    out = tmp_path / "q.csv"
    listed = overdue("quarantine", "--warehouse", str(wh), "--export", str(out))
    assert listed.returncode == 0, listed.stderr
    assert "pii:mobile:debtor_ref" in listed.stdout
    assert "parse:dependents" in listed.stdout
    assert SECRET not in out.read_text(encoding="utf-8-sig")
    assert "[mobile]" in out.read_text(encoding="utf-8-sig")


def test_a_refused_file_exits_non_zero_and_names_it(tmp_path: Path) -> None:
    """An empty file is refused with its name; the exit code says something was refused."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = overdue("ingest", str(empty), "--warehouse", str(tmp_path / "w.duckdb"))
    assert result.returncode == 1
    assert "empty.csv: the file is empty" in result.stdout


def test_the_ingest_table_fits_80_columns_with_the_path_whole(tmp_path: Path) -> None:
    """On an 80-column terminal the per-file table cuts nothing: a long path is folded."""
    path = tmp_path / "a-long-folder-name-for-exports" / "cases-of-the-first-quarter.csv"
    path.parent.mkdir()
    path.write_text(csv_text([VALID], header=list(VALID)), encoding="utf-8")
    result = overdue("ingest", str(path), "--warehouse", str(tmp_path / "w.duckdb"),
                     env={"COLUMNS": "80"})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout.split("ingest run ")[1].split("rows read")[0]
    assert all(len(line.rstrip()) <= 80 for line in table.splitlines()) and "…" not in table
    assert str(path) in "".join(line.split(" ")[0] for line in table.splitlines())
