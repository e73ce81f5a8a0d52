"""Feature frames to the numeric matrices scikit-learn reads, and the stock estimators."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.preprocessing import (
    OneHotEncoder,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)

from overdue.features import FEATURE_BY_NAME, Encoding

Matrix = np.ndarray

SPLINE_KNOTS: Final = 5
QUANTILES: Final = 100
"""Resolution of the rank scale numbers take in approach interactions."""


@dataclass(frozen=True)
class Design:
    """Which features a model reads, in order, and which of them are categories."""

    features: tuple[str, ...]

    @property
    def categorical(self) -> np.ndarray:
        """Boolean mask of the category columns."""
        return np.array([FEATURE_BY_NAME[f].encoding is Encoding.CATEGORY for f in self.features])

    def matrix(self, frame: pl.DataFrame) -> Matrix:
        """Float matrix: numbers as they are, categories as their level index; null and
        infinite (a ratio over a zero or vanishing amount) -> NaN, as missing."""
        exprs = []
        for name in self.features:
            feature = FEATURE_BY_NAME[name]
            col = pl.col(name)
            if feature.encoding is Encoding.CATEGORY:
                col = col.replace_strict(
                    {level: float(i) for i, level in enumerate(feature.levels)},
                    default=None,
                    return_dtype=pl.Float64,
                )
            exprs.append(col.cast(pl.Float64).fill_null(float("nan")))
        out = frame.select(exprs).to_numpy(writable=True).astype(np.float64, copy=False)
        out[np.isinf(out)] = np.nan
        return out

    def without(self, names: Sequence[str]) -> Design:
        """The same design less some features."""
        return Design(tuple(f for f in self.features if f not in set(names)))

    def levels(self, columns: Sequence[int]) -> list[list[float]]:
        """The level indices of category columns (what ``matrix`` writes for them)."""
        return [
            [float(i) for i in range(len(FEATURE_BY_NAME[self.features[c]].levels))]
            for c in columns
        ]


def _one_hot(design: Design, categories: list[int]) -> tuple[str, OneHotEncoder, list[int]]:
    """The ``ColumnTransformer`` part that one-hot encodes the category columns."""
    encoder = OneHotEncoder(
        categories=design.levels(categories), handle_unknown="ignore", sparse_output=False
    )
    return ("category", encoder, categories)


def spline_basis(design: Design, columns: Sequence[int]) -> Pipeline:
    """One-hot categories, cubic splines of numbers (missing: the median plus a flag), scaled."""
    mask = design.categorical
    categories = [c for c in columns if mask[c]]
    numbers = [c for c in columns if not mask[c]]
    splines = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        ColumnTransformer(
            [
                (
                    "spline",
                    SplineTransformer(
                        n_knots=SPLINE_KNOTS, knots="quantile", extrapolation="constant"
                    ),
                    list(range(len(numbers))),
                )
            ],
            remainder="passthrough",
        ),
    )
    parts = []
    if categories:
        parts.append(_one_hot(design, categories))
    if numbers:
        parts.append(("number", splines, numbers))
    return make_pipeline(ColumnTransformer(parts), StandardScaler())


def rank_basis(design: Design, columns: Sequence[int]) -> ColumnTransformer:
    """One-hot categories and numbers on their rank scale (0..1, missing: the median plus a
    flag): one column per number, robust to long tails, for interactions."""
    mask = design.categorical
    categories = [c for c in columns if mask[c]]
    numbers = [c for c in columns if not mask[c]]
    return ColumnTransformer(
        [
            _one_hot(design, categories),
            (
                "number",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True),
                    QuantileTransformer(n_quantiles=QUANTILES, subsample=100_000, random_state=0),
                ),
                numbers,
            ),
        ]
    )


class ApproachInteractions(TransformerMixin, BaseEstimator):
    """Each approach but the first times every other feature (``rank_basis``), standardised
    and multiplied by ``scale``.

    Lets an approach's effect on the log-odds vary with anything about the case; ``scale``
    sets how much these terms are penalised against the main terms (a ridge penalty on
    ``scale · β`` is the penalty on ``β`` divided by ``scale²``), chosen on held-out cases.
    """

    def __init__(self, design: Design, scale: float = 1.0) -> None:
        self.design = design
        self.scale = scale

    def fit(self, x: Matrix, y: object = None) -> ApproachInteractions:
        """Fit the basis and the standardisation of the products."""
        approach = self.design.features.index("approach")
        others = [c for c in range(len(self.design.features)) if c != approach]
        self.basis_ = rank_basis(self.design, others).fit(x)
        self.scaler_ = StandardScaler().fit(self._products(x))
        self.n_features_in_ = x.shape[1]
        return self

    def transform(self, x: Matrix) -> Matrix:
        """The scaled products."""
        return self.scale * self.scaler_.transform(self._products(x))

    def _products(self, x: Matrix) -> Matrix:
        approach = self.design.features.index("approach")
        levels = len(self.design.levels([approach])[0])
        asked = np.zeros((len(x), levels))
        code = x[:, approach]
        known = np.flatnonzero((code >= 0) & (code < levels))  # NaN and unknown levels: none
        asked[known, code[known].astype(int)] = 1.0
        basis = self.basis_.transform(x)
        return np.einsum("ni,nj->nij", asked[:, 1:], basis).reshape(len(x), -1)


def spline_logistic(design: Design, c: float, scale: float) -> Pipeline:
    """A ridge-penalised logistic regression on splines of every feature plus, unless
    ``scale`` is 0, approach x every-other-feature terms (a generalised additive model whose
    approach effects may depend on the case). ``c`` and ``scale`` are chosen on held-out cases
    (``overdue.models.train.choose_penalty``)."""
    main = spline_basis(design, range(len(design.features)))
    if scale == 0:
        return make_pipeline(main, LogisticRegression(C=c, max_iter=5000))
    return make_pipeline(
        make_union(main, ApproachInteractions(design, scale)),
        LogisticRegression(C=c, max_iter=5000),
    )


def gradient_boosting(
    categorical: np.ndarray, seed: int, max_iter: int = 1000, early_stopping: bool = True
) -> HistGradientBoostingClassifier:
    """Histogram gradient boosting with native categories (mask) and missing values.

    Small trees (7 leaves, 100 cases a leaf) and early stopping: on simulated data with known
    truth they gave the most accurate per-case probabilities of the settings we tried.
    """
    return HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=max_iter,
        max_leaf_nodes=7,
        min_samples_leaf=100,
        l2_regularization=1.0,
        categorical_features=categorical,
        early_stopping=early_stopping,
        validation_fraction=0.1,
        n_iter_no_change=30,
        random_state=seed,
    )


def logistic_baseline(design: Design) -> Pipeline:
    """The baseline: one-hot categories, imputed and scaled numbers, logistic regression."""
    mask = design.categorical
    prepare = ColumnTransformer(
        [
            ("category", OneHotEncoder(handle_unknown="ignore"), np.flatnonzero(mask)),
            (
                "number",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                np.flatnonzero(~mask),
            ),
        ]
    )
    return make_pipeline(prepare, LogisticRegression(C=1.0, max_iter=2000))
