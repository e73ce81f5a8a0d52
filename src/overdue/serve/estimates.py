"""One case's estimates for the service: the numbers of ``estimate_case``, in one batched pass.

``overdue.models.estimate.estimate_case`` builds a polars frame per approach and per driver and
takes a model call and a frame each. Here the case's features are built once (the same
``build_features``), turned into one design row, and the 19 rows a case needs (as entered, under
each of the six approaches, and with each driver group set to a typical case's values) go
through the model in one call. Substituting columns of the design matrix is the same as
substituting columns of the frame first, since ``Design.matrix`` reads each column on its own.
The result equals ``estimate_case`` (a test checks it on simulated cases, and ``tests/serve``
against ``overdue estimate``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import polars as pl

from overdue.contract import APPROACHES
from overdue.features import FEATURE_BY_NAME, FEATURES, HISTORY, Encoding, build_features
from overdue.i18n import NOTE
from overdue.models.estimate import DRIVER_GROUPS, THIN_DATA, TOP_DRIVERS, shown_count
from overdue.models.registry import Bundle

log = logging.getLogger(__name__)


def direct_features(cases: pl.LazyFrame) -> pl.DataFrame:
    """``build_features`` for cases entered for advice, in one select instead of a join plan.

    ``CaseInput`` has no ``debtor_ref``, so an entered case has no history: ``debtor_history``
    gives it 0 earlier cases and 0 earlier agreements. The feature expressions are the same
    ``FEATURES``; the join that finds no history is what costs a few milliseconds.
    """
    history = {f.name: pl.lit(0.0) for f in HISTORY}
    return (
        cases.with_columns(**history)
        .select("case_id", *(f.expr.alias(f.name) for f in FEATURES))
        .collect()
    )


def _direct_features_agree(cases: pl.DataFrame) -> bool:
    """Whether ``direct_features`` equals ``build_features`` on ``cases`` (else it is not used)."""
    names = ["case_id", *(f.name for f in FEATURES)]
    slow = build_features(cases.lazy()).collect().select(names)
    same = slow.equals(direct_features(cases.lazy()).select(names))
    if not same:
        log.warning("direct features differ from build_features: using build_features")
    return same


class CaseEstimator:
    """Estimates for single cases from one model bundle (one per published snapshot)."""

    def __init__(self, bundle: Bundle, k: int, probe: pl.DataFrame | None = None) -> None:
        self.bundle = bundle
        self.k = k
        model = bundle.model
        self.features_order = model.design.features
        self.column = {name: i for i, name in enumerate(self.features_order)}
        self.levels: list[dict[str, float] | None] = [
            {level: float(i) for i, level in enumerate(FEATURE_BY_NAME[name].levels)}
            if FEATURE_BY_NAME[name].encoding is Encoding.CATEGORY
            else None
            for name in self.features_order
        ]
        approach = self.column["approach"]
        self.approach_column = approach
        self.approach_levels = [self.levels[approach][code] for code in APPROACHES]  # type: ignore[index]
        self._reference: np.ndarray | None = None
        self.direct_features = probe is not None and _direct_features_agree(probe)
        if probe is not None:
            self.reference_row(self.features(probe.lazy()))

    def features(self, cases: pl.LazyFrame) -> pl.DataFrame:
        """The model features of validated cases (``build_features``, or its direct form)."""
        if self.direct_features:
            return direct_features(cases)
        return build_features(cases).collect()

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
        """What ``estimate_case(bundle, cases, k)`` returns for the first case of ``cases``."""
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
        features = self.features(
            cases.lazy().with_columns(
                pl.format("serve-{}", pl.int_range(pl.len())).alias("case_id")
            )
        )
        order = {case_id: i for i, case_id in enumerate(features["case_id"])}
        rows = [features.row(order[f"serve-{i}"], named=True) for i in range(cases.height)]
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
