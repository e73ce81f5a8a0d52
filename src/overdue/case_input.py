"""One case as a counselor enters it (context and action fields), validated from the contract.

``CaseInput`` is a pydantic model generated from ``overdue.contract``: the CLI's
``overdue estimate`` and the web service read cases through it, so a field's type, range,
allowed values and Chinese aliases are checked the same way everywhere.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sys
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import polars as pl
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

from overdue import contract
from overdue.contract import (
    FALSE_VALUES,
    FIELD_BY_NAME,
    FIELD_BY_ZH,
    FIELDS,
    TRUE_VALUES,
    Kind,
    Role,
)
from overdue.ingest.pii import find_pii

INPUT_ROLES: Final = (Role.CONTEXT, Role.ACTION)
INT32_MAX: Final = 2**31 - 1
TEN_THOUSAND: Final = 10_000
MAX_DEPTH: Final = 8
"""A case is one flat object; deeper nesting is refused rather than walked."""
OPTIONAL_KEYS: Final = ("case_id", "overdue_since", "first_contact_on")
NUMBER_TEXT: Final = re.compile(
    r"[+-]?(?:[0-9]{1,3}(?:[,，][0-9]{3})+(?:\.[0-9]+)?|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)
"""A number as text: ``12000``, ``12,000`` (thousands separators), ``0.5``, ``1e4``; no ``_``."""


def _enum_value(name: str) -> Any:
    aliases = contract.code_from_alias(name)

    def parse(value: Any) -> Any:
        return aliases.get(value.strip(), value) if isinstance(value, str) else value

    return parse


def _bool_value(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
    return value


def _number_value(whole: bool, percent: bool) -> Any:
    """A number, or text written as one (``NUMBER_TEXT``; full-width digits as a Chinese input
    method types them; a percent where ``percent``, else an amount in 万 (10,000) such as
    ``5.8万``); true/false and other text are refused rather than read as 1/0 or Python
    literals."""
    kind = "int" if whole else "float"

    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError(f"{kind}_type", "must be a number, not true/false")
        if not isinstance(value, str):
            return value
        text = unicodedata.normalize("NFKC", value).strip()
        suffix = "%" if percent else "万"
        scaled = text.endswith(suffix)
        text = text.removesuffix(suffix).strip() if scaled else text
        if not NUMBER_TEXT.fullmatch(text):
            raise PydanticCustomError(f"{kind}_parsing", "must be a number such as 12,000")
        number = text.replace(",", "").replace("，", "")
        if not scaled:
            return number
        return float(number) / 100 if percent else Decimal(number) * TEN_THOUSAND

    return parse


def _date_bounds(f: contract.Field) -> Any:
    """A check of a date against the contract's range (``today`` is the day it is checked)."""

    def bounded(value: dt.date) -> dt.date:
        low, high = (
            dt.date.today() if bound == contract.TODAY else dt.date.fromisoformat(str(bound))
            for bound in (f.low or dt.date.min.isoformat(), f.high or dt.date.max.isoformat())
        )
        if value < low:
            raise PydanticCustomError(
                "greater_than_equal", "must be on or after {ge}", {"ge": low.isoformat()}
            )
        if value > high:
            raise PydanticCustomError(
                "less_than_equal", "must be on or before {le}", {"le": high.isoformat()}
            )
        return value

    return bounded


def _annotation(f: contract.Field) -> Any:
    """The pydantic type of one contract field."""
    if f.values:
        return Annotated[Literal[tuple(f.values)], BeforeValidator(_enum_value(f.name))]
    if f.kind is Kind.BOOL:
        return Annotated[bool, BeforeValidator(_bool_value)]
    if f.kind is Kind.DATE:
        return Annotated[dt.date, AfterValidator(_date_bounds(f))]
    if f.kind is Kind.STRING:
        return Annotated[
            str, Field(min_length=f.min_length or 0, max_length=f.max_length, pattern=f.pattern)
        ]
    bounds: dict[str, Any] = {}  # Field's gt/ge/le keywords
    if isinstance(f.low, int | float):
        bounds["gt" if f.low_exclusive else "ge"] = f.low
    if isinstance(f.high, int | float):
        bounds["le"] = f.high
    elif f.kind is Kind.INT:
        bounds["le"] = INT32_MAX  # the warehouse stores whole numbers as 32-bit integers
    base = int if f.kind is Kind.INT else float
    parse = _number_value(f.kind is Kind.INT, f.name == "annual_rate")
    return Annotated[base, Field(**bounds), BeforeValidator(parse)]


def _fields() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in FIELDS:
        if f.name in OPTIONAL_KEYS:
            out[f.name] = (_annotation(f) | None, Field(None, description=f"{f.zh} {f.meaning}"))
        elif f.role in INPUT_ROLES:
            description = f"{f.zh}. {f.meaning}".strip(". ")
            if f.required:
                out[f.name] = (_annotation(f), Field(..., description=description))
            else:
                out[f.name] = (_annotation(f) | None, Field(None, description=description))
    return out


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


CaseInput: type[BaseModel] = create_model("CaseInput", __base__=_Base, **_fields())
"""A case's context and chosen actions; English codes or the contract's Chinese aliases."""

INPUT_FIELDS: Final = tuple(CaseInput.model_fields)
CONTRACT_COLUMNS: Final = tuple(f.name for f in FIELDS)


@functools.cache
def frame_columns() -> tuple[tuple[pl.Expr, ...], tuple[pl.Expr, ...]]:
    """``cases_frame``'s expressions, built once: building them costs more than running them
    on a request's few rows."""
    completed = (
        pl.coalesce(pl.col("case_id"), pl.format("case-{}", pl.int_range(pl.len()) + 1)).alias(
            "case_id"
        ),
        # without dates, first contact is now: the days overdue are the days to first contact
        pl.coalesce(
            pl.col("days_to_first_contact"),
            (pl.col("first_contact_on") - pl.col("overdue_since")).dt.total_days(),
            pl.col("days_overdue_at_contact"),
        )
        .cast(pl.Int32)
        .alias("days_to_first_contact"),
    )
    absent = tuple(
        pl.lit(None, dtype=f.dtype).alias(f.name) for f in FIELDS if f.name not in INPUT_FIELDS
    )
    return completed, absent


def cases_frame(cases: Sequence[BaseModel]) -> pl.DataFrame:
    """Validated cases as a typed frame with every contract column (absent ones empty)."""
    rows = [case.model_dump() for case in cases]
    frame = pl.DataFrame(rows, schema={name: FIELD_BY_NAME[name].dtype for name in INPUT_FIELDS})
    completed, absent = frame_columns()
    return frame.with_columns(*completed, *absent).select(CONTRACT_COLUMNS)


def broken_rules(case: BaseModel) -> list[contract.Rule]:
    """The contract's cross-field rules a validated case breaks (those on its input fields;
    the same rules ingest checks in SQL)."""
    return contract.broken_rules(case.model_dump(), INPUT_FIELDS)


def rule_errors(case: BaseModel) -> list[dict[str, Any]]:
    """Each broken rule as one problem per field it names, in pydantic's error form (type
    ``rule``, the rule's code in ``ctx``), so that every field involved can be marked."""
    return [
        {"type": "rule", "loc": (name,), "ctx": {"rule": rule.code}}
        for rule in broken_rules(case)
        for name in rule.fields
    ]


def error_messages(
    error: ValidationError, row: int | None = None, skip: set[str] | None = None
) -> list[str]:
    """Each problem as ``[row N, ]field: message``, never echoing the submitted value; none
    about the fields in ``skip``."""
    where = f"row {row}, " if row is not None else ""
    return [
        f"{where}{'.'.join(str(part) for part in item['loc']) or 'case'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)
        if not item["loc"] or item["loc"][0] not in (skip or set())
    ]


def _scalars(value: Any, depth: int = 0) -> Iterator[str]:
    """Every key and scalar of a parsed JSON value, as text."""
    if depth > MAX_DEPTH:
        raise RecursionError("too deep")
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _scalars(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item, depth + 1)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, float):
        yield repr(value)
    else:
        yield str(value)


def _field(key: Any) -> str:
    """A top-level key as a field name, only when it is one of the contract's (never echoed)."""
    field = FIELD_BY_NAME.get(key) or FIELD_BY_ZH.get(key) if isinstance(key, str) else None
    return field.name if field is not None else "body"


def pii_reasons(document: Any) -> list[tuple[str, str]]:
    """(kind, field) of each piece of personal data in any key or value of a parsed JSON body.

    Ingest's detector (``pii.find_pii``) reads every key and scalar, nested or not. The field is
    the contract field whose value holds it, or ``body`` (a key itself, an unknown key's value,
    or a body that is not an object): never a name taken from the request.
    """
    parts = document.items() if isinstance(document, dict) else [(None, document)]
    found: list[tuple[str, str]] = []
    for key, value in parts:
        where = _field(key)
        keys = [] if key is None else [(str(key), "body")]
        for text, field in [*keys, *((t, where) for t in _scalars(value, 1))]:
            for hit in find_pii(text):
                if (hit.kind, field) not in found:
                    found.append((hit.kind, field))
    return found


def personal_keys(document: Mapping[str, Any]) -> dict[str, str]:
    """The keys of ``document`` whose name or value holds personal data, each with the
    contract field it is (``body`` for a key not in the contract)."""
    return {key: _field(key) for key, value in document.items() if pii_reasons({key: value})}


def given_twice(document: Mapping[str, Any]) -> list[str]:
    """The contract fields ``document`` names more than once (by its name and its Chinese
    alias): which of the two values was meant cannot be known."""
    names = [f.name for key in document if (f := FIELD_BY_NAME.get(key) or FIELD_BY_ZH.get(key))]
    return sorted({name for name in names if names.count(name) > 1})


def case_record(document: Mapping[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """A case as read from a file or a request: keys as contract names (Chinese aliases
    accepted), empty values and fields of other roles left out; and the positions (from 1) of
    keys not in the contract, apart, so that an error can point at one without repeating it."""
    record: dict[str, Any] = {}
    unknown: list[int] = []
    for position, (key, value) in enumerate(document.items(), start=1):
        field = FIELD_BY_NAME.get(key) or contract.FIELD_BY_ZH.get(key)
        if field is None:
            unknown.append(position)
        elif field.name in INPUT_FIELDS and value is not None and value != "":
            record[field.name] = value
    return record, unknown


def _personal_data(row: int, record: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Each piece of personal data in a file's row (keys too), as ``row N, field: ...``: the
    contract field that holds it, never the value or a key of the user's own; and the keys that
    hold it (``personal_keys``). Raises RecursionError for a row nested too deep to read."""
    found = pii_reasons(dict(record))
    messages = [
        f"row {row}, {'a column not in the contract' if field == 'body' else field}: "
        f"holds personal data ({kind}); remove it, nothing here needs it"
        for kind, field in found
    ]
    return messages, personal_keys(record) if found else {}


def validated_cases(records: list[dict[str, Any]]) -> pl.DataFrame:
    """Validate records into a typed frame; every problem named by row and field. A row that
    holds personal data anywhere is refused (as ingest and the web service do), its other
    problems checked without the keys that hold it; keys not in the contract are left out
    (``unknown_keys`` names them)."""
    cases, problems = [], []
    for row, record in enumerate(records, start=1):
        try:
            found, keys = _personal_data(row, record)
        except RecursionError:
            problems.append(f"row {row}: nested deeper than a case's fields can be")
            continue
        found += [
            f"row {row}, {name}: given twice (by its name and its Chinese name); keep one"
            for name in given_twice(record)
        ]
        try:
            case = CaseInput(**case_record({k: v for k, v in record.items() if k not in keys})[0])
        except ValidationError as error:
            problems += found + error_messages(error, row, skip=set(keys.values()))
            continue
        broken = broken_rules(case)
        problems += found + [
            f"row {row}, {', '.join(r.fields)}: must hold {r.text}" for r in broken
        ]
        if not found:
            cases.append(case)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ValueError(f"{len(problems)} problem(s) in the cases:\n  {shown}{more}")
    return cases_frame(cases)


def unknown_keys(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys of ``records`` that are not contract fields (nor their Chinese names), once
    each, in order of first appearance (for rows that passed ``validated_cases``)."""
    found: dict[str, None] = {}
    for record in records:
        keys = list(record)
        found |= dict.fromkeys(keys[position - 1] for position in case_record(record)[1])
    return list(found)


def json_int(text: str) -> int | Decimal:
    """An integer of a JSON document. Python converts at most 4,300 digits to an ``int``; a
    longer one stays a ``Decimal``, so the field's range check names it rather than the
    parser failing on the whole body."""
    return int(text) if len(text) < sys.get_int_max_str_digits() else Decimal(text)


def read_case_json(path: Path) -> tuple[pl.DataFrame, list[str]]:
    """One case from a JSON object file, and its keys not in the contract (left out)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8-sig"), parse_int=json_int)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON (line {error.lineno}): {error.msg}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested deeper than a case's fields can be") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} must hold one JSON object with the case's fields")
    try:
        return validated_cases([record]), unknown_keys([record])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def read_cases_file(path: Path) -> tuple[pl.DataFrame, list[str]]:
    """Many cases from CSV (UTF-8), Parquet or JSON Lines, validated row by row, and the
    columns not in the contract (left out)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pl.read_parquet(path)
    elif suffix in (".jsonl", ".ndjson"):
        frame = pl.read_ndjson(path, infer_schema_length=None)
    elif suffix == ".csv":
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    else:
        raise ValueError(f"cannot read {path.name}: use .csv, .parquet or .jsonl")
    try:
        records = frame.to_dicts()
        return validated_cases(records), unknown_keys(records)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
