"""Ingest split in two for a cluster: workers prepare parts, the one writer commits them.

``prepare_part`` runs anywhere (a Dask worker): it ingests one file exactly as ``load`` does,
but into a private in-memory warehouse, and writes what that stored (its cases, quarantined rows
and ``batches`` row) as Parquet into a folder of a staging area every worker and the writer see.
It never opens the warehouse. ``commit_part`` runs in the one process that writes the warehouse:
it compares the part's cases with the stored ones exactly as a local ingest does (the newer
version of a case wins) and stores the part as one batch in one transaction. A part whose
content the warehouse already holds is not stored again, so a re-run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import duckdb

from overdue import warehouse
from overdue.ingest.load import (
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
    """What a worker passes back for one file: the part's folder (None when its content was
    known and nothing was read), the file's report (masked path, counts, SHA-256) and the
    source mapping's hash it was read through. Never rows."""

    folder: str | None
    report: BatchReport
    mapping_sha256: str | None = None


@contextmanager
def private_warehouse(memory_limit: str | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An empty warehouse in memory, with the schema, for one worker's file."""
    with warehouse.scratch(memory_limit) as con:
        warehouse.migrate(con)
        yield con


def prepare_part(
    path: Path,
    staging: Path,
    *,
    run_id: str,
    as_of: dt.date,
    known: frozenset[str] = frozenset(),
    memory_limit: str | None = None,
    mapping: SourceMapping | None = None,
) -> PreparedPart:
    """Ingest ``path`` (through ``mapping`` if given) into a private warehouse and write what
    it stored as Parquet into a new folder under ``staging``; nothing is read when the file's
    SHA-256 is in ``known`` (content the warehouse holds, read the same way)."""
    mapping_sha256 = mapping.sha256 if mapping else None
    sha256 = file_sha256(path)
    if sha256 is not None and sha256 in known:
        report = BatchReport(shown_path(path), "known", sha256=sha256)
        return PreparedPart(None, report, mapping_sha256)
    staging.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="part-", dir=staging))
    with private_warehouse(memory_limit) as con:
        report = ingest_file(con, path, run_id=run_id, as_of=as_of, mapping=mapping)
        for table in PART_TABLES:
            target = quote_literal(str(folder / f"{table}.parquet"))
            con.execute(f"COPY {table} TO {target} (FORMAT parquet)")
    return PreparedPart(str(folder), report, mapping_sha256)


def commit_part(con: duckdb.DuckDBPyConnection, part: PreparedPart) -> BatchReport:
    """Store ``part`` in the warehouse open on ``con`` as one batch in one transaction, unless
    the warehouse already holds its content; the report as a local ingest of the file gives."""
    report = part.report
    if report.sha256:  # an unreadable file has no content to recognise
        existing = existing_batch(con, report.sha256, part.mapping_sha256)
        if existing is not None:
            message = report.message if report.status == "refused" else None
            return stored_before(report.path, report.sha256, existing, report.source, message)
    if part.folder is None:
        raise RuntimeError(f"{report.path}: its part was skipped but its batch is not stored")
    files = {t: quote_literal(str(Path(part.folder) / f"{t}.parquet")) for t in PART_TABLES}
    with warehouse.transaction(con):
        batch_id = next_batch_id(con)
        con.execute(_STAGED_SQL.format(cases=files["cases"], quarantine=files["quarantine"]))
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
            "INSERT INTO batches BY NAME SELECT * REPLACE (? AS batch_id, ? AS rows_loaded, "
            "? AS rows_replaced, ? AS cases_superseded, ? AS finished_at) "
            f"FROM read_parquet({files['batches']})",
            [batch_id, loaded, stored.rows_replaced, superseded, dt.datetime.now()],
        )
        drop_staging(con)
    return stored


def remove_part(part: PreparedPart) -> None:
    """Delete the part's folder once it is committed (it holds case rows)."""
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
