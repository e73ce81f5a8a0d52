"""Ingest split in two for a cluster: workers prepare parts, the one writer commits them.

``prepare_part`` runs anywhere (a Dask worker): it ingests one file, or one row range of a large
Parquet file (``row_ranges``), exactly as ``load`` does, but into a private in-memory warehouse,
and writes what that stored (its cases, quarantined rows and ``batches`` row, with the file's
own line numbers, path and hash) as Parquet into a folder of a staging area every worker and the
writer see. It never opens the warehouse. ``commit_parts`` runs in the one process that writes
the warehouse: it takes all parts of one file together, compares their cases with each other and
with the stored ones exactly as a local ingest does (the newer version of a case wins, ties by
later line) and stores them as one batch in one transaction. A file whose content the warehouse
already holds is not stored again, so a re-run changes nothing.

Only Parquet files are cut into row ranges: a CSV record may span lines (a quoted newline) and
its reading (encoding, dialect, header) is judged on the whole file, so a CSV or JSON Lines file
is prepared whole, by one task.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from overdue import warehouse
from overdue.ingest.load import (
    REFUSED,
    BatchReport,
    drop_staging,
    existing_batch,
    file_sha256,
    ingest_file,
    load_staged,
    next_batch_id,
    shown_path,
    stored_before,
)
from overdue.ingest.normalise import quote_literal
from overdue.ingest.sources import SourceMapping

PART_TABLES: Final = ("cases", "quarantine", "batches")
"""The warehouse tables a part holds, one Parquet file each."""

_STAGED_SQL: Final = """
CREATE OR REPLACE TEMP TABLE staged_rows AS
SELECT * EXCLUDE (batch_id, source_line), source_line AS _ordinal,
       []::VARCHAR[] AS reasons, NULL::VARCHAR AS record
FROM read_parquet({cases})
UNION ALL BY NAME
SELECT line AS _ordinal, reasons, record::VARCHAR AS record FROM read_parquet({quarantine})
"""
"""A part's cases and quarantined rows as the staged rows ``load`` stores, keyed by line."""


@dataclass(frozen=True)
class PreparedPart:
    """What a worker passes back for one file or row range: the part's folder (None when the
    file's content was known and nothing was read), its report (the file's masked path and
    SHA-256, the counts of its rows) and the source mapping's hash it was read through. Never
    rows."""

    folder: str | None
    report: BatchReport
    mapping_sha256: str | None = None


@dataclass(frozen=True)
class RowRange:
    """Rows ``start`` (0-based, included) to ``stop`` (excluded) of a Parquet file."""

    start: int
    stop: int


def row_ranges(path: Path, part_rows: int) -> tuple[RowRange | None, ...]:
    """The parts ``path`` is prepared in: ranges of ``part_rows`` rows of a Parquet file with
    more rows than that; else ``(None,)``, the whole file as one part (CSV and JSON Lines, a
    smaller file, and a file whose Parquet footer cannot be read, which is refused whole)."""
    try:
        with path.open("rb") as handle:
            rows = pq.read_metadata(path).num_rows if handle.read(4) == b"PAR1" else 0
    except (OSError, pa.ArrowException):
        rows = 0
    if rows <= part_rows:
        return (None,)
    return tuple(RowRange(a, min(a + part_rows, rows)) for a in range(0, rows, part_rows))


@contextmanager
def private_warehouse(memory_limit: str | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An empty warehouse in memory, with the schema, for one worker's file."""
    with warehouse.scratch(memory_limit) as con:
        warehouse.migrate(con)
        yield con


def copy_rows(con: duckdb.DuckDBPyConnection, path: Path, rows: RowRange, target: Path) -> None:
    """Rows ``rows`` of the Parquet file ``path``, in order, as the Parquet file ``target``."""
    scan = f"read_parquet({quote_literal(str(path))}, file_row_number = true)"
    con.execute(
        f"COPY (SELECT * EXCLUDE (file_row_number) FROM {scan} WHERE file_row_number >= "
        f"{rows.start} AND file_row_number < {rows.stop} ORDER BY file_row_number) "
        f"TO {quote_literal(str(target))} (FORMAT parquet)"
    )


def ingest_rows(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    rows: RowRange,
    folder: Path,
    *,
    sha256: str,
    run_id: str,
    as_of: dt.date,
    mapping: SourceMapping | None,
) -> BatchReport:
    """Ingest rows ``rows`` of ``path`` (copied into ``folder``, then deleted) into the private
    warehouse on ``con`` as ``ingest_file`` ingests a file, then give what it stored the file's
    line numbers, masked path, size and SHA-256."""
    copy = folder / "rows.parquet"
    copy_rows(con, path, rows, copy)
    try:
        report = ingest_file(con, copy, run_id=run_id, as_of=as_of, mapping=mapping)
    finally:
        copy.unlink(missing_ok=True)
    shown, copied = str(shown_path(path)), str(shown_path(copy))
    con.execute(f"UPDATE cases SET source_line = source_line + {rows.start}")
    con.execute(f"UPDATE quarantine SET line = line + {rows.start}")
    con.execute(
        "UPDATE batches SET path = ?, sha256 = ?, bytes = ?, message = replace(message, ?, ?)",
        [shown, sha256, path.stat().st_size, copied, shown],
    )
    message = report.message.replace(copied, shown) if report.message else None
    return replace(report, path=Path(shown), sha256=sha256, message=message)


def prepare_part(
    path: Path,
    staging: Path,
    *,
    run_id: str,
    as_of: dt.date,
    known: frozenset[str] = frozenset(),
    memory_limit: str | None = None,
    mapping: SourceMapping | None = None,
    rows: RowRange | None = None,
) -> PreparedPart:
    """Ingest ``path`` (only its rows ``rows``, if given; through ``mapping`` if given) into a
    private warehouse and write what it stored as Parquet into a new folder under ``staging``;
    nothing is read when the file's SHA-256 is in ``known`` (content the warehouse holds, read
    the same way)."""
    mapping_sha256 = mapping.sha256 if mapping else None
    sha256 = file_sha256(path)
    if sha256 is not None and sha256 in known:
        report = BatchReport(shown_path(path), "known", sha256=sha256)
        return PreparedPart(None, report, mapping_sha256)
    staging.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="part-", dir=staging))
    with private_warehouse(memory_limit) as con:
        if rows is None or sha256 is None:
            report = ingest_file(con, path, run_id=run_id, as_of=as_of, mapping=mapping)
        else:
            report = ingest_rows(
                con, path, rows, folder, sha256=sha256, run_id=run_id, as_of=as_of, mapping=mapping
            )
        for table in PART_TABLES:
            target = quote_literal(str(folder / f"{table}.parquet"))
            con.execute(f"COPY {table} TO {target} (FORMAT parquet)")
    return PreparedPart(str(folder), report, mapping_sha256)


def file_report(parts: Sequence[PreparedPart]) -> BatchReport:
    """The report of one file from its parts' reports (in the order of its rows): the first
    refusal, else the counts and reasons summed; raises if the file changed in between."""
    reports = [part.report for part in parts]
    first = reports[0]
    if len({report.sha256 for report in reports}) > 1:
        raise RuntimeError(f"{first.path}: changed while its parts were read; nothing was stored")
    refused = [report for report in reports if report.status == REFUSED]
    if refused:
        return refused[0]
    reasons = sum((Counter(r.reasons) for r in reports), Counter[str]())
    skip_reasons = sum((Counter(r.skip_reasons) for r in reports), Counter[str]())
    return replace(
        first,
        rows_read=sum(r.rows_read for r in reports),
        rows_quarantined=sum(r.rows_quarantined for r in reports),
        rows_replaced=sum(r.rows_replaced for r in reports),
        rows_skipped=sum(r.rows_skipped for r in reports),
        reasons=dict(reasons.most_common()),
        skip_reasons=dict(skip_reasons),
    )


def parquet_list(parts: Sequence[PreparedPart], table: str) -> str:
    """The SQL list of the parts' Parquet files of ``table``."""
    files = [quote_literal(str(Path(str(part.folder)) / f"{table}.parquet")) for part in parts]
    return f"[{', '.join(files)}]"


def commit_parts(con: duckdb.DuckDBPyConnection, parts: Sequence[PreparedPart]) -> BatchReport:
    """Store the parts of one file (its row ranges in order, or the one part of a whole file)
    in the warehouse open on ``con`` as one batch in one transaction, unless the warehouse
    already holds its content; the report as a local ingest of the file gives. A file one of
    whose ranges was refused is stored as refused, without rows."""
    report = file_report(parts)
    if report.sha256:  # an unreadable file has no content to recognise
        existing = existing_batch(con, report.sha256, parts[0].mapping_sha256)
        if existing is not None:
            message = report.message if report.status == REFUSED else None
            return stored_before(report.path, report.sha256, existing, report.source, message)
    stored_parts = [p for p in parts if p.report.status == REFUSED][:1] or list(parts)
    if any(part.folder is None for part in stored_parts):
        raise RuntimeError(f"{report.path}: its part was skipped but its batch is not stored")
    batches = parquet_list(stored_parts[:1], "batches")
    with warehouse.transaction(con):
        batch_id = next_batch_id(con)
        con.execute(
            _STAGED_SQL.format(
                cases=parquet_list(stored_parts, "cases"),
                quarantine=parquet_list(stored_parts, "quarantine"),
            )
        )
        loaded, quarantined, replaced, superseded = load_staged(con, batch_id, 0, False)
        stored = replace(
            report,
            batch_id=batch_id,
            rows_loaded=loaded,
            rows_replaced=report.rows_replaced + replaced,
            cases_superseded=superseded,
        )
        if quarantined != report.rows_quarantined or not stored.balanced:
            raise RuntimeError(f"{report.path}: accounting does not balance; nothing was stored")
        con.execute(
            "INSERT INTO batches BY NAME SELECT * REPLACE (? AS batch_id, ? AS rows_read, "
            "? AS rows_loaded, ? AS rows_quarantined, ? AS rows_replaced, ? AS rows_skipped, "
            "?::JSON AS skip_reasons, ? AS cases_superseded, ? AS finished_at) "
            f"FROM read_parquet({batches})",
            [
                batch_id,
                stored.rows_read,
                loaded,
                stored.rows_quarantined,
                stored.rows_replaced,
                stored.rows_skipped,
                json.dumps(stored.skip_reasons),
                superseded,
                dt.datetime.now(),
            ],
        )
        drop_staging(con)
    return stored


def remove_parts(parts: Sequence[PreparedPart]) -> None:
    """Delete the parts' folders once they are committed (they hold case rows)."""
    for part in parts:
        if part.folder is not None:
            shutil.rmtree(part.folder, ignore_errors=True)


def known_contents(con: duckdb.DuckDBPyConnection, mapping: SourceMapping | None) -> frozenset[str]:
    """SHA-256 of every content the warehouse holds loaded the same way (for ``prepare_part``);
    not of refused files, which are read again to say why, as a local ingest does."""
    rows = con.execute(
        "SELECT DISTINCT sha256 FROM batches WHERE mapping_sha256 IS NOT DISTINCT FROM ? "
        "AND status <> 'refused'",
        [mapping.sha256 if mapping else None],
    ).fetchall()
    return frozenset(str(r[0]) for r in rows if r[0])
