"""Every text table, in the reports and the service, says each thing in every language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from overdue import i18n
from overdue.reports import i18n as report_text
from overdue.serve import i18n as service_text

TABLES: dict[str, Mapping[str, Mapping[Any, str]]] = {
    "note": {"note": i18n.NOTE},
    "reports.TEXT": report_text.TEXT,
    "reports.METHODS": report_text.METHODS,
    "reports.DIMENSION_LABELS": report_text.DIMENSION_LABELS,
    "reports.LEVEL_LABELS": report_text.LEVEL_LABELS,
    "serve.TEXT": service_text.TEXT,
    "serve.HINTS": service_text.HINTS,
    "serve.DRIVER_LABELS": service_text.DRIVER_LABELS,
    "serve.ERRORS": service_text.ERRORS,
    "serve.PII_KINDS": service_text.PII_KINDS,
}


@pytest.mark.parametrize("name", TABLES)
def test_every_entry_has_every_language(name: str) -> None:
    assert i18n.entries_missing_a_language(TABLES[name]) == []


@pytest.mark.parametrize("name", TABLES)
def test_no_entry_is_empty(name: str) -> None:
    empty = [key for key, texts in TABLES[name].items() if not all(texts.values())]
    assert empty == []


def test_both_modules_speak_the_same_languages() -> None:
    assert set(report_text.LANGS) == set(service_text.LANGS) == set(i18n.LANGS)


def test_the_page_and_the_service_show_the_one_note() -> None:
    for lang in i18n.LANGS:
        assert service_text.text("promise", lang) == i18n.NOTE[lang]
        assert service_text.NOTE[lang] == i18n.NOTE[lang]


def test_a_table_missing_a_language_is_found() -> None:
    table = {"ok": {"zh": "好", "en": "fine"}, "half": {"en": "only English"}}
    assert i18n.entries_missing_a_language(table) == ["half"]


def test_lookups_read_key_then_language() -> None:
    assert service_text.pii_kind_label("mobile", "en") == "mobile number"
    assert service_text.pii_kind_label("unheard_of", "zh") == "unheard_of"
    assert service_text.hint("case_id", "zh") == ""
    assert service_text.driver_labels("en")["documents"] == "documents brought"
    assert report_text.methods("en")[0].startswith("<b>Observational data.</b>")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_quarantine_reason_ingest_writes_reads_as_words(lang: str) -> None:
    """Each kind of reason ingest writes (docs/ingest.md) is put in words in the report, its
    field named by label; none is shown as its code."""
    reasons = [
        "pii:mobile:debtor_ref", "pii:resident_id:notes", "format:case_id", "range:principal",
        "parse:encoding", "parse:json", "parse:monthly_income", "nul:notes", "too_long:notes",
        "enum:age_band", "required:approach", "rule:penalty_exceeds_balance",
    ]  # fmt: skip
    for reason in reasons:
        words = report_text.reason_label(reason, lang)
        assert words != reason and not words.startswith(reason.split(":")[0] + ":"), reason
    mobile = report_text.reason_label("pii:mobile:debtor_ref", lang)
    assert mobile.startswith("含个人信息（手机号）" if lang == "zh" else "personal data (mobile")
    assert report_text.field_label("debtor_ref", lang) in mobile
