"""Per-case estimates: P(agreement) under each approach, with intervals, support and drivers."""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from overdue.contract import APPROACHES
from overdue.features import DOCS, FEATURE_BY_NAME, Encoding, build_features
from overdue.i18n import NOTE
from overdue.models.registry import Bundle
from overdue.models.train import OutcomeModel

THIN_DATA: Final = 30
"""Fewer similar past cases than this that asked for an approach: the estimate leans on the model
more than on data like this case, and is flagged."""
DRIVER_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "documents": (*DOCS, "documents_count"),
    "written_plan": ("repayment_plan_prepared",),
    "contact_timing": ("days_to_first_contact",),
    "professional_help": ("professional_help",),
    "channel": ("channel", "contact_initiated_by"),
    "attitude": ("attitude_score",),
    "days_overdue": ("days_overdue_at_contact", "overdue_band", "collection_stage_rank"),
    "debt_burden": (
        "principal",
        "outstanding_balance",
        "debt_to_income",
        "months_to_clear",
        "balance_to_principal",
        "penalty_share",
        "savings_to_balance",
    ),
    "income": (
        "monthly_income",
        "monthly_essential_expenses",
        "disposable_income",
        "payment_due_to_income",
        "emergency_fund_months",
        "dependents",
    ),
    "hardship": ("hardship_reason",),
    "lender": ("lender_type", "annual_rate"),
    "other_debts": ("lenders_in_arrears", "prior_cases", "prior_agreements"),
}
"""Groups of features whose joint effect is reported as one driver."""
TOP_DRIVERS: Final = 3
SIMILAR_KEYS: Final = ("lender_type", "overdue_band", "approach")


def reference_values(features: pl.DataFrame) -> dict[str, Any]:
    """A typical case: the median of each number and the most common value of each category."""
    reference: dict[str, Any] = {}
    for group in DRIVER_GROUPS.values():
        for name in group:
            column = features[name]
            if FEATURE_BY_NAME[name].encoding is Encoding.CATEGORY:
                reference[name] = column.drop_nulls().mode().sort().first()
            else:
                reference[name] = column.median()
    return reference


def similar_case_counts(features: pl.DataFrame) -> dict[str, int]:
    """Labelled past cases per lender type x overdue band x approach (aggregates only)."""
    counts = features.group_by(SIMILAR_KEYS).len()
    return {"|".join(str(v) for v in row[:-1]): int(row[-1]) for row in counts.iter_rows()}


def shown_count(n: int, k: int) -> int | str:
    """A count as it may be published: ``"<k"`` below the privacy threshold."""
    return n if n >= k else f"<{k}"


def _with_approach(frame: pl.DataFrame, code: str) -> pl.DataFrame:
    return frame.with_columns(pl.lit(code).alias("approach"))


def approach_estimates(model: OutcomeModel, features: pl.DataFrame) -> pl.DataFrame:
    """``case_id`` and ``p_<approach>``, ``p_<approach>_low``, ``p_<approach>_high`` per row."""
    columns: dict[str, Any] = {"case_id": features["case_id"]}
    for code in APPROACHES:
        p, low, high = model.predict_with_interval(_with_approach(features, code))
        columns |= {f"p_{code}": p, f"p_{code}_low": low, f"p_{code}_high": high}
    return pl.DataFrame(columns)


def drivers(
    model: OutcomeModel, features: pl.DataFrame, reference: dict[str, Any]
) -> list[dict[str, Any]]:
    """The feature groups that move this case's chance most, against a typical case."""
    row = features.head(1)
    variants = [row] + [
        row.with_columns(
            pl.lit(reference[name], dtype=row.schema[name]).alias(name) for name in group
        )
        for group in DRIVER_GROUPS.values()
    ]
    p = model.predict(pl.concat(variants))
    changes = {name: float(p[0] - p[i + 1]) for i, name in enumerate(DRIVER_GROUPS)}
    top = sorted(changes.items(), key=lambda item: -abs(item[1]))[:TOP_DRIVERS]
    return [{"driver": name, "change": round(change, 4)} for name, change in top]


def case_features(cases: pl.DataFrame) -> pl.DataFrame:
    """Features of cases entered for advice (no history in the warehouse: none assumed)."""
    return build_features(cases.lazy()).collect()


def estimate_case(bundle: Bundle, cases: pl.DataFrame, k: int) -> dict[str, Any]:
    """Everything a counselor sees for one case (the first row of ``cases``)."""
    features = case_features(cases.head(1))
    model = bundle.model
    table = approach_estimates(model, features).row(0, named=True)
    planned = features["approach"][0]
    counts: dict[str, int] = model.extra.get("similar_cases", {})
    lender, band = features["lender_type"][0], features["overdue_band"][0]
    rows = []
    for code, zh in APPROACHES.items():
        similar = counts.get(f"{lender}|{band}|{code}", 0)
        p = table[f"p_{code}"]
        rows.append(
            {
                "approach": code,
                "approach_zh": zh,
                "p": round(p, 4),
                "low": round(table[f"p_{code}_low"], 4),
                "high": round(table[f"p_{code}_high"], 4),
                "difference_from_planned": (
                    round(p - table[f"p_{planned}"], 4) if planned is not None else None
                ),
                "similar_cases": shown_count(similar, k),
                "thin_data": similar < THIN_DATA,
            }
        )
    return {
        "case_id": features["case_id"][0],
        "model_version": bundle.version,
        "run_id": bundle.metadata.get("run_id"),
        "planned_approach": planned,
        "approaches": rows,
        "drivers": drivers(model, features, model.extra.get("reference", {})),
        "note": NOTE["en"],
    }


def estimate_many(bundle: Bundle, cases: pl.DataFrame) -> pl.DataFrame:
    """One row per case: ``case_id`` and the six probabilities with their intervals."""
    estimates = approach_estimates(bundle.model, case_features(cases))
    return estimates.with_columns(pl.exclude("case_id").round(6))
