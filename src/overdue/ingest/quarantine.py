"""The quarantine: reasons and counts, and an export of the rows (masked) for fixing.

An export has one column per field of the quarantined records (English contract names first,
then the file's other columns) and three columns in front, ``quarantine_batch``,
``quarantine_line`` and ``quarantine_reasons``, which ingest ignores: fix the cells the reasons
name, delete the rows you cannot fix, and ingest the file again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from overdue.contract import FIELD_NAMES
from overdue.ingest.normalise import quote_ident, quote_literal
from overdue.ingest.read import QUARANTINE_EXPORT_COLUMNS

REASON_SEPARATOR: Final = "; "


@dataclass(frozen=True)
class ReasonCount:
    """How many quarantined rows of one file (batch) carry one reason."""

    batch_id: int
    file: str  # the masked path ``batches`` stores
    reason: str
    rows: int


def _where(batch_id: int | None) -> tuple[str, list[object]]:
    return (f"WHERE batch_id = {int(batch_id)}", []) if batch_id is not None else ("", [])


def known_batch(con: duckdb.DuckDBPyConnection, batch_id: int) -> None:
    """Nothing when ``batch_id`` is a batch of the warehouse; else a ``ValueError`` naming the
    batches there are."""
    first, last, found = con.execute(
        "SELECT min(batch_id), max(batch_id), coalesce(bool_or(batch_id = ?), false) FROM batches",
        [batch_id],
    ).fetchone() or (None, None, False)
    if not found:
        there = f"batches {first} to {last}" if first is not None else "no batches yet"
        raise ValueError(f"no batch {batch_id} in this warehouse ({there})")


def reason_counts(con: duckdb.DuckDBPyConnection, batch_id: int | None = None) -> list[ReasonCount]:
    """Each file's reasons with the number of its quarantined rows that carry them, by batch,
    commonest first."""
    where, params = _where(batch_id)
    rows = con.execute(
        "SELECT q.batch_id, b.path, q.reason, count(*) AS n FROM (SELECT batch_id, "
        f"unnest(reasons) AS reason FROM quarantine {where}) q JOIN batches b USING (batch_id) "
        "GROUP BY ALL ORDER BY q.batch_id, n DESC, q.reason",
        params,
    ).fetchall()
    return [ReasonCount(int(b), str(f), str(r), int(n)) for b, f, r, n in rows]


def quarantined_rows(con: duckdb.DuckDBPyConnection, batch_id: int | None = None) -> int:
    """Number of quarantined rows (of one batch, or all)."""
    where, params = _where(batch_id)
    row = con.execute(f"SELECT count(*) FROM quarantine {where}", params).fetchone()
    return int(row[0]) if row else 0


def quarantine_frame(con: duckdb.DuckDBPyConnection, batch_id: int | None = None) -> pl.DataFrame:
    """The quarantined rows as text, one column per field, with batch, line and reasons."""
    where, params = _where(batch_id)
    keys = [
        str(k)
        for (k,) in con.execute(
            f"SELECT DISTINCT unnest(json_keys(record)) FROM quarantine {where}", params
        ).fetchall()
    ]
    ordered = [k for k in FIELD_NAMES if k in keys] + sorted(
        k for k in keys if k not in FIELD_NAMES
    )
    batch, line, reasons = QUARANTINE_EXPORT_COLUMNS
    columns = [
        f"batch_id AS {batch}",
        f"line AS {line}",
        f"array_to_string(reasons, {quote_literal(REASON_SEPARATOR)}) AS {reasons}",
        *(
            f"json_extract_string(record, {quote_literal('$.' + quote_ident(k))}) "
            f"AS {quote_ident(k)}"
            for k in ordered
        ),
    ]
    relation = con.sql(
        f"SELECT {', '.join(columns)} FROM quarantine {where} ORDER BY batch_id, line"
    )
    frame = pl.from_arrow(relation.to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


FORMULA_START: Final = r"^[=+\-@\t\r]"
"""A cell a spreadsheet would run as a formula (CSV injection, OWASP)."""
PLAIN_NUMBER: Final = r"^[+-]?[0-9][0-9.,]*$"


def _as_text_cell(column: str) -> pl.Expr:
    """``column`` with a ``'`` before each cell a spreadsheet would run as a formula (plain
    numbers such as ``-5`` left as they are)."""
    cell = pl.col(column)
    formula = cell.str.contains(FORMULA_START) & ~cell.str.contains(PLAIN_NUMBER)
    return pl.when(formula).then(pl.lit("'") + cell).otherwise(cell).alias(column)


def export_quarantine(
    con: duckdb.DuckDBPyConnection, out: Path, batch_id: int | None = None
) -> int:
    """Write the quarantined rows to ``out`` (.csv with a BOM for Excel, a ``'`` before each
    cell Excel would run as a formula; .parquet or .jsonl as they are)."""
    frame = quarantine_frame(con, batch_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame.write_parquet(out)
    elif suffix in (".jsonl", ".ndjson"):
        frame.write_ndjson(out)
    elif suffix == ".csv":
        frame = frame.with_columns(
            _as_text_cell(c) for c in frame.columns if frame[c].dtype == pl.String
        )
        frame.write_csv(out, include_bom=True)
    else:
        raise ValueError(f"{out}: export to .csv, .parquet or .jsonl")
    return frame.height
