"""Load files into the warehouse: one batch and one transaction per file.

A file is read, typed and checked by one DuckDB query (``read`` and ``validate``) into a
temporary table; its good rows are de-duplicated by ``case_id`` (latest ``record_updated_at``
wins, ties by later line, a missing time loses to any time), compared with the cases already
stored (ties go to the newer batch), and written together with its quarantined rows and its
``batches`` row in one transaction. A file whose SHA-256 is already in ``batches`` is not read
again.

A file in another organisation's format is read through its source mapping
(``ingest.sources``): the mapping turns the rows that are negotiation cases into contract
records and counts the others as skipped, with a reason; the cases then go through exactly the
same checks. Such a batch balances as read = loaded + quarantined + replaced + skipped, and it is
"already loaded" only for the same file with the same mapping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import duckdb
import polars as pl
import pyarrow as pa

from overdue import warehouse
from overdue.contract import FIELD_NAMES, REQUIRED
from overdue.ingest.normalise import quote_ident, quote_literal
from overdue.ingest.read import (
    ORDINAL,
    REJECTS_SCAN,
    REJECTS_TABLE,
    ColumnMap,
    Format,
    Reject,
    Source,
    SourceError,
    SourceQuery,
    csv_rejects,
    discover_sources,
    drop_rejects,
    drop_scratch,
    inspect_source,
    source_query,
    utf8_copy,
)
from overdue.ingest.sources import MappingError, SourceMapping, map_frame, read_source_frame
from overdue.ingest.validate import (
    extra_columns,
    rejected_record,
    screened_record,
    staging_sql,
)

LOADED: Final = "loaded"
ALREADY_LOADED: Final = "already_loaded"
REFUSED: Final = "refused"

ProgressCallback = Callable[[Path, str, float | None], None]
"""Called with the file, its stage (reading, writing, done) and the share of it done, if known."""


@dataclass(frozen=True)
class BatchReport:
    """What happened to one file.

    ``rows_read = rows_loaded + rows_quarantined + rows_replaced + rows_skipped``; rows are
    skipped only by a source mapping (rows that are not negotiation cases, by reason).
    """

    path: Path
    status: str  # loaded, already_loaded or refused
    batch_id: int | None = None
    sha256: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_replaced: int = 0
    cases_superseded: int = 0
    unknown_columns: tuple[str, ...] = ()
    reasons: dict[str, int] = field(default_factory=dict)
    missing_required: tuple[str, ...] = ()  # required fields without a column in the file
    message: str | None = None
    rows_skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    source: str | None = None  # the source mapping the file was read through

    @property
    def balanced(self) -> bool:
        """Every row read was loaded, quarantined, replaced by a newer version, or skipped."""
        return self.rows_read == (
            self.rows_loaded + self.rows_quarantined + self.rows_replaced + self.rows_skipped
        )


@dataclass(frozen=True)
class IngestSummary:
    """All files of one ``overdue ingest`` run."""

    run_id: str
    batches: tuple[BatchReport, ...]

    def total(self, name: str) -> int:
        """Sum of one count (e.g. ``rows_read``) over the batches."""
        return sum(int(getattr(b, name)) for b in self.batches)

    @property
    def refused(self) -> tuple[BatchReport, ...]:
        """Files that could not be read at all."""
        return tuple(b for b in self.batches if b.status == REFUSED)


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _existing_batch(
    con: duckdb.DuckDBPyConnection, sha256: str, mapping_sha256: str | None = None
) -> tuple[int, str] | None:
    """The first batch of this content read the same way (directly, or by the same mapping)."""
    row = con.execute(
        "SELECT batch_id, status FROM batches WHERE sha256 = ? "
        "AND mapping_sha256 IS NOT DISTINCT FROM ? ORDER BY batch_id LIMIT 1",
        [sha256, mapping_sha256],
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM batches").fetchone()
    assert row is not None
    return int(row[0])


def _insert_batch(
    con: duckdb.DuckDBPyConnection,
    report: BatchReport,
    *,
    run_id: str,
    source: Source | None,
    size: int,
    started: dt.datetime,
    mapping: SourceMapping | None = None,
) -> None:
    con.execute(
        "INSERT INTO batches BY NAME SELECT ? AS batch_id, ? AS run_id, ? AS path, ? AS sha256, "
        "? AS bytes, ? AS format, ? AS encoding, ? AS rows_read, ? AS rows_loaded, "
        "? AS rows_quarantined, ? AS rows_replaced, ? AS cases_superseded, "
        "?::VARCHAR[] AS unknown_columns, ? AS started_at, ? AS finished_at, ? AS status, "
        "? AS message, ? AS rows_skipped, ?::JSON AS skip_reasons, ? AS source, "
        "? AS mapping_sha256",
        [
            report.batch_id,
            run_id,
            str(report.path),
            report.sha256,
            size,
            source.format.value if source else None,
            source.encoding if source else None,
            report.rows_read,
            report.rows_loaded,
            report.rows_quarantined,
            report.rows_replaced,
            report.cases_superseded,
            list(report.unknown_columns),
            started,
            dt.datetime.now(),
            report.status,
            report.message,
            report.rows_skipped,
            json.dumps(report.skip_reasons),
            mapping.name if mapping else None,
            mapping.sha256 if mapping else None,
        ],
    )


def _refuse(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    error: SourceError,
    run_id: str,
    started: dt.datetime,
    mapping: SourceMapping | None = None,
) -> BatchReport:
    sha256 = _sha256(path)
    source = mapping.name if mapping else None
    if sha256 is None:
        return BatchReport(path, REFUSED, message=str(error), source=source)
    existing = _existing_batch(con, sha256, mapping.sha256 if mapping else None)
    if existing is not None:
        return BatchReport(
            path,
            existing[1] if existing[1] == REFUSED else ALREADY_LOADED,
            existing[0],
            sha256,
            message=str(error),
            source=source,
        )
    with warehouse.transaction(con):
        report = BatchReport(
            path, REFUSED, _next_batch_id(con), sha256, message=str(error), source=source
        )
        _insert_batch(
            con,
            report,
            run_id=run_id,
            source=None,
            size=path.stat().st_size,
            started=started,
            mapping=mapping,
        )
    return report


_LINE_SQL: Final = """
CREATE OR REPLACE TEMP TABLE reject_keys AS
    SELECT line - {header} - row_number() OVER (ORDER BY line) AS key FROM staged_rejects;
"""


def _line_of(header: int, with_rejects: bool) -> str:
    """SQL of the line of a staged row: its ordinal, shifted past the header and rejected lines."""
    base = f"_ordinal + {header}"
    if not with_rejects:
        return base
    return f"{base} + (SELECT count(*) FROM reject_keys k WHERE k.key < _ordinal)"


_DEDUP_SQL: Final = """
CREATE OR REPLACE TEMP TABLE staged_verdict AS
WITH ranked AS (
    SELECT _ordinal, case_id, record_updated_at,
           row_number() OVER (
               PARTITION BY case_id
               ORDER BY record_updated_at DESC NULLS LAST, _ordinal DESC
           ) AS version_rank
    FROM staged_rows WHERE coalesce(len(reasons), 0) = 0
),
winners AS (SELECT * FROM ranked WHERE version_rank = 1)
SELECT w._ordinal, w.case_id,
       c.case_id IS NOT NULL AS stored,
       c.case_id IS NULL
           OR coalesce(w.record_updated_at, '-infinity'::TIMESTAMP)
              >= coalesce(c.record_updated_at, '-infinity'::TIMESTAMP) AS wins
FROM winners w LEFT JOIN cases c ON c.case_id = w.case_id
"""


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _screen_candidates(con: duckdb.DuckDBPyConnection) -> None:
    """Look for personal data in the rows the prefilter marked; mask it, add ``pii:`` reasons."""
    rows = con.execute(
        "SELECT _ordinal, reasons, record FROM staged_rows WHERE pii_candidate"
    ).fetchall()
    if not rows:
        return
    ordinals, reasons, records = [], [], []
    for ordinal, row_reasons, record in rows:
        masked, found = screened_record(record, row_reasons or [])
        ordinals.append(ordinal)
        reasons.append(found)
        records.append(masked)
    screened = pa.table(
        {"_ordinal": ordinals, "reasons": reasons, "record": records},
        schema=pa.schema(
            [("_ordinal", pa.int64()), ("reasons", pa.list_(pa.string())), ("record", pa.string())]
        ),
    )
    con.register("screened_rows", screened)
    con.execute(
        "UPDATE staged_rows SET reasons = s.reasons, record = s.record "
        "FROM screened_rows s WHERE staged_rows._ordinal = s._ordinal"
    )
    con.unregister("screened_rows")


def _stage_rejects(
    con: duckdb.DuckDBPyConnection, rejects: Sequence[Reject], columns: ColumnMap
) -> Counter[str]:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE staged_rejects "
        "(line BIGINT, reasons VARCHAR[], record VARCHAR)"
    )
    counts: Counter[str] = Counter()
    for reject in rejects:
        record, reasons = rejected_record(reject, columns)
        con.execute("INSERT INTO staged_rejects VALUES (?, ?, ?)", [reject.line, reasons, record])
        counts.update(reasons)
    return counts


def _load_staged(
    con: duckdb.DuckDBPyConnection, batch_id: int, header: int, with_rejects: bool
) -> tuple[int, int, int, int]:
    """Move staged rows into ``cases`` and ``quarantine``.

    Returns (loaded, quarantined, replaced duplicates, stored cases superseded).
    """
    if with_rejects:
        con.execute(_LINE_SQL.format(header=header))
    con.execute(_DEDUP_SQL)
    good = _count(con, "SELECT count(*) FROM staged_rows WHERE coalesce(len(reasons), 0) = 0")
    winners = _count(con, "SELECT count(*) FROM staged_verdict")
    loaded = _count(con, "SELECT count(*) FROM staged_verdict WHERE wins")
    superseded = _count(con, "SELECT count(*) FROM staged_verdict WHERE wins AND stored")
    con.execute(
        "DELETE FROM cases WHERE case_id IN "
        "(SELECT case_id FROM staged_verdict WHERE wins AND stored)"
    )
    columns = ", ".join(f'"{c}"' for c in FIELD_NAMES)
    line = _line_of(header, with_rejects)
    con.execute(
        f"INSERT INTO cases BY NAME SELECT {columns}, {batch_id}::BIGINT AS batch_id, "
        f"{line} AS source_line, extra FROM staged_rows "
        "WHERE _ordinal IN (SELECT _ordinal FROM staged_verdict WHERE wins)"
    )
    con.execute(
        f"INSERT INTO quarantine SELECT {batch_id}::BIGINT, {line}, reasons, record::JSON "
        "FROM staged_rows WHERE len(reasons) > 0 ORDER BY _ordinal"
    )
    quarantined = _count(con, "SELECT count(*) FROM staged_rows WHERE len(reasons) > 0")
    if with_rejects:
        con.execute(
            f"INSERT INTO quarantine SELECT {batch_id}::BIGINT, line, reasons, record::JSON "
            "FROM staged_rejects ORDER BY line"
        )
        quarantined += _count(con, "SELECT count(*) FROM staged_rejects")
    return loaded, quarantined, (good - winners) + (winners - loaded), superseded


def _reason_counts(con: duckdb.DuckDBPyConnection) -> Counter[str]:
    rows = con.execute(
        "SELECT reason, count(*) FROM (SELECT unnest(reasons) AS reason FROM staged_rows "
        "WHERE len(reasons) > 0) GROUP BY reason"
    ).fetchall()
    return Counter({str(r): int(n) for r, n in rows})


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("staged_rows", "staged_rejects", "staged_verdict", "reject_keys"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    drop_scratch(con)


@contextmanager
def _reporting_progress(
    con: duckdb.DuckDBPyConnection, path: Path, notify: ProgressCallback
) -> Iterator[None]:
    """Report DuckDB's progress on the statement run inside the block, from a second thread."""
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(0.25):
            done = con.query_progress()
            if done >= 0:
                notify(path, "reading", min(done, 100.0) / 100)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        watcher.join()


class _NotUtf8Error(Exception):
    """The file turned out not to be UTF-8 after all."""


def _load_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    run_id: str,
    as_of: dt.date,
    started: dt.datetime,
    notify: ProgressCallback,
) -> BatchReport:
    """Read ``source`` (via a UTF-8 copy if needed) and load it as one batch."""
    with tempfile.TemporaryDirectory(prefix="overdue-ingest-") as tmp:
        text_path = utf8_copy(source, Path(tmp))
        query = source_query(con, source, text_path)
        # Rows carry their file position (_ordinal, source_line), so DuckDB may write them in
        # any order, which lets it write in parallel.
        con.execute("SET preserve_insertion_order = false")
        try:
            return _load_query(
                con, source, query, run_id=run_id, as_of=as_of, started=started, notify=notify
            )
        finally:
            con.execute("RESET preserve_insertion_order")


def _load_query(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    query: SourceQuery,
    *,
    run_id: str,
    as_of: dt.date,
    started: dt.datetime,
    notify: ProgressCallback,
    mapping: SourceMapping | None = None,
    skipped: dict[str, int] | None = None,
    rejects: Sequence[Reject] = (),
    reject_columns: ColumnMap | None = None,
) -> BatchReport:
    """Stage, check, screen and load the rows of ``query`` in one transaction.

    With a ``mapping``, ``query`` holds the mapped cases, ``skipped`` the rows it skipped and
    ``rejects`` the raw lines that could not be split (named by ``reject_columns``).
    """
    path = source.path
    with warehouse.transaction(con):
        batch_id = _next_batch_id(con)
        notify(path, "reading", 0.0)
        drop_rejects(con)
        try:
            with _reporting_progress(con, path, notify):
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE staged_rows AS {staging_sql(query, as_of)}"
                )
        except (duckdb.InvalidInputException, duckdb.IOException) as exc:
            # DuckDB's message may quote the file's content: name only the kind of error.
            raise SourceError(f"{path}: cannot be read ({type(exc).__name__})") from None
        rejects = csv_rejects(con) if query.rejects_table else list(rejects)
        if source.encoding == "utf-8" and any(r.reason == "parse:encoding" for r in rejects):
            raise _NotUtf8Error
        _screen_candidates(con)
        reasons = _reason_counts(con) + _stage_rejects(
            con, rejects, reject_columns or query.columns
        )
        notify(path, "writing", None)
        skip_reasons = dict(skipped or {})
        rows_skipped = sum(skip_reasons.values())
        rows_read = _count(con, "SELECT count(*) FROM staged_rows") + len(rejects) + rows_skipped
        loaded, quarantined, replaced, superseded = _load_staged(
            con, batch_id, query.header_lines, bool(rejects)
        )
        report = BatchReport(
            path,
            LOADED,
            batch_id,
            source.sha256,
            rows_read,
            loaded,
            quarantined,
            replaced,
            superseded,
            extra_columns(query.columns),
            dict(reasons.most_common()),
            tuple(f for f in REQUIRED if f not in query.columns.fields),
            rows_skipped=rows_skipped,
            skip_reasons=skip_reasons,
            source=mapping.name if mapping else None,
        )
        if not report.balanced:
            raise RuntimeError(f"{path}: accounting does not balance; nothing was stored")
        _insert_batch(
            con,
            report,
            run_id=run_id,
            source=source,
            size=source.bytes,
            started=started,
            mapping=mapping,
        )
        _drop_staging(con)
    return report


def _raw_csv(
    con: duckdb.DuckDBPyConnection, source: Source, text_path: Path
) -> tuple[pl.DataFrame, list[Reject]]:
    """A source CSV's rows as text (``_ordinal`` as in ``read``), and the lines DuckDB could
    not split into the header's columns (quarantined as ``parse:columns`` and the like)."""
    delim = "\t" if source.path.suffix.lower() == ".tsv" else ","
    drop_rejects(con)
    scan = (
        f"read_csv({quote_literal(str(text_path))}, all_varchar = true, header = true, "
        f"delim = {quote_literal(delim)}, quote = '\"', escape = '\"', strict_mode = true, "
        f"store_rejects = true, rejects_table = '{REJECTS_TABLE}', "
        f"rejects_scan = '{REJECTS_SCAN}', normalize_names = false)"
    )
    headers = [d[0] for d in con.sql(f"SELECT * FROM {scan} LIMIT 0").description]
    cells = ", ".join(quote_ident(h) for h in headers)
    frame = con.sql(f"SELECT ordinality AS {ORDINAL}, {cells} FROM {scan} WITH ORDINALITY").pl()
    rejects = csv_rejects(con)
    drop_rejects(con)
    return frame.with_columns(pl.col(ORDINAL).cast(pl.Int64)), rejects


def _load_mapped(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    mapping: SourceMapping,
    *,
    run_id: str,
    as_of: dt.date,
    started: dt.datetime,
    notify: ProgressCallback,
) -> BatchReport:
    """Read ``source`` in its own format, map it with ``mapping``, and load the cases."""
    notify(source.path, "mapping", None)
    rejects: list[Reject] = []
    headers: tuple[str, ...] = ()
    with tempfile.TemporaryDirectory(prefix="overdue-source-") as tmp:
        text_path = utf8_copy(source, Path(tmp))
        try:
            if source.format is Format.CSV:
                raw, rejects = _raw_csv(con, source, text_path)
                if source.encoding == "utf-8" and any(
                    r.reason == "parse:encoding" for r in rejects
                ):
                    return _load_mapped(
                        con,
                        replace(source, encoding="gb18030"),
                        mapping,
                        run_id=run_id,
                        as_of=as_of,
                        started=started,
                        notify=notify,
                    )
            else:
                raw = read_source_frame(text_path, source.format.value)
        except MappingError as exc:
            raise SourceError(str(exc)) from None
        except (pl.exceptions.PolarsError, duckdb.Error, UnicodeDecodeError) as exc:
            raise SourceError(
                f"{source.path}: cannot be read as {source.format.value} for the source "
                f"{mapping.name!r} ({type(exc).__name__}); fix or re-export the file"
            ) from None
    headers = tuple(c for c in raw.columns if c != ORDINAL)
    try:
        mapped = map_frame(raw, mapping)
    except MappingError as exc:
        raise SourceError(f"{source.path}: {exc}") from None
    names = mapped.frame.columns[1:]
    columns = ColumnMap(tuple(names), tuple(names))
    cells = ", ".join(f"CAST({quote_ident(n)} AS VARCHAR) AS {quote_ident(n)}" for n in names)
    con.register("mapped_rows", mapped.frame.to_arrow())
    query = SourceQuery(
        columns,
        f"SELECT CAST({ORDINAL} AS BIGINT) AS {ORDINAL}, {cells} FROM mapped_rows",
        header_lines=1 if source.format.value == "csv" else 0,
    )
    con.execute("SET preserve_insertion_order = false")
    try:
        return _load_query(
            con,
            source,
            query,
            run_id=run_id,
            as_of=as_of,
            started=started,
            notify=notify,
            mapping=mapping,
            skipped=mapped.skipped,
            rejects=rejects,
            reject_columns=ColumnMap(headers, headers),
        )
    finally:
        con.execute("RESET preserve_insertion_order")
        con.unregister("mapped_rows")


def ingest_file(  # noqa: PLR0911 - each way a file can end has its own report
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    run_id: str,
    as_of: dt.date,
    on_progress: ProgressCallback | None = None,
    mapping: SourceMapping | None = None,
) -> BatchReport:
    """Ingest one file into the warehouse open on ``con`` as one batch (one transaction).

    With a ``mapping`` the file is in that source's own format and is read through it.
    """
    started = dt.datetime.now()
    notify = on_progress or (lambda _path, _stage, _done: None)
    name = mapping.name if mapping else None
    try:
        source = inspect_source(path)
    except SourceError as error:
        return _refuse(con, path, error, run_id, started, mapping)
    existing = _existing_batch(con, source.sha256, mapping.sha256 if mapping else None)
    if existing is not None:
        status = ALREADY_LOADED if existing[1] != REFUSED else REFUSED
        how = f" read by the same {name!r} mapping" if mapping else ""
        return BatchReport(
            path,
            status,
            existing[0],
            source.sha256,
            message=f"same content as batch {existing[0]}{how}",
            source=name,
        )
    if mapping is not None:
        try:
            report = _load_mapped(
                con,
                source,
                mapping,
                run_id=run_id,
                as_of=as_of,
                started=started,
                notify=notify,
            )
        except SourceError as error:
            return _refuse(con, path, error, run_id, started, mapping)
        notify(path, "done", 1.0)
        return report
    try:
        report = _load_source(
            con, source, run_id=run_id, as_of=as_of, started=started, notify=notify
        )
    except _NotUtf8Error:
        try:
            report = _load_source(
                con,
                replace(source, encoding="gb18030"),
                run_id=run_id,
                as_of=as_of,
                started=started,
                notify=notify,
            )
        except SourceError as error:
            return _refuse(con, path, error, run_id, started)
    except SourceError as error:
        return _refuse(con, path, error, run_id, started)
    notify(path, "done", 1.0)
    return report


def ingest_paths(
    patterns: Sequence[str | Path],
    warehouse_path: Path,
    *,
    as_of: dt.date | None = None,
    run_id: str | None = None,
    memory_limit: str | None = None,
    on_progress: ProgressCallback | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
    mapping: SourceMapping | None = None,
) -> IngestSummary:
    """Ingest every file named by ``patterns`` (files, folders, globs), one batch per file;
    with a ``mapping``, every file is read as an export of that source."""
    run = run_id or str(uuid.uuid4())
    day = as_of or dt.date.today()
    paths = discover_sources(patterns)
    reports = []
    with warehouse.open_warehouse(warehouse_path, memory_limit=memory_limit) as con:
        for path in paths:
            report = ingest_file(
                con, path, run_id=run, as_of=day, on_progress=on_progress, mapping=mapping
            )
            reports.append(report)
            if on_batch is not None:
                on_batch(report)
    return IngestSummary(run, tuple(reports))
