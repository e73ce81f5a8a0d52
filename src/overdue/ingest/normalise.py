"""Text cells to typed values, as SQL expressions run by DuckDB (one builder per contract kind).

Parsing runs inside DuckDB, in the same streaming query that reads the file, so that a million
rows are typed at close to the speed of the CSV reader. Each builder takes the SQL of a text
cell as read and returns the SQL of its typed value, null where the cell is empty or its text
cannot be read (``parse:<field>``) or names no category (``enum:<field>``). Surrounding
whitespace is ignored. The common spelling is tried first and the slower fallbacks (thousands
separators, percents, Excel dates, trimming, case-folding) run only on the cells it missed,
because DuckDB evaluates a ``CASE`` branch only for the rows that reach it.
"""

from __future__ import annotations

from typing import Final

from overdue.contract import FALSE_VALUES, TRUE_VALUES, Field, Kind, code_from_alias
from overdue.warehouse import DUCKDB_TYPE

THOUSANDS: Final = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"
"""A number written with thousands separators, e.g. 12,000 or 1,234,567.5."""

WHITESPACE: Final = " \t\r\n\u3000\u00a0"
"""Trimmed from both ends of every cell (incl. the ideographic and no-break spaces)."""

EDGE_SPACE: Final = r"^[\s\x{3000}\x{a0}]|[\s\x{3000}\x{a0}]$"
"""A cell that starts or ends with whitespace (RE2 syntax)."""

EXCEL_TIMESTAMP_FORMATS: Final = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")

INT_LIMIT: Final = 2**31
"""Whole numbers must fit a 32-bit integer."""


def quote_ident(name: str) -> str:
    """A SQL identifier for any column name."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def text_sql(column: str) -> str:
    """The cell of ``column`` as read (text; an empty cell is null)."""
    return f"CAST({quote_ident(column)} AS VARCHAR)"


def trimmed_sql(text: str) -> str:
    """``text`` without surrounding whitespace; blank means null."""
    # Trimming a set of characters is slow; a regular expression finds the few cells needing it.
    trimmed = f"trim({text}, {quote_literal(WHITESPACE)})"
    edge = f"regexp_matches({text}, {quote_literal(EDGE_SPACE)})"
    return f"nullif(CASE WHEN {edge} THEN {trimmed} ELSE {text} END, '')"


def blank_sql(text: str) -> str:
    """SQL true where the cell is empty or only whitespace."""
    return f"coalesce(trim({text}, {quote_literal(WHITESPACE)}), '') = ''"


def number_sql(text: str, *, percent: bool = False) -> str:
    """A finite DOUBLE from ``12000``, ``12,000``, ``1e4`` (and ``24%`` when ``percent``)."""
    plain = f"TRY_CAST({text} AS DOUBLE)"
    trimmed = trimmed_sql(text)
    grouped = f"TRY_CAST(replace({trimmed}, ',', '') AS DOUBLE)"
    branches = [
        f"WHEN isfinite({plain}) THEN {plain}",
        f"WHEN regexp_matches({trimmed}, {quote_literal(THOUSANDS)}) THEN {grouped}",
    ]
    if percent:
        share = f"TRY_CAST(rtrim({trimmed}, '%') AS DOUBLE) / 100"
        branches.append(f"WHEN ends_with({trimmed}, '%') THEN {share}")
    value = f"CASE {' '.join(branches)} END"
    return f"CASE WHEN isfinite({value}) THEN {value} END"


def _whole(number: str) -> str:
    return (
        f"CASE WHEN {number} = round({number}) AND abs({number}) < {INT_LIMIT} "
        f"THEN CAST({number} AS INTEGER) END"
    )


def plain_sql(f: Field, text: str) -> str | None:
    """The first step of typing a number, date or timestamp cell (None for other kinds).

    Numbers: DuckDB's cast, then ``number_sql`` only for cells the cast missed. Dates and
    timestamps: DuckDB's cast of the ISO spelling.
    """
    if f.kind in (Kind.INT, Kind.DECIMAL):
        cast = f"TRY_CAST({text} AS DOUBLE)"
        fallback = number_sql(text, percent=accepts_percent(f))
        return f"CASE WHEN isfinite({cast}) THEN {cast} WHEN {text} IS NOT NULL THEN {fallback} END"
    if f.kind in (Kind.DATE, Kind.TIMESTAMP):
        return f"TRY_CAST({text} AS {DUCKDB_TYPE[f.kind]})"
    return None


def date_sql(text: str, plain: str) -> str:
    """A DATE written ``2024-03-05`` (ISO, ``plain``) or ``2024/3/5`` (Excel)."""
    excel = f"CAST(try_strptime({trimmed_sql(text)}, '%Y/%m/%d') AS DATE)"
    return f"CASE WHEN {plain} IS NOT NULL THEN {plain} WHEN {text} IS NOT NULL THEN {excel} END"


def timestamp_sql(text: str, plain: str) -> str:
    """A TIMESTAMP written ISO (``plain``: ``T`` or space, optional fraction) or ``2024/3/5 10:30``.

    A UTC offset is dropped: the time is taken as written.
    """
    formats = ", ".join(quote_literal(f) for f in EXCEL_TIMESTAMP_FORMATS)
    excel = f"try_strptime({trimmed_sql(text)}, [{formats}])"
    return f"CASE WHEN {plain} IS NOT NULL THEN {plain} WHEN {text} IS NOT NULL THEN {excel} END"


def bool_sql(text: str) -> str:
    """``true/false``, ``1/0``, ``Y/N``, ``是/否`` in any case; null for anything else."""
    spellings = [(v, "true") for v in TRUE_VALUES] + [(v, "false") for v in FALSE_VALUES]
    spellings.sort(key=lambda s: s[0] not in ("true", "false"))  # the commonest first
    whens = " ".join(f"WHEN {quote_literal(v)} THEN {b}" for v, b in spellings)
    exact = " ".join(
        f"WHEN {quote_literal(spelling)} THEN {b}"
        for v, b in spellings
        for spelling in dict.fromkeys((v, v.upper(), v.title()))
    )
    return f"CASE {text} {exact} ELSE CASE lower({trimmed_sql(text)}) {whens} END END"


def enum_sql(text: str, f: Field) -> str:
    """The English code of a category written as its code or exact Chinese alias, else null."""
    whens = " ".join(
        f"WHEN {quote_literal(alias)} THEN {quote_literal(code)}"
        for alias, code in code_from_alias(f.name).items()
    )
    return f"CASE {text} {whens} ELSE CASE {trimmed_sql(text)} {whens} END END"


def accepts_percent(f: Field) -> bool:
    """Decimal fields whose range is a share (0 .. 1) may be written as ``24%``."""
    return f.kind is Kind.DECIMAL and f.high == 1


def typed_sql(f: Field, text: str, plain: str | None = None) -> str:
    """The typed value of field ``f`` from the SQL ``text`` of its cell.

    Numbers, dates and timestamps are typed from ``plain`` (a column holding
    ``plain_sql(f, text)``) so that it is computed once; without it, it is inlined.
    """
    common = plain or plain_sql(f, text) or text
    match f.kind:
        case Kind.DECIMAL:
            value = common
        case Kind.INT:
            value = _whole(common)
        case Kind.DATE:
            value = date_sql(text, common)
        case Kind.TIMESTAMP:
            value = timestamp_sql(text, common)
        case Kind.BOOL:
            value = bool_sql(text)
        case Kind.ENUM:
            value = enum_sql(text, f)
        case _:
            value = f"nullif(trim({text}), '')"  # spaces; a tab around a case_id breaks its format
    return f"CAST({value} AS {DUCKDB_TYPE[f.kind]})"


def unreadable_sql(text: str, typed: str) -> str:
    """SQL true where a cell has text but no typed value (``parse:`` or ``enum:``)."""
    has_text = f"{typed} IS NULL AND {text} IS NOT NULL"
    return f"CASE WHEN {has_text} THEN NOT {blank_sql(text)} ELSE false END"


def missing_sql(text: str, typed: str) -> str:
    """SQL true where a cell is empty or blank."""
    return f"CASE WHEN {typed} IS NULL THEN {blank_sql(text)} ELSE false END"
