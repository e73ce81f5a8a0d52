"""A first look at a file of case records: size, period and agreement by approach."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from overdue.contract import AGREED, APPROACHES, PENDING


@dataclass(frozen=True)
class CaseSummary:
    """Counts behind the quick-start table; cells under k are shown as ``<k``."""

    cases: int
    pending: int
    first: dt.date
    last: dt.date
    by_approach: list[tuple[str, str, str, str, str]]


def shown_count(n: int, k: int) -> str:
    """A count as it may be published: ``<k`` below the privacy threshold."""
    return f"<{k}" if n < k else f"{n:,}"


def summarize_cases(path: Path, k: int) -> CaseSummary:
    """Agreement by approach among labelled (not pending) cases of an English-coded file."""
    scan = pl.scan_parquet(path) if path.suffix == ".parquet" else pl.scan_csv(path)
    per_approach = (
        scan.group_by("approach")
        .agg(
            pl.len().alias("cases"),
            (pl.col("outcome") != PENDING).sum().alias("labelled"),
            pl.col("outcome").is_in(AGREED).sum().alias("agreed"),
        )
        .collect()
    )
    span = (
        scan.select(
            pl.len().alias("n"),
            (pl.col("outcome") == PENDING).sum().alias("pending"),
            pl.col("first_contact_on").cast(pl.Date).min().alias("first"),
            pl.col("first_contact_on").cast(pl.Date).max().alias("last"),
        )
        .collect()
        .row(0, named=True)
    )
    counts = {row["approach"]: row for row in per_approach.iter_rows(named=True)}
    rows = []
    for code, zh in APPROACHES.items():
        row = counts.get(code, {"cases": 0, "labelled": 0, "agreed": 0})
        rate = (
            f"{row['agreed'] / row['labelled']:.1%}"
            if row["labelled"] >= k and row["agreed"] >= k and row["labelled"] - row["agreed"] >= k
            else "suppressed"
        )
        rows.append(
            (
                f"{code} {zh}",
                shown_count(row["cases"], k),
                shown_count(row["labelled"], k),
                shown_count(row["agreed"], k),
                rate,
            )
        )
    return CaseSummary(span["n"], span["pending"], span["first"], span["last"], rows)
