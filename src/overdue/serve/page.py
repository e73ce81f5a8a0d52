"""The counselor's page: a form of the contract's context and action fields, and the answer.

The page is rendered here with the form and every text in one language; a small script sends the
form to ``POST /api/v1/estimate`` and draws the answer (table, Plotly chart, drivers, advice)
from the same JSON the API returns, so the page and the API cannot disagree. Plotly's script is
served by this service from the installed ``plotly`` package: the page works without internet.
The page and ``/docs`` hold no inline script or style (``ASSETS`` are served as files), so the
Content-Security-Policy can allow scripts and styles from the service only.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from overdue.contract import FIELD_BY_NAME, Kind
from overdue.features import DOCS
from overdue.serve.i18n import driver_labels, field_label, hint, page_text, text, value_label

SITUATION: Final = (
    "age_band",
    "employment",
    "region",
    "city_tier",
    "monthly_income",
    "monthly_essential_expenses",
    "dependents",
    "emergency_fund_months",
    "lenders_in_arrears",
    "hardship_reason",
)
DEBT: Final = (
    "lender_type",
    "principal",
    "outstanding_balance",
    "penalty_accrued",
    "annual_rate",
    "monthly_payment_due",
    "days_overdue_at_contact",
    "collection_stage",
)
ACTIONS: Final = (
    "approach",
    "contact_initiated_by",
    "channel",
    "repayment_plan_prepared",
    "professional_help",
    "attitude_score",
    "days_to_first_contact",
    "proposed_term_months",
    "proposed_monthly_payment",
    "upfront_payment",
)
DEFAULTS: Final[dict[str, Any]] = {
    "age_band": "35-44",
    "employment": "employed",
    "region": "",
    "city_tier": 2,
    "monthly_income": 8000,
    "monthly_essential_expenses": 5000,
    "dependents": 1,
    "emergency_fund_months": 1,
    "lenders_in_arrears": 2,
    "hardship_reason": "income_reduction",
    "lender_type": "bank_credit_card",
    "principal": 50000,
    "outstanding_balance": 58000,
    "penalty_accrued": 3000,
    "annual_rate": "18%",
    "monthly_payment_due": 2500,
    "days_overdue_at_contact": 60,
    "collection_stage": "reminders",
    "approach": "installment",
    "contact_initiated_by": "debtor",
    "channel": "phone",
    "repayment_plan_prepared": False,
    "professional_help": "none",
    "attitude_score": 4,
    "days_to_first_contact": None,
    "proposed_term_months": None,
    "proposed_monthly_payment": None,
    "upfront_payment": None,
    "doc_loan_contract": True,
    "doc_income_proof": False,
    "doc_expense_statement": False,
    "doc_bank_statement": False,
    "doc_medical_report": False,
    "doc_household_finances": False,
}
"""A typical case to start from; every field can be changed."""

_HERE: Final = Path(__file__).parent
_TEMPLATE: Final = (_HERE / "templates" / "index.html").read_text(encoding="utf-8")
_DOCS: Final = (_HERE / "templates" / "docs.html").read_text(encoding="utf-8")
_MEDIA_TYPES: Final = {".js": "application/javascript", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    """A file of the page served as ``/static/<name>``."""

    body: bytes
    media_type: str
    etag: str


def _asset(name: str) -> Asset:
    body = (_HERE / "static" / name).read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Asset(body, _MEDIA_TYPES[Path(name).suffix], f'"{digest}"')


ASSETS: Final[dict[str, Asset]] = {n: _asset(n) for n in ("page.js", "page.css", "docs.js")}


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _input(name: str, lang: str) -> str:
    field = FIELD_BY_NAME[name]
    label = field_label(name, lang)
    required = field.required
    hint_text = hint(name, lang)
    default = DEFAULTS.get(name)
    mark = ' <span class="req" aria-hidden="true">*</span>' if required else ""
    attrs = f'id="f-{name}" name="{name}" aria-describedby="e-{name}"'
    if field.values:
        options = []
        if not required:
            options.append(f'<option value="">{_esc(text("empty", lang))}</option>')
        for code in field.values:
            selected = " selected" if code == default else ""
            label_text = value_label(name, code, lang)
            shown = label_text if lang == "en" or label_text == code else f"{label_text}"
            options.append(f'<option value="{_esc(code)}"{selected}>{_esc(shown)}</option>')
        control = f"<select {attrs}{' required' if required else ''}>{''.join(options)}</select>"
    elif field.kind is Kind.BOOL:
        options = []
        for value, key in (("true", "yes"), ("false", "no")):
            selected = " selected" if (value == "true") == bool(default) else ""
            options.append(f'<option value="{value}"{selected}>{_esc(text(key, lang))}</option>')
        control = f'<select {attrs} data-kind="bool">{"".join(options)}</select>'
    elif field.kind in (Kind.INT, Kind.DECIMAL) and name != "annual_rate":
        bounds = ""
        if isinstance(field.low, int | float):
            bounds += f' min="{field.low}"'
        if isinstance(field.high, int | float):
            bounds += f' max="{field.high}"'
        step = "1" if field.kind is Kind.INT else "any"
        value = "" if default is None else _esc(default)
        control = (
            f'<input type="text" inputmode="{"numeric" if step == "1" else "decimal"}" '
            f'{attrs} data-kind="{field.kind.value}"{bounds} value="{value}"'
            f"{' required' if required else ''}>"
        )
    else:
        value = "" if default is None else _esc(default)
        extra = ' maxlength="64"' if name == "region" else ""
        control = (
            f'<input type="text" {attrs}{extra} value="{value}"{" required" if required else ""}>'
        )
    hint_html = f'<small class="hint">{_esc(hint_text)}</small>' if hint_text else ""
    return (
        f'<div class="field" data-field="{name}"><label for="f-{name}">{_esc(label)}{mark}</label>'
        f'{control}{hint_html}<small class="error" id="e-{name}" role="alert"></small></div>'
    )


def _documents(lang: str) -> str:
    boxes = []
    for name in DOCS:
        checked = " checked" if DEFAULTS.get(name) else ""
        boxes.append(
            f'<label class="check"><input type="checkbox" id="f-{name}" name="{name}"'
            f' data-kind="bool"{checked}> {_esc(field_label(name, lang))}</label>'
        )
    hint_html = f'<small class="hint">{_esc(hint("documents", lang))}</small>'
    return f'<div class="checks">{"".join(boxes)}</div>{hint_html}'


LEGEND: Final = (("planned", "legend_planned"), ("other", "legend_other"), ("thin", "legend_thin"))
"""The chart's bar colours (classes of ``page.css``, the same colours as ``page.js``) and their
words; the whiskers are explained last."""


def _legend(words: dict[str, str]) -> str:
    items = [
        f'<li><span class="swatch {kind}" aria-hidden="true"></span>{_esc(words[key])}</li>'
        for kind, key in LEGEND
    ]
    return "".join(items) + f'<li class="whiskers">{_esc(words["legend_interval"])}</li>'


def render_page(lang: str, needs_token: bool, poll_seconds: float = 30.0) -> str:
    """The whole page in ``lang`` (zh or en); it asks which snapshot is served every
    ``poll_seconds``."""
    words = page_text(lang)
    other = "en" if lang == "zh" else "zh"
    sections = [
        (words["situation"], "".join(_input(n, lang) for n in SITUATION)),
        (words["debt"], "".join(_input(n, lang) for n in DEBT)),
        (words["actions"], "".join(_input(n, lang) for n in ACTIONS)),
        (words["documents"], _documents(lang)),
    ]
    fieldsets = "".join(
        f'<fieldset><legend>{_esc(title)}</legend><div class="grid">{body}</div></fieldset>'
        for title, body in sections
    )
    token = (
        f'<div class="field token"><label for="f-token">{_esc(words["token"])}</label>'
        f'<input type="password" id="f-token" autocomplete="off">'
        f'<small class="hint">{_esc(words["token_hint"])}</small></div>'
        if needs_token
        else ""
    )
    labels = {
        "text": words,
        "drivers": driver_labels(lang),
        "lang": lang,
        "fields": {n: field_label(n, lang) for n in FIELD_BY_NAME},
        "poll_ms": round(1000 * poll_seconds),
    }
    config = json.dumps(labels, ensure_ascii=False).replace("</", "<\\/")
    replacements = {
        "{{LANG}}": "zh-CN" if lang == "zh" else "en",
        "{{TITLE}}": _esc(words["title"]),
        "{{SUBTITLE}}": _esc(words["subtitle"]),
        "{{PROMISE}}": _esc(words["promise"]),
        "{{SWITCH_HREF}}": f"/?lang={other}",
        "{{SWITCH}}": _esc(words["switch"]),
        "{{FIELDSETS}}": fieldsets,
        "{{TOKEN}}": token,
        "{{SUBMIT}}": _esc(words["submit"]),
        "{{PRINT}}": _esc(words["print"]),
        "{{SCROLL_HINT}}": _esc(words["scroll_hint"]),
        "{{LEGEND}}": _legend(words),
        "{{CONFIG}}": config,
    }
    page = _TEMPLATE
    for key, value in replacements.items():
        page = page.replace(key, value)
    return page


def render_docs(title: str) -> str:
    """The /docs page: Swagger UI from the service's own files, started by ``docs.js``."""
    return _DOCS.replace("{{TITLE}}", _esc(title))
