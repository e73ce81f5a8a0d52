"""Type and check every row of a file in one SQL query, and finish the rare rows in Python.

``staging_sql`` reads the file's text columns (``read.source_query``), types them
(``normalise``), applies every check of the contract (``contract.violation_checks_sql``) and marks
the rows that may hold personal data (``pii.PREFILTER``). Only rows that fail a check or match
the prefilter carry their ``reasons`` and their text ``record``; ``screen_candidates`` then looks
for personal data in those few rows in Python, adds ``pii:<kind>:<column>`` reasons and masks it.

Reasons name the rule and the field: ``parse:<field>``, ``required:<field>``,
``range:<field>``, ``enum:<field>``, ``format:<field>``, ``rule:<code>`` (the contract's
cross-field rules), ``pii:<kind>:<column>``, and for records that could not be split into
columns ``parse:columns``, ``parse:quotes``, ``parse:line`` or ``parse:json``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Final

from overdue.contract import FIELD_BY_NAME, FIELD_NAMES, Kind, violation_checks_sql
from overdue.ingest import pii
from overdue.ingest.normalise import (
    missing_sql,
    plain_sql,
    quote_ident,
    quote_literal,
    text_sql,
    typed_sql,
    unreadable_sql,
)
from overdue.ingest.read import (
    ORDINAL,
    UNPARSED,
    ColumnMap,
    Reject,
    SourceQuery,
    cell_faults_sql,
    split_csv_line,
)

TEXT: Final = "__text"
PLAIN: Final = "__plain"
RAW_TEXT_FIELD: Final = "_text"
"""Key of the quarantined record of a line that could not be split into columns."""


def extra_columns(columns: ColumnMap) -> tuple[str, ...]:
    """Columns kept aside in ``extra``: not contract fields, not added by a quarantine export."""
    return tuple(n for n in columns.unknown if n not in columns.ignored)


def row_checks_sql(fields: Sequence[str], as_of: dt.date) -> tuple[dict[str, str], str]:
    """(reason -> SQL condition, a cheap SQL condition true on every row that breaks one).

    Conditions read typed ``<field>`` and text ``<field>__text`` columns. A cell with text that
    is not a value is ``parse:<field>`` (``enum:<field>`` for categories) and not also missing;
    an empty or blank cell of a required field is ``required:<field>``. The cheap condition
    may also be true on a row with a blank optional cell, which breaks nothing.
    """
    checks: dict[str, str] = {}
    cheap: list[str] = []
    for name in fields:
        f = FIELD_BY_NAME[name]
        text, typed = quote_ident(name + TEXT), quote_ident(name)
        if f.kind is not Kind.STRING:
            checks[f"{'enum' if f.values else 'parse'}:{name}"] = unreadable_sql(text, typed)
            if not f.required:
                cheap.append(f"({typed} IS NULL AND {text} IS NOT NULL)")
        if f.required:
            checks[f"required:{name}"] = missing_sql(text, typed)
            cheap.append(f"{typed} IS NULL")
    for reason, condition in violation_checks_sql(fields, as_of).items():
        kind, _, name = reason.partition(":")
        if kind == "enum" or (kind == "required" and name in fields):
            continue  # unknown categories are null here and reported above
        checks[reason] = condition
        cheap.append(condition)
    return checks, " OR ".join(cheap) or "false"


def valid_pii_sql(fields: Sequence[str], extras: Sequence[str]) -> str:
    """SQL true on a valid row whose cells could still hold personal data.

    Text fields and unknown columns go through the prefilter. A valid number has no room for
    an identifier's 11 or more digits: an int fits 32 bits and every decimal is bounded below
    10^10 (an unbounded one is compared with 10^10), so its whole part has at most 10 digits;
    only scientific notation (``13812345678e-5``) writes more digits than the value has, so
    such cells are checked too. A valid date, timestamp, category or boolean has a fixed shape.
    """
    texts = [quote_ident(f + TEXT) for f in fields if FIELD_BY_NAME[f].kind is Kind.STRING] + list(
        extras
    )
    numbers = [f for f in fields if FIELD_BY_NAME[f].kind in (Kind.INT, Kind.DECIMAL)]
    large = [
        f"abs({quote_ident(f)}) >= 1e10"
        for f in numbers
        if FIELD_BY_NAME[f].kind is Kind.DECIMAL
        and not isinstance(FIELD_BY_NAME[f].high, int | float)
    ]
    conditions = [pii.candidate_sql(texts), *large]
    if numbers:
        numeric = [quote_ident(f + TEXT) for f in numbers]
        longest = f"greatest({', '.join(f'strlen({t})' for t in numeric)})"
        conditions.append(  # 11 digits, an e and an exponent take 13 bytes (strlen is cheap)
            f"CASE WHEN {longest} >= 13 THEN "
            f"regexp_matches(concat_ws(chr(31), {', '.join(numeric)}), '[eE]') ELSE false END"
        )
    return " OR ".join(conditions)


def _json_object(names: Iterable[str], sources: Iterable[str]) -> str:
    pairs = [f"{quote_literal(n)}, {s}" for n, s in zip(names, sources, strict=True)]
    return f"json_object({', '.join(pairs)})"


def staging_sql(query: SourceQuery, as_of: dt.date) -> str:
    """One row per record of ``query``: ``_ordinal`` (unless the query is ``positional``), every
    contract field typed (null when the file lacks it), ``extra`` (JSON of unknown columns),
    ``pii_candidate``, and on rows that may break a check or hold personal data the ``reasons``
    and the text ``record`` (JSON)."""
    present = set(query.columns.fields)
    fields = list(FIELD_NAMES)  # a field the file lacks is an empty cell on every row
    extras = [quote_ident(e) for e in extra_columns(query.columns)]
    texts = [quote_ident(f + TEXT) for f in fields]
    kept = [f for f in fields if f in present]
    unparsed = [UNPARSED] if query.unparsed else []
    plains = {f: sql for f in fields if (sql := plain_sql(FIELD_BY_NAME[f], quote_ident(f + TEXT)))}
    ordinal = [] if query.positional else [ORDINAL]  # a positional query is numbered later
    scan = [
        *ordinal,
        *(
            f"{text_sql(f) if f in present else 'CAST(NULL AS VARCHAR)'} AS {t}"
            for f, t in zip(fields, texts, strict=True)
        ),
        *extras,
        *unparsed,
    ]
    numbers = [
        "*",
        *(f"{sql} AS {quote_ident(f + PLAIN)}" for f, sql in plains.items()),
    ]
    typed = [
        "*",
        *(
            f"{typed_sql(FIELD_BY_NAME[f], t, quote_ident(f + PLAIN) if f in plains else None)}"
            f" AS {quote_ident(f)}"
            for f, t in zip(fields, texts, strict=True)
        ),
    ]
    checks, cheap = row_checks_sql(fields, as_of)
    bad = f"{UNPARSED} IS NOT NULL OR ({cheap})" if query.unparsed else cheap
    # cells too long or holding NUL are bad values of their row (read.cell_faults_sql)
    cells = [
        *((f, quote_ident(f + TEXT)) for f in kept),
        *zip(extra_columns(query.columns), extras, strict=True),
    ]
    any_fault, faults = cell_faults_sql(query, cells)
    bad = f"{any_fault} OR ({bad})"
    everything = [*(quote_ident(f + TEXT) for f in kept), *extras, *unparsed]
    pii_check = (
        f"CASE WHEN __bad THEN {pii.candidate_sql(everything)} "
        f"ELSE {valid_pii_sql(kept, extras)} END"
    )
    reasons = (
        "list_filter(["
        + ", ".join(f"CASE WHEN {c} THEN {quote_literal(r)} END" for r, c in checks.items())
        + "], lambda r: r IS NOT NULL)"
        if checks
        else "[]::VARCHAR[]"
    )
    record = _json_object(
        [*kept, *extra_columns(query.columns)], [*(quote_ident(f + TEXT) for f in kept), *extras]
    )
    reasons = f"list_concat({faults}, {reasons})"
    if query.unparsed:
        reasons = f"CASE WHEN {UNPARSED} IS NOT NULL THEN ['parse:json'] ELSE {reasons} END"
        record = (
            f"CASE WHEN {UNPARSED} IS NOT NULL THEN "
            f"json_object({quote_literal(RAW_TEXT_FIELD)}, {UNPARSED}) ELSE {record} END"
        )
    extra = _json_object(extra_columns(query.columns), extras) if extras else "NULL::JSON"
    final = [
        *ordinal,
        *(quote_ident(f) for f in fields),
        f"{extra} AS extra",
        f"CASE WHEN __bad OR __pii THEN {reasons} END AS reasons",
        "__pii AS pii_candidate",
        f"CASE WHEN __bad OR __pii THEN {record}::VARCHAR END AS record",
    ]
    return (
        f"WITH scanned AS (SELECT {', '.join(scan)} FROM ({query.sql})),\n"
        f"numbered AS (SELECT {', '.join(numbers)} FROM scanned),\n"
        f"typed AS (SELECT {', '.join(typed)} FROM numbered),\n"
        f"judged AS (SELECT *, ({bad}) AS __bad FROM typed),\n"
        f"flagged AS (SELECT *, {pii_check} AS __pii FROM judged)\n"
        f"SELECT {', '.join(final)} FROM flagged"
    )


def screened_record(record: str, reasons: Sequence[str]) -> tuple[str, list[str]]:
    """A text record (JSON) with personal data masked, and its reasons plus ``pii:`` reasons."""
    values = json.loads(record)
    found = list(reasons)
    for key, value in values.items():
        if not isinstance(value, str):
            continue
        hits = pii.find_pii(value)
        if hits:
            found.extend(f"pii:{h.kind}:{key}" for h in hits)
            values[key] = pii.mask(value, hits)
    unique = list(dict.fromkeys(found))
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")), unique


def rejected_record(reject: Reject, columns: ColumnMap) -> tuple[str, list[str]]:
    """The masked record and reasons of a line the CSV reader could not split into columns."""
    cells = split_csv_line(reject.text)
    names = list(columns.names) + [
        f"_column_{i + 1}" for i in range(len(columns.names), len(cells))
    ]
    values = dict(zip(names, cells, strict=False)) if cells else {RAW_TEXT_FIELD: reject.text}
    return screened_record(json.dumps(values, ensure_ascii=False), [reject.reason])
