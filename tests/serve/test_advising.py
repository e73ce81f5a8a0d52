"""The advising parts of an answer: recommendation wording from intervals of differences,
what-if levers computed with the model, plans in words."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from serve_support import Published, entered_cases

from overdue.features import build_features
from overdue.models.estimate import CaseEstimator, what_if_changes
from overdue.models.train import covariance_products, difference_interval
from overdue.plans import BudgetRules
from overdue.publish import Snapshot
from overdue.serve.advising import budget_document, recommendation, what_if_items


def _approach(code: str, p: float, low: float, high: float) -> dict[str, Any]:
    return {"approach": code, "p": p, "vs_best": {"difference": 0.0, "low": low, "high": high}}


def _plan(affordable: bool = True) -> dict[str, Any]:
    return {"affordable": affordable}


def test_a_difference_whose_interval_spans_zero_is_about_equally_likely() -> None:
    """installment first; penalty_waiver's difference spans 0, principal_discount's lies below."""
    approaches = [
        _approach("installment", 0.60, 0.0, 0.0),
        _approach("penalty_waiver", 0.55, -0.15, 0.05),
        _approach("principal_discount", 0.20, -0.55, -0.25),
    ]
    plans = {a["approach"]: _plan() for a in approaches}
    en = recommendation(approaches, plans, "en")
    assert en["about_equal"] == ["penalty_waiver"] and en["clearly_less"] == ["principal_discount"]
    assert "installments and penalty waiver are about equally likely" in en["text"].lower()
    assert "principal discount is clearly less likely" in en["text"].lower()
    assert "not an instruction" in en["text"]
    zh = recommendation(approaches, plans, "zh")["text"]
    assert (
        "分期还款与减免罚息的可能性大致相当" in zh
        and "本金减免对本案这一阶段的债务明显可能性较低" in zh
    )


def test_when_no_difference_is_clear_the_data_cannot_separate_them() -> None:
    """Every interval of a difference spans 0: say so, rank without a winner."""
    approaches = [_approach("deferral", 0.5, 0, 0), _approach("installment", 0.45, -0.2, 0.1)]
    answer = recommendation(approaches, {}, "en")
    assert answer["clearly_less"] == [] and "cannot separate" in answer["text"]


def test_when_the_first_plan_does_not_fit_the_budget_the_text_names_those_that_do() -> None:
    """The most likely approach's typical plan is beyond the budget: the text names the
    approaches about as likely whose plans fit, else the less likely ones that fit, else says
    that none fits (never an approach that does not exist)."""
    approaches = [
        _approach("installment", 0.6, 0, 0),
        _approach("stop_interest_installment", 0.55, -0.2, 0.1),
        _approach("deferral", 0.3, -0.5, -0.1),
    ]
    fits = {"installment": False, "stop_interest_installment": True, "deferral": True}
    alike = recommendation(approaches, {c: _plan(f) for c, f in fits.items()}, "en")["text"]
    assert "installments does not fit this budget; about as likely and within it: " in alike
    assert "within it: interest stop + installments." in alike

    fits["stop_interest_installment"] = False
    less = recommendation(approaches, {c: _plan(f) for c, f in fits.items()}, "zh")["text"]
    assert "在预算之内的是延期还款，但可能性较低" in less

    none = {c: _plan(False) for c in fits}
    for lang, words in (("en", "no approach's typical plan fits"), ("zh", "没有一个方案")):
        text = recommendation(approaches, none, lang)["text"]
        assert words in text and "about as likely" not in text and "相当、又在" not in text


def test_the_budget_says_when_nothing_is_left_to_pay_with() -> None:
    """Income 1,500, essentials 4,500: the warning comes first, in both languages."""
    case = {"monthly_income": 1500, "monthly_essential_expenses": 4500}
    assert budget_document(case, BudgetRules(), "en")["texts"][0].startswith(
        "Income does not cover essential expenses: nothing is left to pay with"
    )
    assert "没有余钱可以还款" in budget_document(case, BudgetRules(), "zh")["texts"][0]


def test_what_if_levers_name_the_hardship_proof_and_say_how_sure() -> None:
    """A job-loss client is asked for proof of the job loss with the documents; an interval
    spanning 0 is called uncertain."""
    lever = {
        "lever": "documents_3plus",
        "changes": {"doc_bank_statement": True, "doc_expense_statement": True},
        "p_before": 0.4,
        "p_after": 0.45,
        "gain": 0.05,
        "gain_interval": [-0.1, 0.2],
        "clear": False,
    }
    (item,) = what_if_items([lever], {"hardship_reason": "job_loss"}, "en")
    assert "bank statements" in item["text"] and "leaving certificate" in item["text"]
    assert item["text"].endswith("(the difference is uncertain)")


def test_levers_already_taken_or_past_are_not_offered() -> None:
    """A case in person, with a lawyer, a written plan and 3 documents has no lever left; a
    job-loss case is not asked for income proof; contact timing is never a lever."""
    done = {
        "channel": "in_person",
        "professional_help": "lawyer",
        "repayment_plan_prepared": True,
        "doc_loan_contract": True,
        "doc_income_proof": True,
        "doc_bank_statement": True,
        "hardship_reason": "income_reduction",
    }
    assert what_if_changes(done) == {}
    jobless = what_if_changes({"hardship_reason": "job_loss", "channel": "phone"})
    assert "proof" not in jobless
    assert "doc_income_proof" not in jobless["documents_3plus"]
    assert jobless["nonprofit_mediator"] == {"professional_help": "nonprofit_counselor"}


@pytest.fixture(scope="module")
def past_cases(published: Published) -> pl.DataFrame:
    """12 simulated cases as a counselor would enter them."""
    return entered_cases(published, 12)


def test_what_if_rows_equal_the_model_on_changed_cases(
    snapshot: Snapshot, past_cases: pl.DataFrame
) -> None:
    """Each lever's P after equals the model on the case with the lever's fields changed (so
    the design rows written in place, documents count included, are the features of that
    case); levers come largest gain first."""
    model = snapshot.bundle.model
    answers = CaseEstimator(snapshot.bundle, k=10).estimate_frame(past_cases)
    checked = 0
    for row, answer in zip(past_cases.iter_rows(named=True), answers, strict=True):
        gains = [lever["gain"] for lever in answer["what_if"]]
        assert gains == sorted(gains, reverse=True)
        for lever in answer["what_if"]:
            changed = pl.DataFrame([{**row, **lever["changes"]}], schema=past_cases.schema)
            p = model.predict(build_features(changed.lazy()).collect())[0]
            assert lever["p_after"] == round(float(p), 4)
            assert lever["gain_interval"][0] <= lever["gain"] <= lever["gain_interval"][1]
            checked += 1
    assert checked > 0


def test_a_difference_interval_equals_the_delta_method_on_the_gradient(
    snapshot: Snapshot,
) -> None:
    """Against the gradient written out: w·(s_a·z_a − s_b·z_b) through Σ, plus the spread."""
    model = snapshot.bundle.model
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, model.covariance.shape[0] - 1))
    z, z_cov = covariance_products(model.covariance, basis)
    p = np.array([0.7, 0.3])
    s = p * (1 - p)
    gradient = model.stack[1] * (s[0] * z[0] - s[1] * z[1])
    variance = gradient @ model.covariance @ gradient + model.interval_spread**2 * (s @ s)
    _, low, high = difference_interval(model, (z[:1], z_cov[:1]), (z[1:], z_cov[1:]), p[:1], p[1:])
    assert high[0] - 0.4 == pytest.approx(1.959964 * np.sqrt(variance))
    assert 0.4 - low[0] == pytest.approx(1.959964 * np.sqrt(variance))


def test_a_row_against_itself_differs_only_by_the_extra_spread(snapshot: Snapshot) -> None:
    """Identical rows: the covariance part cancels; what is left is √2·τ·p(1−p), the
    conservative allowance for the spread, on each side of 0."""
    model = snapshot.bundle.model
    row = covariance_products(model.covariance, np.ones((1, model.covariance.shape[0] - 1)))
    p = np.array([0.4])
    difference, low, high = difference_interval(model, row, row, p, p)
    half = 1.959964 * np.sqrt(2) * model.interval_spread * 0.24
    assert difference[0] == 0 and high[0] == pytest.approx(half) and low[0] == pytest.approx(-half)
