"""A real ingest process killed mid-load leaves the warehouse exactly as it was."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_cases import VALID, csv_text, ingest, one, snapshot

from overdue.ingest.normalise import quote_literal
from overdue.ingest.tempdir import OWNER, PREFIXES
from overdue.warehouse import scratch

ROWS = 400_000


def _big_csv(path: Path) -> None:
    """ROWS valid records with distinct case ids, written by DuckDB in a second."""
    cells = ", ".join(
        "'C-' || i AS case_id" if name == "case_id" else f"{quote_literal(value)} AS {name}"
        for name, value in VALID.items()
    )
    with scratch() as con:
        con.execute(
            f"COPY (SELECT {cells} FROM range({ROWS}) t(i)) TO {quote_literal(str(path))} "
            "(HEADER, DELIMITER ',')"
        )


def _kill_when(wh: Path, big: Path, stage: str) -> None:
    """Start `overdue ingest big`, SIGKILL it as soon as it reports ``stage`` (its temporary
    folders, which a killed process cannot remove, go beside the warehouse)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "overdue", "ingest", str(big), "--warehouse", str(wh)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "TMPDIR": str(wh.parent)},
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if line.strip().endswith(f": {stage}"):
                process.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail(f"ingest ended before it reported {stage!r}")
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["reading", "writing"])
def test_killed_mid_load_then_a_clean_rerun(tmp_path: Path, stage: str) -> None:
    """SIGKILL while reading or while writing: the warehouse is unchanged; a re-run loads all."""
    wh = tmp_path / "w.duckdb"
    small = tmp_path / "small.csv"
    small.write_text(csv_text([VALID]), encoding="utf-8")
    ingest([small], wh)
    before = snapshot(wh)
    big = tmp_path / "big.csv"
    _big_csv(big)

    _kill_when(wh, big, stage)

    assert snapshot(wh) == before
    report = ingest([big], wh).batches[0]
    assert (report.status, report.rows_read, report.rows_loaded) == ("loaded", ROWS, ROWS)
    assert one(wh, "SELECT count(*) FROM cases") == ROWS + 1
    assert one(wh, "SELECT count(*) FROM batches") == 2
    # Read in parallel, every row still knows its line: C-i is on line i + 2.
    misplaced = "SELECT count(*) FROM cases WHERE batch_id = 2 AND source_line <> "
    assert one(wh, misplaced + "CAST(substr(case_id, 3) AS BIGINT) + 2") == 0


@pytest.mark.slow
def test_a_killed_ingests_temporary_folder_is_removed_by_the_next_one(tmp_path: Path) -> None:
    """SIGKILL while reading leaves the process's temporary folder (for a GB18030 file a full
    transcoded copy of its case records); the next ingest removes it, and never the folder of
    an ingest that is still running."""
    wh, big = tmp_path / "w.duckdb", tmp_path / "big.csv"
    _big_csv(big)
    _kill_when(wh, big, "reading")
    left = [p for p in tmp_path.iterdir() if p.name.startswith(PREFIXES[0])]
    assert len(left) == 1 and (left[0] / OWNER).exists()
    live = tmp_path / f"{PREFIXES[1]}live"  # a concurrent ingest's, owned by this process
    live.mkdir()
    (live / OWNER).write_text(
        json.dumps({"host": socket.gethostname(), "pid": os.getpid()}), encoding="utf-8"
    )
    (tmp_path / f"{PREFIXES[0]}unowned").mkdir()  # no owner: left alone

    small = tmp_path / "small.csv"
    small.write_text(csv_text([VALID]), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "overdue", "ingest", str(small), "--warehouse", str(wh)],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kept = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(PREFIXES))
    assert kept == [f"{PREFIXES[0]}unowned", live.name]
