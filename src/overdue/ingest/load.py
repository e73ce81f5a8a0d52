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
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import duckdb

from overdue import warehouse
from overdue.contract import FIELD_NAMES, REQUIRED
from overdue.ingest.normalise import quote_ident
from overdue.ingest.pii import mask_text
from overdue.ingest.read import (
    MAX_CELL_CHARS,
    ORDINAL,
    ColumnMap,
    Format,
    LineTooLongError,
    Reject,
    Source,
    SourceError,
    SourceQuery,
    Utf8Evidence,
    check_width,
    csv_headers,
    csv_rejects,
    csv_scan,
    discover_sources,
    drop_rejects,
    drop_scratch,
    inspect_source,
    is_line_too_long,
    kept_record,
    long_line_bytes,
    safe_names,
    shortened_sql,
    source_query,
    text_copy,
    too_long_message,
    utf8_evidence,
)
from overdue.ingest.tempdir import PREFIXES, ingest_folder, remove_abandoned
from overdue.ingest.validate import (
    RAW_TEXT_FIELD,
    extra_columns,
    rejected_record,
    screened_record,
    staging_sql,
)
from overdue.warehouse import (
    WarehouseDamagedError,
    WarehouseDeniedError,
    WarehouseLockedError,
    WarehouseWriteError,
    database_file,
    warehouse_fault,
    write_error,
    write_failure,
)

if TYPE_CHECKING:
    import polars as pl

    from overdue.ingest.sources import SourceMapping

# polars, pyarrow and the source mappings are imported where they are used: a plain CSV file
# needs none of them, and importing them costs a fresh `overdue ingest` process most of a second.

LOADED: Final = "loaded"
ALREADY_LOADED: Final = "already_loaded"
REFUSED: Final = "refused"

ProgressCallback = Callable[[Path, str, float | None], None]
"""Called with the file (its shown path, ``shown_path``), its stage (reading, writing, done) and
the share of it done, if known."""

EXIT_LOADED: Final = 0
EXIT_REFUSED: Final = 1
EXIT_FAILED: Final = 2
EXIT_QUARANTINED: Final = 3
_CUT_RECORD: Final = "[too long: 10,000+ characters]"
"""Stored instead of a record whose text the reader kept only the start of."""


def shown_path(path: Path) -> Path:
    """``path`` as stored, printed and logged: personal data in it masked
    (``张三_[mobile]_[resident_id].csv``). The file itself is read from ``path``."""
    return Path(mask_text(str(path)))


def exit_status(batches: Iterable[tuple[str, int]]) -> int:
    """The exit status of an ingest of files that ended as (status, rows quarantined): 0 all
    rows loaded (or already loaded), 3 some rows quarantined, 1 some file refused (wins over 3).
    2, the command could not run, is given where it stops (``overdue ingest``)."""
    ended = list(batches)
    if any(status == REFUSED for status, _ in ended):
        return EXIT_REFUSED
    if any(quarantined for _, quarantined in ended):
        return EXIT_QUARANTINED
    return EXIT_LOADED


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

    @property
    def exit_status(self) -> int:
        """0 all loaded, 3 some rows quarantined, 1 some file refused (``exit_status``)."""
        return exit_status((b.status, b.rows_quarantined) for b in self.batches)


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a regular file's content; ``None`` when there is none to read (a pipe or a
    device would never end, a link loop or a missing file cannot be opened)."""
    digest = hashlib.sha256()
    if not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def existing_batch(
    con: duckdb.DuckDBPyConnection, sha256: str, mapping_sha256: str | None = None
) -> tuple[int, str] | None:
    """The first batch of this content read the same way (directly, or by the same mapping)."""
    row = con.execute(
        "SELECT batch_id, status FROM batches WHERE sha256 = ? "
        "AND mapping_sha256 IS NOT DISTINCT FROM ? ORDER BY batch_id LIMIT 1",
        [sha256, mapping_sha256],
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
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


def stored_before(
    shown: Path,
    sha256: str,
    existing: tuple[int, str],
    source: str | None,
    message: str | None = None,
) -> BatchReport:
    """The report of a file whose content was stored before as batch ``existing`` (its id and
    status), read the same way (directly, or through the source mapping named ``source``)."""
    how = f" read by the same {source!r} mapping" if source else ""
    return BatchReport(
        shown,
        REFUSED if existing[1] == REFUSED else ALREADY_LOADED,
        existing[0],
        sha256,
        message=message or f"same content as batch {existing[0]}{how}",
        source=source,
    )


def _refuse(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    error: SourceError,
    run_id: str,
    started: dt.datetime,
    mapping: SourceMapping | None = None,
) -> BatchReport:
    """Record ``path`` as refused (masked message) unless this content was refused before."""
    shown = shown_path(path)
    message = mask_text(str(error))
    sha256 = file_sha256(path)
    source = mapping.name if mapping else None
    if sha256 is not None:
        existing = existing_batch(con, sha256, mapping.sha256 if mapping else None)
        if existing is not None:
            return stored_before(shown, sha256, existing, source, message)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    with warehouse.transaction(con):
        report = BatchReport(
            shown, REFUSED, next_batch_id(con), sha256, message=message, source=source
        )
        _insert_batch(
            con,
            replace(report, sha256=sha256 or ""),  # unreadable: no content to recognise later
            run_id=run_id,
            source=None,
            size=size,
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


def _update_staged(
    con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, list[str], str]]
) -> None:
    """Replace the reasons and record of the staged rows (``_ordinal``, reasons, record)."""
    if not rows:
        return
    import pyarrow as pa

    ordinals, reasons, records = zip(*rows, strict=True)
    updates = pa.table(
        {"_ordinal": list(ordinals), "reasons": list(reasons), "record": list(records)},
        schema=pa.schema(
            [("_ordinal", pa.int64()), ("reasons", pa.list_(pa.string())), ("record", pa.string())]
        ),
    )
    con.register("staged_updates", updates)
    con.execute(
        "UPDATE staged_rows SET reasons = s.reasons, record = s.record "
        "FROM staged_updates s WHERE staged_rows._ordinal = s._ordinal"
    )
    con.unregister("staged_updates")


def _keep_records_small(con: duckdb.DuckDBPyConnection) -> None:
    """Put ``[too long: N characters]`` in place of the over-long cells of flagged rows (and
    U+FFFD in place of NUL) before anything reads their records."""
    rows = con.execute(
        "SELECT _ordinal, reasons, record FROM staged_rows WHERE record IS NOT NULL AND "
        f"(strlen(record) > {MAX_CELL_CHARS} OR contains(record, '\\u0000'))"
    ).fetchall()
    _update_staged(con, [(o, list(r or []), kept_record(text)) for o, r, text in rows])


def _screen_candidates(con: duckdb.DuckDBPyConnection) -> None:
    """Look for personal data in the rows the prefilter marked; mask it, add ``pii:`` reasons."""
    rows = con.execute(
        "SELECT _ordinal, reasons, record FROM staged_rows WHERE pii_candidate"
    ).fetchall()
    screened = []
    for ordinal, row_reasons, record in rows:
        masked, found = screened_record(record, row_reasons or [])
        screened.append((ordinal, found, masked))
    _update_staged(con, screened)


def _reject_record(reject: Reject, columns: ColumnMap, *, lines: bool) -> tuple[str, list[str]]:
    """The stored record and reasons of a rejected record: its cells (or, for a JSON Lines
    line, its text), masked; only a placeholder when the reader kept just its start."""
    if reject.cut:
        text = json.dumps({RAW_TEXT_FIELD: _CUT_RECORD}, ensure_ascii=False)
        return text, [reject.reason]
    if lines:
        return screened_record(
            json.dumps({RAW_TEXT_FIELD: reject.text}, ensure_ascii=False), [reject.reason]
        )
    return rejected_record(reject, columns)


def _stage_rejects(
    con: duckdb.DuckDBPyConnection,
    rejects: Sequence[Reject],
    columns: ColumnMap,
    *,
    lines: bool = False,
) -> Counter[str]:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE staged_rejects "
        "(line BIGINT, reasons VARCHAR[], record VARCHAR)"
    )
    counts: Counter[str] = Counter()
    for reject in rejects:
        record, reasons = _reject_record(reject, columns, lines=lines)
        con.execute("INSERT INTO staged_rejects VALUES (?, ?, ?)", [reject.line, reasons, record])
        counts.update(reasons)
    return counts


def load_staged(
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
    winning = (  # when every good row wins, they are the rows to load: no join needed
        "coalesce(len(reasons), 0) = 0"
        if loaded == good
        else "_ordinal IN (SELECT _ordinal FROM staged_verdict WHERE wins)"
    )
    con.execute(
        f"INSERT INTO cases BY NAME SELECT {columns}, {batch_id}::BIGINT AS batch_id, "
        f"{line} AS source_line, extra FROM staged_rows WHERE {winning}"
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


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("staged_rows", "staged_rejects", "staged_verdict", "reject_keys"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    drop_scratch(con)


@contextmanager
def _unordered_writes(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB write rows in any order (and so in parallel) inside the block: rows carry
    their file position (``_ordinal``, ``source_line``)."""
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute("RESET preserve_insertion_order")


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


@contextmanager
def _insertion_order(con: duckdb.DuckDBPyConnection, *, preserve: bool) -> Iterator[None]:
    """Set ``preserve_insertion_order`` inside the block, and put the previous value back."""
    row = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    before = bool(row[0]) if row else True
    con.execute(f"SET preserve_insertion_order = {str(preserve).lower()}")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {str(before).lower()}")


def _stage(con: duckdb.DuckDBPyConnection, query: SourceQuery, as_of: dt.date) -> None:
    """Type, check and mark every row of ``query`` into ``staged_rows``.

    A positional query (CSV) is staged in file order, which DuckDB keeps while it reads, types
    and checks on every thread; its rows are then numbered in that order (``_ordinal``). A row
    number taken while reading would run the whole query on one thread.
    """
    sql = f"CREATE OR REPLACE TEMP TABLE staged_rows AS {staging_sql(query, as_of)}"
    if not query.positional:
        con.execute(sql)
        return
    with _insertion_order(con, preserve=True):
        con.execute(sql)
    con.execute(f"ALTER TABLE staged_rows ADD COLUMN {ORDINAL} BIGINT")
    con.execute(  # rows are appended in order, so their row ids increase with their position
        f"UPDATE staged_rows SET {ORDINAL} = n FROM (SELECT rowid AS id, "
        "row_number() OVER (ORDER BY rowid) AS n FROM staged_rows) p WHERE staged_rows.rowid = p.id"
    )


class _NotUtf8Error(Exception):
    """The file turned out not to be UTF-8 after all: most of its non-ASCII lines are not."""

    def __init__(self, evidence: Utf8Evidence) -> None:
        super().__init__()
        self.evidence = evidence


def _judged(source: Source, rejects: Sequence[Reject]) -> Source:
    """``source`` with its lines counted (``utf8_evidence``) if it was read as UTF-8 on the
    evidence of its start and DuckDB then found lines that are not; raises ``_NotUtf8Error``
    when the count says GB18030. Only such a file pays for a second pass over its bytes."""
    if (
        source.format is not Format.CSV
        or source.encoding != "utf-8"
        or source.evidence is not None
        or not any(r.reason == "parse:encoding" for r in rejects)
    ):
        return source
    evidence = utf8_evidence(source.path)
    if not evidence.is_utf8:
        raise _NotUtf8Error(evidence)
    return replace(source, evidence=evidence)


def _notes(source: Source, note: str | None) -> str | None:
    """What the batch records as its message: ``note`` and how the encoding was judged when
    the file mixes lines of two encodings."""
    judged = source.evidence.note() if source.evidence else None
    return "; ".join(n for n in (note, judged) if n) or None


def _load_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    run_id: str,
    as_of: dt.date,
    started: dt.datetime,
    notify: ProgressCallback,
) -> BatchReport:
    """Read ``source`` (via a UTF-8 copy if needed) and load it as one batch; a CSV record
    longer than DuckDB's default line size is read again with a larger one."""
    with ingest_folder(PREFIXES[0]) as tmp:
        text = text_copy(source, tmp)
        for line_bytes in (None, long_line_bytes(source)):
            query = source_query(con, source, text.path, line_bytes)
            try:
                with _unordered_writes(con):
                    return _load_query(
                        con,
                        source,
                        query,
                        run_id=run_id,
                        as_of=as_of,
                        started=started,
                        notify=notify,
                        note=text.note,
                    )
            except LineTooLongError:
                if line_bytes is not None:
                    raise SourceError(too_long_message(source)) from None
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


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
    note: str | None = None,
) -> BatchReport:
    """Stage, check, screen and load the rows of ``query`` in one transaction.

    With a ``mapping``, ``query`` holds the mapped cases, ``skipped`` the rows it skipped and
    ``rejects`` the raw lines that could not be split (named by ``reject_columns``). ``note``
    is what the batch records as its message.
    """
    path = shown_path(source.path)
    with warehouse.transaction(con):
        batch_id = next_batch_id(con)
        notify(path, "reading", 0.0)
        drop_rejects(con)
        try:
            with _reporting_progress(con, path, notify):
                _stage(con, query, as_of)
        except (duckdb.InvalidInputException, duckdb.IOException) as exc:
            if is_line_too_long(exc):
                raise LineTooLongError from None
            if write_failure(exc):
                raise  # the disk is full: the transaction says so
            # DuckDB's message may quote the file's content: name only the kind of error.
            raise SourceError(f"{path}: cannot be read ({type(exc).__name__})") from None
        found = csv_rejects(con) if query.rejects_table else list(rejects)
        rejects = sorted([*found, *query.rejects], key=lambda r: r.line)
        source = _judged(source, rejects)  # lines not UTF-8: count the file's evidence
        _keep_records_small(con)
        _screen_candidates(con)
        reasons = _reason_counts(con) + _stage_rejects(
            con, rejects, reject_columns or query.columns, lines=query.unparsed
        )
        notify(path, "writing", None)
        skip_reasons = dict(skipped or {})
        rows_skipped = sum(skip_reasons.values())
        rows_read = _count(con, "SELECT count(*) FROM staged_rows") + len(rejects) + rows_skipped
        loaded, quarantined, replaced, superseded = load_staged(
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
            message=_notes(source, note),
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
        drop_staging(con)
    return report


def _raw_csv(
    con: duckdb.DuckDBPyConnection, source: Source, text_path: Path
) -> tuple[pl.DataFrame, list[Reject]]:
    """A source CSV's rows as text (``_ordinal`` as in ``read``), and the lines DuckDB could
    not split into the header's columns (quarantined as ``parse:columns`` and the like)."""
    import polars as pl

    for line_bytes in (None, long_line_bytes(source)):
        drop_rejects(con)
        headers, size = csv_headers(con, source, text_path, line_bytes)
        check_width(source, headers)
        scan = csv_scan(source, text_path, size)
        cells = ", ".join(quote_ident(h) for h in headers)
        try:
            frame = con.sql(
                f"SELECT ordinality AS {ORDINAL}, {cells} FROM {scan} WITH ORDINALITY"
            ).pl()
        except duckdb.Error as exc:
            if is_line_too_long(exc) and line_bytes is None:
                continue
            raise
        rejects = csv_rejects(con)
        drop_rejects(con)
        return frame.with_columns(pl.col(ORDINAL).cast(pl.Int64)), rejects
    raise SourceError(too_long_message(source))


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
    import polars as pl

    from overdue.ingest.sources import MappingError, map_frame, read_source_frame

    shown = shown_path(source.path)
    notify(shown, "mapping", None)
    rejects: list[Reject] = []
    headers: tuple[str, ...] = ()
    with ingest_folder(PREFIXES[1]) as tmp:
        text = text_copy(source, tmp)
        try:
            if source.format is Format.CSV:
                raw, rejects = _raw_csv(con, source, text.path)
                try:
                    source = _judged(source, rejects)
                except _NotUtf8Error as not_utf8:
                    return _load_mapped(
                        con,
                        replace(source, encoding="gb18030", evidence=not_utf8.evidence),
                        mapping,
                        run_id=run_id,
                        as_of=as_of,
                        started=started,
                        notify=notify,
                    )
            else:
                raw = read_source_frame(text.path, source.format.value)
                check_width(source, raw.columns)
        except MappingError as exc:
            raise SourceError(str(exc)) from None
        except (pl.exceptions.PolarsError, duckdb.Error, UnicodeDecodeError) as exc:
            if write_failure(exc):
                raise
            raise SourceError(
                f"{shown}: cannot be read as {source.format.value} for the source "
                f"{mapping.name!r} ({type(exc).__name__}); fix or re-export the file"
            ) from None
    headers = tuple(c for c in raw.columns if c != ORDINAL)
    try:
        mapped = map_frame(raw, mapping)
    except MappingError as exc:
        raise SourceError(f"{shown}: {exc}") from None
    names = mapped.frame.columns[1:]
    columns = ColumnMap(tuple(names), tuple(names))
    cells = ", ".join(
        f"{shortened_sql(f'CAST({quote_ident(n)} AS VARCHAR)')} AS {quote_ident(n)}" for n in names
    )
    con.register("mapped_rows", mapped.frame.to_arrow())
    query = SourceQuery(
        columns,
        f"SELECT CAST({ORDINAL} AS BIGINT) AS {ORDINAL}, {cells} FROM mapped_rows",
        header_lines=1 if source.format.value == "csv" else 0,
        nul=source.has_nul or source.format is Format.PARQUET,
        shortened=True,
    )
    try:
        with _unordered_writes(con):
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
                reject_columns=ColumnMap(headers, safe_names(headers)),
                note=text.note,
            )
    finally:
        con.unregister("mapped_rows")


def _read_and_load(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    run_id: str,
    as_of: dt.date,
    started: dt.datetime,
    notify: ProgressCallback,
    mapping: SourceMapping | None,
) -> BatchReport:
    """Load ``source`` as one batch, through ``mapping`` if given; raises ``SourceError``."""
    if mapping is not None:
        return _load_mapped(
            con, source, mapping, run_id=run_id, as_of=as_of, started=started, notify=notify
        )
    try:
        return _load_source(con, source, run_id=run_id, as_of=as_of, started=started, notify=notify)
    except _NotUtf8Error as not_utf8:
        return _load_source(
            con,
            replace(source, encoding="gb18030", evidence=not_utf8.evidence),
            run_id=run_id,
            as_of=as_of,
            started=started,
            notify=notify,
        )


def _unexpected(path: Path, error: Exception) -> SourceError:
    """The refusal of a file whose reading failed in a way no rule above foresaw."""
    if isinstance(error, duckdb.OutOfMemoryException | MemoryError):
        return SourceError(
            f"{path}: reading it needs more memory than the limit (OVERDUE_DUCKDB_MEMORY_LIMIT); "
            "split the file or raise the limit; nothing of it was stored"
        )
    if isinstance(error, OSError):
        return SourceError(f"{path}: cannot be read ({error.strerror or type(error).__name__})")
    return SourceError(
        f"{path}: could not be read ({type(error).__name__}); nothing of it was stored. "
        "Re-export it as CSV UTF-8, and report the file's shape if it looks right"
    )


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    run_id: str,
    as_of: dt.date,
    on_progress: ProgressCallback | None = None,
    mapping: SourceMapping | None = None,
) -> BatchReport:
    """Ingest one file into the warehouse open on ``con`` as one batch (one transaction).

    With a ``mapping`` the file is in that source's own format and is read through it. Every
    file ends loaded (rows possibly quarantined), already loaded, or refused with a reason in
    ``batches``; only a failure of the warehouse itself raises (``WarehouseWriteError``, e.g. a
    full disk, ``WarehouseLockedError``, ``WarehouseDamagedError`` or ``WarehouseDeniedError``),
    after rolling the file's transaction back: an error of the warehouse is never the file's.
    """
    started = dt.datetime.now()
    store = database_file(con)
    notify = on_progress or (lambda _path, _stage, _done: None)
    shown = shown_path(path)
    name = mapping.name if mapping else None
    remove_abandoned()  # a killed ingest's transcoded copy of case records
    try:
        source = inspect_source(path)
        existing = existing_batch(con, source.sha256, mapping.sha256 if mapping else None)
        if existing is not None:
            return stored_before(shown, source.sha256, existing, name)
        report = _read_and_load(
            con,
            source,
            run_id=run_id,
            as_of=as_of,
            started=started,
            notify=notify,
            mapping=mapping,
        )
    except SourceError as error:
        # DuckDB's own error, kept as the context of the refusal, may be the warehouse's
        if fault := warehouse_fault(error.__context__ or error, store):
            raise fault from None
        return _refuse(con, path, error, run_id, started, mapping)
    except WarehouseWriteError as error:
        raise WarehouseWriteError(f"{shown}: {error}") from None
    except (WarehouseLockedError, WarehouseDamagedError, WarehouseDeniedError):
        raise
    except Exception as error:  # a file ends refused with a reason, never as a traceback
        if what := write_failure(error):  # e.g. no room for the transcoded copy
            raise WarehouseWriteError(f"{shown}: {write_error(what)}") from None
        if fault := warehouse_fault(error, store):
            raise fault from None
        return _refuse(con, path, _unexpected(shown, error), run_id, started, mapping)
    notify(shown, "done", 1.0)
    return report


def ingest_path(
    path: Path,
    warehouse_path: Path,
    *,
    run_id: str,
    as_of: dt.date,
    memory_limit: str | None = None,
    mapping: SourceMapping | None = None,
) -> BatchReport:
    """Ingest one file as one batch in a warehouse connection of its own: the unit a pipeline
    task retries alone (``ingest_paths`` keeps one connection for all its files)."""
    with warehouse.open_warehouse(warehouse_path, memory_limit=memory_limit) as con:
        return ingest_file(con, path, run_id=run_id, as_of=as_of, mapping=mapping)


def batch_record(report: BatchReport, *, mapped: bool) -> dict[str, Any]:
    """A file's counts, status and SHA-256 as plain values (never rows), as pipeline runs
    return them; the path is the masked one stored in ``batches``. Files read through a source
    mapping add its name and the rows it skipped, so read = loaded + quarantined + replaced +
    skipped."""
    record: dict[str, Any] = {
        "path": str(report.path),
        "status": report.status,
        "batch_id": report.batch_id,
        "sha256": report.sha256,
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
        "rows_replaced": report.rows_replaced,
        "cases_superseded": report.cases_superseded,
        "message": report.message,
    }
    if mapped:
        record |= {
            "source": report.source,
            "rows_skipped": report.rows_skipped,
            "skip_reasons": report.skip_reasons,
        }
    return record


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
