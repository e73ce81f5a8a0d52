"""Per-case estimates: P(agreement) under each approach, with intervals, support and drivers."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import polars as pl

from overdue.contract import APPROACHES
from overdue.features import DOCS, FEATURE_BY_NAME, FEATURES, HISTORY, Encoding, build_features
from overdue.i18n import NOTE
from overdue.models.registry import Bundle

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


TABLE_CHUNK: Final = 20_000
"""Cases per pass of ``CaseEstimator.approach_table`` (7 design rows each): bounded memory."""


class CaseEstimator:
    """Per-case estimates from one model bundle: the one implementation behind
    ``overdue estimate --case`` and ``--cases`` and the service's batches.

    A batch's features are built once (``case_features``, one polars query) and turned into
    design rows by the model's own ``Design.matrix``. The rows a case needs (as entered, under
    each of the six approaches and, for the counselor's answer, with each driver group set to a
    typical case's values) go through the model in one call, for every case of a batch at once.
    Substituting columns of the design matrix is the same as substituting columns of the frame
    first, since ``Design.matrix`` reads each column on its own.
    """

    def __init__(self, bundle: Bundle, k: int) -> None:
        self.bundle = bundle
        self.k = k
        self.column = {name: i for i, name in enumerate(bundle.model.design.features)}
        self.approach_column = self.column["approach"]
        levels = FEATURE_BY_NAME["approach"].levels  # Design.matrix writes a level's index
        self.approach_levels = np.array([float(levels.index(code)) for code in APPROACHES])
        self._reference: np.ndarray | None = None

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
            self._reference = self.bundle.model.design.matrix(typical)[0]
        return self._reference

    def _features(self, cases: pl.DataFrame) -> pl.DataFrame:
        """The cases' features in their order, built under temporary ids so that cases sharing
        an id cannot meet in the debtor-history join."""
        temporary = cases.with_columns(pl.int_range(pl.len()).cast(pl.String).alias("case_id"))
        features = case_features(temporary)
        return features.sort(pl.col("case_id").cast(pl.Int64))

    def _predict(
        self, features: pl.DataFrame, *, drivers: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P, low and high per case (rows) for: as entered, each approach, and (``drivers``)
        each driver group at a typical case's values (columns, in that order)."""
        rows = self.bundle.model.design.matrix(features)
        groups = list(DRIVER_GROUPS.values()) if drivers else []
        n_approaches = len(APPROACHES)
        per_case = 1 + n_approaches + len(groups)
        x = np.repeat(rows, per_case, axis=0).reshape(len(rows), per_case, -1)
        x[:, 1 : 1 + n_approaches, self.approach_column] = self.approach_levels
        if groups:
            reference = self.reference_row(features)
            for g, group in enumerate(groups):
                columns = [self.column[name] for name in group if name in self.column]
                x[:, 1 + n_approaches + g, columns] = reference[columns]
        p, low, high = self.bundle.model.predict_matrix(x.reshape(len(rows) * per_case, -1))
        return p.reshape(len(rows), -1), low.reshape(len(rows), -1), high.reshape(len(rows), -1)

    def estimate(self, cases: pl.DataFrame) -> dict[str, Any]:
        """Everything a counselor sees for the first case of ``cases``."""
        return self.estimate_frame(cases.head(1))[0]

    def estimate_frame(
        self, cases: pl.DataFrame, case_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """``estimate`` of every case of a validated frame (``cases_frame``), in one pass;
        answers carry ``case_ids`` (default: the frame's)."""
        ids = list(cases["case_id"]) if case_ids is None else case_ids
        features = self._features(cases)
        p, low, high = self._predict(features, drivers=True)
        rows = features.iter_rows(named=True)
        return [self._result(ids[c], row, p[c], low[c], high[c]) for c, row in enumerate(rows)]

    def approach_table(self, cases: pl.DataFrame) -> pl.DataFrame:
        """``case_id`` and ``p_<approach>``, ``p_<approach>_low``, ``p_<approach>_high`` per
        case (6 decimals), the numbers ``estimate`` gives, in passes of ``TABLE_CHUNK``."""
        parts = []
        for chunk in cases.iter_slices(TABLE_CHUNK):
            p, low, high = self._predict(self._features(chunk), drivers=False)
            columns: dict[str, Any] = {"case_id": chunk["case_id"]}
            for i, code in enumerate(APPROACHES, start=1):
                columns |= {
                    f"p_{code}": p[:, i],
                    f"p_{code}_low": low[:, i],
                    f"p_{code}_high": high[:, i],
                }
            parts.append(pl.DataFrame(columns).with_columns(pl.exclude("case_id").round(6)))
        return pl.concat(parts) if parts else pl.DataFrame({"case_id": cases["case_id"]})

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


def estimate_many(bundle: Bundle, cases: pl.DataFrame, k: int) -> pl.DataFrame:
    """One row per case: ``case_id`` and the six probabilities with their intervals."""
    return CaseEstimator(bundle, k).approach_table(cases)
