"""The value behind each driver, in words: "逾期原因: 收入下降" rather than "逾期原因" alone.

A driver is a group of features (``overdue.models.estimate.DRIVER_GROUPS``); the counselor sees
the case's own value of the group's main fields, as entered on the form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from overdue.features import DOCS
from overdue.serve.i18n import driver_value_text, value_label


def _money(value: Any) -> str:
    return f"{float(value):,.0f}"


def _label(field: str) -> Callable[[dict[str, Any], str], str]:
    return lambda case, lang: value_label(field, str(case[field]), lang) if case.get(field) else ""


def _documents(case: dict[str, Any], lang: str) -> str:
    return driver_value_text("documents", lang, n=sum(bool(case.get(d)) for d in DOCS))


def _written_plan(case: dict[str, Any], lang: str) -> str:
    return driver_value_text("yes" if case.get("repayment_plan_prepared") else "no", lang)


def _contact_timing(case: dict[str, Any], lang: str) -> str:
    days = case.get("days_to_first_contact")
    days = case.get("days_overdue_at_contact") if days is None else days
    return "" if days is None else driver_value_text("days", lang, n=days)


def _channel(case: dict[str, Any], lang: str) -> str:
    parts = [_label("channel")(case, lang), _label("contact_initiated_by")(case, lang)]
    return (" · ").join(p for p in parts if p)


def _attitude(case: dict[str, Any], lang: str) -> str:
    score = case.get("attitude_score")
    return "" if score is None else f"{score}/5"


def _days_overdue(case: dict[str, Any], lang: str) -> str:
    days = driver_value_text("days", lang, n=case.get("days_overdue_at_contact"))
    return f"{days} · {_label('collection_stage')(case, lang)}"


def _debt_burden(case: dict[str, Any], lang: str) -> str:
    return driver_value_text("balance", lang, amount=_money(case.get("outstanding_balance", 0)))


def _income(case: dict[str, Any], lang: str) -> str:
    return driver_value_text(
        "income",
        lang,
        income=_money(case.get("monthly_income", 0)),
        expenses=_money(case.get("monthly_essential_expenses", 0)),
    )


def _lender(case: dict[str, Any], lang: str) -> str:
    rate = case.get("annual_rate")
    shown = "" if rate is None else f" · {100 * float(rate):.1f}%"
    return _label("lender_type")(case, lang) + shown


def _other_debts(case: dict[str, Any], lang: str) -> str:
    return driver_value_text("lenders", lang, n=case.get("lenders_in_arrears"))


VALUES: Final[dict[str, Callable[[dict[str, Any], str], str]]] = {
    "documents": _documents,
    "written_plan": _written_plan,
    "contact_timing": _contact_timing,
    "professional_help": _label("professional_help"),
    "channel": _channel,
    "attitude": _attitude,
    "days_overdue": _days_overdue,
    "debt_burden": _debt_burden,
    "income": _income,
    "hardship": _label("hardship_reason"),
    "lender": _lender,
    "other_debts": _other_debts,
}
"""How each driver group's value is said."""


def driver_value(driver: str, case: dict[str, Any], lang: str) -> str:
    """The case's value behind ``driver`` in ``lang``; empty for an unknown group."""
    said = VALUES.get(driver)
    return said(case, lang) if said else ""
