"""Model features from case records: polars expressions, leakage-safe by construction.

Every feature declares the contract fields it is computed from; only ``context`` and ``action``
fields (and, for the debtor's history, outcomes of *earlier, already closed* cases) may feed a
model that advises counselors. ``FEATURES`` is the single list models read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import polars as pl

from overdue.contract import AGREED, DOCUMENT_FIELDS, FIELD_BY_NAME, PENDING, Role

FEATURE_SET_VERSION: Final = "fs-1"

DOCS: Final = DOCUMENT_FIELDS
OVERDUE_BAND_EDGES: Final = (30, 90, 180, 365)
OVERDUE_BAND_LABELS: Final = ("<30", "30-89", "90-179", "180-364", "365+")
EARLY_CONTACT_DAYS: Final = 30


class Encoding(StrEnum):
    """How a model reads a feature: as a number or as one of a few categories.

    Not the contract's ``Kind`` (the value type of a stored field): many features are
    computed from several fields.
    """

    NUMBER = "number"
    CATEGORY = "category"


@dataclass(frozen=True)
class Feature:
    """One model input: its expression, its encoding and the contract fields it derives from."""

    name: str
    encoding: Encoding
    sources: tuple[str, ...]
    expr: pl.Expr
    levels: tuple[str, ...] = ()

    @property
    def roles(self) -> set[Role]:
        """Roles of the contract fields this feature is computed from."""
        return {FIELD_BY_NAME[s].role for s in self.sources}


def _income() -> pl.Expr:
    return pl.col("monthly_income").replace(0, None)


def debt_to_income() -> pl.Expr:
    """Outstanding balance in years of income; null without income."""
    return pl.col("outstanding_balance") / (12 * _income())


def repayment_budget() -> pl.Expr:
    """What a debtor can put toward debts each month: income left after essentials, at least
    15% of income or 200 CNY (a plan is never written for nothing)."""
    income = pl.col("monthly_income")
    return pl.max_horizontal(
        income - pl.col("monthly_essential_expenses"), 0.15 * income, pl.lit(200.0)
    )


def months_to_clear() -> pl.Expr:
    """Months of the repayment budget that the outstanding balance amounts to."""
    return pl.col("outstanding_balance") / repayment_budget()


def savings_to_balance() -> pl.Expr:
    """Savings (months of living costs x essential expenses) as a share of the balance."""
    return (
        pl.col("emergency_fund_months")
        * pl.col("monthly_essential_expenses")
        / pl.col("outstanding_balance")
    )


def days_to_first_contact() -> pl.Expr:
    """Days from the first missed payment to first contact (from the dates when not given)."""
    return pl.coalesce(
        pl.col("days_to_first_contact"),
        (pl.col("first_contact_on") - pl.col("overdue_since")).dt.total_days(),
    ).cast(pl.Float64)


def documents_count() -> pl.Expr:
    """How many of the six kinds of document the debtor brought."""
    return pl.sum_horizontal(pl.col(d).cast(pl.Int8) for d in DOCS).cast(pl.Float64)


def overdue_band() -> pl.Expr:
    """Days overdue at first contact in bands (<30, 30-89, 90-179, 180-364, 365+)."""
    days = pl.col("days_overdue_at_contact")
    band: pl.Expr = pl.lit(OVERDUE_BAND_LABELS[-1])
    bands = zip(OVERDUE_BAND_EDGES, OVERDUE_BAND_LABELS[:-1], strict=True)
    for edge, label in reversed(list(bands)):  # innermost is the last band
        band = pl.when(days < edge).then(pl.lit(label)).otherwise(band)
    return band


def _stage_rank() -> pl.Expr:
    stages = list(FIELD_BY_NAME["collection_stage"].values)
    return pl.col("collection_stage").replace_strict(
        {s: float(i) for i, s in enumerate(stages)}, default=None, return_dtype=pl.Float64
    )


def _num(name: str, expr: pl.Expr, *sources: str) -> Feature:
    return Feature(name, Encoding.NUMBER, sources or (name,), expr.cast(pl.Float64))


def _cat(name: str) -> Feature:
    levels = tuple(FIELD_BY_NAME[name].values)
    return Feature(name, Encoding.CATEGORY, (name,), pl.col(name), levels)


def _flag(name: str) -> Feature:
    return _num(name, pl.col(name).cast(pl.Float64))


CONTEXT_FEATURES: Final[tuple[Feature, ...]] = (
    _cat("age_band"),
    _cat("employment"),
    _num("city_tier", pl.col("city_tier")),
    _num("monthly_income", pl.col("monthly_income")),
    _num("monthly_essential_expenses", pl.col("monthly_essential_expenses")),
    _num(
        "disposable_income",
        pl.col("monthly_income") - pl.col("monthly_essential_expenses"),
        "monthly_income",
        "monthly_essential_expenses",
    ),
    _num(
        "months_to_clear",
        months_to_clear(),
        "outstanding_balance",
        "monthly_income",
        "monthly_essential_expenses",
    ),
    _num(
        "savings_to_balance",
        savings_to_balance(),
        "emergency_fund_months",
        "monthly_essential_expenses",
        "outstanding_balance",
    ),
    _num("dependents", pl.col("dependents")),
    _num("emergency_fund_months", pl.col("emergency_fund_months")),
    _num("lenders_in_arrears", pl.col("lenders_in_arrears")),
    _cat("hardship_reason"),
    _cat("lender_type"),
    _num("principal", pl.col("principal")),
    _num("outstanding_balance", pl.col("outstanding_balance")),
    _num("debt_to_income", debt_to_income(), "outstanding_balance", "monthly_income"),
    _num(
        "balance_to_principal",
        pl.col("outstanding_balance") / pl.col("principal"),
        "outstanding_balance",
        "principal",
    ),
    _num(
        "penalty_share",
        pl.col("penalty_accrued") / pl.col("outstanding_balance"),
        "penalty_accrued",
        "outstanding_balance",
    ),
    _num("annual_rate", pl.col("annual_rate")),
    _num(
        "payment_due_to_income",
        pl.col("monthly_payment_due") / _income(),
        "monthly_payment_due",
        "monthly_income",
    ),
    _num("days_overdue_at_contact", pl.col("days_overdue_at_contact")),
    Feature(
        "overdue_band",
        Encoding.CATEGORY,
        ("days_overdue_at_contact",),
        overdue_band(),
        OVERDUE_BAND_LABELS,
    ),
    _num("collection_stage_rank", _stage_rank(), "collection_stage"),
)
"""What is known about the debtor and the debt before the negotiation starts."""

HELP: Final = (_cat("professional_help"),)
CONTACT: Final = (_cat("contact_initiated_by"), _cat("channel"))
DOCUMENTS: Final = (
    *(_flag(d) for d in DOCS),
    _num("documents_count", documents_count(), *DOCS),
)
PLAN: Final = (_flag("repayment_plan_prepared"),)
ATTITUDE: Final = (_num("attitude_score", pl.col("attitude_score")),)
TIMING: Final = (
    _num(
        "days_to_first_contact",
        days_to_first_contact(),
        "days_to_first_contact",
        "first_contact_on",
        "overdue_since",
    ),
)
APPROACH: Final = (_cat("approach"),)
HISTORY: Final = (
    _num("prior_cases", pl.col("prior_cases"), "debtor_ref", "first_contact_on"),
    _num(
        "prior_agreements",
        pl.col("prior_agreements"),
        "debtor_ref",
        "first_contact_on",
        "closed_on",
        "outcome",
    ),
)
"""The debtor's earlier cases: only cases that started before this one, and of those only
agreements already closed when this one started."""

PREPARATION: Final = HELP + CONTACT + DOCUMENTS + PLAN + ATTITUDE + TIMING
"""The debtor's and counselor's choices besides the approach, in the order they are made."""

FEATURES: Final[tuple[Feature, ...]] = CONTEXT_FEATURES + HISTORY + PREPARATION + APPROACH
FEATURE_BY_NAME: Final = {f.name: f for f in FEATURES}

PLAN_TERMS_LEFT_OUT: Final = ("proposed_term_months", "proposed_monthly_payment", "upfront_payment")
"""Plan terms follow from the approach asked for (contract): holding them at the values written
for one approach while asking "what if another approach" would be wrong, so no advising model
reads them. The approach and the debtor's budget (income, expenses, balance) stand in for them."""


def debtor_history(cases: pl.LazyFrame) -> pl.LazyFrame:
    """``prior_cases`` and ``prior_agreements`` of each case's debtor, from earlier cases only."""
    keyed = cases.select("case_id", "debtor_ref", "first_contact_on")
    earlier = cases.select(
        pl.col("debtor_ref"),
        pl.col("first_contact_on").alias("earlier_start"),
        pl.col("closed_on").alias("earlier_closed"),
        pl.col("outcome").is_in(AGREED).alias("earlier_agreed"),
    ).filter(pl.col("debtor_ref").is_not_null())
    counts = (
        keyed.filter(pl.col("debtor_ref").is_not_null())
        .join(earlier, on="debtor_ref")
        .filter(pl.col("earlier_start") < pl.col("first_contact_on"))
        .group_by("case_id")
        .agg(
            pl.len().cast(pl.Float64).alias("prior_cases"),
            (pl.col("earlier_agreed") & (pl.col("earlier_closed") < pl.col("first_contact_on")))
            .sum()
            .cast(pl.Float64)
            .alias("prior_agreements"),
        )
    )
    return (
        keyed.select("case_id")
        .join(counts, on="case_id", how="left", maintain_order="left")
        .select(
            "case_id",
            pl.col("prior_cases").fill_null(0.0),
            pl.col("prior_agreements").fill_null(0.0),
        )
    )


# --- outcomes ------------------------------------------------------------------------------------


def labelled() -> pl.Expr:
    """A case has a result (pending cases are not yet labelled)."""
    return pl.col("outcome") != PENDING


def agreement() -> pl.Expr:
    """1 when an agreement was reached; null while pending."""
    return pl.when(labelled()).then(pl.col("outcome").is_in(AGREED).cast(pl.Float64))


def granted_as_asked() -> pl.Expr:
    """1 when the lender agreed to exactly what was asked; null while pending."""
    return pl.when(labelled()).then((pl.col("outcome") == "agreed_as_requested").cast(pl.Float64))


def sustained(months: int) -> pl.Expr:
    """1 when agreed and not broken within ``months``; 0 when not agreed or broken by then;
    null while pending or when censored (followed for fewer months, not broken, not finished)."""
    agreed = pl.col("outcome").is_in(AGREED)
    broken_by_then = (pl.col("plan_status") == "broken") & (pl.col("months_to_redefault") <= months)
    observed = (pl.col("plan_status") == "completed") | (pl.col("followup_months") >= months)
    return (
        pl.when(~labelled())
        .then(None)
        .when(~agreed | broken_by_then.fill_null(False))
        .then(0.0)
        .when(observed.fill_null(False) & pl.col("plan_status").is_not_null())
        .then(1.0)
        .otherwise(None)
    )


LABELS: Final = {
    "agreement": agreement(),
    "granted_as_asked": granted_as_asked(),
    "sustained_6": sustained(6),
    "sustained_12": sustained(12),
}
"""Outcome labels, stored as ``y_<name>``; never model inputs."""


def build_features(cases: pl.LazyFrame) -> pl.LazyFrame:
    """One row per case: ids, time keys, every feature and every label (``y_*``)."""
    history = debtor_history(cases)
    return (
        cases.join(history, on="case_id", how="left", maintain_order="left")
        .select(
            "case_id",
            "first_contact_on",
            "collection_stage",  # carried for subgroups (segments), not a feature
            *(f.expr.alias(f.name) for f in FEATURES),
            *(expr.alias(f"y_{name}") for name, expr in LABELS.items()),
        )
        .with_columns(pl.lit(FEATURE_SET_VERSION).alias("feature_set_version"))
    )
