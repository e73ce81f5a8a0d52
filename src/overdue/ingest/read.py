"""Find input files, recognise their format and encoding, and express them as SQL of text.

Every cell leaves this module as text (VARCHAR) under the contract's English field name when its
header is a field name or a Chinese alias, or under its own header otherwise. Typing happens in
``normalise``; nothing here looks at values beyond splitting records.
"""

from __future__ import annotations

import codecs
import csv
import glob
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

import duckdb

from overdue.contract import FIELD_BY_NAME, FIELD_BY_ZH
from overdue.ingest.normalise import quote_ident, quote_literal

ORDINAL: Final = "_ordinal"
"""Column of a source query: 1-based position of the record among the file's records."""
UNPARSED: Final = "_unparsed"
"""Column of a JSON Lines query: the line's text when it is not a JSON object, else null."""

QUARANTINE_EXPORT_COLUMNS: Final = ("quarantine_batch", "quarantine_line", "quarantine_reasons")
"""Columns ``overdue quarantine --export`` adds for the reader's benefit; ingest ignores them."""

_CHUNK: Final = 1 << 22
_SUFFIXES: Final = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


class Format(StrEnum):
    """File formats ingest reads."""

    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"


class SourceError(ValueError):
    """A file that cannot be ingested at all; the message names the file and what to do."""


@dataclass(frozen=True)
class Source:
    """One input file as found on disk, before any row is read."""

    path: Path
    format: Format
    encoding: str  # utf-8, utf-8-sig, gb18030 or binary (Parquet)
    sha256: str
    bytes: int


@dataclass(frozen=True)
class ColumnMap:
    """How the headers of a file map to contract fields."""

    headers: tuple[str, ...]
    names: tuple[str, ...]  # one per header: the field name, or the header itself when unknown
    ignored: tuple[str, ...] = ()  # columns added by a quarantine export

    @property
    def fields(self) -> tuple[str, ...]:
        """Contract fields present in the file."""
        return tuple(n for n in self.names if n in FIELD_BY_NAME)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Columns that are not contract fields; they are kept aside as ``extra``."""
        return tuple(n for n in self.names if n not in FIELD_BY_NAME)


@dataclass(frozen=True)
class Reject:
    """A record the reader could not split into the file's columns."""

    line: int
    reason: str  # parse:columns, parse:quotes, parse:encoding or parse:line
    text: str


def discover_sources(patterns: Sequence[str | Path]) -> list[Path]:
    """Files named by ``patterns`` (files, folders searched recursively, or globs), in order."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES
            )
        elif path.exists():
            matches = [path]
        else:
            # glob.glob, not Path.glob: the pattern may be absolute or span folders.
            matches = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True))  # noqa: PTH207
            matches = [p for p in matches if p.is_file()]
            if not matches:
                raise SourceError(f"{pattern}: no such file, folder or matching glob")
        found.extend(m for m in matches if m not in found)
    return found


def _sniff_format(path: Path, head: bytes) -> Format:
    if head.startswith(b"PAR1"):
        return Format.PARQUET
    if head.startswith(b"PK\x03\x04"):
        raise SourceError(
            f"{path}: looks like an Excel workbook or zip archive; save it as CSV (UTF-8) first"
        )
    suffix = _SUFFIXES.get(path.suffix.lower())
    if suffix == "parquet":
        raise SourceError(f"{path}: not a Parquet file (no PAR1 header)")
    if b"\x00" in head[:8192]:
        raise SourceError(
            f"{path}: binary content; ingest reads CSV, Parquet and JSON Lines (UTF-16 text "
            "from Excel must be saved as 'CSV UTF-8')"
        )
    if suffix is not None:
        return Format(suffix)
    text = head.lstrip(codecs.BOM_UTF8).lstrip()
    return Format.JSONL if text.startswith(b"{") else Format.CSV


def _is_utf8_start(head: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # not final: head may cut a char
    except UnicodeDecodeError:
        return False
    return True


def inspect_source(path: Path) -> Source:
    """Format, size, SHA-256 and encoding of ``path``; raises ``SourceError`` for bad files.

    The encoding is judged from the first 64 KiB; a UTF-8 guess that meets invalid bytes later
    is corrected by the loader (DuckDB reports them), which then reads the file as GB18030.
    """
    if not path.is_file():
        raise SourceError(f"{path}: not a file")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise SourceError(f"{path}: the file is empty")
    fmt = _sniff_format(path, head)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    if fmt is Format.PARQUET:
        encoding = "binary"
    elif head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8" if _is_utf8_start(head) else "gb18030"
    if fmt is Format.JSONL and encoding == "gb18030":
        raise SourceError(f"{path}: JSON Lines must be UTF-8 (RFC 8259); re-save it as UTF-8")
    return Source(path, fmt, encoding, digest.hexdigest(), size)


def utf8_copy(source: Source, folder: Path) -> Path:
    """``source`` as UTF-8: the file itself, or a transcoded copy in ``folder`` (streamed)."""
    if source.encoding != "gb18030":
        return source.path
    target = folder / f"{source.sha256[:16]}.utf8.csv"
    decoder = codecs.getincrementaldecoder("gb18030")()
    try:
        with source.path.open("rb") as raw, target.open("w", encoding="utf-8", newline="") as out:
            while chunk := raw.read(_CHUNK):
                out.write(decoder.decode(chunk))
            out.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{source.path}: neither UTF-8 nor GB18030/GBK (bad byte at offset {exc.start}); "
            "re-save it as 'CSV UTF-8'"
        ) from None
    return target


def map_columns(headers: Sequence[str]) -> ColumnMap:
    """Map headers (English names, any case, or exact Chinese aliases) to contract fields."""
    names: list[str] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for raw in headers:
        header = raw.lstrip("\ufeff").strip()
        if header in QUARANTINE_EXPORT_COLUMNS:
            ignored.append(header)
            names.append(header)
            continue
        f = FIELD_BY_NAME.get(header.lower()) or FIELD_BY_ZH.get(header)
        name = f.name if f is not None else header
        if name in seen:
            raise SourceError(
                f"columns {seen[name]!r} and {header!r} are the same field {name!r}; keep one"
            )
        seen[name] = header
        names.append(name)
    return ColumnMap(tuple(headers), tuple(names), tuple(ignored))


@dataclass(frozen=True)
class SourceQuery:
    """A file as a SQL query of text columns: ``_ordinal``, one column per header (mapped)."""

    columns: ColumnMap
    sql: str
    header_lines: int  # lines before the first record (1 for CSV, 0 otherwise)
    rejects_table: str | None = None  # where DuckDB put the CSV records it could not split
    unparsed: bool = False  # whether the query has an ``_unparsed`` column (JSON Lines)


REJECTS_TABLE: Final = "overdue_reject_errors"
REJECTS_SCAN: Final = "overdue_reject_scans"
_REJECTS_SCAN: Final = REJECTS_SCAN


def _text_columns(columns: ColumnMap, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(
        f"CAST({prefix}{quote_ident(h)} AS VARCHAR) AS {quote_ident(n)}"
        for h, n in zip(columns.headers, columns.names, strict=True)
        if n not in columns.ignored
    )


def _headers(con: duckdb.DuckDBPyConnection, scan: str, source: Source, kind: str) -> list[str]:
    try:
        return [d[0] for d in con.sql(f"SELECT * FROM {scan} LIMIT 0").description]
    except duckdb.Error as exc:
        raise SourceError(
            f"{source.path}: not a readable {kind} file ({type(exc).__name__})"
        ) from None


def _csv_query(con: duckdb.DuckDBPyConnection, source: Source, text_path: Path) -> SourceQuery:
    delim = "\t" if source.path.suffix.lower() == ".tsv" else ","
    scan = (
        f"read_csv({quote_literal(str(text_path))}, all_varchar = true, header = true, "
        f"delim = {quote_literal(delim)}, quote = '\"', escape = '\"', strict_mode = true, "
        f"store_rejects = true, rejects_table = '{REJECTS_TABLE}', "
        f"rejects_scan = '{_REJECTS_SCAN}', normalize_names = false)"
    )
    columns = map_columns(_headers(con, scan, source, "CSV"))
    sql = f"SELECT ordinality AS {ORDINAL}, {_text_columns(columns)} FROM {scan} WITH ORDINALITY"
    return SourceQuery(columns, sql, header_lines=1, rejects_table=REJECTS_TABLE)


def _parquet_query(con: duckdb.DuckDBPyConnection, source: Source) -> SourceQuery:
    scan = f"read_parquet({quote_literal(str(source.path))}, file_row_number = true)"
    headers = [h for h in _headers(con, scan, source, "Parquet") if h != "file_row_number"]
    columns = map_columns(headers)
    sql = f"SELECT file_row_number + 1 AS {ORDINAL}, {_text_columns(columns)} FROM {scan}"
    return SourceQuery(columns, sql, header_lines=0)


def _jsonl_query(con: duckdb.DuckDBPyConnection, source: Source) -> SourceQuery:
    # One record per line: a raw 0x1F cannot occur in valid JSON, so no line is ever split;
    # blank lines come back as nulls and keep the line numbers right.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE overdue_lines AS SELECT ordinality AS line, column0 AS text, "
        "CASE WHEN json_valid(column0) THEN json_type(column0) = 'OBJECT' ELSE false END AS ok "
        "FROM "
        f"read_csv({quote_literal(str(source.path))}, columns = {{'column0': 'VARCHAR'}}, "
        "header = false, delim = '\x1f', quote = '', escape = '', auto_detect = false, "
        "strict_mode = false) WITH ORDINALITY"
    )
    keys = [
        str(k)
        for (k,) in con.execute(
            "SELECT k FROM (SELECT unnest(json_keys(text)) AS k, line FROM overdue_lines "
            "WHERE ok) GROUP BY k ORDER BY min(line), k"
        ).fetchall()
    ]
    columns = map_columns(keys)
    picks = [
        f"CASE WHEN ok THEN json_extract_string(text, {quote_literal('$.' + quote_ident(k))}) "
        f"END AS {quote_ident(n)}"
        for k, n in zip(columns.headers, columns.names, strict=True)
        if n not in columns.ignored
    ]
    sql = (
        f"SELECT line AS {ORDINAL}, {', '.join([*picks, ''])}"
        f"CASE WHEN ok THEN NULL ELSE text END AS {UNPARSED} FROM overdue_lines "
        "WHERE text IS NOT NULL AND trim(text) <> ''"
    )
    return SourceQuery(columns, sql, header_lines=0, unparsed=True)


def source_query(con: duckdb.DuckDBPyConnection, source: Source, text_path: Path) -> SourceQuery:
    """``source`` (read from ``text_path``, its UTF-8 copy) as a SQL query of text columns."""
    if source.format is Format.CSV:
        return _csv_query(con, source, text_path)
    if source.format is Format.PARQUET:
        return _parquet_query(con, source)
    return _jsonl_query(con, source)


_REJECT_REASON: Final = {
    "TOO MANY COLUMNS": "parse:columns",
    "MISSING COLUMNS": "parse:columns",
    "UNQUOTED VALUE": "parse:quotes",
    "INVALID ENCODING": "parse:encoding",
}


def csv_rejects(con: duckdb.DuckDBPyConnection) -> list[Reject]:
    """The records of the last CSV scan that DuckDB could not split into the header's columns."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [REJECTS_TABLE]
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = con.execute(
        "SELECT line, list(DISTINCT error_type ORDER BY error_type), any_value(csv_line) "
        f"FROM {REJECTS_TABLE} GROUP BY line ORDER BY line"
    ).fetchall()
    rejects = []
    for line, kinds, text in rows:
        reasons = sorted({_REJECT_REASON.get(str(k), "parse:line") for k in kinds})
        rejects.append(Reject(int(line), reasons[0], str(text or "").lstrip("\r\n")))
    return rejects


def drop_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the rejects of the last CSV scan."""
    con.execute(f"DROP TABLE IF EXISTS {REJECTS_TABLE}")
    con.execute(f"DROP TABLE IF EXISTS {_REJECTS_SCAN}")


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the temporary tables the readers made (rejects, JSON lines)."""
    drop_rejects(con)
    con.execute("DROP TABLE IF EXISTS overdue_lines")


def split_csv_line(text: str) -> list[str]:
    """The cells of one CSV record as a lenient reader sees them (for quarantining it)."""
    rows = list(csv.reader(io.StringIO(text)))
    return [cell for row in rows for cell in row]
