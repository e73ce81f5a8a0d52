"""Typical plans learnt from past cases, and plans checked against a budget."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from overdue.contract import APPROACHES
from overdue.plans import (
    BudgetRules,
    approach_plan,
    own_plan,
    plan_check,
    plans_of,
    safety_margin,
    typical_plans,
)
from overdue.serve.advising import plan_summary

RULES = BudgetRules(margin_share=0.1, fund_target_months=3, fund_build_months=24)


def _case(**values: object) -> dict[str, object]:
    return {
        "monthly_income": 8000.0,
        "monthly_essential_expenses": 5000.0,
        "emergency_fund_months": 0.0,
        "outstanding_balance": 24_000.0,
        **values,
    }


def test_a_client_spending_more_than_she_earns_has_nothing_left_to_pay() -> None:
    """Income 1,500 and essentials 4,500: no plan is affordable, and it says why."""
    case = _case(monthly_income=1500.0, monthly_essential_expenses=4500.0)
    check = plan_check(case, 24, 1000.0, 0.0, 0.0, RULES)
    assert not check.affordable
    assert check.warnings == ("nothing_left",)
    assert check.budget_share is None
    mine = own_plan({**case, "proposed_monthly_payment": 300.0}, RULES)
    assert mine is not None and "nothing_left" in mine.warnings


def test_a_payment_that_eats_the_safety_margin_is_flagged() -> None:
    """3,000 left, margin 625 (a 3-month fund of 15,000 rebuilt over 24 months): 2,500 a month
    leaves 500, too little; 2,000 leaves 1,000, enough."""
    case = _case()
    assert safety_margin(5000.0, 0.0, RULES) == pytest.approx(625.0)
    assert plan_check(case, 12, 2500.0, 0.0, 0.0, RULES).warnings == ("below_margin",)
    fine = plan_check(case, 12, 2000.0, 0.0, 0.0, RULES)
    assert fine.affordable and fine.budget_share == pytest.approx(2000 / 3000, abs=1e-4)


def test_the_margin_is_at_least_its_share_of_essentials_once_savings_suffice() -> None:
    """With 6 months saved, the margin is 10% of essential expenses."""
    assert safety_margin(5000.0, 30_000.0, RULES) == pytest.approx(500.0)


def test_an_upfront_payment_beyond_savings_is_flagged() -> None:
    """One month saved (5,000) cannot pay 12,000 upfront."""
    check = plan_check(_case(emergency_fund_months=1.0), 0, 0.0, 12_000.0, 12_000.0, RULES)
    assert check.warnings == ("upfront_above_savings",)


def test_the_own_plan_spreads_the_balance_when_no_payment_is_typed() -> None:
    """24,000 less 4,000 upfront over 20 months: 1,000 a month; no plan fields: no check."""
    check = own_plan(_case(proposed_term_months=20, upfront_payment=4000.0), RULES)
    assert check is not None and check.monthly_payment == pytest.approx(1000.0)
    assert own_plan(_case(), RULES) is None


def test_typical_plans_are_medians_of_past_cases_and_respect_k() -> None:
    """Three installment cases give medians; a deferral seen once gets the documented rule."""
    past = pl.DataFrame(
        {
            "approach": ["installment"] * 3 + ["deferral"],
            "outstanding_balance": [10_000.0, 20_000.0, 40_000.0, 5_000.0],
            "proposed_term_months": [10, 12, 30, 3],
            "proposed_monthly_payment": [1000.0, 1000.0, 1000.0, 50.0],
            "upfront_payment": [0.0, 2000.0, 0.0, 0.0],
            "relief_amount": [0.0, 1000.0, 4000.0, None],
            "outcome": ["agreed_modified", "agreed_as_requested", "agreed_modified", "refused"],
        }
    )
    plans = typical_plans(past, k=3)
    assert set(plans) == set(APPROACHES)
    installment = plans["installment"]
    assert installment["source"] == "data" and installment["cases"] == 3
    assert installment["term_months"] == 12
    assert installment["payment_share"] == pytest.approx(0.05)
    assert installment["upfront_share"] == pytest.approx(0.0)
    assert installment["relief_share"] == pytest.approx(0.05)
    assert plans["deferral"]["source"] == "rule" and plans["deferral"]["cases"] == 0


def test_a_typical_plan_scales_with_the_case_balance() -> None:
    """Half the balance upfront and forgiven, no monthly payment: a lump sum."""
    typical = {"term_months": 0, "payment_share": 0.0, "upfront_share": 0.5, "relief_share": 0.5}
    check = approach_plan(_case(emergency_fund_months=3.0), typical, RULES)
    assert (check.term_months, check.monthly_payment) == (0, 0.0)
    assert check.upfront == check.relief == 12_000.0
    assert check.affordable  # 15,000 saved
    zh, en = plan_summary(check, "zh"), plan_summary(check, "en")
    assert zh.startswith("一次性还款 12,000 元") and "首付" not in zh
    assert en.startswith("one lump sum of 12,000 CNY") and "upfront" not in en


def test_a_bundle_without_plans_gets_the_rule_for_every_approach() -> None:
    """Bundles trained before plans were learnt still answer, by the rule."""
    assert {plan["source"] for plan in plans_of({}).values()} == {"rule"}


@given(
    income=st.floats(0, 50_000),
    essentials=st.floats(0, 50_000),
    savings_months=st.floats(0, 24),
    payment=st.floats(0, 50_000),
    upfront=st.floats(0, 100_000),
)
def test_an_affordable_plan_always_keeps_the_margin_and_fits_savings(
    income: float, essentials: float, savings_months: float, payment: float, upfront: float
) -> None:
    """Whatever the numbers: affordable means income − essentials − payment >= the margin and
    the upfront payment <= savings; the margin is never below its share of essentials."""
    case = _case(
        monthly_income=income,
        monthly_essential_expenses=essentials,
        emergency_fund_months=savings_months,
    )
    check = plan_check(case, 12, payment, upfront, 0.0, RULES)
    assert check.margin >= RULES.margin_share * essentials - 0.01
    if check.affordable:
        assert income - essentials - payment >= check.margin - 0.01
        assert upfront <= savings_months * essentials + 1e-6
    assert check.affordable == (not check.warnings)
