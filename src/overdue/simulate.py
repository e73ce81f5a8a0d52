"""Realistic synthetic case records with a documented causal structure and ground truth.

The population shares, the plan terms and the effects on agreement and re-default
(``EFFECT``, the ``*_EFFECT`` arrays, ``REDEFAULT_FACTORS``) are named constants below; the
docs/simulator.md documents them. The choice models in ``_actions`` (help, channel,
documents, plan, attitude, approach), the mean number of rounds and a few shape details
(income and debt spreads, floors) write their coefficients inline, one term per influence:
they decide who does what, which the ground truth takes as given.

The generator works in fixed-size chunks, each with its own random stream derived from
``(seed, chunk index)``, so a run is deterministic by seed and 10 million rows need no more
memory than one chunk.

Ground truth: for every case, ``p_<approach>`` is the true probability of an agreement had the
case asked for that approach, with everything else about the case (context, preparation, help,
channel) as it was and the plan terms that approach implies. Persistence (the number of rounds,
a process field) is integrated out, so the truth is what a counselor could know before the
negotiation. Optional fields that the record leaves empty still act through their true value.

Worlds: every function takes a ``World`` (``overdue.worlds``; default ``BASELINE``, today's
simulator, byte for byte). A world decides the shape of the context effects (``Surface``),
which fields moderate each approach and how strongly, how strongly the situation drives the
approach asked for and whether those drivers also moderate, the overlap floor, a target base
rate (an intercept shift solved once on a pilot sample) and how often optional fields are left
empty. The ground truth above is always the world's own: ``p_<approach>`` comes from the same
``agreement_logit`` that draws the outcomes, and the truth files have the same columns in every
world.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Final, TextIO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from overdue import contract
from overdue.contract import APPROACHES, DOCUMENT_FIELDS, FIELD_BY_NAME, FIELD_NAMES, Kind
from overdue.segments import subgroups
from overdue.worlds import BASELINE, OVERLAP_FLOOR, WORLDS, Moderator, Surface, World

GENERATOR_VERSION: Final = "sim-1"
CHUNK_ROWS: Final = 100_000
FIRST_CONTACT_FROM: Final = dt.date(2020, 1, 1)

Array = np.ndarray[Any, Any]
Cases = dict[str, Array]  # one array per quantity, one row per case

# --- the debtor ----------------------------------------------------------------------------------
AGE_BANDS: Final = list(FIELD_BY_NAME["age_band"].values)
AGE_P: Final = [0.13, 0.38, 0.27, 0.14, 0.06, 0.02]
EMPLOYMENT: Final = list(FIELD_BY_NAME["employment"].values)
# P(employment | age band); columns in EMPLOYMENT order
EMPLOYMENT_P_BY_AGE: Final = np.array(
    [
        [0.50, 0.10, 0.15, 0.00, 0.20, 0.05],
        [0.63, 0.17, 0.14, 0.00, 0.01, 0.05],
        [0.58, 0.24, 0.13, 0.00, 0.00, 0.05],
        [0.52, 0.25, 0.16, 0.02, 0.00, 0.05],
        [0.35, 0.18, 0.15, 0.27, 0.00, 0.05],
        [0.08, 0.07, 0.05, 0.75, 0.00, 0.05],
    ]
)
CITY_TIER_P: Final = [0.14, 0.24, 0.30, 0.32]
# median monthly income (CNY) and log-sd by employment; multipliers by city tier and age
INCOME_MEDIAN: Final = np.array([7000, 7500, 1200, 3800, 1500, 3500], dtype=float)
INCOME_SIGMA: Final = np.array([0.45, 0.75, 0.90, 0.35, 0.60, 0.70])
INCOME_TIER: Final = np.array([1.55, 1.20, 0.95, 0.78])
INCOME_AGE: Final = np.array([0.75, 1.00, 1.10, 1.05, 0.90, 0.80])
UNEMPLOYED_NO_INCOME_P: Final = 0.30
EXPENSE_BASE_TIER: Final = np.array([3200, 2600, 2000, 1600], dtype=float)
EXPENSE_PER_DEPENDENT: Final = 900.0
DEPENDENTS_MEAN_BY_AGE: Final = np.array([0.1, 0.8, 1.6, 1.5, 0.9, 0.4])
HARDSHIPS: Final = list(FIELD_BY_NAME["hardship_reason"].values)
# P(hardship reason | employment); columns in HARDSHIPS order
HARDSHIP_P_BY_EMPLOYMENT: Final = np.array(
    [
        [0.12, 0.10, 0.03, 0.25, 0.12, 0.28, 0.05, 0.05],
        [0.08, 0.03, 0.42, 0.15, 0.08, 0.17, 0.04, 0.03],
        [0.14, 0.50, 0.08, 0.06, 0.08, 0.09, 0.03, 0.02],
        [0.40, 0.00, 0.03, 0.10, 0.20, 0.12, 0.10, 0.05],
        [0.06, 0.05, 0.02, 0.08, 0.10, 0.50, 0.14, 0.05],
        [0.15, 0.10, 0.08, 0.15, 0.12, 0.25, 0.07, 0.08],
    ]
)
INCOME_AFTER_HARDSHIP: Final = {"job_loss": 0.4, "income_reduction": 0.75, "business_failure": 0.7}
EXTRA_LENDERS_MEAN: Final = {"over_indebtedness": 3.5, "student": 2.0, "business_failure": 1.8}
CASES_PER_DEBTOR_P: Final = [0.86, 0.10, 0.04]  # 1, 2 or 3 of the debtor's lenders in the data

PROVINCES: Final = [  # (Chinese, English, weight ~ population)
    ("广东", "Guangdong", 12.6),
    ("山东", "Shandong", 10.2),
    ("河南", "Henan", 9.9),
    ("江苏", "Jiangsu", 8.5),
    ("四川", "Sichuan", 8.4),
    ("河北", "Hebei", 7.5),
    ("湖南", "Hunan", 6.6),
    ("浙江", "Zhejiang", 6.5),
    ("安徽", "Anhui", 6.1),
    ("湖北", "Hubei", 5.8),
    ("广西", "Guangxi", 5.0),
    ("云南", "Yunnan", 4.7),
    ("江西", "Jiangxi", 4.5),
    ("辽宁", "Liaoning", 4.3),
    ("福建", "Fujian", 4.2),
    ("陕西", "Shaanxi", 4.0),
    ("贵州", "Guizhou", 3.9),
    ("山西", "Shanxi", 3.5),
    ("重庆", "Chongqing", 3.2),
    ("黑龙江", "Heilongjiang", 3.1),
    ("新疆", "Xinjiang", 2.6),
    ("上海", "Shanghai", 2.5),
    ("甘肃", "Gansu", 2.5),
    ("内蒙古", "Inner Mongolia", 2.4),
    ("吉林", "Jilin", 2.4),
    ("北京", "Beijing", 2.2),
    ("天津", "Tianjin", 1.4),
    ("海南", "Hainan", 1.0),
    ("宁夏", "Ningxia", 0.7),
    ("青海", "Qinghai", 0.6),
    ("西藏", "Tibet", 0.4),
]

# --- the debt ------------------------------------------------------------------------------------
LENDERS: Final = list(FIELD_BY_NAME["lender_type"].values)
LENDER_P_YOUNG: Final = [0.15, 0.02, 0.25, 0.43, 0.05, 0.10]  # age under 35
LENDER_P_OLDER: Final = [0.33, 0.10, 0.10, 0.28, 0.05, 0.14]
PRINCIPAL_MEDIAN: Final = np.array([28000, 90000, 18000, 22000, 15000, 8000], dtype=float)
PRINCIPAL_SIGMA: Final = np.array([0.8, 0.8, 0.7, 0.8, 0.7, 0.6])
RATE_RANGE: Final = np.array(
    [  # contractual APR range by lender type
        [0.14, 0.185],
        [0.04, 0.12],
        [0.12, 0.24],
        [0.10, 0.24],
        [0.18, 0.36],
        [0.18, 0.36],
    ]
)
CONTRACT_TERM: Final = np.array([24, 48, 24, 12, 24, 12])
DAYS_OVERDUE_MEDIAN: Final = 75.0
DAYS_OVERDUE_SIGMA: Final = 1.1
MAX_PRINCIPAL: Final = 5_000_000  # keeps the balance with charges under the contract's 20M
P2P_DAYS_FACTOR: Final = 3.0  # P2P platforms were wound down: their debts are older
PENALTY_RATE_SHARE: Final = 0.5  # penalty interest runs at half the APR on top of it
MAX_CHARGES_SHARE: Final = 1.5  # interest + penalties stop growing at 1.5x the principal left
STAGES: Final = list(FIELD_BY_NAME["collection_stage"].values)
STAGE_CUTS: Final = np.array([1.6, 4.6, 5.2, 5.9, 6.9])  # on log1p(days) + noise + debt size

# --- the actions ---------------------------------------------------------------------------------
HELP: Final = list(FIELD_BY_NAME["professional_help"].values)
CHANNELS: Final = list(FIELD_BY_NAME["channel"].values)
APPROACH_CODES: Final = list(APPROACHES)
APPROACH_CHOICE_INTERCEPT: Final = np.array([0.6, -0.1, 0.2, -0.2, -2.4, -0.5])  # choice scores
DOCS: Final = DOCUMENT_FIELDS
DEFERRAL_TERM: Final = 3  # months; 6 after illness or job loss
DISCOUNT_LUMP_SHARE: Final = 0.55  # a principal discount offers 55% of the principal left
PARTIAL_FIRST_SHARE: Final = 0.25  # part of the balance paid first
PLAN_BUDGET_SHARE: Final = 0.8  # plans ask for 80% of what is left after essentials

# --- what makes an agreement (log-odds) ----------------------------------------------------------
EFFECT: Final = {
    "early_contact_per_log_month": -0.30,  # x log1p(days overdue / 30)
    "debt_to_annual_income_log": -0.30,  # x log1p(balance / annual income)
    "extra_lender": -0.07,  # per lender in arrears beyond the first, up to 10
    "unaffordable_plan": -1.2,  # x max(0, payment-to-income - 0.5)
    "lump_beyond_savings": -0.4,  # lump sum above savings + half a month's income
    "doc_loan_contract": 0.05,
    "doc_income_proof": 0.25,
    "doc_expense_statement": 0.15,
    "doc_bank_statement": 0.20,
    "doc_medical_report": 0.05,  # +0.45 when the hardship is illness
    "doc_medical_report_illness": 0.45,
    "doc_household_finances": 0.15,
    "repayment_plan_prepared": 0.45,
    "attitude_per_point": 0.22,  # x (attitude - 3)
    "persistence_per_log_round": 0.35,  # x log(negotiation rounds)
}
STAGE_EFFECT: Final = np.array([0.0, 0.0, -0.15, -0.25, -0.45, -0.70])
HARDSHIP_EFFECT: Final = np.array([0.35, 0.15, 0.0, 0.10, 0.25, -0.35, 0.20, 0.0])
EMPLOYMENT_EFFECT: Final = np.array([0.15, 0.0, -0.20, 0.10, 0.0, 0.0])
HELP_EFFECT: Final = np.array([0.0, 0.30, 0.50, -0.45])  # none, lawyer, nonprofit, paid agent
CHANNEL_EFFECT: Final = np.array([0.0, -0.15, 0.15, 0.10, 0.15])
INITIATOR_EFFECT: Final = np.array([0.15, 0.0, 0.05])  # debtor, lender, helper
APPROACH_BASE: Final = np.array([0.55, 0.35, -0.10, 0.40, -0.85, 0.45])
# approach x lender type; rows in LENDERS order, columns in APPROACH_CODES order
APPROACH_BY_LENDER: Final = np.array(
    [
        [0.25, -0.10, 0.45, 0.10, -0.20, 0.00],  # credit cards: 停息分期 is the regulated route
        [0.10, 0.30, -0.30, 0.00, -0.50, 0.15],  # bank loans: deferral; discounts are rare
        [0.00, 0.00, 0.10, 0.30, 0.00, 0.00],  # consumer finance: penalty waivers
        [0.10, 0.35, -0.35, 0.15, -0.20, 0.00],  # online platforms: short deferrals
        [-0.20, -0.30, 0.20, 0.20, 0.90, 0.30],  # P2P: settle at a discount
        [0.00, -0.10, 0.10, 0.35, 0.40, 0.20],  # small loans
    ]
)
# approach x log1p(days overdue / 90): old debts favour discounts, fresh ones deferrals
APPROACH_BY_AGE_OF_DEBT: Final = np.array([0.0, -0.30, 0.15, 0.10, 0.40, 0.0])
ROUNDS_MAX_EXTRA: Final = 25

# --- after the negotiation -----------------------------------------------------------------------
AS_REQUESTED_BASE: Final = np.array([0.4, 0.3, -0.3, 0.2, -0.8, 0.1]) + 0.6
FALLBACK: Final = {
    "installment": "deferral",
    "deferral": "installment",
    "stop_interest_installment": "installment",
    "penalty_waiver": "installment",
    "principal_discount": "penalty_waiver",
    "partial_first": "installment",
}
REDEFAULT_MONTHLY_HAZARD: Final = 0.012  # x exp(2 x payment-to-income) x the factors below
REDEFAULT_FACTORS: Final = {
    "paid_agent": 1.5,
    "nonprofit_counselor": 0.8,
    "over_indebtedness": 1.3,
    "repayment_plan_prepared": 0.85,
}
MAX_FOLLOWUP_MONTHS: Final = 36

MISSING_P: Final = {  # optional fields left empty at random
    "debtor_ref": 0.10,
    "region": 0.08,
    "city_tier": 0.05,
    "dependents": 0.10,
    "emergency_fund_months": 0.15,
    "penalty_accrued": 0.15,
    "proposed_term_months": 0.08,
    "proposed_monthly_payment": 0.08,
    "upfront_payment": 0.10,
    "attitude_score": 0.06,
    "days_to_first_contact": 0.25,
    "negotiation_rounds": 0.05,
    "complaint_filed": 0.10,
}


def _sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))


def _categorical(rng: np.random.Generator, probs: Array) -> Array:
    """One draw per row of ``probs`` (rows sum to 1): the chosen column index."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None] * cum[:, -1:]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _choice_probabilities(scores: Array, floor: float = 0.0) -> Array:
    """Multinomial-logit probabilities; ``floor`` of the mass is spread uniformly."""
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (1 - floor) * e / e.sum(axis=1, keepdims=True) + floor / scores.shape[1]


def _softmax_choice(rng: np.random.Generator, scores: Array) -> Array:
    """One multinomial-logit choice per row."""
    return _categorical(rng, _choice_probabilities(scores))


@dataclass(frozen=True)
class Plan:
    """The plan terms a case would propose under one approach."""

    term: Array
    payment: Array
    upfront: Array


def plan_budget(c: Cases) -> Array:
    """What a plan asks for each month: 80% of income left after essentials, at least 15% of
    income, at least 200 CNY."""
    return PLAN_BUDGET_SHARE * np.maximum.reduce(
        [
            c["monthly_income"] - c["monthly_essential_expenses"],
            0.15 * c["monthly_income"],
            np.full_like(c["outstanding_balance"], 200.0),
        ]
    )


def proposed_plan(approach: int, c: Cases) -> Plan:
    """Plan terms that follow from asking for ``approach`` (index in APPROACH_CODES)."""
    balance, left = c["outstanding_balance"], c["principal_left"]
    budget = plan_budget(c)
    zero = np.zeros_like(balance)

    def spread(amount: Array, low: int, high: int) -> tuple[Array, Array]:
        term = np.clip(np.ceil(amount / budget), low, high)
        return term, amount / term

    code = APPROACH_CODES[approach]
    if code == "installment":
        term, payment = spread(balance, 6, 60)
        return Plan(term, payment, zero)
    if code == "stop_interest_installment":
        term, payment = spread(left, 12, 60)
        return Plan(term, payment, zero)
    if code == "deferral":
        long = np.isin(c["hardship_idx"], [HARDSHIPS.index("illness"), HARDSHIPS.index("job_loss")])
        return Plan(np.where(long, 2 * DEFERRAL_TERM, DEFERRAL_TERM), 0.01 * balance, zero)
    if code == "penalty_waiver":
        term, payment = spread(balance - c["penalty"], 1, 48)
        return Plan(term, payment, zero)
    if code == "principal_discount":
        return Plan(zero, zero, np.round(DISCOUNT_LUMP_SHARE * left, 2))
    upfront = np.round(PARTIAL_FIRST_SHARE * balance, 2)
    term, payment = spread(balance - upfront, 6, 48)
    return Plan(term, payment, upfront)


def payment_to_income(payment: Array, income: Array) -> Array:
    """Monthly payment as a share of income (income floored at 300 CNY)."""
    return payment / np.maximum(income, 300.0)


# --- what a world changes (overdue.worlds declares the worlds) -----------------------------------
@dataclass(frozen=True)
class Driver:
    """A continuous quantity of a case in the shapes a world's surface may give it."""

    value: Callable[[Cases], Array]
    linear: Callable[[Array], Array]  # additive surfaces: an effect is per unit of this line
    low: float  # a typical low and a typical high value: a step or an S-curve rises as much
    high: float  # as the line does from low to high
    threshold: float  # steps: the rise happens here; smooth: the middle of the S-curve
    curve: Callable[[Array], Array]  # the scale the S-curve runs on (log1p for days, amounts)
    width: float  # the S-curve does 12% to 88% of its rise over threshold -/+ 2 widths


def shaped(driver: Driver, c: Cases, surface: Surface) -> Array:
    """The driver as ``surface`` makes it act: its line (additive surfaces), or a step or an
    S-curve at its threshold rising from the line's value at ``low`` to its value at ``high``."""
    x = driver.value(c)
    if surface not in (Surface.STEPS, Surface.SMOOTH):
        return driver.linear(x)
    start, end = (driver.linear(np.asarray(v, dtype=np.float64)) for v in (driver.low, driver.high))
    if surface is Surface.STEPS:
        rise = (x >= driver.threshold).astype(np.float64)
    else:
        middle = driver.curve(np.asarray(driver.threshold, dtype=np.float64))
        rise = _sigmoid((driver.curve(x) - middle) / driver.width)
    return start + (end - start) * rise


def _days(c: Cases) -> Array:
    return c["days_overdue_at_contact"]


def _lenders(c: Cases) -> Array:
    return c["lenders_in_arrears"]


def _identity(x: Array) -> Array:
    return x


def penalty_share(c: Cases) -> Array:
    """Penalty interest and fees as a share of the balance."""
    return c["penalty"] / c["outstanding_balance"]


def debt_to_annual_income(c: Cases) -> Array:
    """Balance in years of income (income floored at 300 CNY a month)."""
    return c["outstanding_balance"] / (12 * np.maximum(c["monthly_income"], 300.0))


def months_of_budget(c: Cases) -> Array:
    """Months of the plan budget that the balance amounts to."""
    return c["outstanding_balance"] / plan_budget(c)


def savings_to_balance(c: Cases) -> Array:
    """Savings (months of living costs x essential expenses) as a share of the balance."""
    return c["emergency_fund_months"] * c["monthly_essential_expenses"] / c["outstanding_balance"]


def income_surplus(c: Cases) -> Array:
    """Income left after essentials, as a share of income (income floored at 300 CNY)."""
    income = c["monthly_income"]
    return (income - c["monthly_essential_expenses"]) / np.maximum(income, 300.0)


def documents_brought(c: Cases) -> Array:
    """How many of the six kinds of document the debtor brought."""
    return np.column_stack([c[doc] for doc in DOCS]).sum(axis=1)


CONTEXT_DRIVERS: Final[dict[str, Driver]] = {
    # M3+: after 90 days a debt is non-performing and collection hardens
    "early_contact": Driver(_days, lambda d: np.log1p(d / 30), 7, 365, 90, np.log1p, 0.5),
    # a balance above a year's income
    "debt_to_income": Driver(debt_to_annual_income, np.log1p, 0.1, 3.0, 1.0, np.log, 0.6),
    # 多头借贷: three lenders or more
    "extra_lenders": Driver(_lenders, lambda n: np.minimum(n - 1, 10), 1, 6, 2.5, _identity, 0.6),
}
"""Context drivers of agreement whose shape the surface decides (the rest are categories)."""
CONTEXT_EFFECT: Final = {
    "early_contact": "early_contact_per_log_month",
    "debt_to_income": "debt_to_annual_income_log",
    "extra_lenders": "extra_lender",
}
"""The EFFECT of each context driver, per unit of its line."""

MODERATOR_DRIVERS: Final[dict[Moderator, Driver]] = {
    # 180 days: banks write the debt off (核销) and sell or settle it
    Moderator.DAYS_OVERDUE: Driver(_days, lambda d: np.log1p(d / 90), 30, 365, 180, np.log1p, 0.45),
    # 60 months: longer than the longest plan lenders grant
    Moderator.MONTHS_OF_BUDGET: Driver(
        months_of_budget, lambda m: np.log1p(np.minimum(m, 240) / 24), 6, 120, 60, np.log1p, 0.5
    ),
    # a quarter of the balance: enough to pay part of the principal first
    Moderator.SAVINGS_TO_BALANCE: Driver(
        savings_to_balance, lambda s: np.minimum(s, 1.0), 0, 1, 0.25, _identity, 0.08
    ),
    # penalties above 5% of the balance
    Moderator.PENALTY_SHARE: Driver(
        penalty_share, lambda x: x / 0.1, 0, 0.1, 0.05, _identity, 0.015
    ),
    # 多头借贷: three lenders or more
    Moderator.LENDERS_IN_ARREARS: Driver(
        _lenders, lambda n: np.minimum(n - 1, 5) / 2.5, 1, 4, 2.5, _identity, 0.6
    ),
    # 30% of income left after essentials
    Moderator.INCOME_SURPLUS: Driver(
        income_surplus, lambda x: np.clip(x, -0.5, 0.8) / 0.4, 0, 0.5, 0.3, _identity, 0.1
    ),
    # 24%: courts do not enforce interest above it (and nothing above 36%)
    Moderator.ANNUAL_RATE: Driver(
        lambda c: c["annual_rate"], lambda r: (r - 0.15) / 0.1, 0.12, 0.30, 0.24, _identity, 0.03
    ),
    # a lawsuit filed: court mediation (诉讼调解) settles
    Moderator.COLLECTION_STAGE: Driver(
        lambda c: c["stage_idx"], lambda s: s / 3, 1, 4, 3.5, _identity, 0.5
    ),
    # 45 and older
    Moderator.AGE_BAND: Driver(lambda c: c["age_idx"], lambda a: a / 3, 1, 4, 2.5, _identity, 0.6),
    # three of the six kinds of document or more
    Moderator.DOCUMENTS: Driver(documents_brought, lambda n: n / 3, 1, 4, 2.5, _identity, 0.7),
}
"""Continuous moderators: the field, its line, its typical low and high values and its threshold."""
# approach x moderator, per unit of the driver's line; columns in APPROACH_CODES order:
# installment, deferral, stop-interest, penalty waiver, principal discount, part-first
APPROACH_BY_DRIVER: Final[dict[Moderator, Array]] = {
    Moderator.DAYS_OVERDUE: APPROACH_BY_AGE_OF_DEBT,
    # long to clear: plain instalments look hopeless, stop-interest and discounts help
    Moderator.MONTHS_OF_BUDGET: np.array([-0.35, 0.0, 0.30, -0.10, 0.35, -0.20]),
    # savings make a lump sum credible; a deferral less so (pay now)
    Moderator.SAVINGS_TO_BALANCE: np.array([0.0, -0.20, 0.0, 0.0, 0.60, 0.50]),
    # penalties that were never going to be paid are given up
    Moderator.PENALTY_SHARE: np.array([-0.15, 0.0, 0.10, 0.60, 0.20, 0.0]),
    # several lenders: a deferral solves nothing, each lender fears a discount pays the others
    Moderator.LENDERS_IN_ARREARS: np.array([-0.20, -0.40, 0.45, 0.0, -0.30, 0.15]),
    # room in the budget: instalments and part-first work, relief is refused
    Moderator.INCOME_SURPLUS: np.array([0.25, -0.25, 0.0, 0.10, -0.35, 0.25]),
    # high rates: interest the courts would cut is easier to waive
    Moderator.ANNUAL_RATE: np.array([-0.15, 0.0, 0.45, 0.30, 0.25, 0.0]),
    # in court: settlements and lump sums, no more deferrals
    Moderator.COLLECTION_STAGE: np.array([-0.10, -0.45, 0.0, 0.10, 0.55, 0.35]),
    # older debtors: waivers and discounts on hardship grounds, less money up front
    Moderator.AGE_BAND: np.array([-0.20, 0.10, 0.0, 0.35, 0.40, -0.25]),
    # relief needs proof: banks ask for documents before 个性化分期 or a discount
    Moderator.DOCUMENTS: np.array([0.0, 0.10, 0.40, 0.15, 0.30, 0.0]),
}
# approach x hardship; rows in HARDSHIPS order
APPROACH_BY_HARDSHIP: Final = np.array(
    [
        [0.00, 0.45, 0.25, 0.20, 0.20, -0.20],  # illness: hardship deferral, relief
        [-0.30, 0.50, 0.10, 0.00, 0.00, -0.20],  # job loss: deferral until the next job
        [-0.10, 0.10, 0.20, 0.00, 0.35, 0.10],  # business failure: settle
        [0.25, 0.10, 0.10, 0.00, -0.20, 0.00],  # income cut: longer instalments
        [0.00, 0.35, 0.00, 0.15, 0.00, 0.00],  # family emergency: deferral
        [-0.20, -0.45, 0.40, 0.00, -0.10, 0.00],  # over-indebted: stop the interest
        [0.00, 0.00, 0.10, 0.40, 0.30, 0.00],  # fraud victim: waivers
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.00],  # other
    ]
)
# approach x employment; rows in EMPLOYMENT order
APPROACH_BY_EMPLOYMENT: Final = np.array(
    [
        [0.30, -0.20, 0.15, 0.00, -0.30, 0.10],  # employed: a steady payment is believed
        [-0.10, 0.10, 0.00, 0.00, 0.10, 0.35],  # self-employed: lumpy income, pay part first
        [-0.40, 0.45, 0.00, 0.10, 0.20, -0.30],  # unemployed: deferral
        [0.00, -0.10, 0.10, 0.30, 0.25, 0.00],  # retired: waivers
        [-0.20, 0.30, 0.20, 0.10, 0.00, -0.30],  # student: deferral until work
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.00],  # other
    ]
)
CATEGORY_MODERATORS: Final[dict[Moderator, tuple[Array, str]]] = {
    Moderator.LENDER_TYPE: (APPROACH_BY_LENDER, "lender_idx"),
    Moderator.HARDSHIP: (APPROACH_BY_HARDSHIP, "hardship_idx"),
    Moderator.EMPLOYMENT: (APPROACH_BY_EMPLOYMENT, "employment_idx"),
}
"""Categorical moderators: a table of approach effects by category, and the category column."""

PREPARATION_INTERACTION: Final = {
    "plan_with_income_proof": 0.35,  # a written plan is believed when income is documented
    "complete_file": 0.30,  # COMPLETE_FILE_DOCUMENTS of the six kinds of document or more
    "plan_by_paid_agent": -0.40,  # lenders distrust plans a paid agent wrote
    "mediator_attitude_per_point": 0.15,  # a mediator carries the debtor's sincerity across
    "plan_in_person": 0.25,  # a plan walked through face to face
}
"""The interactions surface: what preparation factors add together, beyond their sum."""
COMPLETE_FILE_DOCUMENTS: Final = 4
HIDDEN_FIELD: Final = "lender_goodwill"
"""A world's hidden confounder: how well the lender thinks of the debtor (their history with it,
a word from a branch manager), standard normal, never written to the records."""
HIDDEN_CONFOUNDED: Final = "stop_interest_installment"
"""The approach a hidden confounder pushes debtors toward: a debtor in the lender's good books
asks for what lenders grant the customers they value, interest stopped on instalments (停息挂账).
Its adjusted rate, and its contrast with the average approach, are biased up."""
CHOICE_SUITABILITY_CLIP: Final = 3.0  # |choice score - the case's mean score| counted up to this
PILOT_ROWS: Final = 20_000
PILOT_SEED: Final = 20_260_101
PILOT_AS_OF: Final = dt.date(2026, 6, 30)
SHIFT_TOLERANCE: Final = 1e-6  # log-odds: the intercept shift is solved to this precision


def moderation_effect(moderator: Moderator, approach: int, c: Cases, world: World) -> Array:
    """How ``moderator`` shifts the log-odds of ``approach`` for each case, in ``world``."""
    if moderator in CATEGORY_MODERATORS:
        table, column = CATEGORY_MODERATORS[moderator]
        return world.moderation * table[c[column], approach]
    effect = world.moderation * APPROACH_BY_DRIVER[moderator][approach]
    return effect * shaped(MODERATOR_DRIVERS[moderator], c, world.surface)


def context_effect(name: str, c: Cases, surface: Surface) -> Array:
    """Log-odds effect of one context driver of CONTEXT_DRIVERS under ``surface``."""
    return EFFECT[CONTEXT_EFFECT[name]] * shaped(CONTEXT_DRIVERS[name], c, surface)


def preparation_interactions(c: Cases) -> Array:
    """Log-odds the preparation factors add together on the interactions surface."""
    i, plan = PREPARATION_INTERACTION, c["repayment_plan_prepared"]
    help_idx = c["help_idx"]
    return (
        i["plan_with_income_proof"] * (plan & c["doc_income_proof"])
        + i["complete_file"] * (documents_brought(c) >= COMPLETE_FILE_DOCUMENTS)
        + i["plan_by_paid_agent"] * (plan & (help_idx == HELP.index("paid_agent")))
        + i["mediator_attitude_per_point"]
        * (help_idx == HELP.index("nonprofit_counselor"))
        * (c["attitude_score"] - 3)
        + i["plan_in_person"] * (plan & (c["channel_idx"] == CHANNELS.index("in_person")))
    )


def choice_suitability(c: Cases) -> Array:
    """n x approaches: how much more the situation pushes each approach than the case's average
    approach (the case-dependent part of the choice scores, centred per case and clipped)."""
    situation = c["choice_situation"]
    centred = situation - situation.mean(axis=1, keepdims=True)
    return np.clip(centred, -CHOICE_SUITABILITY_CLIP, CHOICE_SUITABILITY_CLIP)


def agreement_logit(approach: int, c: Cases, world: World = BASELINE) -> Array:
    """Log-odds of an agreement under ``approach`` in ``world``, before persistence (rounds)
    acts. Terms are added in today's order, so the baseline's arithmetic is unchanged."""
    e = EFFECT
    plan = proposed_plan(approach, c)
    savings = c["emergency_fund_months"] * c["monthly_essential_expenses"]
    illness = c["hardship_idx"] == HARDSHIPS.index("illness")
    plan_terms = 1.0 if Moderator.PLAN_TERMS in world.moderators else 0.0
    logit = APPROACH_BASE[approach]
    for moderator in world.moderators:
        if moderator is not Moderator.PLAN_TERMS:
            logit = logit + moderation_effect(moderator, approach, c, world)
    logit = (
        logit
        + context_effect("early_contact", c, world.surface)
        + STAGE_EFFECT[c["stage_idx"]]
        + context_effect("debt_to_income", c, world.surface)
        + context_effect("extra_lenders", c, world.surface)
        + HARDSHIP_EFFECT[c["hardship_idx"]]
        + EMPLOYMENT_EFFECT[c["employment_idx"]]
        + HELP_EFFECT[c["help_idx"]]
        + CHANNEL_EFFECT[c["channel_idx"]]
        + INITIATOR_EFFECT[c["initiator_idx"]]
        + e["repayment_plan_prepared"] * c["repayment_plan_prepared"]
        + e["attitude_per_point"] * (c["attitude_score"] - 3)
        + e["doc_medical_report_illness"] * (c["doc_medical_report"] & illness)
        + plan_terms
        * e["unaffordable_plan"]
        * np.maximum(0.0, payment_to_income(plan.payment, c["monthly_income"]) - 0.5)
        + plan_terms
        * e["lump_beyond_savings"]
        * (plan.upfront > savings + 0.5 * c["monthly_income"])
    )
    for doc in DOCS:
        logit = logit + e[doc] * c[doc]
    if world.surface is Surface.INTERACTIONS:
        logit = logit + preparation_interactions(c)
    if world.confounder_moderation:
        logit = logit + world.confounder_moderation * choice_suitability(c)[:, approach]
    if world.hidden_confounder:
        logit = logit + world.hidden_confounder * c[HIDDEN_FIELD]
    return logit + intercept_shift(world)


def rounds_mean_extra(c: Cases) -> Array:
    """Mean of (negotiation rounds - 1): help and a written plan keep a debtor going."""
    return (
        1.5
        + 0.8 * (c["help_idx"] == HELP.index("nonprofit_counselor"))
        + 0.5 * (c["help_idx"] == HELP.index("lawyer"))
        + 0.4 * c["repayment_plan_prepared"]
    )


def with_persistence(logit: Array, c: Cases) -> Array:
    """P(agreement) from the log-odds before persistence, integrating the rounds over their
    Poisson distribution."""
    lam = rounds_mean_extra(c)[:, None]
    k = np.arange(ROUNDS_MAX_EXTRA + 1)[None, :]
    log_pmf = k * np.log(lam) - lam - np.cumsum(np.log(np.maximum(k, 1)), axis=1)
    pmf = np.exp(log_pmf)
    pmf[:, -1] += np.maximum(0.0, 1.0 - pmf.sum(axis=1))
    boost = EFFECT["persistence_per_log_round"] * np.log1p(k)
    return (pmf * _sigmoid(logit[:, None] + boost)).sum(axis=1)


def true_agreement_probability(approach: int, c: Cases, world: World = BASELINE) -> Array:
    """P(agreement | case, approach) in ``world``, persistence integrated out."""
    return with_persistence(agreement_logit(approach, c, world), c)


@cache
def intercept_shift(world: World) -> float:
    """Log-odds added to every approach so that the labelled agreement rate lands on the world's
    ``base_rate`` (0 without one). Solved once, by bisection, on a pilot sample of PILOT_ROWS
    cases drawn from the world itself with a fixed seed: a property of the world, not of a run."""
    if world.base_rate is None:
        return 0.0
    as_is = replace(world, base_rate=None)
    c, _ = _cases(np.random.default_rng(PILOT_SEED), PILOT_ROWS, PILOT_AS_OF, as_is)
    asked = np.choose(
        c["approach_idx"], [agreement_logit(a, c, as_is) for a in range(len(APPROACHES))]
    )
    low, high = -10.0, 10.0
    while high - low > SHIFT_TOLERANCE:
        middle = (low + high) / 2
        if with_persistence(asked + middle, c).mean() < world.base_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


# --- one chunk -----------------------------------------------------------------------------------


def _debtors(rng: np.random.Generator, n: int) -> dict[str, Array]:
    """Debtor-level context for ``n`` debtors."""
    age = rng.choice(len(AGE_BANDS), size=n, p=AGE_P)
    employment = _categorical(rng, EMPLOYMENT_P_BY_AGE[age])
    tier = rng.choice(4, size=n, p=CITY_TIER_P)
    hardship = _categorical(rng, HARDSHIP_P_BY_EMPLOYMENT[employment])
    income = (
        INCOME_MEDIAN[employment]
        * INCOME_TIER[tier]
        * INCOME_AGE[age]
        * np.exp(INCOME_SIGMA[employment] * rng.standard_normal(n))
    )
    for reason, factor in INCOME_AFTER_HARDSHIP.items():
        income = np.where(hardship == HARDSHIPS.index(reason), income * factor, income)
    no_income = (employment == EMPLOYMENT.index("unemployed")) & (
        rng.random(n) < UNEMPLOYED_NO_INCOME_P
    )
    income = np.clip(np.round(np.where(no_income, 0.0, income), -2), 0, 1_000_000)
    dependents = np.minimum(rng.poisson(DEPENDENTS_MEAN_BY_AGE[age]), 15)
    expenses = (
        EXPENSE_BASE_TIER[tier]
        + EXPENSE_PER_DEPENDENT * dependents
        + 0.30 * income * rng.uniform(0.7, 1.3, n)
        + 1500 * (hardship == HARDSHIPS.index("illness"))
    )
    fund = np.where(rng.random(n) < 0.55, 0.0, rng.exponential(1.5, n) * (1 + (income > 10000)))
    extra_lenders_mean = np.ones(n)
    for reason, mean in EXTRA_LENDERS_MEAN.items():
        if reason in HARDSHIPS:
            extra_lenders_mean[hardship == HARDSHIPS.index(reason)] = mean
    extra_lenders_mean[employment == EMPLOYMENT.index("student")] = EXTRA_LENDERS_MEAN["student"]
    weights = np.array([w for *_, w in PROVINCES])
    return {
        "age_idx": age,
        "employment_idx": employment,
        "city_tier": tier + 1,
        "region_idx": rng.choice(len(PROVINCES), size=n, p=weights / weights.sum()),
        "hardship_idx": hardship,
        "monthly_income": income,
        "monthly_essential_expenses": np.clip(np.round(expenses, -2), 0, 1_000_000),
        "dependents": dependents,
        "emergency_fund_months": np.minimum(np.round(fund, 1), 120.0),
        "lenders_in_arrears": np.minimum(1 + rng.poisson(extra_lenders_mean), 100),
    }


def _annuity(principal: Array, annual_rate: Array, months: Array) -> Array:
    r = annual_rate / 12
    return principal * r / (1 - (1 + r) ** -months)


def _debts(rng: np.random.Generator, c: Cases, as_of: dt.date) -> None:
    """The debt, its age and the lender's collection stage (adds to ``c``)."""
    n = len(c["age_idx"])
    young = c["age_idx"] <= 1
    lender = np.where(young, rng.choice(6, n, p=LENDER_P_YOUNG), rng.choice(6, n, p=LENDER_P_OLDER))
    principal = PRINCIPAL_MEDIAN[lender] * (np.maximum(c["monthly_income"], 1500) / 6000) ** 0.4
    principal = np.clip(
        np.round(principal * np.exp(PRINCIPAL_SIGMA[lender] * rng.standard_normal(n)), -2),
        500,
        MAX_PRINCIPAL,
    )
    rate = np.round(rng.uniform(RATE_RANGE[lender, 0], RATE_RANGE[lender, 1]), 4)
    days = DAYS_OVERDUE_MEDIAN * np.exp(DAYS_OVERDUE_SIGMA * rng.standard_normal(n))
    days = np.clip(
        np.round(days * np.where(lender == LENDERS.index("p2p"), P2P_DAYS_FACTOR, 1)), 0, 3650
    ).astype(np.int64)
    left = np.round(principal * rng.uniform(0.35, 1.0, n), 2)
    years = days / 365
    interest = left * rate * years
    penalty = left * rate * PENALTY_RATE_SHARE * years
    cap = np.minimum(1.0, MAX_CHARGES_SHARE * left / np.maximum(interest + penalty, 1e-9))
    interest, penalty = np.round(interest * cap, 2), np.round(penalty * cap, 2)
    balance = left + interest + penalty
    bank = np.isin(lender, [LENDERS.index("bank_credit_card"), LENDERS.index("bank_loan")])
    stage_latent = (
        np.log1p(days)
        + 0.6 * rng.standard_normal(n)
        + 0.3 * bank
        + 0.25 * np.log10(balance / 10_000)
    )
    span = (as_of - FIRST_CONTACT_FROM).days - 1
    first_contact = np.floor(span * rng.random(n) ** 0.7).astype(np.int64)  # more recent cases
    c.update(
        lender_idx=lender,
        principal=principal,
        annual_rate=rate,
        monthly_payment_due=np.round(_annuity(principal, rate, CONTRACT_TERM[lender]), 2),
        days_overdue_at_contact=days,
        principal_left=left,
        penalty=penalty,
        outstanding_balance=np.round(balance, 2),
        stage_idx=np.searchsorted(STAGE_CUTS, stage_latent),
        first_contact_day=first_contact,  # days since FIRST_CONTACT_FROM
    )


def _actions(rng: np.random.Generator, c: Cases, world: World = BASELINE) -> None:
    """What the debtor and counselor chose (adds to ``c``): help, channel, documents, approach.

    The approach is a multinomial logit on the situation; ``world.confounding`` scales the
    case-dependent part of its scores (the intercepts stay) and ``world.overlap_floor`` of the
    choice is uniform."""
    n = len(c["age_idx"])
    log_balance = np.log10(c["outstanding_balance"] / 10_000)
    hardship, lender, stage = c["hardship_idx"], c["lender_idx"], c["stage_idx"]
    sympathetic = np.isin(
        hardship, [HARDSHIPS.index(h) for h in ("illness", "family_emergency", "fraud_victim")]
    )
    online = np.isin(lender, [LENDERS.index("online_platform"), LENDERS.index("consumer_finance")])
    help_idx = _softmax_choice(
        rng,
        np.column_stack(
            [
                np.zeros(n),
                -3.2 + 0.6 * log_balance + 0.8 * (stage >= STAGES.index("lawsuit_filed")),
                -2.4 + 0.5 * sympathetic + 0.3 * (c["monthly_income"] < 3000),
                -2.6 + 0.25 * np.minimum(c["lenders_in_arrears"] - 1, 5) + 0.4 * online,
            ]
        ),
    )
    helped = help_idx > 0
    initiator = np.where(
        helped & (rng.random(n) < 0.6), 2, np.where(rng.random(n) < 0.35 + 0.05 * stage, 1, 0)
    )
    channel = _softmax_choice(
        rng,
        np.column_stack(
            [
                np.zeros(n),
                -0.7 + 0.5 * (c["age_idx"] <= 1) + 0.4 * online,
                -1.9 + 0.6 * (lender == LENDERS.index("bank_loan")),
                -1.6 + 0.8 * helped,
                -2.3 + 1.4 * (help_idx == HELP.index("paid_agent")),
            ]
        ),
    )
    prep = (
        -0.3
        + 0.9 * (help_idx == HELP.index("nonprofit_counselor"))
        + 0.6 * (help_idx == HELP.index("lawyer"))
        + 0.2 * (help_idx == HELP.index("paid_agent"))
        + 0.3 * np.isin(channel, [CHANNELS.index("in_person"), CHANNELS.index("written")])
    )
    employed = c["employment_idx"] == EMPLOYMENT.index("employed")
    no_job = np.isin(
        c["employment_idx"], [EMPLOYMENT.index("unemployed"), EMPLOYMENT.index("student")]
    )
    doc_logit = {
        "doc_loan_contract": prep + 0.2,
        "doc_income_proof": prep - 0.2 + 0.8 * employed - 1.5 * no_job,
        "doc_expense_statement": prep - 0.8,
        "doc_bank_statement": prep - 0.3,
        "doc_medical_report": prep
        - 3.0
        + 3.5 * (hardship == HARDSHIPS.index("illness"))
        + 1.0 * (hardship == HARDSHIPS.index("family_emergency")),
        "doc_household_finances": prep - 1.0,
    }
    for doc, logit in doc_logit.items():
        c[doc] = rng.random(n) < _sigmoid(logit)
    n_docs = sum(c[doc].astype(int) for doc in DOCS)
    c["repayment_plan_prepared"] = rng.random(n) < _sigmoid(prep - 0.6 + 0.25 * n_docs)
    attitude = (
        3.4
        + 0.3 * (help_idx == HELP.index("nonprofit_counselor"))
        - 0.4 * (help_idx == HELP.index("paid_agent"))
        + 0.9 * rng.standard_normal(n)
    )
    c.update(
        help_idx=help_idx,
        initiator_idx=initiator,
        channel_idx=channel,
        attitude_score=np.clip(np.round(attitude), 1, 5).astype(np.int64),
    )

    days, rate = c["days_overdue_at_contact"], c["annual_rate"]
    penalty_share = c["penalty"] / c["outstanding_balance"]
    log_income = np.log(np.maximum(c["monthly_income"], 500) / 5000)
    prepared = c["repayment_plan_prepared"]
    intercept = APPROACH_CHOICE_INTERCEPT
    approach_scores = np.column_stack(
        [
            intercept[0] + 0.8 * employed + 0.3 * log_income + 0.5 * prepared,
            intercept[1]
            - 0.6 * np.log1p(days / 30)
            + 1.0
            * np.isin(
                hardship, [HARDSHIPS.index(h) for h in ("illness", "job_loss", "family_emergency")]
            ),
            intercept[2]
            + 4 * (rate - 0.15)
            + 0.12 * np.minimum(c["lenders_in_arrears"], 6)
            + 0.3 * (lender == LENDERS.index("bank_credit_card")),
            intercept[3] + 3 * penalty_share + 0.2 * (lender == LENDERS.index("small_loan")),
            intercept[4]
            + 0.8 * np.log1p(days / 30)
            + 0.35 * log_balance
            + 0.8 * (stage >= STAGES.index("lawsuit_filed"))
            + 0.6 * (help_idx == HELP.index("lawyer"))
            + 0.6 * (help_idx == HELP.index("paid_agent"))
            + 0.5 * (lender == LENDERS.index("p2p")),
            intercept[5]
            + 0.5 * (c["emergency_fund_months"] > 0.5)
            + 0.2 * log_income
            + 0.5 * prepared,
        ]
    )
    situation = approach_scores - intercept
    scores = approach_scores + (world.confounding - 1.0) * situation  # exact at 1.0
    if world.hidden_confounder:  # drawn only in such a world: the baseline's stream is unchanged
        c[HIDDEN_FIELD] = rng.standard_normal(n)
        scores[:, APPROACH_CODES.index(HIDDEN_CONFOUNDED)] += (
            world.hidden_confounder * c[HIDDEN_FIELD]
        )
    c["choice_situation"] = situation
    c["propensity"] = _choice_probabilities(scores, floor=world.overlap_floor)
    c["approach_idx"] = _categorical(rng, c["propensity"])


def _outcomes(rng: np.random.Generator, c: Cases, as_of: dt.date, world: World) -> Array:
    """Draw the negotiation and its follow-up (adds to ``c``); returns the true P per approach."""
    n = len(c["age_idx"])
    logits = [agreement_logit(a, c, world) for a in range(len(APPROACHES))]
    truth = np.column_stack([with_persistence(logit, c) for logit in logits])
    asked = c["approach_idx"]
    rounds = 1 + np.minimum(rng.poisson(rounds_mean_extra(c)), ROUNDS_MAX_EXTRA)
    logit = np.choose(asked, logits)
    agreed = rng.random(n) < _sigmoid(logit + EFFECT["persistence_per_log_round"] * np.log(rounds))

    duration = 2 + np.round(
        rng.gamma(
            2.0,
            18
            + 10
            * np.isin(
                c["channel_idx"], [CHANNELS.index("written"), CHANNELS.index("regulator_complaint")]
            ),
        )
    )
    closed_day = c["first_contact_day"] + duration.astype(np.int64)
    as_of_day = (as_of - FIRST_CONTACT_FROM).days
    pending = closed_day > as_of_day

    n_docs = sum(c[doc].astype(int) for doc in DOCS)
    as_requested = rng.random(n) < _sigmoid(
        AS_REQUESTED_BASE[asked] + 0.3 * c["repayment_plan_prepared"] + 0.1 * n_docs
    )
    fallback = np.array([APPROACH_CODES.index(FALLBACK[a]) for a in APPROACH_CODES])
    granted = np.where(as_requested | (rng.random(n) < 0.5), asked, fallback[asked])
    plans = [proposed_plan(a, c) for a in range(len(APPROACHES))]
    g_term = np.choose(granted, [p.term for p in plans])
    g_payment = np.choose(granted, [p.payment for p in plans])
    stretched = ~as_requested & (granted == asked) & (g_term > 0)
    g_term = np.where(stretched, np.minimum(np.ceil(g_term * 1.25), 120), g_term)
    g_payment = np.where(stretched, g_payment / 1.25, g_payment)
    g_code = np.array(APPROACH_CODES)[granted]
    interest_waived = np.isin(g_code, ["stop_interest_installment", "principal_discount"])
    penalty_waived = interest_waived | (g_code == "penalty_waiver") | (rng.random(n) < 0.3)
    balance, left = c["outstanding_balance"], c["principal_left"]
    relief = np.select(
        [g_code == "principal_discount", g_code == "stop_interest_installment"],
        [balance - np.round(DISCOUNT_LUMP_SHARE * left, 2), balance - left],
        np.where(penalty_waived, c["penalty"], 0.0),
    )

    followup = np.minimum((as_of_day - closed_day) // 30, MAX_FOLLOWUP_MONTHS)
    help_idx = c["help_idx"]
    hazard = REDEFAULT_MONTHLY_HAZARD * np.exp(
        2.0 * payment_to_income(g_payment, c["monthly_income"])
    )
    hazard = hazard * np.where(
        help_idx == HELP.index("paid_agent"), REDEFAULT_FACTORS["paid_agent"], 1.0
    )
    hazard = hazard * np.where(
        help_idx == HELP.index("nonprofit_counselor"), REDEFAULT_FACTORS["nonprofit_counselor"], 1.0
    )
    hazard = hazard * np.where(
        c["hardship_idx"] == HARDSHIPS.index("over_indebtedness"),
        REDEFAULT_FACTORS["over_indebtedness"],
        1.0,
    )
    hazard = hazard * np.where(
        c["repayment_plan_prepared"], REDEFAULT_FACTORS["repayment_plan_prepared"], 1.0
    )
    redefault_month = rng.geometric(np.clip(hazard, 1e-6, 0.5))
    plan_months = np.maximum(g_term, 1)
    broken = redefault_month <= np.minimum(followup, plan_months)
    status = np.where(broken, "broken", np.where(plan_months <= followup, "completed", "on_track"))

    escalated = rng.random(n) < _sigmoid(
        -2.0 + 0.6 * (c["stage_idx"] >= STAGES.index("lawyer_letter"))
    )
    outcome = np.where(
        agreed,
        np.where(as_requested, "agreed_as_requested", "agreed_modified"),
        np.where(escalated, "escalated", "refused"),
    )
    outcome = np.where(pending, "pending", outcome)
    done = ~pending & agreed
    c.update(
        rounds=rounds,
        pending=pending,
        agreed_done=done,
        outcome=outcome,
        closed_day=closed_day,
        granted=g_code,
        granted_term=g_term,
        granted_payment=np.round(g_payment, 2),
        interest_waived=interest_waived,
        penalty_waived=penalty_waived,
        relief=np.round(relief, 2),
        plan_status=status,
        followup=followup,
        redefault_month=redefault_month,
        complaint=rng.random(n)
        < 0.04 + 0.5 * (c["channel_idx"] == CHANNELS.index("regulator_complaint")),
    )
    return truth


def _where(keep: Array, values: Array) -> pl.Series:
    """``values`` where ``keep``, null elsewhere."""
    return pl.Series(pa.array(values, mask=~keep))


def _days_to_date(days: Array) -> pl.Series:
    epoch = (FIRST_CONTACT_FROM - dt.date(1970, 1, 1)).days
    return pl.Series(days + epoch, dtype=pl.Int32).cast(pl.Date)


def _frame(
    rng: np.random.Generator,
    c: Cases,
    ids: list[str],
    debtor_refs: list[str],
    as_of: dt.date,
    world: World,
) -> pl.DataFrame:
    """The case records in contract order and types, with optional fields sometimes empty
    (each at its MISSING_P rate, or at ``world.missing`` when the world sets one)."""
    n = len(ids)
    plan = {
        k: np.choose(
            c["approach_idx"], [getattr(proposed_plan(a, c), k) for a in range(len(APPROACHES))]
        )
        for k in ("term", "payment", "upfront")
    }
    done, pending = c["agreed_done"], c["pending"]
    first_contact = _days_to_date(c["first_contact_day"])
    closed = _days_to_date(c["closed_day"])
    followup_end = np.minimum(
        c["closed_day"] + 30 * np.maximum(c["followup"], 0), (as_of - FIRST_CONTACT_FROM).days
    )
    written_day = np.where(
        pending,
        c["first_contact_day"]
        + rng.integers(
            0, np.maximum((as_of - FIRST_CONTACT_FROM).days - c["first_contact_day"], 1)
        ),
        followup_end,
    )
    written_at = pl.Series(_days_to_date(written_day)).cast(pl.Datetime("us")) + pl.Series(
        rng.integers(8 * 3600, 20 * 3600, n) * 1_000_000, dtype=pl.Duration("us")
    )
    applicable = ~pending & ~done & (rng.random(n) < 0.5)  # half write not_applicable
    broken = done & (c["plan_status"] == "broken")
    columns: dict[str, Any] = {
        "case_id": ids,
        "debtor_ref": debtor_refs,
        "record_updated_at": written_at,
        "overdue_since": _days_to_date(c["first_contact_day"] - c["days_overdue_at_contact"]),
        "first_contact_on": first_contact,
        "closed_on": _where(~pending, closed.to_numpy()),
        "age_band": np.array(AGE_BANDS)[c["age_idx"]],
        "region": np.array([zh for zh, *_ in PROVINCES])[c["region_idx"]],
        "city_tier": c["city_tier"],
        "employment": np.array(EMPLOYMENT)[c["employment_idx"]],
        "monthly_income": c["monthly_income"],
        "monthly_essential_expenses": c["monthly_essential_expenses"],
        "dependents": c["dependents"],
        "emergency_fund_months": c["emergency_fund_months"],
        "lenders_in_arrears": c["lenders_in_arrears"],
        "hardship_reason": np.array(HARDSHIPS)[c["hardship_idx"]],
        "lender_type": np.array(LENDERS)[c["lender_idx"]],
        "principal": c["principal"],
        "outstanding_balance": c["outstanding_balance"],
        "penalty_accrued": c["penalty"],
        "annual_rate": c["annual_rate"],
        "monthly_payment_due": c["monthly_payment_due"],
        "days_overdue_at_contact": c["days_overdue_at_contact"],
        "collection_stage": np.array(STAGES)[c["stage_idx"]],
        "contact_initiated_by": np.array(list(FIELD_BY_NAME["contact_initiated_by"].values))[
            c["initiator_idx"]
        ],
        "channel": np.array(CHANNELS)[c["channel_idx"]],
        "approach": np.array(APPROACH_CODES)[c["approach_idx"]],
        "proposed_term_months": plan["term"],
        "proposed_monthly_payment": np.round(plan["payment"], 2),
        "upfront_payment": plan["upfront"],
        "repayment_plan_prepared": c["repayment_plan_prepared"],
        **{doc: c[doc] for doc in DOCS},
        "professional_help": np.array(HELP)[c["help_idx"]],
        "attitude_score": c["attitude_score"],
        "days_to_first_contact": c["days_overdue_at_contact"],
        "negotiation_rounds": c["rounds"],
        "complaint_filed": c["complaint"],
        "outcome": c["outcome"],
        "granted_approach": _where(done, c["granted"]),
        "granted_term_months": _where(done, c["granted_term"]),
        "granted_monthly_payment": _where(done, c["granted_payment"]),
        "interest_waived": _where(done, c["interest_waived"]),
        "penalty_waived": _where(done, c["penalty_waived"]),
        "relief_amount": _where(done, c["relief"]),
        "plan_status": _where(
            done | applicable, np.where(done, c["plan_status"], "not_applicable")
        ),
        "followup_months": _where(done, c["followup"]),
        "months_to_redefault": _where(broken, c["redefault_month"]),
    }
    frame = pl.DataFrame(columns, strict=False)
    rates = MISSING_P if world.missing is None else dict.fromkeys(MISSING_P, world.missing)
    missing = {name: rng.random(n) < p for name, p in rates.items()}
    frame = frame.with_columns(
        pl.when(pl.Series(mask)).then(None).otherwise(pl.col(name)).alias(name)
        for name, mask in missing.items()
    )
    return frame.select(pl.col(f.name).cast(f.dtype) for f in contract.FIELDS)


@dataclass(frozen=True)
class Chunk:
    """One chunk of simulated cases and the true agreement probabilities under each approach."""

    cases: pl.DataFrame
    truth: pl.DataFrame  # case_id, approach, labelled, p_<approach>, propensity_<approach>


def _cases(
    rng: np.random.Generator, rows: int, as_of: dt.date, world: World
) -> tuple[Cases, Array]:
    """``rows`` cases up to the approach asked for, and the debtor (0..rows-1) of each case."""
    debtors = _debtors(rng, rows)
    per_debtor = np.minimum(
        rng.choice(3, size=rows, p=CASES_PER_DEBTOR_P) + 1, debtors["lenders_in_arrears"]
    )
    debtor_of_case = np.repeat(np.arange(rows), per_debtor)[:rows]
    c = {name: values[debtor_of_case] for name, values in debtors.items()}
    _debts(rng, c, as_of)
    _actions(rng, c, world)
    return c, debtor_of_case


def simulate_chunk(
    seed: int, index: int, rows: int, as_of: dt.date, world: World = BASELINE
) -> Chunk:
    """Chunk ``index`` of a run in ``world``: ``rows`` cases, reproducible from ``(seed, index)``
    alone."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    c, debtor_of_case = _cases(rng, rows, as_of, world)
    truth = _outcomes(rng, c, as_of, world)
    start = index * CHUNK_ROWS
    # a letter between the seed and the number keeps digit runs short: C1352908-0000a00 would
    # read as the mobile-shaped 1352908-0000 (pii.find_pii joins digit groups in any grouping)
    ids = [f"C{seed:x}-N{start + i:07x}" for i in range(rows)]
    refs = [f"D{seed:x}-N{start + d:07x}" for d in debtor_of_case]
    cases = _frame(rng, c, ids, refs, as_of, world)
    truth_frame = pl.DataFrame(
        {
            "case_id": ids,
            "approach": cases["approach"],
            "labelled": ~c["pending"],
            **{f"p_{code}": truth[:, a] for a, code in enumerate(APPROACH_CODES)},
            **{
                f"propensity_{code}": c["propensity"][:, a] for a, code in enumerate(APPROACH_CODES)
            },
        }
    )
    return Chunk(cases, truth_frame)


def simulate_chunks(
    rows: int, seed: int, as_of: dt.date, world: World = BASELINE
) -> Iterator[Chunk]:
    """All chunks of a run of ``rows`` cases in ``world``, in order."""
    for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
        yield simulate_chunk(seed, index, min(CHUNK_ROWS, rows - start), as_of, world)


def simulate_cases(rows: int, seed: int, as_of: dt.date, world: World = BASELINE) -> Chunk:
    """A whole (small) run of ``world`` in memory: the cases and their truth."""
    chunks = list(simulate_chunks(rows, seed, as_of, world))
    return Chunk(pl.concat([c.cases for c in chunks]), pl.concat([c.truth for c in chunks]))


# --- ground truth over the population and subgroups ----------------------------------------------


class TruthTally:
    """Running sums of the true and observed agreement rates, chunk by chunk."""

    def __init__(self) -> None:
        self._parts: list[pl.DataFrame] = []

    def add(self, chunk: Chunk) -> None:
        """Count one chunk."""
        frame = pl.concat(
            [
                chunk.cases.select(
                    "lender_type",
                    "days_overdue_at_contact",
                    "hardship_reason",
                    "collection_stage",
                    "approach",
                    pl.col("outcome").is_in(contract.AGREED).alias("agreed"),
                ),
                chunk.truth.select("labelled", pl.col("^p_.*$")),
            ],
            how="horizontal",
        )
        groups = {"population": pl.lit(True), **subgroups()}
        p_cols = [f"p_{code}" for code in APPROACH_CODES]
        sums = [
            frame.filter(expr)
            .group_by("labelled")
            .agg(
                pl.len().alias("n"),
                *[pl.col(p).sum() for p in p_cols],
                *[(pl.col("approach") == a).sum().alias(f"asked_{a}") for a in APPROACH_CODES],
                *[
                    ((pl.col("approach") == a) & pl.col("agreed")).sum().alias(f"agreed_{a}")
                    for a in APPROACH_CODES
                ],
            )
            .with_columns(pl.lit(key).alias("group"))
            for key, expr in groups.items()
        ]
        self._parts.append(pl.concat(sums))

    def summary(self) -> dict[str, Any]:
        """True rates over labelled cases and over all cases, and the naive observed rates."""
        totals = pl.concat(self._parts).group_by("group", "labelled").sum()

        def rates(labelled_only: bool) -> dict[str, dict[str, Any]]:
            part = totals.filter(pl.col("labelled")) if labelled_only else totals
            part = part.group_by("group").sum()
            out = {}
            for row in part.iter_rows(named=True):
                out[row["group"]] = {
                    "n": row["n"],
                    **{
                        a: round(row[f"p_{a}"] / row["n"], 6) if row["n"] else None
                        for a in APPROACH_CODES
                    },
                }
            return out

        labelled, everyone = rates(True), rates(False)
        observed: dict[str, dict[str, float | int | None]] = {}
        for row in totals.filter(pl.col("labelled") & (pl.col("group") == "population")).iter_rows(
            named=True
        ):
            observed = {
                a: {
                    "rate": round(row[f"agreed_{a}"] / row[f"asked_{a}"], 6)
                    if row[f"asked_{a}"]
                    else None,
                    "n": row[f"asked_{a}"],
                }
                for a in APPROACH_CODES
            }
        order = ["population", *subgroups()]
        return {
            "estimand": "mean over cases of the true P(agreement) had every case asked for the "
            "approach, everything else as it was",
            "labelled": {
                "population": labelled.pop("population"),
                "subgroups": {k: labelled[k] for k in order if k in labelled},
            },
            "all_cases": {
                "population": everyone.pop("population"),
                "subgroups": {k: everyone[k] for k in order if k in everyone},
            },
            "observed_labelled": observed,
        }


# --- writing -------------------------------------------------------------------------------------


class OutputFormat(StrEnum):
    """File formats the simulator writes."""

    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"

    @classmethod
    def from_path(cls, path: Path) -> OutputFormat:
        """The format a file name implies."""
        suffix = path.suffix.lower().lstrip(".")
        if suffix == "ndjson":
            return cls.JSONL
        try:
            return cls(suffix)
        except ValueError:
            raise ValueError(
                f"cannot tell the format of {path.name}: use .csv, .parquet or "
                ".jsonl, or give --format"
            ) from None


def chinese_export(cases: pl.DataFrame) -> pl.DataFrame:
    """Cases as a counselor's Excel export writes them: Chinese headers and values."""
    exprs = []
    for f in contract.FIELDS:
        col = pl.col(f.name)
        if f.values:
            col = col.replace_strict(f.values, return_dtype=pl.String)
        elif f.kind is Kind.BOOL:
            col = pl.when(col).then(pl.lit("是")).when(~col).then(pl.lit("否"))
        elif f.kind is Kind.DATE:
            col = col.dt.strftime("%Y/%-m/%-d")
        elif f.name == "annual_rate":
            col = pl.format("{}%", (col * 100).round(2))
        exprs.append(col.alias(f.zh))
    return cases.select(exprs)


class _CaseWriter:
    """Appends chunks to one file in the chosen format and encoding."""

    def __init__(self, path: Path, fmt: OutputFormat, encoding: str) -> None:
        self.path, self.fmt, self.encoding = path, fmt, encoding
        self._parquet: pq.ParquetWriter | None = None
        self._text: TextIO | None = None
        self._first = True

    def write(self, frame: pl.DataFrame) -> None:
        if self.fmt is OutputFormat.PARQUET:
            table = frame.to_arrow()
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            self._parquet.write_table(table)
            return
        if self._text is None:
            self._text = self.path.open("w", encoding=self.encoding, newline="")
        if self.fmt is OutputFormat.CSV:
            text = frame.write_csv(include_header=self._first, datetime_format="%Y-%m-%d %H:%M:%S")
        else:
            text = frame.with_columns(
                pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S"),
                pl.col(pl.Date).dt.strftime("%Y-%m-%d"),
            ).write_ndjson()
        self._text.write(text)
        self._first = False

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._text is not None:
            self._text.close()


def generator_record(world: World) -> dict[str, Any]:
    """What generated a truth summary: GENERATOR_VERSION for the baseline (today's form), else
    ``sim-1+<world>`` and the world's knobs."""
    if world == BASELINE:
        return {"generator": GENERATOR_VERSION}
    record: dict[str, Any] = {
        "generator": f"{GENERATOR_VERSION}+{world.name}",
        "world": {"name": world.name, "knobs": world.knobs(), "held_out": world.held_out},
    }
    if world.hidden_confounder:
        record["hidden_confounder"] = {
            "field": HIDDEN_FIELD,
            "drives": ["agreement", f"approach={HIDDEN_CONFOUNDED}"],
            "biases": {"treatment": "approach", "level": HIDDEN_CONFOUNDED, "direction": "up"},
        }
    return record


@dataclass(frozen=True)
class SimulationResult:
    """What ``write_simulation`` wrote."""

    rows: int
    cases_path: Path
    truth_cases_path: Path
    truth_summary_path: Path


def truth_paths(cases_path: Path) -> tuple[Path, Path]:
    """Where the ground truth of a simulated file lives: per case (Parquet) and summary (JSON)."""
    stem = cases_path.name.split(".")[0]
    return (
        cases_path.with_name(f"{stem}.truth.parquet"),
        cases_path.with_name(f"{stem}.truth.json"),
    )


def is_simulated_file(cases_path: Path) -> bool:
    """Whether ``cases_path`` was written by the simulator: its ground-truth summary lies beside
    it and names it (``write_simulation`` always writes one)."""
    summary = truth_paths(cases_path)[1]
    try:
        written = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(written, dict) and written.get("cases_file") == cases_path.name


def write_simulation(
    out: Path,
    *,
    rows: int,
    seed: int,
    as_of: dt.date,
    fmt: OutputFormat | None = None,
    chinese: bool = False,
    encoding: str = "utf-8",
    world: World = BASELINE,
) -> SimulationResult:
    """Simulate ``rows`` cases of ``world`` into ``out`` chunk by chunk, with the ground truth
    beside it."""
    fmt = fmt or OutputFormat.from_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    truth_cases_path, truth_summary_path = truth_paths(out)
    writer = _CaseWriter(out, fmt, encoding)
    truth_writer: pq.ParquetWriter | None = None
    tally = TruthTally()
    try:
        for chunk in simulate_chunks(rows, seed, as_of, world):
            writer.write(chinese_export(chunk.cases) if chinese else chunk.cases)
            truth = chunk.truth.to_arrow()
            if truth_writer is None:
                truth_writer = pq.ParquetWriter(truth_cases_path, truth.schema, compression="zstd")
            truth_writer.write_table(truth)
            tally.add(chunk)
    finally:
        writer.close()
        if truth_writer is not None:
            truth_writer.close()
    summary = {
        **generator_record(world),
        "seed": seed,
        "rows": rows,
        "as_of": as_of.isoformat(),
        "cases_file": out.name,
        **tally.summary(),
    }
    truth_summary_path.write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return SimulationResult(rows, out, truth_cases_path, truth_summary_path)


__all__ = [
    "BASELINE",
    "FIELD_NAMES",
    "OVERLAP_FLOOR",
    "WORLDS",
    "Chunk",
    "OutputFormat",
    "SimulationResult",
    "World",
    "is_simulated_file",
    "simulate_cases",
    "simulate_chunks",
    "truth_paths",
    "write_simulation",
]
