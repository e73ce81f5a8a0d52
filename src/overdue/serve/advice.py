"""Practical advice for one case from the measured effects of preparation.

The published effects (``effects["levers"]``) hold, for each preparation lever, the adjusted
agreement rate had every past case taken each level (doubly robust, with 95% intervals). Advice
compares the level this case is at with the better measured level, and only uses numbers that
were published (not suppressed under k). A lever whose better level is not measurably better
(the intervals overlap) is still shown, marked uncertain, so a counselor sees how sure it is.

Advice fits the case: a lever the case can no longer act on is left out (early contact once
the debt is more than ``EARLY_CONTACT_DAYS`` overdue), and a debtor who lost a job or fell ill
is asked for proof of the hardship (a leaving certificate or unemployment registration, medical
records) rather than proof of an income they no longer have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from overdue.features import DOCS, EARLY_CONTACT_DAYS
from overdue.models.estimate import DOCUMENTS_ENOUGH, documents_to_add
from overdue.serve.i18n import field_label, hardship_proof, value_label


@dataclass(frozen=True)
class Rate:
    """One published level of a lever."""

    level: str
    estimate: float
    ci_low: float
    ci_high: float
    overlap_warning: bool


def _rate(levers: dict[str, Any], lever: str, level: str) -> Rate | None:
    entry = levers.get(lever, {}).get(level)
    if not entry or entry.get("suppressed") or entry.get("estimate") is None:
        return None
    if entry.get("ci_low") is None or entry.get("ci_high") is None:
        return None
    return Rate(
        level,
        float(entry["estimate"]),
        float(entry["ci_low"]),
        float(entry["ci_high"]),
        bool(entry.get("overlap_warning")),
    )


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _item(lever: str, kind: str, better: Rate, other: Rate, text: str, lang: str) -> dict[str, Any]:
    sure = better.ci_low > other.ci_high
    caveat = {
        "zh": "" if sure else "（两者区间重叠，差别不确定）",
        "en": "" if sure else " (the intervals overlap: the difference is uncertain)",
    }[lang]
    thin = {
        "zh": "（数据较少）" if better.overlap_warning or other.overlap_warning else "",
        "en": " (thin data)" if better.overlap_warning or other.overlap_warning else "",
    }[lang]
    return {
        "lever": lever,
        "kind": kind,
        "text": text + caveat + thin,
        "better_level": better.level,
        "better_rate": round(better.estimate, 4),
        "better_interval": [round(better.ci_low, 4), round(better.ci_high, 4)],
        "other_level": other.level,
        "other_rate": round(other.estimate, 4),
        "other_interval": [round(other.ci_low, 4), round(other.ci_high, 4)],
        "certain": sure,
        "overlap_warning": better.overlap_warning or other.overlap_warning,
    }


def _documents(case: dict[str, Any], levers: dict[str, Any], lang: str) -> dict[str, Any] | None:
    many, few = _rate(levers, "documents", "3+"), _rate(levers, "documents", "0-2")
    if many is None or few is None or many.estimate <= few.estimate:
        return None
    brought = [d for d in DOCS if case.get(d)]
    rates = (_pct(many.estimate), _pct(few.estimate))
    if len(brought) >= DOCUMENTS_ENOUGH:
        text = {
            "zh": f"继续带齐材料：带 3 种及以上材料的案件达成率约 {rates[0]}，"
            f"0-2 种约 {rates[1]}。",
            "en": f"Keep bringing the documents: cases with 3 or more documents agreed about "
            f"{rates[0]} of the time, with 0-2 about {rates[1]}.",
        }[lang]
        return _item("documents", "keep", many, few, text, lang)
    names = ("、" if lang == "zh" else ", ").join(
        suggested_documents(case, lang)[: DOCUMENTS_ENOUGH - len(brought)]
    )
    text = {
        "zh": f"再准备{names}：带 3 种及以上材料的案件达成率约 {rates[0]}，0-2 种约 {rates[1]}。",
        "en": f"Bring {names.lower() if names else 'more documents'}: cases with 3 or more "
        f"documents agreed about {rates[0]} of the time, with 0-2 about {rates[1]}.",
    }[lang]
    return _item("documents", "do", many, few, text, lang)


def suggested_documents(case: dict[str, Any], lang: str) -> list[str]:
    """Documents the case has not brought, most useful first (``documents_to_add``), named in
    ``lang``, led by the proof of a job loss (not one of the contract's documents)."""
    reason = case.get("hardship_reason")
    names = [field_label(d, lang) for d in documents_to_add(case)]
    return [hardship_proof(reason, lang), *names] if reason == "job_loss" else names


def _written_plan(case: dict[str, Any], levers: dict[str, Any], lang: str) -> dict[str, Any] | None:
    yes, no = _rate(levers, "written_plan", "yes"), _rate(levers, "written_plan", "no")
    if yes is None or no is None or yes.estimate <= no.estimate:
        return None
    rates = (_pct(yes.estimate), _pct(no.estimate))
    if case.get("repayment_plan_prepared"):
        text = {
            "zh": f"带上书面还款计划：有计划的案件达成率约 {rates[0]}，没有的约 {rates[1]}。",
            "en": f"Bring the written repayment plan: cases with one agreed about {rates[0]} "
            f"of the time, without about {rates[1]}.",
        }[lang]
        return _item("written_plan", "keep", yes, no, text, lang)
    text = {
        "zh": f"协商前写好还款计划（每月能还多少、还多久）：有书面计划的案件达成率约 {rates[0]}，"
        f"没有的约 {rates[1]}。",
        "en": f"Write a repayment plan before negotiating (what can be paid each month, for how "
        f"long): cases with a written plan agreed about {rates[0]} of the time, without about "
        f"{rates[1]}.",
    }[lang]
    return _item("written_plan", "do", yes, no, text, lang)


def _early_contact(
    case: dict[str, Any], levers: dict[str, Any], lang: str
) -> dict[str, Any] | None:
    early = _rate(levers, "early_contact", f"<={EARLY_CONTACT_DAYS} days")
    late = _rate(levers, "early_contact", f">{EARLY_CONTACT_DAYS} days")
    if early is None or late is None or early.estimate <= late.estimate:
        return None
    days = case.get("days_overdue_at_contact")
    if days is None or days > EARLY_CONTACT_DAYS:
        return None  # the window has passed: nothing this case can still do about it
    rates = (_pct(early.estimate), _pct(late.estimate))
    text = {
        "zh": f"尽早联系机构：逾期 {EARLY_CONTACT_DAYS} 天内联系的案件达成率约 {rates[0]}，"
        f"更晚的约 {rates[1]}；本案在期限内，不要拖延。",
        "en": f"Contact the lender early: cases that made contact within "
        f"{EARLY_CONTACT_DAYS} days of falling overdue agreed about {rates[0]} of the time, "
        f"later ones about {rates[1]}; this case is within that window, do not wait.",
    }[lang]
    return _item("early_contact", "do", early, late, text, lang)


def _professional_help(
    case: dict[str, Any], levers: dict[str, Any], lang: str
) -> dict[str, Any] | None:
    current = case.get("professional_help") or "none"
    levels = levers.get("professional_help", {})
    rates = [r for r in (_rate(levers, "professional_help", lv) for lv in levels) if r]
    now = next((r for r in rates if r.level == current), None)
    if now is None or not rates:
        return None
    best = max(rates, key=lambda r: r.estimate)
    if best.level == current:
        return None
    better = value_label("professional_help", best.level, lang)
    other = value_label("professional_help", current, lang)
    if best.level == "none":
        text = {
            "zh": f"谨慎选择协助方：没有专业协助的案件达成率约 {_pct(best.estimate)}，"
            f"有{other}的约 {_pct(now.estimate)}。",
            "en": "Be careful with this kind of help: cases without professional help agreed "
            f"about {_pct(best.estimate)} of the time, with a {other} about "
            f"{_pct(now.estimate)}.",
        }[lang]
        return _item("professional_help", "caution", best, now, text, lang)
    compared = {
        "zh": "没有专业协助的" if current == "none" else f"有{other}的",
        "en": "without professional help" if current == "none" else f"with a {other}",
    }[lang]
    text = {
        "zh": f"考虑寻求{better}：有{better}协助的案件达成率约 {_pct(best.estimate)}，"
        f"{compared}约 {_pct(now.estimate)}。",
        "en": f"Consider help from a {better}: cases with a {better} agreed about "
        f"{_pct(best.estimate)} of the time, {compared} about {_pct(now.estimate)}.",
    }[lang]
    return _item("professional_help", "do", best, now, text, lang)


def advice(case: dict[str, Any], effects: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """Advice items for a case (contract field values) from the published effects."""
    levers = effects.get("levers", {})
    items = [
        rule(case, levers, lang)
        for rule in (_documents, _written_plan, _early_contact, _professional_help)
    ]
    found = [item for item in items if item is not None]
    # what the counselor can still do first, then what to keep doing
    return sorted(found, key=lambda item: item["kind"] != "do")
