"""Per-case estimates: P(agreement) under each approach, with intervals, support and drivers."""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import polars as pl

from overdue.contract import APPROACHES
from overdue.features import DOCS, FEATURE_BY_NAME, FEATURES, HISTORY, Encoding, build_features
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


def direct_features(cases: pl.LazyFrame) -> pl.DataFrame:
    """``build_features`` of cases without a debtor history, in one select instead of a join plan.

    A case with no ``debtor_ref`` has 0 earlier cases and 0 earlier agreements; the feature
    expressions are the same ``FEATURES``; the join that finds no history is what costs a few
    milliseconds (a test checks both give the same frame).
    """
    history = {f.name: pl.lit(0.0) for f in HISTORY}
    return (
        cases.with_columns(**history)
        .select("case_id", *(f.expr.alias(f.name) for f in FEATURES))
        .collect()
    )


def case_features(cases: pl.DataFrame) -> pl.DataFrame:
    """Features of cases entered for advice: ``build_features``, without its history join when
    no case names a debtor (``CaseInput`` has no ``debtor_ref``: the CLI's and the service's)."""
    if "debtor_ref" not in cases.columns or cases["debtor_ref"].null_count() == cases.height:
        return direct_features(cases.lazy())
    return build_features(cases.lazy()).collect()


class CaseEstimator:
    """Per-case estimates from one model bundle: the one implementation behind
    ``overdue estimate --case`` (``estimate_case``) and the service's batches.

    A case's features are built once (``case_features``) and turned into one design row; the
    19 rows a case needs (as entered, under each of the six approaches, and with each driver
    group set to a typical case's values) go through the model in one call, for every case of
    a batch at once. Substituting columns of the design matrix is the same as substituting
    columns of the frame first, since ``Design.matrix`` reads each column on its own (a test
    checks the approaches against ``approach_estimates``).
    """

    def __init__(self, bundle: Bundle, k: int) -> None:
        self.bundle = bundle
        self.k = k
        self.features_order = bundle.model.design.features
        self.column = {name: i for i, name in enumerate(self.features_order)}
        self.levels: list[dict[str, float] | None] = [
            {level: float(i) for i, level in enumerate(FEATURE_BY_NAME[name].levels)}
            if FEATURE_BY_NAME[name].encoding is Encoding.CATEGORY
            else None
            for name in self.features_order
        ]
        self.approach_column = self.column["approach"]
        approach_levels = self.levels[self.approach_column] or {}
        self.approach_levels = [approach_levels[code] for code in APPROACHES]
        self._reference: np.ndarray | None = None

    def design_row(self, row: dict[str, Any]) -> np.ndarray:
        """``Design.matrix`` of one feature row, without building a frame."""
        out = np.empty(len(self.features_order))
        for i, name in enumerate(self.features_order):
            value = row[name]
            levels = self.levels[i]
            if levels is not None:
                out[i] = levels.get(value, math.nan) if isinstance(value, str) else math.nan
            else:
                out[i] = math.nan if value is None or math.isinf(value) else float(value)
        return out

    def reference_row(self, features: pl.DataFrame) -> np.ndarray:
        """The design row of a typical case (the bundle's reference values), cached."""
        if self._reference is None:
            reference = self.bundle.model.extra.get("reference", {})
            row = features.head(1)
            typical = row.with_columns(
                pl.lit(reference[name], dtype=row.schema[name]).alias(name)
                for group in DRIVER_GROUPS.values()
                for name in group
            )
            self._reference = self.design_row(typical.row(0, named=True))
        return self._reference

    def estimate(self, cases: pl.DataFrame) -> dict[str, Any]:
        """Everything a counselor sees for the first case of ``cases``."""
        return self.estimate_frame(cases.head(1))[0]

    def estimate_frame(
        self, cases: pl.DataFrame, case_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """``estimate`` of every case of a validated frame (``cases_frame``), in one pass.

        The cases' features are built together (one polars query for the batch) under
        temporary ids, so cases that share an id cannot meet in the debtor-history join;
        answers carry ``case_ids`` (default: the frame's).
        """
        ids = list(cases["case_id"]) if case_ids is None else case_ids
        features = case_features(
            cases.with_columns(pl.format("case-{}", pl.int_range(pl.len())).alias("case_id"))
        )
        order = {case_id: i for i, case_id in enumerate(features["case_id"])}
        rows = [features.row(order[f"case-{i}"], named=True) for i in range(cases.height)]
        reference = self.reference_row(features)
        groups = list(DRIVER_GROUPS.values())
        n_approaches, per_case = len(APPROACHES), 1 + len(APPROACHES) + len(groups)
        n = len(rows)
        x = np.empty((n * per_case, len(self.features_order)))
        for c, row in enumerate(rows):
            block = x[c * per_case : (c + 1) * per_case]
            block[:] = self.design_row(row)
            block[1 : 1 + n_approaches, self.approach_column] = self.approach_levels
            for g, group in enumerate(groups):
                columns = [self.column[name] for name in group if name in self.column]
                block[1 + n_approaches + g, columns] = reference[columns]
        p, low, high = (a.reshape(n, per_case) for a in self.bundle.model.predict_matrix(x))
        return [self._result(ids[c], rows[c], p[c], low[c], high[c]) for c in range(n)]

    def _result(
        self,
        case_id: str,
        row: dict[str, Any],
        calibrated: np.ndarray,
        low: np.ndarray,
        high: np.ndarray,
    ) -> dict[str, Any]:
        n_approaches = len(APPROACHES)
        p, low, high = (a[1 : 1 + n_approaches] for a in (calibrated, low, high))
        by_code = {code: i for i, code in enumerate(APPROACHES)}
        planned = row["approach"]
        counts: dict[str, int] = self.bundle.model.extra.get("similar_cases", {})
        lender, band = row["lender_type"], row["overdue_band"]
        approaches = []
        for code, zh in APPROACHES.items():
            i = by_code[code]
            similar = counts.get(f"{lender}|{band}|{code}", 0)
            approaches.append(
                {
                    "approach": code,
                    "approach_zh": zh,
                    "p": round(float(p[i]), 4),
                    "low": round(float(low[i]), 4),
                    "high": round(float(high[i]), 4),
                    "difference_from_planned": (
                        round(float(p[i]) - float(p[by_code[planned]]), 4)
                        if planned is not None
                        else None
                    ),
                    "similar_cases": shown_count(similar, self.k),
                    "thin_data": similar < THIN_DATA,
                }
            )
        first = 1 + n_approaches
        changes = {
            name: float(calibrated[0] - calibrated[first + g])
            for g, name in enumerate(DRIVER_GROUPS)
        }
        top = sorted(changes.items(), key=lambda item: -abs(item[1]))[:TOP_DRIVERS]
        return {
            "case_id": case_id,
            "model_version": self.bundle.version,
            "run_id": self.bundle.metadata.get("run_id"),
            "planned_approach": planned,
            "approaches": approaches,
            "drivers": [{"driver": name, "change": round(change, 4)} for name, change in top],
            "note": NOTE["en"],
        }


def estimate_case(bundle: Bundle, cases: pl.DataFrame, k: int) -> dict[str, Any]:
    """Everything a counselor sees for one case (the first row of ``cases``)."""
    return CaseEstimator(bundle, k).estimate(cases)


def estimate_many(bundle: Bundle, cases: pl.DataFrame) -> pl.DataFrame:
    """One row per case: ``case_id`` and the six probabilities with their intervals."""
    estimates = approach_estimates(bundle.model, case_features(cases))
    return estimates.with_columns(pl.exclude("case_id").round(6))
