"""`overdue ingest` and `overdue quarantine` as a user runs them: a real process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ingest_cases import VALID, csv_text, record

from cli_support import overdue
from permission_support import without_root

SECRET = "13812345678"
EMAIL = "zs@example.cn"


def test_ingest_prints_a_balanced_summary_without_raw_values(tmp_path: Path) -> None:
    """The summary balances, names the reasons (as written, never as emoji), and never shows
    the personal data it found, in the rows or in the paths it was given."""
    path = tmp_path / "a.csv"
    rows = [
        VALID,
        record(case_id="C-2", debtor_ref=SECRET),
        record(case_id="C-3", dependents="x"),
        record(case_id="C-4", debtor_ref=EMAIL),
    ]
    path.write_text(csv_text(rows, header=[*VALID, "debtor_ref", "dependents"]), encoding="utf-8")
    wh = tmp_path / f"{SECRET}.duckdb"
    result = overdue("ingest", str(path), "--warehouse", str(wh))
    assert result.returncode == 3, result.stderr  # some rows quarantined, the rest loaded
    assert "rows read 4 = loaded 1 + quarantined 3 + replaced duplicates 0" in result.stdout
    assert "pii:mobile:debtor_ref" in result.stdout
    assert "pii:email:debtor_ref" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert EMAIL not in result.stdout + result.stderr

    again = overdue("ingest", str(path), "--warehouse", str(wh))
    assert "already loaded (batch 1)" in again.stdout
    assert "already_loaded" not in again.stdout  # the status in words in the table too

    out = tmp_path / f"{SECRET}.csv"
    listed = overdue("quarantine", "--warehouse", str(wh), "--export", str(out))
    assert listed.returncode == 0, listed.stderr
    assert SECRET not in listed.stdout + listed.stderr
    assert "pii:mobile:debtor_ref" in listed.stdout
    assert "pii:email:debtor_ref" in listed.stdout
    assert "parse:dependents" in listed.stdout
    assert SECRET not in out.read_text(encoding="utf-8-sig")
    assert "[mobile]" in out.read_text(encoding="utf-8-sig")


def test_an_unfixed_quarantine_export_is_quarantined_again(tmp_path: Path) -> None:
    """A masked placeholder (`[mobile]`) is no key: the exported row ingested again as it was
    is refused (format:debtor_ref), never loaded with `[mobile]` as the debtor's key."""
    path, wh, export = tmp_path / "a.csv", tmp_path / "w.duckdb", tmp_path / "fix.csv"
    rows = [VALID, record(case_id="C-2", debtor_ref=SECRET)]
    path.write_text(csv_text(rows, header=[*VALID, "debtor_ref"]), encoding="utf-8")
    assert overdue("ingest", str(path), "--warehouse", str(wh)).returncode == 3
    assert overdue("quarantine", "--warehouse", str(wh), "--export", str(export)).returncode == 0
    again = overdue("ingest", str(export), "--warehouse", str(wh))
    assert again.returncode == 3, again.stdout
    assert "format:debtor_ref" in again.stdout and "loaded 0" in again.stdout


def test_a_refused_file_exits_non_zero_and_names_it(tmp_path: Path) -> None:
    """An empty file is refused with its name; the exit code says something was refused."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = overdue("ingest", str(empty), "--warehouse", str(tmp_path / "w.duckdb"))
    assert result.returncode == 1
    assert "empty.csv: the file is empty" in result.stdout


def test_a_link_loop_and_a_pipe_are_refused_not_waited_on(tmp_path: Path) -> None:
    """A loop of symbolic links and a named pipe (reading it would wait forever) are refused
    with their reasons, named or found in a folder given as the inbox; never a traceback."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "loop-a.csv").symlink_to(inbox / "loop-b.csv")
    (inbox / "loop-b.csv").symlink_to(inbox / "loop-a.csv")
    os.mkfifo(inbox / "pipe.csv")
    named = overdue(
        "ingest", str(inbox / "loop-a.csv"), str(inbox / "pipe.csv"),
        "--warehouse", str(tmp_path / "w.duckdb"), timeout=120,
    )  # fmt: skip
    assert named.returncode == 1, named.stdout + named.stderr
    assert "loop-a.csv: a symbolic link that leads to no file" in named.stdout
    assert "pipe.csv: not a file (a pipe or a device)" in named.stdout
    assert "Traceback" not in named.stdout + named.stderr
    waiting = overdue(
        "ingest", str(inbox), "--warehouse", str(tmp_path / "w2.duckdb"), timeout=120,
        env={"OVERDUE_INBOX": str(inbox)},
    )  # fmt: skip
    assert waiting.returncode == 1, waiting.stdout + waiting.stderr
    assert waiting.stdout.count("refused") >= 3  # both links and the pipe, none passed over


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


def test_quarantine_of_a_batch_that_does_not_exist_says_so(tmp_path: Path) -> None:
    """`quarantine --batch N` for a batch the warehouse does not have is an error naming the
    batches there are, not an empty table."""
    path, wh = tmp_path / "a.csv", tmp_path / "w.duckdb"
    path.write_text(csv_text([VALID], header=list(VALID)), encoding="utf-8")
    assert overdue("ingest", str(path), "--warehouse", str(wh)).returncode == 0
    missing = overdue("quarantine", "--batch", "99", "--warehouse", str(wh))
    assert missing.returncode == 2
    assert "no batch 99 in this warehouse (batches 1 to 1)" in missing.stdout
    assert overdue("quarantine", "--batch", "1", "--warehouse", str(wh)).returncode == 0


def test_ingest_of_the_inbox_passes_over_what_run_filed_away(tmp_path: Path) -> None:
    """`overdue ingest <inbox>` reads the files waiting there, not `processed/` nor `refused/`
    (a refused file and its reason file, ingested again, would be refused again each time)."""
    inbox = tmp_path / "inbox"
    (inbox / "refused").mkdir(parents=True)
    (inbox / "processed" / "2026-12-01").mkdir(parents=True)
    (inbox / "refused" / "notes.txt").write_text("not case records", encoding="utf-8")
    (inbox / "refused" / "notes.txt.reason.txt").write_text("why", encoding="utf-8")
    (inbox / "processed" / "2026-12-01" / "old.csv").write_text(
        csv_text([VALID], header=list(VALID)), encoding="utf-8"
    )
    (inbox / "new.csv").write_text(
        csv_text([record(case_id="C-9")], header=list(VALID)), encoding="utf-8"
    )
    result = overdue(
        "ingest", str(inbox), "--warehouse", str(tmp_path / "w.duckdb"),
        env={"OVERDUE_INBOX": str(inbox)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "rows read 1 = loaded 1" in result.stdout
    assert "refused" not in result.stdout and "old.csv" not in result.stdout


def test_the_inbox_is_made_by_run_and_named_when_missing(tmp_path: Path) -> None:
    """`overdue ingest` of an inbox not made yet says what it is and how it comes to be;
    `overdue run`'s default sources make it."""
    from overdue.cli import default_sources
    from overdue.config import Settings

    inbox = tmp_path / "data" / "inbox"
    missing = overdue(
        "ingest", str(inbox), "--warehouse", str(tmp_path / "w.duckdb"),
        env={"OVERDUE_INBOX": str(inbox)},
    )  # fmt: skip
    assert missing.returncode == 2
    assert "the inbox, where new case files go: `overdue run` makes it" in missing.stdout
    sources = default_sources(Settings(inbox=inbox))
    assert inbox.is_dir() and sources[-1] == str(inbox)


def test_an_inbox_that_cannot_be_read_stops_ingest_in_one_line(tmp_path: Path) -> None:
    """`overdue ingest` of an inbox or folder it may not list (chmod 000, permissions
    applying as for a user) exits 2 with one line naming it: never "rows read 0"."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text(csv_text([VALID]), encoding="utf-8")
    wh = tmp_path / "w.duckdb"
    inbox.chmod(0)
    try:
        runs = [
            without_root(
                [sys.executable, "-m", "overdue", "ingest", str(inbox), "--warehouse", str(wh)],
                env={"OVERDUE_INBOX": str(inbox), "COLUMNS": "200"},
            ),
            without_root(  # any folder named, not only the inbox
                [sys.executable, "-m", "overdue", "ingest", str(inbox), "--warehouse", str(wh)],
                env={"OVERDUE_INBOX": str(tmp_path / "elsewhere"), "COLUMNS": "200"},
            ),
        ]
    finally:
        inbox.chmod(0o755)
    for result, what in zip(runs, ("inbox", "folder"), strict=True):
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stdout.strip().splitlines() == [
            f"error: cannot list the {what} {inbox} (permission denied)"
        ]
    assert not wh.exists()  # nothing was written
