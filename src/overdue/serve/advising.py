"""The advising parts of an answer, in words: each approach's plan and whether the budget bears
it, the client's own plan, a recommendation that says which differences are real, and what the
case can still change.

The numbers come from ``overdue.plans`` (plans, affordability) and from the estimator
(``overdue.models.estimate``: the interval of each approach's difference from the most likely
one, the what-if rows); this module only decides what to say, in ``lang``. A difference whose
95% interval includes 0 is "about equally likely"; one whose interval lies below 0 is "clearly
less likely". Nothing here is an order: the text says the choice is the debtor's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from overdue.plans import BudgetRules, PlanCheck, approach_plan, own_plan, safety_margin
from overdue.serve.i18n import advising_text, field_label, hardship_proof, value_label

WARNINGS: Final = ("nothing_left", "below_margin", "upfront_above_savings")


def cny(amount: float) -> str:
    """An amount as people read it: whole yuan with thousands separators."""
    return f"{amount:,.0f}"


def _share(share: float | None) -> str:
    return "" if share is None else f"{share:.0%}"


def warning_texts(check: PlanCheck, case: Mapping[str, Any], lang: str) -> list[str]:
    """The plan's problems (``PlanCheck.warnings``) in words."""
    savings = float(case.get("emergency_fund_months") or 0) * float(
        case.get("monthly_essential_expenses") or 0
    )
    values = {
        "payment": cny(check.monthly_payment),
        "left_after": cny(check.budget_left - check.monthly_payment),
        "margin": cny(check.margin),
        "upfront": cny(check.upfront),
        "savings": cny(savings),
        "left": cny(check.budget_left),
    }
    above = check.monthly_payment > check.budget_left > 0
    return [
        advising_text("above_budget" if code == "below_margin" and above else code, lang, **values)
        for code in check.warnings
    ]


def plan_summary(check: PlanCheck, lang: str) -> str:
    """A plan in a few words: term and payment (or a lump sum), upfront, relief, budget share."""
    if not check.term_months:  # one payment: its amount, not an "upfront" part of a plan
        amount = cny(check.upfront) if check.upfront else None
        parts = [advising_text("plan_lump_of" if amount else "plan_lump", lang, amount=amount)]
    else:
        parts = [
            advising_text(
                "plan_terms", lang, term=check.term_months, payment=cny(check.monthly_payment)
            )
        ]
        if check.upfront:
            parts.append(advising_text("plan_upfront", lang, upfront=cny(check.upfront)))
    if check.relief:
        parts.append(advising_text("plan_relief", lang, relief=cny(check.relief)))
    if check.budget_share is not None and check.monthly_payment:
        parts.append(advising_text("plan_share", lang, share=_share(check.budget_share)))
    return ("，" if lang == "zh" else ", ").join(parts)


def plan_document(
    check: PlanCheck, case: Mapping[str, Any], lang: str, source: str = "client", k: int = 0
) -> dict[str, Any]:
    """A checked plan as the API answers it (``schemas.Plan``)."""
    text = plan_summary(check, lang)
    if source == "rule":
        text += ("" if lang == "zh" else " ") + advising_text(
            "plan_rule", lang, k=k, term=check.term_months
        )
    return {
        "term_months": check.term_months,
        "monthly_payment": check.monthly_payment,
        "upfront": check.upfront,
        "relief": check.relief,
        "budget_left": check.budget_left,
        "margin": check.margin,
        "budget_share": check.budget_share,
        "affordable": check.affordable,
        "warnings": list(check.warnings),
        "warning_texts": warning_texts(check, case, lang),
        "source": source,
        "text": text,
    }


def approach_plans(
    case: Mapping[str, Any],
    typical: Mapping[str, Mapping[str, Any]],
    rules: BudgetRules,
    lang: str,
    k: int,
) -> dict[str, dict[str, Any]]:
    """Per approach, its typical plan (from the bundle) for this case, checked."""
    return {
        code: plan_document(approach_plan(case, plan, rules), case, lang, plan["source"], k)
        for code, plan in typical.items()
    }


def own_plan_document(
    case: Mapping[str, Any], rules: BudgetRules, lang: str
) -> dict[str, Any] | None:
    """The client's own plan (the three plan fields) checked, or None when none was typed:
    its warnings, or that it keeps the margin."""
    check = own_plan(case, rules)
    if check is None:
        return None
    document = plan_document(check, case, lang)
    if check.affordable:
        document["warning_texts"] = [
            advising_text(
                "own_ok",
                lang,
                payment=cny(check.monthly_payment),
                share=_share(check.budget_share),
                margin=cny(check.margin),
            )
        ]
    return document


def budget_document(case: Mapping[str, Any], rules: BudgetRules, lang: str) -> dict[str, Any]:
    """What is left each month before any plan, the margin a plan must keep, the rule in
    words, and the warning when nothing is left."""
    income = float(case.get("monthly_income") or 0)
    essentials = float(case.get("monthly_essential_expenses") or 0)
    savings = float(case.get("emergency_fund_months") or 0) * essentials
    left = income - essentials
    texts = [advising_text("nothing_left", lang)] if left <= 0 else []
    texts.append(
        advising_text(
            "margin_rule",
            lang,
            share=f"{rules.margin_share:.0%}",
            months=f"{rules.fund_target_months:g}",
            build=f"{rules.fund_build_months:g}",
        )
    )
    return {
        "budget_left": round(left, 2),
        "margin": round(safety_margin(essentials, savings, rules), 2),
        "nothing_left": left <= 0,
        "texts": texts,
    }


def _names(codes: list[str], lang: str) -> str:
    labels = [value_label("approach", code, lang) for code in codes]
    comma, last = ("、", "与") if lang == "zh" else (", ", " and ")
    return labels[0] if len(labels) == 1 else comma.join(labels[:-1]) + last + labels[-1]


def recommendation(
    approaches: Sequence[Mapping[str, Any]], plans: Mapping[str, Mapping[str, Any]], lang: str
) -> dict[str, Any]:
    """Approaches ranked by P(agreement), and which differences from the most likely one are
    real: those whose interval of the difference (``vs_best``) lies below 0."""
    ranked = sorted(approaches, key=lambda a: -a["p"])
    best = ranked[0]["approach"]
    equal = [a["approach"] for a in ranked[1:] if a["vs_best"]["high"] >= 0]
    less = [a["approach"] for a in ranked[1:] if a["vs_best"]["high"] < 0]
    sentences = [
        advising_text("ranking", lang, order=_names([a["approach"] for a in ranked], lang))
    ]
    if not less:
        sentences.append(advising_text("cannot_separate", lang))
    else:
        if equal:
            sentences.append(advising_text("about_equal", lang, names=_names([best, *equal], lang)))
        else:
            sentences.append(advising_text("clearly_best", lang, best=_names([best], lang)))
        verb = advising_text("is" if len(less) == 1 else "are", lang)
        sentences.append(advising_text("clearly_less", lang, others=_names(less, lang) + verb))
    sentences += _budget_sentences(ranked, equal, plans, lang)
    sentences.append(advising_text("not_an_order", lang))
    return {
        "ranking": [a["approach"] for a in ranked],
        "best": best,
        "about_equal": equal,
        "clearly_less": less,
        "text": ("" if lang == "zh" else " ").join(s[:1].upper() + s[1:] for s in sentences),
    }


def _budget_sentences(
    ranked: Sequence[Mapping[str, Any]],
    equal: list[str],
    plans: Mapping[str, Mapping[str, Any]],
    lang: str,
) -> list[str]:
    """Where the most likely approach's typical plan does not fit the budget: the approaches
    about as likely whose plans do, else the less likely ones that do, else that none does."""
    best = ranked[0]["approach"]
    if best not in plans or plans[best]["affordable"]:
        return []
    fitting = [a["approach"] for a in ranked if plans.get(a["approach"], {}).get("affordable")]
    if not fitting:
        return [advising_text("none_affordable", lang)]
    alike = [code for code in fitting if code in equal]
    key = "best_unaffordable_alike" if alike else "best_unaffordable_less"
    names = _names(alike or fitting, lang)
    return [advising_text(key, lang, best=_names([best], lang), names=names)]


def _pct(p: float) -> str:
    return f"{100 * p:.1f}%"


def _points(d: float, lang: str) -> str:
    sign = "+" if d > 0 else "−" if d < 0 else "±"
    return f"{sign}{abs(100 * d):.1f}" + (" 个百分点" if lang == "zh" else " pp")


def lever_label(lever: Mapping[str, Any], case: Mapping[str, Any], lang: str) -> str:
    """What the lever asks of the debtor, in words (documents by name, hardship proof too)."""
    name = lever["lever"]
    if name == "proof":
        doc = next(iter(lever["changes"]))
        return advising_text("lever_proof", lang, doc=field_label(doc, lang).lower())
    if name == "documents_3plus":
        docs = ("、" if lang == "zh" else ", ").join(
            field_label(doc, lang).lower() if lang == "en" else field_label(doc, lang)
            for doc in lever["changes"]
        )
        label = advising_text("lever_documents_3plus", lang, docs=docs)
        if case.get("hardship_reason") == "job_loss":
            proof = hardship_proof("job_loss", lang)
            label += advising_text("lever_hardship_extra", lang, proof=proof)
        return label
    return advising_text(f"lever_{name}", lang)


def what_if_items(
    levers: list[Mapping[str, Any]], case: Mapping[str, Any], lang: str
) -> list[dict[str, Any]]:
    """The estimator's what-if levers (largest gain first) with their label and sentence."""
    items = []
    for lever in levers:
        label = lever_label(lever, case, lang)
        low, high = lever["gain_interval"]
        text = advising_text(
            "what_if_item",
            lang,
            lever=label[:1].upper() + label[1:] if lang == "en" else label,
            before=_pct(lever["p_before"]),
            after=_pct(lever["p_after"]),
            gain=_points(lever["gain"], lang),
            low=_points(low, lang),
            high=_points(high, lang),
        )
        if not lever["clear"]:
            text += advising_text("what_if_unsure", lang)
        items.append({**lever, "label": label, "text": text})
    return items
