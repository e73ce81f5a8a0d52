"""Direct personal data in a text: detect, name and mask it (ingest and the API share this).

What is detected, by shape and check digits only (never a list of district codes or banks):

- ``resident_id``: an 18-character resident ID, first digit 1-9, any 5 more region digits, a
  real birth date ``YYYYMMDD`` from 1900 to this year, 3 digits and the GB 11643 check digit
  (``X`` or ``x`` for 10); a 15-digit ID of the old format, first digit 1-9, 5 more region
  digits, a real birth date ``YYMMDD`` (19YY) and 3 digits.
- ``mobile``: a mainland mobile number ``1[3-9]`` + 9 digits, also glued to a prefix ``86``,
  ``0086`` or the trunk ``0`` (``+86``, ``(+86)`` and ``0086 `` before it are masked with it).
- ``bank_card``: 13 to 19 digits, the first 1-9, passing the Luhn check.
- ``email``: ``local@domain.tld`` in any script (``张三@例子.中国``), the local part maybe quoted
  (``"zs"@example.cn``). ``@`` may be written ``＠``, ``﹫`` or ``at`` in brackets (``[at]``,
  ``(at)``, ``{at}``, ``<at>``, any case, a space inside or either side); a dot of the domain
  ``。`` or ``dot`` in brackets or between spaces. ``at`` between spaces counts only when a dot
  of the domain is spelled (``zs at example dot cn``): ``look at this`` and ``available at
  example.com`` are prose.

How numbers are read:

- Text is first normalised character by character (positions are kept, so masks land on the
  original text): every Unicode digit (full-width ``１``, Arabic-Indic, circled ``①``, ``❶``,
  superscript ``¹``, subscript ``₁`` ...) becomes its ASCII digit, every Unicode space (U+3000,
  no-break and narrow spaces, U+2007 ...), zero-width spaces and tabs a space, Unicode dashes
  and the minus sign ``-``, and every other character whose NFKC form is one ASCII character
  that character (full-width letters and signs ``Ａ``, ``（``, math letters, small forms ``﹐``).
  Characters whose NFKC form is longer (``⑩`` is ``10``) keep their place and are not read.
- Digits are read in groups joined by one separator: a space, ``-``, ``.``, ``/`` or ``_``
  (``-`` ``.`` ``/`` ``_`` may have one space on each side), or a comma (one space may follow
  it). A group may stand in parentheses, glued to its neighbours or one space apart (``-`` may
  follow the ``)``): ``(138)1234-5678``, ``(0)138 1234 5678``, ``+86 (138) 1234 5678``. Every
  contiguous run of whole groups that has an identifier's length is checked, in any grouping:
  ``138 1234 5678``, ``188.1234.5678``, ``1381 2345 678``, ``6222 0212 3456 7894``,
  ``622202 1234567894120``, ``13,812,345,678``, ``138,1234,5678``. A group is never cut: a run
  of 20 or more digits with no separator is no identifier.
- Digits right after a letter or a dot are read (``Tel.13712345678``, ``No.420102...``).
- A decimal number (digits, thousands commas, one ``.``, digits), alone or as an item of a
  list (items cut at every comma that is no thousands comma), has its fraction left unread
  unless the run of groups before it holds 11 digits or more: ``0.2399999999999999``,
  ``12,000.50`` and each of ``0.24,0.5`` are amounts, ``13812345678.0`` and ``138,1234,5678.00``
  are mobiles. So an identifier split once by a lone dot (``13812.345678``) is missed;
  ``138.1234.5678`` and ``138 1234.5678`` are found.
- A number in scientific notation is read as its value when that is a whole number whose every
  digit is written (``1.3812345678e10`` is the mobile 13812345678; ``1.38e10`` and Excel's
  ``1.38123E+10`` have lost the digits); its mantissa is read as digits too.

Known false alarms (a missed identifier costs more than a refused row): any 13-19 digits that
pass Luhn, 1 in 10 random numbers (a 14-digit loan number, ``C1352908-0000006`` read as 14
digits); 11 digits starting 13-19 (``C1352908-0000a00`` reads as ``1352908-0000``); 15 digits
whose digits 7-12 form a date; several numbers in one text that together pass one of these
checks (``1200 3400 5600 7806``, a list ``1200,3400,5600,7806``); a word, `` at ``, a word,
`` dot `` and two letters (``look at this dot com``).

``PREFILTER`` is the regular expression (RE2 for DuckDB, also valid in Python) that ingest runs
on whole rows: it matches every text in which ``find_pii`` can find something, and only rows it
matches are checked in Python.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Final

from stdnum import luhn

from overdue.contract import PII_KINDS

_SPACE: Final = " "
_DASH: Final = "-"
_AT: Final = "@"
_PLANES_WITH_DIGITS: Final = 0x20000
"""Every Unicode digit, space and character with an ASCII compatibility form lies in the first
two planes."""


def _read_as_ascii(char: str) -> str | None:
    """The one ASCII character that ``char`` (not ASCII) is read as, if any: its digit (a
    decimal digit, or a digit in a circle, superscript, subscript ...), a space for a Unicode
    space, else its NFKC form when that is one ASCII character (full-width ``Ａ``, ``（``)."""
    digit = unicodedata.digit(char, None)
    if digit is not None:
        return str(digit)
    if unicodedata.category(char) == "Zs":
        return _SPACE
    compatible = unicodedata.normalize("NFKC", char)
    return compatible if len(compatible) == 1 and compatible.isascii() else None


def _normalising_table() -> dict[int, str]:
    """Code point -> ASCII character, for every character that is read as another one."""
    table: dict[int, str] = {}
    for code in range(128, _PLANES_WITH_DIGITS):
        ascii_char = _read_as_ascii(chr(code))
        if ascii_char is not None:
            table[code] = ascii_char
    table.update({c: _SPACE for c in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)})
    table.update({c: _DASH for c in (*range(0x2010, 0x2016), 0x2212, 0xFE58, 0xFE63)})
    table[0xFE6B] = _AT  # small commercial at
    table[ord("\t")] = _SPACE
    return table


_TABLE: Final = _normalising_table()


def normalise(text: str) -> str:
    """``text`` with look-alike digits, letters, spaces and dashes as ASCII (same length)."""
    return text.translate(_TABLE)


def _literal(char: str) -> str:
    """``char`` inside a character class of RE2 and Python: ASCII punctuation escaped."""
    if char == "\t":
        return "\\t"
    return "\\" + char if char < "\x80" and not char.isalnum() and char != " " else char


def _class(chars: Sequence[str]) -> str:
    """A character class (valid in RE2 and Python) matching exactly ``chars``."""
    codes = sorted({ord(c) for c in chars})
    parts, start = [], 0
    while start < len(codes):
        end = start
        while end + 1 < len(codes) and codes[end + 1] == codes[end] + 1:
            end += 1
        low, high = _literal(chr(codes[start])), _literal(chr(codes[end]))
        parts.append(low if start == end else f"{low}-{high}")
        start = end + 1
    return "[" + "".join(parts) + "]"


def _read_as(targets: str) -> list[str]:
    """Every character read as one of ``targets`` (themselves included)."""
    return [*targets, *(chr(c) for c, to in _TABLE.items() if to in targets)]


_DIGIT_CLASS: Final = _class(_read_as("0123456789"))
_SEPARATOR_CLASS: Final = _class(_read_as(" -./_,()"))


def _spelled(word: str) -> str:
    """A pattern (RE2 and Python) matching ``word`` in any case and look-alike letters."""
    return "".join(_class(_read_as(c.lower() + c.upper())) for c in word)


def _bracketed(word: str) -> str:
    """A pattern (RE2 and Python) for ``word`` in brackets: ``[at]``, ``（at）``, ``{ at }``."""
    space = _class(_read_as(_SPACE))
    return f"{_class(_read_as('[({<'))}{space}?{_spelled(word)}{space}?{_class(_read_as('])}>'))}"


def _among_words(word: str) -> str:
    """A pattern (RE2 and Python) matching ``word`` between two spaces: `` at ``."""
    space = _class(_read_as(_SPACE))
    return f"{space}{_spelled(word)}{space}"


PREFILTER: Final = (
    f"{_DIGIT_CLASS}(?:{_SEPARATOR_CLASS}{{0,3}}{_DIGIT_CLASS}){{10}}"  # 11 digits, grouped
    f"|{_class(_read_as(_AT))}"  # email
    f"|{_bracketed('at')}"  # zs[at]example.cn
    f"|{_among_words('at')}[^\x1f\n]*(?:{_among_words('dot')}|{_bracketed('dot')})"
)  # zs at example dot cn
"""Texts matching this may hold personal data; no other text does (RE2 and Python syntax)."""

_SEPARATOR: Final = r"(?: ?[-./_] ?| |, ?)"
_IN_PARENTHESES: Final = r"\(\d+\)"
_CHAIN: Final = re.compile(
    rf"(?:{_IN_PARENTHESES}|\d+[Xx]?)"
    rf"(?:(?<!\)){_SEPARATOR}(?:\d+[Xx]?|[Xx])"  # an ID's check X may stand apart
    rf"| ?{_IN_PARENTHESES}"  # (138)1234 5678, 138(1234)5678, +86 (138) ...
    r"|(?<=\))[ -]?\d+[Xx]?)*",
    re.ASCII,
)
_GROUP: Final = re.compile(r"\((\d+)\)|(\d+[Xx]?|[Xx])", re.ASCII)
_SCIENTIFIC: Final = re.compile(r"(?<!\d)(\d+)(?:\.(\d+))?[eE][+-]?\d{1,4}(?!\d)", re.ASCII)
_LABEL: Final = r"[\w-]{1,63}"
_TOP_LABEL: Final = r"(?:[^\W\d_]{2,63}|xn--[\w-]{1,59})"
_DOT_WORD: Final = r"(?: ?[\[({<] ?dot ?[\])}>] ?| dot )"
_ANY_DOT: Final = rf"(?:[.。｡]|{_DOT_WORD})"
_EMAIL: Final = re.compile(  # "zs"@example.cn, zs[at]example.cn, zs(at)example(dot)cn
    r"""(?:"[^"\n]{1,62}"|[\w.!#$%&'*+/=?^`{|}~-]{1,64})(?:@| ?[\[({<] ?at ?[\])}>] ?)"""
    rf"{_LABEL}(?:{_ANY_DOT}{_LABEL}){{0,8}}{_ANY_DOT}{_TOP_LABEL}",
    re.IGNORECASE,
)
_EMAIL_IN_WORDS: Final = re.compile(  # zs at example dot cn: " at " only with a spelled dot
    rf"(?<![\w.+-])[\w.+-]{{1,64}} at {_LABEL}(?:{_ANY_DOT}{_LABEL}){{0,7}}?{_DOT_WORD}"
    rf"(?:{_LABEL}{_ANY_DOT}){{0,7}}{_TOP_LABEL}",
    re.IGNORECASE,
)
_AT_SPELLED: Final = re.compile(r"[\[({<] ?at ?[\])}>]| at ", re.IGNORECASE)
_MOBILE: Final = re.compile(r"(?:0|86|0086)?(1[3-9]\d{9})", re.ASCII)
_MOBILE_PREFIX: Final = re.compile(r"(?:\( ?(?:\+|00)?86 ?\)|(?:\+|00)86|\+) ?-? ?$", re.ASCII)
_PREFIX_LONGEST: Final = 11
_DIGIT: Final = re.compile(r"\d", re.ASCII)
_WEIGHTS: Final = tuple(2 ** (17 - i) % 11 for i in range(17))
_SHORTEST: Final = 11
_LONGEST: Final = 19


@dataclass(frozen=True)
class Hit:
    """One piece of personal data inside a text (positions in the text as given)."""

    kind: str
    start: int
    end: int


def candidate_sql(columns: Sequence[str]) -> str:
    """SQL true on rows where some cell of ``columns`` (SQL text expressions) matches PREFILTER."""
    if not columns:
        return "false"
    row = f"concat_ws(chr(31), {', '.join(columns)})"
    return f"regexp_matches({row}, '{PREFILTER}')"


def _real_date(year: int, month: int, day: int) -> bool:
    if not 1900 <= year <= dt.date.today().year:
        return False
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def resident_id_check(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of a resident ID."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def _is_resident_id(chars: str) -> bool:
    if chars[0] == "0":
        return False
    if len(chars) == 18:
        first, check = chars[:17], chars[17].upper()
        return (
            first.isdigit()
            and _real_date(int(first[6:10]), int(first[10:12]), int(first[12:14]))
            and resident_id_check(first) == check
        )
    return (
        len(chars) == 15
        and chars.isdigit()
        and _real_date(1900 + int(chars[6:8]), int(chars[8:10]), int(chars[10:12]))
    )


def identifier_kind(chars: str) -> str | None:
    """The kind of personal data that ``chars`` (digits, maybe a final X) is, if any."""
    if _is_resident_id(chars):
        return "resident_id"
    if not chars.isdigit():
        return None
    if _MOBILE.fullmatch(chars):
        return "mobile"
    if 13 <= len(chars) <= _LONGEST and chars[0] != "0" and luhn.is_valid(chars):
        return "bank_card"
    return None


@dataclass(frozen=True)
class _Group:
    """Digits (maybe a final X) of a chain; its span includes parentheses written around it."""

    chars: str
    start: int
    end: int


def _items(text: str, groups: list[_Group]) -> Iterator[list[_Group]]:
    """``groups`` cut at every comma that is no thousands comma (``,`` before exactly three
    digits, in a number without a decimal point so far): the items of a list."""
    item = groups[:1]
    for before, group in pairwise(groups):
        join = text[before.end : group.start]
        thousands = join == "," and len(group.chars) == 3 and group.chars.isdigit()
        if join.startswith(",") and not (thousands and "." not in _joins(text, item)):
            yield item
            item = []
        item.append(group)
    if item:
        yield item


def _joins(text: str, groups: list[_Group]) -> list[str]:
    """What is written between each two consecutive ``groups``."""
    return [text[a.end : b.start] for a, b in pairwise(groups)]


def _segments(text: str, chain: re.Match[str]) -> Iterator[list[_Group]]:
    """The runs of groups of one chain that may be joined: all of them, except the fraction of
    a decimal number (``0.2399999999999999``, ``12,000.50``, each of ``0.24,0.5``), which ends a
    run and is read alone only when the run before it holds 11 digits or more."""
    groups = [
        _Group(m.group(1) or m.group(2), m.start(), m.end())
        for m in _GROUP.finditer(text, chain.start(), chain.end())
    ]
    run: list[_Group] = []
    for item in _items(text, groups):
        joins = _joins(text, item)
        if not joins or joins[-1] != "." or any(join != "," for join in joins[:-1]):
            run.extend(item)
            continue
        run.extend(item[:-1])
        yield run
        if sum(len(g.chars) for g in run) >= _SHORTEST:
            yield item[-1:]  # 13812345678.13912345678 is no amount
        run = []
    if run:
        yield run


def _candidates(groups: list[_Group]) -> Iterator[tuple[str, int, int]]:
    """(characters, start, end) of every run of whole groups with an identifier's length; a
    trailing X is tried with and without."""
    for i, first in enumerate(groups):
        chars = ""
        for group in groups[i:]:
            if chars[-1:] in ("X", "x"):
                break
            chars += group.chars
            if len(chars) > _LONGEST + 1:
                break
            for candidate in dict.fromkeys((chars, chars.rstrip("Xx"))):
                if _SHORTEST <= len(candidate) <= _LONGEST:
                    yield candidate, first.start, group.end


def _digit_hits(text: str) -> Iterator[Hit]:
    """Hits among the groups of digits of normalised ``text``."""
    for chain in _CHAIN.finditer(text):
        for groups in _segments(text, chain):
            for chars, start, end in _candidates(groups):
                kind = identifier_kind(chars)
                if kind is not None:
                    yield Hit(kind, start, end)


def _scientific_hits(text: str) -> Iterator[Hit]:
    """Hits among numbers in scientific notation that write every digit of a whole number."""
    for match in _SCIENTIFIC.finditer(text):
        value = Decimal(match.group())
        written = (match.group(1) + (match.group(2) or "")).lstrip("0")
        if not 10 <= value.adjusted() < _LONGEST or value != value.to_integral_value():
            continue
        digits = str(int(value))
        kind = identifier_kind(digits) if len(written) >= len(digits) else None
        if kind is not None:
            yield Hit(kind, match.start(), match.end())


def _with_prefix(hit: Hit, text: str) -> Hit:
    """A mobile hit widened over a ``+86`` / ``(+86)`` / ``0086`` written before it."""
    if hit.kind != "mobile":
        return hit
    prefix = _MOBILE_PREFIX.search(text, max(0, hit.start - _PREFIX_LONGEST), hit.start)
    return Hit(hit.kind, prefix.start(), hit.end) if prefix else hit


def _outermost(hits: list[Hit]) -> list[Hit]:
    """``hits`` in order, without those inside another hit."""
    ordered = sorted(dict.fromkeys(hits), key=lambda h: (h.start, -h.end))
    kept: list[Hit] = []
    reach = -1
    for hit in ordered:
        if hit.end <= reach:
            continue
        kept.append(hit)
        reach = hit.end
    return kept


def find_pii(text: str) -> list[Hit]:
    """Every piece of personal data in ``text``, in order, none inside another."""
    plain = normalise(text)
    hits = []
    if _DIGIT.search(plain):
        hits = [_with_prefix(h, plain) for h in (*_digit_hits(plain), *_scientific_hits(plain))]
    if _AT in plain or _AT_SPELLED.search(plain):
        for pattern in (_EMAIL, _EMAIL_IN_WORDS):
            hits.extend(Hit("email", m.start(), m.end()) for m in pattern.finditer(plain))
    found = _outermost(hits)
    assert all(h.kind in PII_KINDS for h in found)
    return found


def mask(text: str, hits: Sequence[Hit]) -> str:
    """``text`` with every hit replaced by its kind in brackets, e.g. ``[mobile]``.

    Overlapping hits are masked as one span, named by the first.
    """
    out = []
    position = 0
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.start < position:
            position = max(position, hit.end)
            continue
        out.append(text[position : hit.start])
        out.append(f"[{hit.kind}]")
        position = hit.end
    out.append(text[position:])
    return "".join(out)


def mask_text(text: str) -> str:
    """``text`` with all personal data masked."""
    return mask(text, find_pii(text))
