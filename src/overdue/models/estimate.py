"""Per-case estimates: P(agreement) under each approach, with intervals, support and drivers."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import polars as pl

from overdue.contract import APPROACHES
from overdue.features import DOCS, FEATURE_BY_NAME, FEATURES, HISTORY, Encoding, build_features
from overdue.i18n import NOTE
from overdue.models.registry import Bundle
from overdue.models.sustain import sustain_interval
from overdue.models.train import (
    covariance_products,
    difference_interval,
    interval,
    spline_standard_errors,
)

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
APPROACHES_LIST: Final = list(APPROACHES)
DOC_PRIORITY: Final = (
    "doc_income_proof",
    "doc_bank_statement",
    "doc_expense_statement",
    "doc_household_finances",
    "doc_loan_contract",
    "doc_medical_report",
)
"""Documents to suggest first: proof of what the debtor can pay comes before the rest."""
HARDSHIP_PROVEN: Final = ("job_loss", "illness")
"""Hardships whose proof replaces income proof among the documents suggested."""
DOCUMENTS_ENOUGH: Final = 3
"""The documents lever brings a case to 3 or more documents."""
WHAT_IF_LEVERS: Final = (
    "proof",
    "written_plan",
    "nonprofit_mediator",
    "documents_3plus",
    "in_person",
    "written_channel",
)
"""What a case can still change, each estimated as a what-if row of the model: the proof that
fits the hardship (medical report for illness, income proof unless the income is gone), a written
plan, a nonprofit mediator instead of none or a paid agent, 3 or more documents, meeting in
person or negotiating in writing instead of by phone or app. Contact timing is not among them:
once past, it cannot be changed."""
SIMILAR_KEYS: Final = ("lender_type", "overdue_band", "approach")


def reference_values(features: pl.DataFrame | pl.LazyFrame) -> dict[str, Any]:
    """A typical case: the median of each number and the most common value of each category.
    A lazy frame (e.g. a Parquet scan) is read one column at a time."""
    reference: dict[str, Any] = {}
    for group in DRIVER_GROUPS.values():
        for name in group:
            column = features.lazy().select(name).collect().to_series()
            if FEATURE_BY_NAME[name].encoding is Encoding.CATEGORY:
                reference[name] = column.drop_nulls().mode().sort().first()
            else:
                reference[name] = column.median()
    return reference


def similar_case_counts(features: pl.DataFrame | pl.LazyFrame) -> dict[str, int]:
    """Labelled past cases per lender type x overdue band x approach (aggregates only)."""
    counts = features.lazy().group_by(SIMILAR_KEYS).len().collect()
    return {"|".join(str(v) for v in row[:-1]): int(row[-1]) for row in counts.iter_rows()}


def shown_count(n: int, k: int) -> int | str:
    """A count as it may be published: ``"<k"`` below the privacy threshold."""
    return n if n >= k else f"<{k}"


def direct_features(cases: pl.DataFrame) -> pl.DataFrame:
    """``build_features`` of cases without a debtor history, in one eager select instead of a
    join plan.

    A case with no ``debtor_ref`` has 0 earlier cases and 0 earlier agreements; the feature
    expressions are the same ``FEATURES``; the join that finds no history is what costs a few
    milliseconds, and on a request's few rows planning a lazy query costs more than running it
    (a test checks both give the same frame).
    """
    history, features = direct_feature_columns()
    return cases.with_columns(*history).select("case_id", *features)


@functools.cache
def direct_feature_columns() -> tuple[tuple[pl.Expr, ...], tuple[pl.Expr, ...]]:
    """``direct_features``' expressions, built once (a request pays their building otherwise)."""
    history = tuple(pl.lit(0.0).alias(f.name) for f in HISTORY)
    return history, tuple(f.expr.alias(f.name) for f in FEATURES)


def case_features(cases: pl.DataFrame) -> pl.DataFrame:
    """Features of cases entered for advice: ``build_features``, without its history join when
    no case names a debtor (``CaseInput`` has no ``debtor_ref``: the CLI's and the service's)."""
    if "debtor_ref" not in cases.columns or cases["debtor_ref"].null_count() == cases.height:
        return direct_features(cases)
    return build_features(cases.lazy()).collect()


def documents_to_add(case: dict[str, Any]) -> list[str]:
    """Contract documents the case has not brought, most useful first: the medical report first
    for illness (last for other hardships), no income proof after a job loss or illness."""
    reason = case.get("hardship_reason")
    missing = [d for d in DOC_PRIORITY if not case.get(d)]
    if reason in HARDSHIP_PROVEN:
        missing = [d for d in missing if d != "doc_income_proof"]
    medical = ["doc_medical_report"] if "doc_medical_report" in missing else []
    rest = [d for d in missing if d != "doc_medical_report"]
    return medical + rest if reason == "illness" else rest + medical


def what_if_changes(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per lever of ``WHAT_IF_LEVERS`` the case can still act on, the contract fields it
    changes and their new values (a lever already taken is left out)."""
    changes: dict[str, dict[str, Any]] = {}
    reason = case.get("hardship_reason")
    if reason == "illness" and not case.get("doc_medical_report"):
        changes["proof"] = {"doc_medical_report": True}
    elif reason not in HARDSHIP_PROVEN and not case.get("doc_income_proof"):
        changes["proof"] = {"doc_income_proof": True}
    if not case.get("repayment_plan_prepared"):
        changes["written_plan"] = {"repayment_plan_prepared": True}
    if (case.get("professional_help") or "none") in ("none", "paid_agent"):
        changes["nonprofit_mediator"] = {"professional_help": "nonprofit_counselor"}
    brought = sum(bool(case.get(d)) for d in DOCS)
    if brought < DOCUMENTS_ENOUGH:
        added = documents_to_add(case)[: DOCUMENTS_ENOUGH - brought]
        if added:
            changes["documents_3plus"] = dict.fromkeys(added, True)
    if case.get("channel") in ("phone", "app_online"):
        changes["in_person"] = {"channel": "in_person"}
        changes["written_channel"] = {"channel": "written"}
    return changes


@dataclass(frozen=True)
class Predictions:
    """The model's answer for a batch's design rows (cases x rows per case): P, its interval
    and, when asked, each row's ``covariance_products`` (for intervals of differences)."""

    p: np.ndarray
    low: np.ndarray
    high: np.ndarray
    z: np.ndarray | None = None
    z_cov: np.ndarray | None = None
    kept: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    """P(kept 12 months | agreed) and its interval under each approach (cases x approaches)."""

    def products(self, c: int, rows: list[int] | slice) -> tuple[np.ndarray, np.ndarray]:
        """Z and Z·Σ of some rows of case ``c``."""
        assert self.z is not None and self.z_cov is not None, "asked without products"
        return self.z[c, rows], self.z_cov[c, rows]


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

    def _value(self, name: str, value: Any) -> float:
        """A contract value as ``Design.matrix`` writes it (a level's index, a flag as 0/1)."""
        feature = FEATURE_BY_NAME[name]
        if feature.encoding is Encoding.CATEGORY:
            return float(feature.levels.index(value))
        return float(value)

    def _predict(
        self, features: pl.DataFrame, *, drivers: bool, cases: list[dict[str, Any]] | None = None
    ) -> Predictions:
        """P, low and high per case (rows) for: as entered, each approach, and (``drivers``)
        each driver group at a typical case's values, then each of ``WHAT_IF_LEVERS`` (as
        entered where the case cannot act on it; ``cases``: their contract fields), in that
        order (columns); with ``drivers`` also the ``covariance_products`` of the rows whose
        intervals or differences are shown (zeros for the driver rows, whose P alone is used)."""
        model = self.bundle.model
        rows = model.design.matrix(features)
        groups = list(DRIVER_GROUPS.values()) if drivers else []
        levers = WHAT_IF_LEVERS if drivers else ()
        n_approaches = len(APPROACHES)
        per_case = 1 + n_approaches + len(groups) + len(levers)
        x = np.repeat(rows, per_case, axis=0).reshape(len(rows), per_case, -1)
        x[:, 1 : 1 + n_approaches, self.approach_column] = self.approach_levels
        if groups:
            reference = self.reference_row(features)
            for g, group in enumerate(groups):
                columns = [self.column[name] for name in group if name in self.column]
                x[:, 1 + n_approaches + g, columns] = reference[columns]
        first_lever = 1 + n_approaches + len(groups)
        count = self.column.get("documents_count")
        for c, case in enumerate(cases if levers and cases else []):
            for name, changes in what_if_changes(case).items():
                lever_row = x[c, first_lever + levers.index(name)]  # a view: written in place
                for field_name, value in changes.items():
                    lever_row[self.column[field_name]] = self._value(field_name, value)
                if count is not None:
                    lever_row[count] += sum(1 for f in changes if f in DOCS and not case.get(f))
        flat = x.reshape(len(rows) * per_case, -1)
        shape = (len(rows), per_case)
        if not drivers:
            p, low, high = model.predict_matrix(flat)
            return Predictions(p.reshape(shape), low.reshape(shape), high.reshape(shape))
        basis = model.spline_rows(flat)
        log_odds, _ = model.log_odds(flat, basis=basis)
        # Σ products only for the rows whose intervals or differences are shown (as entered,
        # the approaches, the what-ifs): the driver rows need P alone, and Z·Σ is the costly part
        shown = np.r_[0 : 1 + n_approaches, first_lever:per_case]
        z_rows = np.column_stack([np.ones(len(basis)), basis]).reshape(*shape, -1)
        z_shown, z_cov_shown = covariance_products(
            model.covariance, z_rows[:, shown, 1:].reshape(len(rows) * len(shown), -1)
        )
        z_cov = np.zeros_like(z_rows)
        z_cov[:, shown] = z_cov_shown.reshape(len(rows), len(shown), -1)
        se = np.zeros(shape)
        se[:, shown] = model.stack[1] * spline_standard_errors(z_shown, z_cov_shown).reshape(
            len(rows), len(shown)
        )
        p, low, high = interval(log_odds, se.ravel(), model.interval_spread)
        kept = None
        if model.sustain is not None and model.sustain_covariance is not None:
            under_approaches = z_rows[:, 1 : 1 + n_approaches]
            p_kept, low_kept, high_kept = sustain_interval(
                model.sustain,
                model.sustain_covariance,
                under_approaches.reshape(-1, under_approaches.shape[-1]),
            )
            by_case = (len(rows), n_approaches)
            kept = (p_kept.reshape(by_case), low_kept.reshape(by_case), high_kept.reshape(by_case))
        return Predictions(
            p.reshape(shape),
            low.reshape(shape),
            high.reshape(shape),
            z_rows,
            z_cov,
            kept,
        )

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
        fields = cases.rows(named=True)
        predictions = self._predict(features, drivers=True, cases=fields)
        rows = features.iter_rows(named=True)
        return [self._result(ids[c], row, fields[c], predictions, c) for c, row in enumerate(rows)]

    def approach_table(self, cases: pl.DataFrame) -> pl.DataFrame:
        """``case_id`` and ``p_<approach>``, ``p_<approach>_low``, ``p_<approach>_high`` per
        case (6 decimals), the numbers ``estimate`` gives, in passes of ``TABLE_CHUNK``."""
        parts = []
        for chunk in cases.iter_slices(TABLE_CHUNK):
            predicted = self._predict(self._features(chunk), drivers=False)
            p, low, high = predicted.p, predicted.low, predicted.high
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
        case: dict[str, Any],
        predictions: Predictions,
        c: int,
    ) -> dict[str, Any]:
        n_approaches = len(APPROACHES)
        calibrated = predictions.p[c]
        p, low, high = (
            a[c, 1 : 1 + n_approaches] for a in (predictions.p, predictions.low, predictions.high)
        )
        by_code = {code: i for i, code in enumerate(APPROACHES)}
        planned = row["approach"]
        counts: dict[str, int] = self.bundle.model.extra.get("similar_cases", {})
        lender, band = row["lender_type"], row["overdue_band"]
        best = int(np.argmax(p))
        vs_best = difference_interval(
            self.bundle.model,
            predictions.products(c, slice(1, 1 + n_approaches)),
            predictions.products(c, [1 + best] * n_approaches),
            p,
            np.full(n_approaches, p[best]),
        )
        for part in vs_best:
            part[best] = 0.0  # the most likely approach against itself: no difference at all
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
                    "vs_best": {
                        key: round(float(part[i]), 4)
                        for key, part in zip(("difference", "low", "high"), vs_best, strict=True)
                    },
                    "kept_12": (
                        None
                        if predictions.kept is None
                        else {
                            key: round(float(part[c, i]), 4)
                            for key, part in zip(
                                ("p", "low", "high"), predictions.kept, strict=True
                            )
                        }
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
            "best_approach": APPROACHES_LIST[best],
            "approaches": approaches,
            "drivers": [{"driver": name, "change": round(change, 4)} for name, change in top],
            "what_if": self._what_if(case, predictions, c, first + len(DRIVER_GROUPS)),
            "note": NOTE["en"],
        }

    def _what_if(
        self, case: dict[str, Any], predictions: Predictions, c: int, first: int
    ) -> list[dict[str, Any]]:
        """The levers the case can still act on, each with the change it makes in P(agreement)
        of the case as entered and that change's interval, largest gain first."""
        available = what_if_changes(case)
        names = [name for name in WHAT_IF_LEVERS if name in available]
        if not names:
            return []
        at = [first + WHAT_IF_LEVERS.index(name) for name in names]
        p = predictions.p[c]
        gain, low, high = difference_interval(
            self.bundle.model,
            predictions.products(c, at),
            predictions.products(c, [0] * len(at)),
            p[at],
            np.full(len(at), p[0]),
        )
        levers = [
            {
                "lever": name,
                "changes": available[name],
                "p_before": round(float(p[0]), 4),
                "p_after": round(float(p[i]), 4),
                "gain": round(float(gain[j]), 4),
                "gain_interval": [round(float(low[j]), 4), round(float(high[j]), 4)],
                "clear": bool(low[j] > 0 or high[j] < 0),
            }
            for j, (name, i) in enumerate(zip(names, at, strict=True))
        ]
        return sorted(levers, key=lambda lever: -lever["gain"])


def estimate_case(bundle: Bundle, cases: pl.DataFrame, k: int) -> dict[str, Any]:
    """Everything a counselor sees for one case (the first row of ``cases``)."""
    return CaseEstimator(bundle, k).estimate(cases)


def estimate_many(bundle: Bundle, cases: pl.DataFrame, k: int) -> pl.DataFrame:
    """One row per case: ``case_id`` and the six probabilities with their intervals."""
    return CaseEstimator(bundle, k).approach_table(cases)
