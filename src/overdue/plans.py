"""The repayment plan a debtor could propose under each approach, and whether the budget bears it.

The contract says the plan terms (``proposed_term_months``, ``proposed_monthly_payment``,
``upfront_payment``) follow from the approach asked for, but gives no numbers. The typical plan
of an approach is therefore learnt from the past cases at training (``typical_plans``): the
medians, per approach, of the proposed term, of the proposed monthly payment and the upfront
payment as shares of the balance, and of the relief granted (as a share of the balance) in the
agreed cases. No median rests on fewer than k cases; an approach with fewer gets the plain
``fallback_plan`` (the whole balance spread over ``FALLBACK_TERM_MONTHS`` months, nothing
upfront, no relief), marked ``source = "rule"``.

Affordability (``plan_check``): the budget is income minus essential expenses. A plan is
affordable when (1) the upfront payment can be paid from savings (``emergency_fund_months`` x
essential expenses; unknown savings count as none) and (2) after the monthly payment the budget
still leaves the monthly safety margin (``safety_margin``): room for emergencies of at least
``BudgetRules.margin_share`` of essential expenses, or more while the savings after the upfront
payment are below ``fund_target_months`` of essential expenses (the guide's 3-6 month emergency
fund): enough to rebuild that fund within ``fund_build_months``. A client whose income does not
cover essential expenses has nothing left to pay with: no plan is affordable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import polars as pl

from overdue.config import Settings
from overdue.contract import AGREED, APPROACHES

FALLBACK_TERM_MONTHS: Final = 24
"""The rule's term when too few past cases of an approach carry a plan."""


@dataclass(frozen=True)
class TypicalPlan:
    """An approach's plan as past cases proposed it, relative to the balance."""

    term_months: float
    payment_share: float
    """Proposed monthly payment / outstanding balance (median)."""
    upfront_share: float
    """Upfront payment / outstanding balance (median)."""
    relief_share: float
    """Relief granted / outstanding balance (median over agreed cases)."""
    cases: int
    """Past cases behind the medians (the fewest of the four); 0 for the rule."""
    source: str
    """``data`` (medians of past cases) or ``rule`` (``fallback_plan``)."""


@dataclass(frozen=True)
class BudgetRules:
    """The safety margin a plan must leave (``overdue.config.Settings`` sets them)."""

    margin_share: float = 0.10
    fund_target_months: float = 3.0
    fund_build_months: float = 24.0


def budget_rules(settings: Settings) -> BudgetRules:
    """The safety margin's constants as the settings give them."""
    return BudgetRules(
        settings.plan_margin_share,
        settings.emergency_fund_target_months,
        settings.emergency_fund_build_months,
    )


@dataclass(frozen=True)
class PlanCheck:
    """A plan for one case and what it leaves of the monthly budget."""

    term_months: int
    monthly_payment: float
    upfront: float
    relief: float
    budget_left: float
    """Income minus essential expenses, before the plan."""
    margin: float
    """What the plan must leave each month (``safety_margin``)."""
    budget_share: float | None
    """Monthly payment / budget left; None when nothing is left."""
    affordable: bool
    warnings: tuple[str, ...]
    """``nothing_left``, ``below_margin``, ``upfront_above_savings``."""


def fallback_plan() -> TypicalPlan:
    """The plain rule for an approach with fewer than k past plans: the whole balance over
    ``FALLBACK_TERM_MONTHS`` months, nothing upfront, no relief."""
    return TypicalPlan(float(FALLBACK_TERM_MONTHS), 1 / FALLBACK_TERM_MONTHS, 0.0, 0.0, 0, "rule")


def typical_plans(cases: pl.DataFrame | pl.LazyFrame, k: int) -> dict[str, dict[str, Any]]:
    """Per approach, the typical plan of past cases (``TypicalPlan`` as a dict, for a bundle);
    an approach with fewer than ``k`` cases behind any median gets ``fallback_plan``."""
    balance = pl.col("outstanding_balance")
    agreed = pl.col("outcome").is_in(AGREED)
    stats = (
        cases.lazy()
        .group_by("approach")
        .agg(
            pl.col("proposed_term_months").median().alias("term"),
            pl.col("proposed_term_months").count().alias("n_term"),
            (pl.col("proposed_monthly_payment") / balance).median().alias("payment"),
            pl.col("proposed_monthly_payment").count().alias("n_payment"),
            (pl.col("upfront_payment") / balance).median().alias("upfront"),
            pl.col("upfront_payment").count().alias("n_upfront"),
            (pl.col("relief_amount") / balance).filter(agreed).median().alias("relief"),
            pl.col("relief_amount").filter(agreed).count().alias("n_relief"),
        )
    )
    by_approach = {row["approach"]: row for row in stats.collect().iter_rows(named=True)}
    plans: dict[str, dict[str, Any]] = {}
    for code in APPROACHES:
        row = by_approach.get(code)
        n = min(int(row[f"n_{p}"]) for p in ("term", "payment", "upfront", "relief")) if row else 0
        plan = (
            TypicalPlan(
                float(row["term"]),
                float(row["payment"]),
                float(row["upfront"]),
                float(row["relief"]),
                n,
                "data",
            )
            if row is not None and n >= k
            else fallback_plan()
        )
        plans[code] = asdict(plan)
    return plans


def plans_of(bundle_extra: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The typical plans a model bundle stores (``extra["typical_plans"]``); the rule for
    every approach when it stores none (a bundle trained before plans were learnt)."""
    stored = bundle_extra.get("typical_plans") or {}
    return {code: stored.get(code) or asdict(fallback_plan()) for code in APPROACHES}


def savings_amount(case: Mapping[str, Any]) -> float:
    """Savings in CNY: ``emergency_fund_months`` x essential expenses (unknown: none)."""
    months = case.get("emergency_fund_months") or 0.0
    return float(months) * float(case.get("monthly_essential_expenses") or 0.0)


def safety_margin(essentials: float, savings_left: float, rules: BudgetRules) -> float:
    """What a plan must leave each month: ``margin_share`` of essential expenses, or enough
    to rebuild savings of ``fund_target_months`` of essentials within ``fund_build_months``."""
    shortfall = max(0.0, rules.fund_target_months * essentials - savings_left)
    return max(rules.margin_share * essentials, shortfall / rules.fund_build_months)


def plan_check(
    case: Mapping[str, Any],
    term_months: int,
    monthly_payment: float,
    upfront: float,
    relief: float,
    rules: BudgetRules,
) -> PlanCheck:
    """A plan against the case's budget: what it takes, what it leaves, and what is wrong."""
    income = float(case.get("monthly_income") or 0.0)
    essentials = float(case.get("monthly_essential_expenses") or 0.0)
    left = income - essentials
    savings = savings_amount(case)
    margin = safety_margin(essentials, max(0.0, savings - upfront), rules)
    warnings = []
    if left <= 0:
        warnings.append("nothing_left")
    elif left - monthly_payment < margin:
        warnings.append("below_margin")
    if upfront > savings:
        warnings.append("upfront_above_savings")
    return PlanCheck(
        term_months=term_months,
        monthly_payment=round(monthly_payment, 2),
        upfront=round(upfront, 2),
        relief=round(relief, 2),
        budget_left=round(left, 2),
        margin=round(margin, 2),
        budget_share=round(monthly_payment / left, 4) if left > 0 else None,
        affordable=not warnings,
        warnings=tuple(warnings),
    )


def approach_plan(
    case: Mapping[str, Any], typical: Mapping[str, Any], rules: BudgetRules
) -> PlanCheck:
    """The typical plan of an approach (``TypicalPlan`` fields) scaled to the case's balance,
    checked against its budget."""
    balance = float(case["outstanding_balance"])
    return plan_check(
        case,
        round(float(typical["term_months"])),
        float(typical["payment_share"]) * balance,
        float(typical["upfront_share"]) * balance,
        float(typical["relief_share"]) * balance,
        rules,
    )


def own_plan(case: Mapping[str, Any], rules: BudgetRules) -> PlanCheck | None:
    """The plan the client has in mind (the three plan fields), checked against the budget;
    None when none is given. Without a monthly payment, the balance left after the upfront
    payment is spread over the term."""
    term = case.get("proposed_term_months")
    payment = case.get("proposed_monthly_payment")
    upfront = float(case.get("upfront_payment") or 0.0)
    if term is None and payment is None and not upfront:
        return None
    if payment is None:
        rest = max(0.0, float(case["outstanding_balance"]) - upfront)
        payment = rest / term if term else 0.0
    return plan_check(case, int(term or 0), float(payment), upfront, 0.0, rules)
