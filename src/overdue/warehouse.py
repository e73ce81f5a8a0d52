"""The one place that opens DuckDB: connections, the schema and its migrations, transactions.

Every table of the warehouse is created by a numbered migration in ``MIGRATIONS``; a new table
(``features``, ``model_runs``, ...) is one more ``Migration`` appended to the tuple. Opening the
warehouse for writing applies the migrations it has not seen yet, each in its own transaction,
and records them in ``schema_migrations``.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import struct
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
from filelock import FileLock, Timeout

from overdue.contract import FIELDS, Kind

DUCKDB_TYPE: Final[dict[Kind, str]] = {
    Kind.STRING: "VARCHAR",
    Kind.TIMESTAMP: "TIMESTAMP",
    Kind.DATE: "DATE",
    Kind.INT: "INTEGER",
    Kind.DECIMAL: "DOUBLE",
    Kind.ENUM: "VARCHAR",
    Kind.BOOL: "BOOLEAN",
}
"""The warehouse column type of each contract kind (enums are stored as their English code)."""


class WarehouseLockedError(OSError):
    """Another process holds the warehouse file open for writing."""


class PipelineBusyError(RuntimeError):
    """Another writer (a pipeline run, ``overdue ingest``, ``train`` ...) holds the warehouse."""


@contextmanager
def pipeline_lock(warehouse: Path, wait_seconds: float) -> Iterator[None]:
    """Hold the one-writer lock beside ``warehouse`` (``<warehouse>.lock``), waiting at most
    ``wait_seconds`` for the writer holding it to finish. Every command that writes the
    warehouse, the models or the published folder holds it, so none of them interleave."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{warehouse}.lock")
    try:
        lock.acquire(timeout=wait_seconds)
    except Timeout:
        raise PipelineBusyError(
            f"another command is writing {warehouse} (a pipeline run, `overdue ingest` or "
            f"`overdue train`); waited {wait_seconds} s. Try again when it finishes"
        ) from None
    try:
        yield
    finally:
        lock.release()


class WarehouseWriteError(OSError):
    """The warehouse or a temporary file could not be written (disk full, quota, read-only
    file system): the transaction was rolled back and nothing of it was stored."""


class WarehouseDamagedError(OSError):
    """The warehouse file itself cannot be read (truncated or corrupt): never the fault of a
    file being ingested."""


class WarehouseDeniedError(OSError):
    """The warehouse file, or its folder (where the ``.wal`` goes), may not be written."""


_WRITE_FAILURES: Final = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EFBIG: "file too large",
}


def write_failure(error: BaseException) -> str | None:
    """What stopped a write (``no space left on device`` ...), if ``error`` is a failed write
    of the disk rather than a fault of the data; else None."""
    if isinstance(error, OSError) and error.errno in _WRITE_FAILURES:
        return _WRITE_FAILURES[error.errno]
    if isinstance(error, duckdb.Error):
        text = str(error).lower()
        return next((what for what in _WRITE_FAILURES.values() if what in text), None)
    return None


def write_error(what: str) -> WarehouseWriteError:
    """The error that stops a command whose write failed: what happened, that nothing of the
    transaction was stored, and what to do."""
    return WarehouseWriteError(
        f"could not write the warehouse or its temporary files ({what}); the transaction was "
        "rolled back, so nothing of it was stored. Free disk space and run the command again"
    )


HEADER_BYTES: Final = 4096
"""DuckDB's file starts with a main header and two database headers of this size each."""
DEFAULT_BLOCK_BYTES: Final = 262_144


def _head(path: Path) -> tuple[int, bytes] | None:
    """The size of the file at ``path`` and its first 12 KiB; None when it is missing, empty
    or unreadable (DuckDB then says why: permission denied ...)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            return (size, handle.read(3 * HEADER_BYTES)) if size else None
    except OSError:
        return None


def damage(path: Path) -> str | None:
    """Why the DuckDB file at ``path`` cannot be whole (shorter than its headers, not a DuckDB
    file, or cut short of blocks in use), from its first 12 KiB; None when it looks whole or
    does not exist.

    The header's block count is no bound by itself: DuckDB cuts free blocks off the end of
    the file after writing the header (a whole warehouse of 6 blocks said 9, 3 of them free),
    so a file holding fewer blocks than its header counts is asked how many are free
    (``PRAGMA database_size``): cut short only when more are missing than are free."""
    if (found := _head(path)) is None:
        return None
    size, head = found
    if len(head) < 3 * HEADER_BYTES:
        return f"only {size:,} bytes, shorter than its headers"
    if head[8:12] != b"DUCK":
        return "not a DuckDB file"
    headers = [
        struct.unpack_from("<QQqqQQ", head, offset) for offset in (HEADER_BYTES, 2 * HEADER_BYTES)
    ]
    _, _, _, _, blocks, block_bytes = max(headers, key=lambda header: header[1])
    held = (size - 3 * HEADER_BYTES) // (block_bytes or DEFAULT_BLOCK_BYTES)
    return _cut_short(path, blocks, held) if held < blocks else None


def _cut_short(path: Path, blocks: int, held: int) -> str | None:
    """Why a file holding ``held`` of the ``blocks`` its header counts is cut short: more are
    missing than DuckDB counts free; None when it is whole or cannot be asked here."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            free = int(con.execute("PRAGMA database_size").fetchall()[0][5])
    except duckdb.Error as error:  # open elsewhere for writing: not known here, not blamed
        return "truncated" if "could not read enough bytes" in str(error).lower() else None
    if blocks - held > free:
        return f"{held:,} blocks of the {blocks:,} its header counts, {free:,} free: truncated"
    return None


def damaged_error(path: Path, why: str) -> WarehouseDamagedError:
    """The one line every command prints for a damaged warehouse."""
    return WarehouseDamagedError(
        f"the warehouse {path} cannot be read: it looks damaged ({why}); restore it from a "
        "backup (nothing was changed)"
    )


def denied_error(path: Path) -> WarehouseDeniedError:
    """The one line every command prints when the warehouse may not be written."""
    return WarehouseDeniedError(
        f"could not write the warehouse {path} (permission denied); nothing was stored. Let "
        f"this user write the file and its folder {path.parent} (DuckDB writes {path.name}.wal "
        "beside it), then run the command again"
    )


_DAMAGE_WORDS: Final = (
    "could not read enough bytes",
    "corrupt",
    "checksum",
    "not a valid duckdb database",
    "invalid database",
    "database has been invalidated",
)


def warehouse_fault(error: BaseException, path: Path | None) -> OSError | None:
    """The warehouse's own error behind ``error`` (``WarehouseDamagedError`` or
    ``WarehouseDeniedError``) when DuckDB's message names the warehouse file (or its
    ``.wal``), or its header shows it truncated (checked whatever ``error`` is: a file is
    never blamed for a damaged warehouse); None when the fault may be a file's being read."""
    if path is None:
        return None
    text = str(error) if isinstance(error, duckdb.Error | OSError) else ""
    names = str(path) in text or str(path.resolve()) in text
    if names and "permission denied" in text.lower():
        return denied_error(path)
    if why := damage(path):
        return damaged_error(path, why)
    lowered = text.lower()
    named = names or "corrupt database file" in lowered  # no other database file is open
    if isinstance(error, duckdb.Error) and named and any(w in lowered for w in _DAMAGE_WORDS):
        return damaged_error(path, _first_clause(text, path))
    return None


def _first_clause(text: str, path: Path) -> str:
    """DuckDB's message without its error kind and past the file's name:
    ``Could not read enough bytes``."""
    text = text.split(": ", 1)[-1] if text.startswith(("IO Error", "IOException")) else text
    for cut in (f' from file "{path}', f' "{path}', f" {path}", ": computed checksum"):
        text = text.split(cut, 1)[0]
    return text.strip().rstrip(":") or "unreadable"


def database_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file behind ``con`` (None in memory)."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return Path(row[0]) if row and row[0] else None


@dataclass(frozen=True)
class Migration:
    """One step of the schema: ``version`` increases by one per step, ``sql`` runs once."""

    version: int
    name: str
    sql: str


def _cases_columns() -> str:
    typed = ",\n    ".join(f"{f.name} {DUCKDB_TYPE[f.kind]}" for f in FIELDS)
    return f"""{typed},
    batch_id BIGINT NOT NULL,
    source_line BIGINT NOT NULL,
    extra JSON"""


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "ingest: batches, cases, quarantine",
        f"""
CREATE TABLE batches (
    batch_id BIGINT PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    bytes BIGINT NOT NULL,
    format VARCHAR,
    encoding VARCHAR,
    rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    rows_replaced BIGINT NOT NULL,
    cases_superseded BIGINT NOT NULL,
    unknown_columns VARCHAR[] NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    message VARCHAR,
    CHECK (rows_read = rows_loaded + rows_quarantined + rows_replaced)
);
CREATE TABLE cases (
    {_cases_columns()}
);
CREATE TABLE quarantine (
    batch_id BIGINT NOT NULL,
    line BIGINT NOT NULL,
    reasons VARCHAR[] NOT NULL,
    record JSON NOT NULL
);
""",
    ),
    Migration(
        2,
        "models: model_runs, approach_effects",
        """
CREATE TABLE model_runs (
    model_version VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    trained_at TIMESTAMP NOT NULL,
    outcome VARCHAR NOT NULL,
    snapshot_hash VARCHAR NOT NULL,
    feature_set_version VARCHAR NOT NULL,
    cases BIGINT NOT NULL,
    labelled BIGINT NOT NULL,
    train_rows BIGINT NOT NULL,
    calibration_rows BIGINT NOT NULL,
    test_rows BIGINT NOT NULL,
    period JSON NOT NULL,
    metrics JSON NOT NULL,
    diagnostics JSON NOT NULL,
    bundle_path VARCHAR NOT NULL,
    PRIMARY KEY (model_version, run_id)
);
CREATE TABLE approach_effects (
    model_version VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    treatment VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    subgroup VARCHAR NOT NULL,
    estimate DOUBLE,
    ci_low DOUBLE,
    ci_high DOUBLE,
    n BIGINT NOT NULL,
    n_treated BIGINT NOT NULL,
    share_low_propensity DOUBLE NOT NULL,
    overlap_flag BOOLEAN NOT NULL,
    suppressed BOOLEAN NOT NULL
);
""",
    ),
    Migration(
        3,
        "ingest: source mappings (skipped rows, skip reasons, source, mapping hash)",
        # DuckDB cannot change a CHECK constraint in place: the table is rebuilt with the
        # balance that counts skipped rows, and the existing batches are copied over.
        """
CREATE TABLE batches_v3 (
    batch_id BIGINT PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    bytes BIGINT NOT NULL,
    format VARCHAR,
    encoding VARCHAR,
    rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    rows_replaced BIGINT NOT NULL,
    cases_superseded BIGINT NOT NULL,
    unknown_columns VARCHAR[] NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    message VARCHAR,
    rows_skipped BIGINT NOT NULL DEFAULT 0,
    skip_reasons JSON,
    source VARCHAR,
    mapping_sha256 VARCHAR,
    CHECK (rows_read = rows_loaded + rows_quarantined + rows_replaced + rows_skipped)
);
INSERT INTO batches_v3 BY NAME SELECT *, 0 AS rows_skipped FROM batches;
DROP TABLE batches;
ALTER TABLE batches_v3 RENAME TO batches;
""",
    ),
    Migration(
        4,
        "models: the self-check of each training run on model_runs",
        # null for runs trained before the self-check existed or with it switched off
        "ALTER TABLE model_runs ADD COLUMN self_check JSON;",
    ),
    Migration(
        5,
        "models: observed (naive) rates beside the adjusted ones; sensitivity on model_runs",
        # null for runs trained before: their reports say the numbers were not computed.
        # sensitivity: a JSON array of overdue.models.sensitivity.SensitivityRow, one per
        # headline contrast (docs/sensitivity.md)
        """
ALTER TABLE approach_effects ADD COLUMN naive DOUBLE;
ALTER TABLE approach_effects ADD COLUMN n_agreed BIGINT;
ALTER TABLE model_runs ADD COLUMN sensitivity JSON;
""",
    ),
    Migration(
        6,
        "models: refutation tests and the value of the model's policy on model_runs",
        # null for runs trained before. refutations: a JSON array of
        # overdue.models.refute.Refutation; policy_value: of overdue.models.policy.PolicyRow
        """
ALTER TABLE model_runs ADD COLUMN refutations JSON;
ALTER TABLE model_runs ADD COLUMN policy_value JSON;
""",
    ),
)
"""The schema, step by step. Append new steps; never edit one that has shipped."""


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations ``con`` has not seen yet; the versions applied, oldest first."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    current = int(row[0]) if row else 0
    applied = []
    for step in MIGRATIONS:
        if step.version <= current:
            continue
        with transaction(con):
            con.execute(step.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [step.version, step.name, dt.datetime.now()],
            )
        applied.append(step.version)
    return applied


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The newest migration applied to the warehouse behind ``con`` (0 for an empty file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def _configure(con: duckdb.DuckDBPyConnection, memory_limit: str | None) -> None:
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    # Track progress for callers that poll ``query_progress``, but never print it.
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")


def connect(
    path: Path, *, read_only: bool = False, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse at ``path``; for writing, create it and bring its schema up to date.

    A damaged file raises ``WarehouseDamagedError``, one this user may not write
    ``WarehouseDeniedError``, before anything is read from it or written to it."""
    if why := damage(path):
        raise damaged_error(path, why)
    try:
        if read_only:
            if not path.exists():
                raise FileNotFoundError(f"no warehouse at {path}; run `overdue ingest` first")
            con = duckdb.connect(str(path), read_only=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
            raise WarehouseLockedError(
                f"{path} is open for writing in another process; try again when it finishes"
            ) from exc
        if what := write_failure(exc):
            raise write_error(what) from None
        if fault := warehouse_fault(exc, path):
            raise fault from None
        raise
    try:
        _configure(con, memory_limit)
        if not read_only:
            migrate(con)
    except (duckdb.Error, OSError) as exc:
        con.close()
        if fault := warehouse_fault(exc, path):
            raise fault from None
        raise
    return con


@contextmanager
def open_warehouse(
    path: Path, *, read_only: bool = False, memory_limit: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``connect`` as a context manager that closes the connection; an error of the damaged
    or unwritable warehouse met inside it is ``warehouse_fault``'s."""
    con = connect(path, read_only=read_only, memory_limit=memory_limit)
    try:
        yield con
    except duckdb.Error as exc:
        if fault := warehouse_fault(exc, path):
            raise fault from None
        raise
    finally:
        con.close()


@contextmanager
def scratch(memory_limit: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB for reading and reshaping files before they reach the warehouse."""
    con = duckdb.connect(":memory:")
    _configure(con, memory_limit)
    try:
        yield con
    finally:
        con.close()


SNAPSHOT_BATCH_ROWS: Final = 100_000


def snapshot_hash(con: duckdb.DuckDBPyConnection) -> str:
    """A hash of which version of which case the warehouse holds: the SHA-256 of every
    ``case_id:batch_id``, in case id order, joined by commas. Streamed in batches from DuckDB's
    sort (which spills within its memory limit): joined in one string inside DuckDB, as it was
    (the same hash), it took 2.7 GB at 10M cases."""
    digest, separator = hashlib.sha256(), b""
    entries = con.sql(
        "SELECT case_id || ':' || batch_id FROM cases"
        " WHERE case_id IS NOT NULL AND batch_id IS NOT NULL ORDER BY case_id"
    ).to_arrow_reader(SNAPSHOT_BATCH_ROWS)
    for batch in entries:
        if batch.num_rows:
            digest.update(separator + ",".join(batch.column(0).to_pylist()).encode())
            separator = b","
    return digest.hexdigest()


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with suppress(duckdb.Error):  # a failed COMMIT has already ended the transaction
        con.execute("ROLLBACK")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed when the block ends, rolled back if it raises.

    A write that fails because the disk is full (or read-only, or over quota), in the block or
    at the commit, raises ``WarehouseWriteError`` after the rollback: nothing was stored; one
    the warehouse's damage or permissions stopped, ``warehouse_fault``'s error.
    """
    path = database_file(con)
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException as error:
        _rollback(con)
        if what := write_failure(error):
            raise write_error(what) from None
        if fault := warehouse_fault(error, path):
            raise fault from None
        raise
    try:
        con.execute("COMMIT")
    except duckdb.Error as error:
        _rollback(con)
        if what := write_failure(error):
            raise write_error(what) from None
        if fault := warehouse_fault(error, path):
            raise fault from None
        raise
