"""A Parquet file large enough to be prepared in several row ranges (``OVERDUE_PART_ROWS``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from overdue.simulate import write_simulation

REPEATED, REPEATED_AT, BAD_AT = 100, 1_700, 1_900
"""Row ``REPEATED``'s case comes again, changed, at row ``REPEATED_AT``; row ``BAD_AT`` has a
negative income (quarantined). Rows numbered from 0; the file's lines from 1."""


def large_parquet(folder: Path, as_of: dt.date, rows: int = 2_000) -> Path:
    """``rows`` simulated cases as ``folder/large.parquet``: a case repeated far after its first
    version (the later row wins, a tie on ``record_updated_at``) and a quarantined row."""
    simulated = write_simulation(folder / "simulated.parquet", rows=rows, seed=7, as_of=as_of)
    cases = pl.read_parquet(simulated.cases_path)
    repeated = cases[REPEATED].with_columns(pl.col("monthly_income") * 2)
    bad = cases[BAD_AT].with_columns(pl.lit(-1.0).alias("monthly_income"))
    large = pl.concat(
        [cases[:REPEATED_AT], repeated, cases[REPEATED_AT + 1 : BAD_AT], bad, cases[BAD_AT + 1 :]]
    )
    path = folder / "large.parquet"
    large.write_parquet(path)
    return path
