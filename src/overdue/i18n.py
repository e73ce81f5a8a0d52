"""The languages `overdue` speaks, and the one note shown wherever estimates are.

Every table of text in the package (``overdue.reports.i18n``, ``overdue.serve.i18n``) has one
shape: key → language → text. Both languages of an entry sit side by side, so a missing or stale
translation shows at a glance in review and in ``entries_missing_a_language``; adding a language
adds one line per entry instead of a second copy of every table. The opposite shape, language →
key, keeps a separate copy per language, where a key added to one copy is easily forgotten in
the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

Lang = Literal["zh", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh", "en")

NOTE: Final[dict[str, str]] = {
    "zh": "以下数字是根据过去类似案件得出的估计，不是对任何结果的承诺。",
    "en": "These numbers are estimates from past cases like this one, not a promise of any "
    "outcome.",
}
"""Estimates are not a promise: the service's answer and page, the CLI's estimate."""


def in_language(table: Mapping[str, Mapping[Any, str]], lang: str) -> dict[str, str]:
    """Every entry of a key → language table in ``lang``, by key."""
    return {key: texts[lang] for key, texts in table.items()}


def entries_missing_a_language(table: Mapping[str, Mapping[Any, str]]) -> list[str]:
    """Keys of a key → language table whose languages are not exactly ``LANGS``."""
    return [key for key, texts in table.items() if set(texts) != set(LANGS)]
