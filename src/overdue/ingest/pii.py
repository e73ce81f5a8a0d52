"""Direct personal data in a cell: detect, name and mask it.

A cheap regular expression (``PREFILTER``, run by DuckDB) marks the rows that could hold
personal data; only their cells are checked one by one (``find_pii``): an 18-digit resident ID
with a valid region, birth date and check digit, an 11-digit mainland mobile number (also
written +86), a 13-19 digit number that passes the Luhn check (bank card), an email address.
Digits may be grouped by single spaces or hyphens the way people write them (138 1234 5678,
6222 0212 3456 7890); other groupings, such as the case id C1352908-0000001, are not personal
data. Digits after a decimal point are not looked at, so 0.2399999999999999 is not mistaken
for a card number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from stdnum import luhn
from stdnum.cn import ric

from overdue.contract import PII_KINDS

PREFILTER: Final = r"(?:^|[^\d.])\d{11}|\d{3}[ -]\d{4}[ -]\d{4}|\d{6}[ -]\d{8}|@"
"""Rows matching this (on any cell) are checked in detail; all others hold no personal data."""

_NOT_AFTER: Final = r"(?<![\d.])"
_NOT_BEFORE: Final = r"(?![\dXx])"
_DIGITS: Final = re.compile(
    _NOT_AFTER
    + "(?:"
    + "|".join(
        (
            r"\d{11,21}[Xx]?",  # one run: mobile, resident ID, card
            r"(?:\+?86[ -]?)?1[3-9]\d[ -]\d{4}[ -]\d{4}",  # mobile as 138 1234 5678
            r"\d{6}[ -]\d{8}[ -]\d{3}[\dXx]",  # resident ID as 110105 19491231 002X
            r"\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?",  # card as 6222 0212 3456 7890
        )
    )
    + ")"
    + _NOT_BEFORE
)
"""Digit runs that may be personal data; groups of digits only in the ways people write them."""
_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_MOBILE: Final = re.compile(r"1[3-9]\d{9}")


@dataclass(frozen=True)
class Hit:
    """One piece of personal data inside a cell (positions in the cell's text)."""

    kind: str
    start: int
    end: int


def candidate_sql(columns: Sequence[str]) -> str:
    """SQL true on rows where some cell of ``columns`` (SQL text expressions) matches PREFILTER."""
    if not columns:
        return "false"
    row = f"concat_ws(chr(31), {', '.join(columns)})"
    return f"regexp_matches({row}, '{PREFILTER}')"


def _digit_kind(digits: str) -> str | None:
    if len(digits) == 18 and ric.is_valid(digits):
        return "resident_id"
    if len(digits) == 11 and _MOBILE.fullmatch(digits):
        return "mobile"
    if len(digits) == 13 and digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        return "mobile"
    if 13 <= len(digits) <= 19 and digits.isdigit() and luhn.is_valid(digits):
        return "bank_card"
    return None


def find_pii(text: str) -> list[Hit]:
    """Every piece of personal data in ``text``, in order."""
    hits = []
    for match in _DIGITS.finditer(text):
        digits = re.sub(r"[ +-]", "", match.group()).upper()
        kind = _digit_kind(digits)
        if kind is not None:
            hits.append(Hit(kind, match.start(), match.end()))
    hits.extend(Hit("email", m.start(), m.end()) for m in _EMAIL.finditer(text))
    assert all(h.kind in PII_KINDS for h in hits)
    return sorted(hits, key=lambda h: h.start)


def mask(text: str, hits: Sequence[Hit]) -> str:
    """``text`` with every hit replaced by its kind in brackets, e.g. ``[mobile]``."""
    out = []
    position = 0
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.start < position:
            continue
        out.append(text[position : hit.start])
        out.append(f"[{hit.kind}]")
        position = hit.end
    out.append(text[position:])
    return "".join(out)


def mask_text(text: str) -> str:
    """``text`` with all personal data masked."""
    return mask(text, find_pii(text))
