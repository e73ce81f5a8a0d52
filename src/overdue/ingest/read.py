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
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

import duckdb

from overdue.contract import FIELD_BY_NAME, FIELD_BY_ZH, FIELD_NAMES
from overdue.ingest.normalise import quote_ident, quote_literal
from overdue.ingest.pii import mask_text

PROCESSED: Final = "processed"
REFUSED_FOLDER: Final = "refused"
"""Inbox subfolders: loaded files move to ``processed/<date>/``, refused ones to ``refused/``
with a ``.reason.txt`` beside them; nothing is deleted."""
ORDINAL: Final = "_ordinal"
"""Column of a source query: 1-based position of the record among the file's records."""
UNPARSED: Final = "_unparsed"
"""Column of a JSON Lines query: the line's text when it is not a JSON object, else null."""

MAX_COLUMNS: Final = 1_000
"""Columns (or JSON keys) a file may have; a wider file is refused before its rows are read.
The contract has ~30 fields and exports add a few notes, while DuckDB's reader needs memory per
column: 10,000 columns exhaust the default 1 GB limit, 1,000 columns x 50,000 rows load in it."""
MAX_CELL_CHARS: Final = 32_767
"""Longest cell (Excel's own limit): a longer one is a bad value of its row (``too_long:<column>``)
and is stored in the quarantine as ``[too long: N characters]``, never cut."""
MAX_RECORD_BYTES: Final = 64 << 20
"""Longest CSV record read at all. Records past DuckDB's 2 MB default are re-read with a larger
limit (one 50 MB cell: 0.5 s, 0.5 GB); a file with a record over 64 MiB is refused."""
TOO_LONG_LINE: Final = "parse:too_long"
"""Reason of a record the reader could not split because it is longer than it reads."""

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
class Utf8Evidence:
    """How many lines of a text file that hold non-ASCII bytes are valid UTF-8, and the
    verdict ``utf8_evidence`` reached from them."""

    utf8: int  # non-ASCII lines that are valid UTF-8
    other: int  # non-ASCII lines that are not
    is_utf8: bool  # whether the file is read as UTF-8 (else GB18030)

    def note(self) -> str | None:
        """What the batch records when the file mixes lines of both kinds."""
        if not (self.utf8 and self.other):
            return None
        if self.is_utf8:
            return (
                f"read as UTF-8: {self.utf8:,} line(s) with non-ASCII text are UTF-8, "
                f"{self.other:,} are not and are quarantined as parse:encoding"
            )
        return (
            f"read as GB18030: {self.other:,} line(s) with non-ASCII text are not UTF-8, "
            f"{self.utf8:,} are valid UTF-8 and were read as GB18030 too"
        )


@dataclass(frozen=True)
class Source:
    """One input file as found on disk, before any row is read."""

    path: Path
    format: Format
    encoding: str  # utf-8, utf-8-sig, gb18030 or binary (Parquet)
    sha256: str
    bytes: int
    evidence: Utf8Evidence | None = None  # counted when a CSV file's UTF-8 is in doubt
    has_nul: bool = False  # NUL bytes (or JSON \u0000 escapes): cells are checked for them
    mixed_newlines: bool = False  # both CRLF and bare LF line ends (an Excel round trip)


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
    reason: str  # parse:columns, parse:quotes, parse:encoding, parse:too_long or parse:line
    text: str
    cut: bool = False  # the reader kept only the start of the record's text


@dataclass(frozen=True)
class TextFile:
    """The UTF-8 text the readers scan: the file itself, or a transcoded or repaired copy."""

    path: Path
    bad_bytes: int = 0  # byte sequences that are not GB18030, marked so their lines are rejected
    first_bad_offset: int | None = None  # byte offset of the first one in the original file

    @property
    def note(self) -> str | None:
        """What the batch records about bytes that are not text, if any."""
        if not self.bad_bytes:
            return None
        return (
            f"{self.bad_bytes:,} byte sequence(s) not GB18030 text, the first at byte offset "
            f"{self.first_bad_offset:,}; their lines are quarantined as parse:encoding"
        )


def real_path(path: str | Path) -> Path:
    """``path`` with its symbolic links followed, as far as they lead (``Path.resolve`` raises
    on a loop of links; this never does)."""
    return Path(os.path.realpath(path))


def _reason(error: OSError) -> str:
    """An OS error's reason as a message says it: ``permission denied``."""
    return (error.strerror or type(error).__name__).lower()


def _walk(folder: Path, what: str, skip: frozenset[Path] = frozenset()) -> list[Path]:
    """Every entry under ``folder`` that is not a folder (a pipe or a broken link too), not
    within hidden folders or the folders ``skip``; raises ``SourceError`` naming ``what``
    (``the inbox X``) when a folder in it cannot be listed. ``Path.rglob`` passes over a
    folder it cannot read in silence: a night on which nothing could be read would look quiet.
    """
    problems: list[OSError] = []
    found: list[Path] = []
    for root, folders, files in os.walk(folder, onerror=problems.append):
        here = Path(root)
        folders[:] = [f for f in folders if not f.startswith(".") and here / f not in skip]
        found += [here / f for f in files if not f.startswith(".")]
    if problems:
        error = problems[0]
        where = "" if error.filename in (None, str(folder)) else f": {error.filename}"
        raise SourceError(f"cannot list {what}{where} ({_reason(error)})")
    return sorted(found)


def inbox_files(inbox: Path) -> list[Path]:
    """Every file waiting in ``inbox`` (any name: a file that is not case records is refused
    with its reason, never passed over), not those already filed away in its ``processed/`` and
    ``refused/`` folders, nor hidden files (an upload under a hidden name is not read until it
    is renamed). An inbox not made yet holds nothing; one that cannot be listed (no permission,
    not a folder) raises ``SourceError``."""
    if not inbox.exists() and not inbox.is_symlink():
        return []
    return _walk(
        inbox, f"the inbox {inbox}", frozenset({inbox / PROCESSED, inbox / REFUSED_FOLDER})
    )


def discover_sources(patterns: Sequence[str | Path]) -> list[Path]:
    """Files named by ``patterns`` (files, folders searched recursively, or globs), in order;
    a folder that cannot be listed raises ``SourceError``."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = [
                p
                for p in _walk(path, f"the folder {path}")
                if p.is_file() and p.suffix.lower() in _SUFFIXES
            ]
        elif path.exists() or path.is_symlink():  # a broken link is refused, not passed over
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
    if _looks_binary(head):
        raise SourceError(
            f"{path}: binary content; ingest reads CSV, Parquet and JSON Lines (UTF-16 text "
            "from Excel must be saved as 'CSV UTF-8')"
        )
    if suffix is not None:
        return Format(suffix)
    text = head.lstrip(codecs.BOM_UTF8).lstrip()
    return Format.JSONL if text.startswith(b"{") else Format.CSV


_CONTROL: Final = bytes(b for b in range(32) if b not in b"\t\n\r\x0c\x1b")
BINARY_CONTROL_SHARE: Final = 0.05
"""A head with more control bytes than this share is binary (UTF-16 text: ~50%, random
bytes: ~9%); a text file with a stray NUL in a cell is not, and that cell is a bad value."""


def _looks_binary(head: bytes) -> bool:
    sample = head[:8192]
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    return controls > BINARY_CONTROL_SHARE * len(sample)


def _is_utf8_start(head: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # not final: head may cut a char
    except UnicodeDecodeError:
        return False
    return True


def inspect_source(path: Path) -> Source:
    """Format, size, SHA-256 and encoding of ``path``; raises ``SourceError`` for bad files.

    A CSV file with a byte-order mark is UTF-8; one without is judged from all its lines by
    ``utf8_evidence`` (UTF-8, or GB18030 when more of its lines are GB18030 only than UTF-8).
    Its lines are counted here when the first 64 KiB hold bytes that are not UTF-8, else by the
    loader only if DuckDB meets such bytes later: a file that is UTF-8 throughout is never
    counted. JSON Lines are UTF-8 (the reader quarantines or refuses lines that are not).
    """
    if not path.is_file():
        if path.is_symlink() and not path.exists():
            raise SourceError(f"{path}: a symbolic link that leads to no file (a loop, or gone)")
        raise SourceError(
            f"{path}: not a file" + (" (a pipe or a device)" if path.exists() else "")
        )
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise SourceError(f"{path}: the file is empty")
    fmt = _sniff_format(path, head)
    scan = _scan_bytes(path, fmt)
    evidence = None
    if fmt is Format.PARQUET:
        encoding = "binary"
    elif head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif fmt is Format.JSONL or _is_utf8_start(head):
        encoding = "utf-8"
    else:
        evidence = utf8_evidence(path)
        encoding = "utf-8" if evidence.is_utf8 else "gb18030"
    return Source(
        path,
        fmt,
        encoding,
        scan.sha256,
        size,
        evidence=evidence,
        has_nul=scan.has_nul,
        mixed_newlines=scan.crlf and scan.bare_lf,
    )


_ASCII_BUT_LF: Final = bytes(b for b in range(128) if b != 0x0A)
_HIGH_AS_80: Final = bytes(range(128)) + b"\x80" * 128
_LONGEST_LINE: Final = MAX_RECORD_BYTES
"""A line is judged in pieces of at most this many bytes (a file may have no line ends)."""


def _line_blocks(path: Path) -> Iterator[bytes]:
    """The file in blocks of whole lines, about 4 MiB each (LF is never part of a UTF-8 or
    GB18030 character, so each line can be judged alone)."""
    carry = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            data = carry + chunk
            end = data.rfind(b"\n") + 1
            if not end and len(data) >= _LONGEST_LINE:
                end = len(data)
            yield data[:end]
            carry = data[end:]
    yield carry


def _non_ascii_lines(lines: bytes) -> int:
    """How many of the lines in ``lines`` hold a byte >= 0x80 (C-speed: the other bytes but
    LF are deleted, the rest mapped to 0x80, and each 0x80 before a line end counted)."""
    marks = lines.translate(_HIGH_AS_80, _ASCII_BUT_LF)
    return marks.count(b"\x80\n") + marks.endswith(b"\x80")


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _not_utf8(lines: bytes) -> Iterator[bytes]:
    """The lines in ``lines`` that are not valid UTF-8."""
    if lines.isascii() or _decodes(lines, "utf-8"):
        return
    yield from (line for line in lines.split(b"\n") if not _decodes(line, "utf-8"))


def utf8_evidence(path: Path) -> Utf8Evidence:
    """Judge whether the text file ``path`` is UTF-8 from all its lines that hold non-ASCII
    bytes: it is, unless more of them are valid GB18030 but not UTF-8 than are valid UTF-8.

    Chinese text in GBK/GB18030 is almost never valid UTF-8, while UTF-8 text is nearly always
    valid GB18030 too (as mojibake): a line valid in UTF-8 is evidence for UTF-8, one valid in
    GB18030 only for GB18030, one valid in neither (a stray 0xFF) for nothing. A tie goes to
    UTF-8: a wrong UTF-8 verdict quarantines lines, a wrong GB18030 one would garble them.
    One pass counts the lines (blocks of valid UTF-8 at C speed); only when fewer are UTF-8
    than not does a second pass decode the others as GB18030, until the verdict is certain.
    """
    non_ascii = other = 0
    for lines in _line_blocks(path):
        if not lines.isascii():
            non_ascii += _non_ascii_lines(lines)
            other += sum(1 for _ in _not_utf8(lines))
    utf8 = non_ascii - other
    if utf8 >= other:
        return Utf8Evidence(utf8, other, is_utf8=True)
    gb18030 = 0
    for lines in _line_blocks(path):
        for line in _not_utf8(lines):
            gb18030 += _decodes(line, "gb18030")
            if gb18030 > utf8:
                return Utf8Evidence(utf8, other, is_utf8=False)
    return Utf8Evidence(utf8, other, is_utf8=True)


@dataclass(frozen=True)
class _ByteScan:
    sha256: str
    has_nul: bool
    crlf: bool  # some line ends with CRLF
    bare_lf: bool  # some line ends with LF alone


def _scan_bytes(path: Path, fmt: Format) -> _ByteScan:
    """SHA-256 of the file and, for text, whether it holds NUL bytes (for JSON Lines also
    ``\\u0000`` escapes) and which line ends, in one pass of memchr-speed tests on 4 MiB chunks
    (counting only in chunks that hold a CR)."""
    digest = hashlib.sha256()
    has_nul = crlf = bare_lf = prev_cr = False
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if fmt is Format.PARQUET:
                continue
            has_nul = has_nul or b"\x00" in chunk
            if fmt is Format.JSONL:
                joined = tail + chunk  # an escape may straddle two chunks
                has_nul = has_nul or b"\\u0000" in joined
                tail = joined[-5:]
            if prev_cr or b"\r" in chunk:
                pairs = chunk.count(b"\r\n") + (prev_cr and chunk.startswith(b"\n"))
                crlf = crlf or pairs > 0
                bare_lf = bare_lf or chunk.count(b"\n") > pairs
            else:
                bare_lf = bare_lf or b"\n" in chunk
            prev_cr = chunk.endswith(b"\r")
    return _ByteScan(digest.hexdigest(), has_nul, crlf, bare_lf)


_BAD_BYTES_MARK: Final = "\udcff"
"""Written for a byte sequence that is not GB18030 (as the byte 0xFF through surrogateescape):
invalid UTF-8, so the CSV reader rejects exactly that line as parse:encoding."""
_bad_starts: ContextVar[list[int]] = ContextVar("overdue_bad_starts")


def _mark_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    _bad_starts.get().append(error.start)
    return _BAD_BYTES_MARK, error.end


codecs.register_error("overdue-mark-bad-bytes", _mark_bad_bytes)


def text_copy(source: Source, folder: Path) -> TextFile:
    """``source`` as UTF-8 text with one kind of line end: the file itself, or a copy in
    ``folder`` (streamed) transcoded from GB18030 and/or with CRLF turned into LF.

    Byte sequences that are not GB18030 (a file cut inside its last character) are marked
    rather than refused: the reader quarantines their lines and the rest loads.
    """
    if source.encoding != "gb18030" and not source.mixed_newlines:
        return TextFile(source.path)
    target = folder / f"{source.sha256[:16]}.text.csv"
    transcode = source.encoding == "gb18030"
    decoder = codecs.getincrementaldecoder("gb18030")(errors="overdue-mark-bad-bytes")
    bad: list[int] = []
    token = _bad_starts.set([])
    fed, carry = 0, b""
    try:
        with source.path.open("rb") as raw, target.open("wb") as out:
            while True:
                chunk = raw.read(_CHUNK)
                final = not chunk
                if transcode:
                    base = fed - len(decoder.getstate()[0])
                    _bad_starts.get().clear()
                    text = decoder.decode(chunk, final=final)
                    bad.extend(base + start for start in _bad_starts.get())
                    data = text.encode("utf-8", errors="surrogateescape")
                else:
                    data = chunk
                fed += len(chunk)
                data = carry + data
                carry = b""
                if source.mixed_newlines:
                    if data.endswith(b"\r") and not final:  # its LF may start the next chunk
                        data, carry = data[:-1], b"\r"
                    data = data.replace(b"\r\n", b"\n")
                out.write(data)
                if final:
                    break
    finally:
        _bad_starts.reset(token)
    return TextFile(target, len(bad), bad[0] if bad else None)


_RESERVED: Final = frozenset(
    {ORDINAL, UNPARSED, "__bad", "__pii"}
    | {f"{f}__{suffix}" for f in FIELD_NAMES for suffix in ("text", "plain")}
)
"""Column names the staging query uses itself; a header spelled so is renamed."""


def _safe_name(header: str, position: int, taken: set[str]) -> str:
    text = "".join(c for c in header if c.isprintable() or c == " ").strip()
    name = mask_text(text) if text else f"_column_{position}"
    candidate, n = name, 1
    while candidate.lower() in taken or candidate.lower() in _RESERVED:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def safe_names(headers: Sequence[str], fields: Sequence[str | None] = ()) -> tuple[str, ...]:
    """Names under which columns are stored: a contract field's name where ``fields`` gives
    one, else the header with personal data masked (``13912345678`` -> ``[mobile]``) and
    control characters removed, an empty header as ``_column_<n>``, each made unique (DuckDB's
    names ignore case)."""
    known = list(fields) or [None] * len(headers)
    taken = {f.lower() for f in known if f is not None}
    names: list[str] = []
    for position, (header, field) in enumerate(zip(headers, known, strict=True), start=1):
        name = field if field is not None else _safe_name(header, position, taken)
        taken.add(name.lower())
        names.append(name)
    return tuple(names)


def map_columns(headers: Sequence[str]) -> ColumnMap:
    """Map headers (English names, any case, or exact Chinese aliases) to contract fields; other
    headers are named by ``safe_names``. Refuses more than ``MAX_COLUMNS`` columns."""
    if len(headers) > MAX_COLUMNS:
        raise SourceError(_too_wide(len(headers)))
    if any(len(h) > MAX_CELL_CHARS for h in headers):
        raise SourceError(
            f"a header is longer than {MAX_CELL_CHARS:,} characters; is the first line a header?"
        )
    fields: list[str | None] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for raw in headers:
        header = raw.lstrip("\ufeff").strip()
        if header in QUARANTINE_EXPORT_COLUMNS:
            ignored.append(header)
            fields.append(header)
            continue
        f = FIELD_BY_NAME.get(header.lower()) or FIELD_BY_ZH.get(header)
        if f is not None:
            if f.name in seen:
                raise SourceError(
                    f"columns {seen[f.name]!r} and {header!r} are the same field {f.name!r}; "
                    "keep one"
                )
            seen[f.name] = header
        fields.append(f.name if f is not None else None)
    if not seen:
        raise SourceError(
            "no column is a field of the case-record contract (e.g. case_id / 案件编号): not a "
            "file of case records, or its first line is not the header"
        )
    return ColumnMap(tuple(headers), safe_names(headers, fields), tuple(ignored))


@dataclass(frozen=True)
class SourceQuery:
    """A file as a SQL query of text columns: ``_ordinal``, one column per header (mapped),
    and for JSON Lines ``_unparsed``. A ``positional`` query has no ``_ordinal``: its rows come
    in file order and are numbered by where they are stored (``load`` stages them in order)."""

    columns: ColumnMap
    sql: str
    header_lines: int  # lines before the first record (1 for CSV, 0 otherwise)
    rejects_table: str | None = None  # where DuckDB put the CSV records it could not split
    unparsed: bool = False  # whether the query has an ``_unparsed`` column (JSON Lines)
    rejects: tuple[Reject, ...] = ()  # lines rejected before the query runs (JSON Lines)
    nul: bool = False  # whether cells may hold NUL (and are checked for it)
    shortened: bool = False  # whether over-long cells were shortened (``shortened_sql``)
    positional: bool = False  # no ``_ordinal`` column: a row's ordinal is its position


REJECTS_TABLE: Final = "overdue_reject_errors"
REJECTS_SCAN: Final = "overdue_reject_scans"
_LINE_REJECTS: Final = ("overdue_line_rejects", "overdue_line_scans")
_DUCKDB_LINE_BYTES: Final = 2_000_000
"""DuckDB's default longest line; it keeps only the first 10,000 characters of a reject."""
_DUCKDB_REJECT_CHARS: Final = 10_000


def too_long_text(chars: int) -> str:
    """What is stored instead of a cell too long to keep."""
    return f"[too long: {chars:,} characters]"


_SHORTENED: Final = r"\[too long: [0-9,]+ characters\]"


def shortened_sql(text: str) -> str:
    """SQL of a cell whose text, when longer than ``MAX_CELL_CHARS``, is replaced by
    ``[too long: N characters]`` (for readers whose cells may be megabytes long: a 50 MB cell
    copied into a row's JSON would exhaust DuckDB's memory)."""
    chars = f"length({text})"
    return (
        f"CASE WHEN strlen({text}) > {MAX_CELL_CHARS} AND {chars} > {MAX_CELL_CHARS} "
        f"THEN '[too long: ' || format('{{:,}}', {chars}) || ' characters]' ELSE {text} END"
    )


def cell_faults_sql(query: SourceQuery, cells: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """For the cells of ``query`` given as (column name, SQL of its text): SQL true on a row
    where a cell may be faulty (a cheap test of byte lengths, and of NUL when the file may hold
    it), and SQL of the row's faults: ``too_long:<column>`` (longer than ``MAX_CELL_CHARS``,
    or already shortened by ``shortened_sql``), ``nul:<column>`` (holds NUL)."""
    faults, guards = [], []
    for column, text in cells:
        longer = f"strlen({text}) > {MAX_CELL_CHARS}"
        too_long = f"({longer} AND length({text}) > {MAX_CELL_CHARS})"
        if query.shortened:
            guards.append(f"starts_with({text}, '[too long: ')")
            too_long += f" OR regexp_full_match({text}, {quote_literal(_SHORTENED)})"
        faults.append(f"CASE WHEN {too_long} THEN {quote_literal('too_long:' + column)} END")
        guards.append(longer)
        if query.nul:
            has_nul = f"contains({text}, chr(0))"
            faults.append(f"CASE WHEN {has_nul} THEN {quote_literal('nul:' + column)} END")
            guards.append(has_nul)
    if not faults:
        return "false", "[]::VARCHAR[]"
    listed = f"list_filter([{', '.join(faults)}]::VARCHAR[], lambda r: r IS NOT NULL)"
    return f"({' OR '.join(guards)})", listed


def kept_record(record: str) -> str:
    """A text record (JSON) as it may be stored: a cell longer than ``MAX_CELL_CHARS`` becomes
    ``[too long: N characters]`` (never cut: a cut could keep part of an identifier) and NUL
    characters become U+FFFD."""
    values = json.loads(record)
    for key, value in values.items():
        if isinstance(value, str):
            if len(value) > MAX_CELL_CHARS:
                values[key] = too_long_text(len(value))
            elif "\x00" in value:
                values[key] = value.replace("\x00", "\ufffd")
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def _text_columns(columns: ColumnMap, *, shorten: bool = False) -> str:
    cells = (
        (f"CAST({quote_ident(h)} AS VARCHAR)", quote_ident(n))
        for h, n in zip(columns.headers, columns.names, strict=True)
        if n not in columns.ignored
    )
    return ", ".join(f"{shortened_sql(c) if shorten else c} AS {n}" for c, n in cells)


def _headers(con: duckdb.DuckDBPyConnection, scan: str, source: Source, kind: str) -> list[str]:
    try:
        return [d[0] for d in con.sql(f"SELECT * FROM {scan} LIMIT 0").description]
    except duckdb.Error as exc:
        if is_line_too_long(exc):
            raise LineTooLongError from None
        raise SourceError(
            f"{source.path}: not a readable {kind} file ({type(exc).__name__})"
        ) from None


class LineTooLongError(Exception):
    """DuckDB met a record longer than the line size it was told to read."""


_LINE_TOO_LONG: Final = re.compile(r"maximum line size of \d+ bytes exceeded", re.IGNORECASE)


def is_line_too_long(error: BaseException) -> bool:
    """Whether DuckDB failed on a record longer than its maximum line size (not merely
    suggesting a larger one among its hints for a file it cannot read)."""
    return isinstance(error, duckdb.Error) and bool(_LINE_TOO_LONG.search(str(error)))


def long_line_bytes(source: Source) -> int:
    """The line size to read ``source`` with after a first read met a longer record."""
    if source.bytes >= MAX_RECORD_BYTES:
        return MAX_RECORD_BYTES
    return max(source.bytes + 1, _DUCKDB_LINE_BYTES)


def _delimiter(source: Source) -> str:
    return "\t" if source.path.suffix.lower() == ".tsv" else ","


def csv_scan(
    source: Source,
    text_path: Path,
    line_bytes: int | None = None,
    headers: Sequence[str] | None = None,
) -> str:
    """The DuckDB ``read_csv`` of a CSV source (text columns, rejects kept aside); with
    ``headers`` known, nothing is sniffed (a broken quote is then one rejected record, not a
    file DuckDB cannot make out)."""
    longer = f", max_line_size = {line_bytes}" if line_bytes else ""
    named = ""
    if headers is not None:
        listed = ", ".join(f"{quote_literal(h)}: 'VARCHAR'" for h in headers)
        named = f", columns = {{{listed}}}, auto_detect = false"
    return (
        f"read_csv({quote_literal(str(text_path))}, all_varchar = true, header = true, "
        f"delim = {quote_literal(_delimiter(source))}, quote = '\"', escape = '\"', "
        f"strict_mode = true, store_rejects = true, rejects_table = '{REJECTS_TABLE}', "
        f"rejects_scan = '{REJECTS_SCAN}', normalize_names = false{longer}{named})"
    )


def first_record_headers(text_path: Path, delimiter: str) -> list[str] | None:
    """The header cells of a CSV file as DuckDB names them (an empty one ``column<i>``, a
    repeated one, in any case, ``<name>_1``...), read by Python's lenient reader: for a file
    whose dialect DuckDB's sniffer cannot make out. ``None`` when there is no first record."""
    with text_path.open(encoding="utf-8", errors="replace", newline="") as handle:
        first = next(csv.reader(handle, delimiter=delimiter), None)
    if not first:
        return None
    names: list[str] = []
    for index, cell in enumerate(first):
        name = cell.lstrip("\ufeff") or f"column{index}"
        base, count = name, 0
        while name.lower() in {n.lower() for n in names}:
            count += 1
            name = f"{base}_{count}"
        names.append(name)
    return names


def too_long_message(source: Source) -> str:
    """Why a file with a record longer than ``MAX_RECORD_BYTES`` is refused."""
    return (
        f"{source.path}: a record is longer than {MAX_RECORD_BYTES >> 20} MiB, the longest "
        "ingest reads; is it a CSV file of cases?"
    )


def csv_headers(
    con: duckdb.DuckDBPyConnection, source: Source, text_path: Path, line_bytes: int | None = None
) -> tuple[list[str], int | None]:
    """The header cells of a CSV source and the line size to read it with (None: DuckDB's).

    A record longer than DuckDB's default line size among the rows it samples stops it;
    the file is then read with a line size up to ``MAX_RECORD_BYTES``.
    """
    sizes = (None, long_line_bytes(source)) if line_bytes is None else (line_bytes,)
    for size in sizes:
        try:
            return _headers(con, csv_scan(source, text_path, size), source, "CSV"), size
        except LineTooLongError:
            continue
        except SourceError:  # DuckDB's sniffer could not make the file out: name the columns
            headers = first_record_headers(text_path, _delimiter(source))
            if headers is None:
                raise
            scan = csv_scan(source, text_path, size, headers)
            try:
                return _headers(con, scan, source, "CSV"), size
            except LineTooLongError:
                continue
    raise SourceError(too_long_message(source))


def _csv_query(
    con: duckdb.DuckDBPyConnection, source: Source, text_path: Path, line_bytes: int | None
) -> SourceQuery:
    headers, line_bytes = csv_headers(con, source, text_path, line_bytes)
    columns = _mapped(source, headers)
    scan = csv_scan(source, text_path, line_bytes, headers)
    long_lines = line_bytes is not None  # cells may be megabytes long: shorten them
    cells = _text_columns(columns, shorten=long_lines)
    # No WITH ORDINALITY: its row number is a streaming window that runs the whole staging
    # query on one thread. The rows keep their file order instead and are numbered as staged.
    sql = f"SELECT {cells} FROM {scan}"
    return SourceQuery(
        columns,
        sql,
        header_lines=1,
        rejects_table=REJECTS_TABLE,
        nul=source.has_nul,
        shortened=long_lines,
        positional=True,
    )


def check_width(source: Source, headers: Sequence[str]) -> None:
    """Refuse a file with more than ``MAX_COLUMNS`` columns, before its rows are read."""
    if len(headers) > MAX_COLUMNS:
        raise SourceError(f"{source.path}: {_too_wide(len(headers))}")


def _too_wide(columns: int) -> str:
    return (
        f"{columns:,} columns, more than the {MAX_COLUMNS:,} ingest reads: a case file has the "
        "contract's fields and a few notes; remove the other columns"
    )


def _mapped(source: Source, headers: Sequence[str]) -> ColumnMap:
    try:
        return map_columns(headers)
    except SourceError as error:
        raise SourceError(f"{source.path}: {error}") from None


def _parquet_query(con: duckdb.DuckDBPyConnection, source: Source) -> SourceQuery:
    scan = f"read_parquet({quote_literal(str(source.path))}, file_row_number = true)"
    headers = [h for h in _headers(con, scan, source, "Parquet") if h != "file_row_number"]
    columns = _mapped(source, headers)
    cells = _text_columns(columns, shorten=True)  # a Parquet string has no length limit
    sql = f"SELECT file_row_number + 1 AS {ORDINAL}, {cells} FROM {scan}"
    # NUL bytes in a Parquet file's strings are compressed, not seen by inspect_source
    return SourceQuery(columns, sql, header_lines=0, nul=True, shortened=True)


def _json_pointer(key: str) -> str:
    """The RFC 6901 pointer to a top-level key: any key works (quotes, dots, empty...)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _jsonl_query(con: duckdb.DuckDBPyConnection, source: Source) -> SourceQuery:
    # One record per line: a raw 0x1F cannot occur in valid JSON, so no line is ever split;
    # blank lines come back as nulls and keep the line numbers right. Lines that are not
    # UTF-8 or are too long are kept aside as rejects (parse:encoding, parse:too_long).
    rejects_table, rejects_scan = _LINE_REJECTS
    con.execute(f"DROP TABLE IF EXISTS {rejects_table}")
    con.execute(f"DROP TABLE IF EXISTS {rejects_scan}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE overdue_lines AS SELECT ordinality AS line, column0 AS text, "
        "CASE WHEN json_valid(column0) THEN json_type(column0) = 'OBJECT' ELSE false END AS ok "
        "FROM "
        f"read_csv({quote_literal(str(source.path))}, columns = {{'column0': 'VARCHAR'}}, "
        "header = false, delim = '\x1f', quote = '', escape = '', auto_detect = false, "
        f"strict_mode = false, store_rejects = true, rejects_table = '{rejects_table}', "
        f"rejects_scan = '{rejects_scan}') WITH ORDINALITY"
    )
    rejects = tuple(_rejects(con, rejects_table))
    _check_jsonl_encoding(con, source, rejects)
    keys = [
        str(k)
        for (k,) in con.execute(
            "SELECT k FROM (SELECT unnest(json_keys(text)) AS k, line FROM overdue_lines "
            "WHERE ok) GROUP BY k ORDER BY min(line), k"
        ).fetchall()
    ]
    columns = _mapped(source, keys)
    picks = [
        f"CASE WHEN ok THEN json_extract_string(text, {quote_literal(_json_pointer(k))}) "
        f"END AS {quote_ident(n)}"
        for k, n in zip(columns.headers, columns.names, strict=True)
        if n not in columns.ignored
    ]
    sql = (
        f"SELECT line AS {ORDINAL}, {', '.join([*picks, ''])}"
        f"CASE WHEN ok THEN NULL ELSE text END AS {UNPARSED} FROM overdue_lines "
        "WHERE text IS NOT NULL AND trim(text) <> ''"
    )
    return SourceQuery(
        columns, sql, header_lines=0, unparsed=True, rejects=rejects, nul=source.has_nul
    )


def _check_jsonl_encoding(
    con: duckdb.DuckDBPyConnection, source: Source, rejects: Sequence[Reject]
) -> None:
    """Refuse a JSON Lines file most of whose lines are not UTF-8 (an export in another
    encoding: re-save it); fewer such lines are quarantined as parse:encoding."""
    bad = [r.line for r in rejects if r.reason == "parse:encoding"]
    if not bad:
        return
    others = con.execute(
        "SELECT count(*) FROM overdue_lines WHERE text IS NOT NULL AND trim(text) <> ''"
    ).fetchone()
    lines = len(rejects) + (int(others[0]) if others else 0)
    if 2 * len(bad) > lines:
        raise SourceError(
            f"{source.path}: {len(bad):,} of its {lines:,} lines are not UTF-8 (the first is "
            f"line {bad[0]:,}); JSON Lines must be UTF-8 (RFC 8259): re-save it as UTF-8"
        )


def source_query(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    text_path: Path,
    line_bytes: int | None = None,
) -> SourceQuery:
    """``source`` (read from ``text_path``, its UTF-8 copy) as a SQL query of text columns;
    a CSV file with the line size ``line_bytes`` (None: DuckDB's, larger if it needs)."""
    if source.format is Format.CSV:
        return _csv_query(con, source, text_path, line_bytes)
    if source.format is Format.PARQUET:
        return _parquet_query(con, source)
    return _jsonl_query(con, source)


_REJECT_REASON: Final = {
    "TOO MANY COLUMNS": "parse:columns",
    "MISSING COLUMNS": "parse:columns",
    "UNQUOTED VALUE": "parse:quotes",
    "INVALID ENCODING": "parse:encoding",
    "LINE SIZE OVER MAXIMUM": TOO_LONG_LINE,
}


def _rejects(con: duckdb.DuckDBPyConnection, table: str) -> list[Reject]:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = con.execute(
        "SELECT line, list(DISTINCT error_type ORDER BY error_type), any_value(csv_line) "
        f"FROM {table} GROUP BY line ORDER BY line"
    ).fetchall()
    rejects = []
    for line, kinds, text in rows:
        reasons = sorted({_REJECT_REASON.get(str(k), "parse:line") for k in kinds})
        reason = TOO_LONG_LINE if TOO_LONG_LINE in reasons else reasons[0]
        kept = str(text or "").lstrip("\r\n")
        cut = reason == TOO_LONG_LINE or len(kept) >= _DUCKDB_REJECT_CHARS
        rejects.append(Reject(int(line), reason, "" if cut else kept, cut))
    return rejects


def csv_rejects(con: duckdb.DuckDBPyConnection) -> list[Reject]:
    """The records of the last CSV scan that DuckDB could not split into the header's columns
    (a record whose text DuckDB cut short keeps none of it: ``Reject.cut``)."""
    return _rejects(con, REJECTS_TABLE)


def drop_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the rejects of the last CSV scan."""
    con.execute(f"DROP TABLE IF EXISTS {REJECTS_TABLE}")
    con.execute(f"DROP TABLE IF EXISTS {REJECTS_SCAN}")


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the temporary tables the readers made (rejects, JSON lines)."""
    drop_rejects(con)
    for table in ("overdue_lines", *_LINE_REJECTS):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def split_csv_line(text: str) -> list[str]:
    """The cells of one CSV record as a lenient reader sees them (for quarantining it)."""
    rows = list(csv.reader(io.StringIO(text)))
    return [cell for row in rows for cell in row]
