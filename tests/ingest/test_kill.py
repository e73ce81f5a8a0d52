"""A real ingest process killed mid-load leaves the warehouse exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_cases import VALID, csv_text, ingest, one, snapshot

from overdue.ingest.normalise import quote_literal
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
