"""Reading a request: a case body as a validated case, and pydantic's errors in our form."""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from overdue.case_input import (
    CaseInput,
    case_record,
    given_twice,
    json_int,
    personal_keys,
    pii_reasons,
    rule_errors,
)
from overdue.contract import FIELD_BY_NAME
from overdue.serve.i18n import error_message, pii_kind_label

PARAMETERS: Final = ("lang",)
"""The request parameters an error may name besides the contract's fields."""


def _field_of(loc: tuple[Any, ...]) -> str:
    """The field a problem is about: a contract field or one of our parameters, else ``body``
    (never a name taken from the request)."""
    parts = [str(p) for p in loc if p not in ("body", "query", "header")]
    name = parts[0] if parts else "body"
    return name if name in FIELD_BY_NAME or name in PARAMETERS else "body"


def validation_errors(errors: list[Any], lang: str) -> list[dict[str, str]]:
    """pydantic's errors as {field, message, reason} in ``lang``, without the inputs."""
    out = []
    for item in errors:
        field = _field_of(tuple(item.get("loc", ())))
        kind = str(item.get("type", "invalid"))
        context = item.get("ctx")
        reason = f"{kind}:{field}"
        if kind == "rule":  # a cross-field rule of the contract: its reason as ingest's
            reason = f"rule:{(context or {}).get('rule')}"
        elif kind == "pii":
            pii = str((context or {}).get("kind"))
            reason = f"pii:{pii}:{field}"
            context = {"kind": pii_kind_label(pii, lang)}
        out.append(
            {
                "field": field,
                "message": error_message(kind, field, lang, context),
                "reason": reason,
            }
        )
    return out


def read_case(raw: bytes) -> tuple[BaseModel | None, list[dict[str, Any]]]:
    """A request body as a validated case, or its problems (pydantic's error form).

    In order: JSON, personal data anywhere (refused; the keys that hold it are left out of
    every further check, so their values are read no more), one object, contract field names
    (Chinese aliases accepted), the contract's types and ranges (every number an input has is
    bounded, so any value that passes fits the typed frame), then the contract's cross-field
    rules (each field of a broken rule named). Every problem of the body comes in one answer.
    """
    try:
        document = json.loads(raw, parse_constant=_no_constant, parse_int=json_int)
    except (ValueError, RecursionError) as error:  # RecursionError: nested beyond the parser
        kind = "too_deep" if isinstance(error, RecursionError) else "json_invalid"
        return None, [{"type": kind, "loc": ("body",)}]
    try:
        found = pii_reasons(document)
    except RecursionError:
        return None, [{"type": "too_deep", "loc": ("body",)}]
    personal: list[dict[str, Any]] = [
        {"type": "pii", "loc": ("body", field), "ctx": {"kind": kind}} for kind, field in found
    ]
    if not isinstance(document, dict):
        return None, personal or [{"type": "model_type", "loc": ("body",)}]
    if not found:
        return _checked_case(document)
    keys = personal_keys(document)  # their values are read no more: blanked, then skipped
    _, problems = _checked_case({k: None if k in keys else v for k, v in document.items()})
    fields = set(keys.values()) - {"body"}
    positions = {position for position, key in enumerate(document, start=1) if key in keys}
    return None, personal + [
        p
        for p in problems
        if _field_of(tuple(p.get("loc", ()))) not in fields
        and (p.get("ctx") or {}).get("position") not in positions
    ]


def _checked_case(document: dict[str, Any]) -> tuple[BaseModel | None, list[dict[str, Any]]]:
    """A body free of personal data as a validated case, or its problems."""
    record, unknown = case_record(document)
    problems: list[Any] = [
        {"type": "extra_forbidden", "loc": ("body",), "ctx": {"position": position}}
        for position in unknown
    ]
    problems += [{"type": "duplicate", "loc": (name,)} for name in given_twice(document)]
    try:
        case = CaseInput.model_validate(record)
    except ValidationError as error:
        return None, problems + error.errors(include_input=False, include_url=False)
    problems += rule_errors(case)
    return (None, problems) if problems else (case, [])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
