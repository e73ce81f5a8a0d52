"""Feature frames to the numeric matrices scikit-learn reads, and the stock estimators."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)
from sklearn.utils.validation import check_is_fitted

from overdue.features import FEATURE_BY_NAME, Encoding

Matrix = np.ndarray

SPLINE_KNOTS: Final = 5
QUANTILES: Final = 100
"""Resolution of the rank scale numbers take in approach interactions."""
BASIS_BLOCK: Final = 50_000
"""Rows of the spline basis built at a time: its temporaries stay this many rows long."""


@functools.cache
def matrix_columns(features: tuple[str, ...]) -> tuple[pl.Expr, ...]:
    """``Design.matrix``'s expressions, built once per design: building them costs more than
    running them on the few rows of a request."""
    columns = []
    for name in features:
        feature = FEATURE_BY_NAME[name]
        col = pl.col(name)
        if feature.encoding is Encoding.CATEGORY:
            col = col.replace_strict(
                {level: float(i) for i, level in enumerate(feature.levels)},
                default=None,
                return_dtype=pl.Float64,
            )
        columns.append(col.cast(pl.Float64).fill_null(float("nan")))
    return tuple(columns)


@dataclass(frozen=True)
class Design:
    """Which features a model reads, in order, and which of them are categories."""

    features: tuple[str, ...]

    @property
    def categorical(self) -> np.ndarray:
        """Boolean mask of the category columns."""
        return np.array([FEATURE_BY_NAME[f].encoding is Encoding.CATEGORY for f in self.features])

    @property
    def category_columns(self) -> list[int]:
        """Indices of the category columns, in order."""
        return [int(c) for c in np.flatnonzero(self.categorical)]

    def matrix(self, frame: pl.DataFrame) -> Matrix:
        """Float matrix: numbers as they are, categories as their level index; null and
        infinite (a ratio over a zero or vanishing amount) -> NaN, as missing."""
        out = frame.select(matrix_columns(self.features)).to_numpy(writable=True)
        out = out.astype(np.float64, copy=False)
        out[np.isinf(out)] = np.nan
        return out

    def without(self, names: Sequence[str]) -> Design:
        """The same design less some features."""
        return Design(tuple(f for f in self.features if f not in set(names)))

    def level_counts(self, columns: Sequence[int]) -> list[int]:
        """How many levels each of some category columns has (``matrix`` writes 0..count-1)."""
        return [len(FEATURE_BY_NAME[self.features[c]].levels) for c in columns]


def level_indicators(codes: Matrix, counts: Sequence[int]) -> Matrix:
    """One 0/1 column per level of each column of level indices (``Design.matrix``'s codes);
    NaN or an unknown code: 0 in all of its columns. The columns of ``OneHotEncoder(categories=
    [0..count-1], handle_unknown="ignore")``, without its per-call checks."""
    columns = [codes[:, [j]] == np.arange(n) for j, n in enumerate(counts)]
    return np.hstack(columns, dtype=np.float64) if columns else np.empty((len(codes), 0))


def blocks(rows: int, size: int = BASIS_BLOCK) -> Iterator[slice]:
    """Consecutive row ranges of at most ``size`` rows covering ``rows`` rows."""
    return (slice(start, start + size) for start in range(0, rows, size))


def spline_edges(splines: SplineTransformer) -> Matrix:
    """Per feature of a fitted ``SplineTransformer(extrapolation="constant")``, the basis rows
    it gives below and above the knots' range (shape 2 x features x splines): its value at the
    range's ends, kept only in the first and last ``degree`` splines, as scikit-learn does."""
    degree = splines.degree
    edges = np.zeros((2, len(splines.bsplines_), splines.bsplines_[0].c.shape[1]))
    for j, spline in enumerate(splines.bsplines_):
        low, high = spline(spline.t[[degree, -degree - 1]])
        edges[0, j, :degree] = low[:degree]
        edges[1, j, -degree:] = high[-degree:]
    return edges


def spline_columns(splines: SplineTransformer, edges: Matrix, values: Matrix, out: Matrix) -> None:
    """``splines.transform(values)`` written into ``out``: scipy's B-splines per feature, the
    ``edges`` beyond the knots."""
    degree, width = splines.degree, edges.shape[2]
    for j, spline in enumerate(splines.bsplines_):
        low, high = spline.t[degree], spline.t[-degree - 1]
        column = values[:, j]
        block = out[:, j * width : (j + 1) * width]
        block[:] = spline(np.clip(column, low, high))
        block[column < low] = edges[0, j]
        block[column > high] = edges[1, j]


def rank_columns(ranks: QuantileTransformer, values: Matrix) -> Matrix:
    """``ranks.transform(values)`` of a uniform ``QuantileTransformer`` for finite values: the
    mean of the upward and downward interpolation between its quantiles (so tied quantiles map
    to their middle), the lowest and highest quantile exactly to 0 and 1."""
    out = np.empty_like(values)
    references = ranks.references_
    for j in range(values.shape[1]):
        quantiles, column = ranks.quantiles_[:, j], values[:, j]
        out[:, j] = 0.5 * (
            np.interp(column, quantiles, references)
            - np.interp(-column, -quantiles[::-1], -references[::-1])
        )
        out[column == quantiles[-1], j] = 1
        out[column == quantiles[0], j] = 0
    return out


class SplineBasis(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):  # type: ignore[call-arg]
    """What the spline logistic regression's coefficients multiply: the main terms (a 0/1
    column per category level; cubic splines of numbers, missing: the median plus a flag),
    standardised; then, unless ``scale`` is 0, the approach interactions: each approach but
    the first times every other feature (category levels, numbers on their rank scale 0..1
    robust to long tails, the flags), standardised and multiplied by ``scale``.

    The interactions let an approach's effect on the log-odds vary with anything about the
    case; ``scale`` sets how much they are penalised against the main terms (a ridge penalty on
    ``scale · β`` is the penalty on ``β`` divided by ``scale²``), chosen on held-out cases.

    Stock estimators (imputer, splines, rank scale, standardisations) are fitted here and their
    fitted parameters applied directly, ``BASIS_BLOCK`` rows at a time into one array: the
    columns their ``transform`` methods give (a test checks it), without the per-call checks a
    counselor's request would pay six times, nor a copy per step (on 300,000 training cases,
    a gigabyte each). ``n_main_``: how many of the columns are main terms (the interactions
    follow).

    ``weights`` (one per design feature, or None for all 1): each feature's interaction
    columns are multiplied by its weight as well, so the penalty can fall harder on some
    features' interactions than on others' (``overdue.models.train.choose_penalty`` sets them
    from the data).

    ``dtype``: the basis's floating type. Training fits the logistic regression on a
    single-precision basis (each of its steps reads the whole basis: half the bytes, about
    0.6 of the time, half the memory) and transforms in double precision afterwards.
    """

    def __init__(
        self,
        design: Design,
        scale: float = 1.0,
        weights: tuple[float, ...] | None = None,
        dtype: type[np.floating[Any]] = np.float64,
    ) -> None:
        self.design = design
        self.scale = scale
        self.weights = weights
        self.dtype = dtype

    def fit(self, x: Matrix, y: object = None) -> SplineBasis:
        """Fit the imputer, splines, rank scale and standardisations."""
        self.fit_transform(x)
        return self

    def fit_transform(self, x: Matrix, y: object = None) -> Matrix:
        """Fit, and the basis of ``x``; the standardisations are fitted block by block."""
        self.n_features_in_ = x.shape[1]
        self.imputer_ = SimpleImputer(
            strategy="median", add_indicator=True, keep_empty_features=True
        )
        filled = self.imputer_.fit_transform(x[:, ~self.design.categorical])
        self.splines_ = SplineTransformer(
            n_knots=SPLINE_KNOTS, knots="quantile", extrapolation="constant"
        ).fit(filled[:, : self.imputer_.statistics_.size])
        self.spline_edges_ = spline_edges(self.splines_)
        if self.scale:
            self.ranks_ = QuantileTransformer(
                n_quantiles=QUANTILES, subsample=100_000, random_state=0
            ).fit(filled)
        del filled
        basis = self._unscaled(x)
        levels, splines, flags, _ = self._widths()
        self.n_main_ = levels + splines + flags
        self.products_multiplier_ = self.scale * (
            np.asarray(self.weights)[self.product_features()] if self.weights is not None else 1.0
        )
        self.main_scaler_, self.products_scaler_ = StandardScaler(), StandardScaler()
        for rows in blocks(len(basis)):
            self.main_scaler_.partial_fit(basis[rows, : self.n_main_])
            if self.scale:
                self.products_scaler_.partial_fit(basis[rows, self.n_main_ :])
        return self._standardised(basis)

    def transform(self, x: Matrix) -> Matrix:
        """The basis of design-matrix rows."""
        check_is_fitted(self)
        return self._standardised(self._unscaled(x))

    def product_features(self) -> np.ndarray:
        """The design feature each interaction column belongs to (its index in the design):
        per approach but the first, the other categories' levels, the numbers, the numbers'
        missing flags (a flag belongs to its number)."""
        categories = self.design.category_columns
        approach = self.design.features.index("approach")
        others = [c for c in categories if c != approach]
        numbers = np.flatnonzero(~self.design.categorical)
        ranked = np.concatenate(
            [
                np.repeat(others, self.design.level_counts(others)),
                numbers,
                numbers[self.imputer_.indicator_.features_],
            ]
        ).astype(int)
        return np.tile(ranked, self.design.level_counts([approach])[0] - 1)

    def _widths(self) -> tuple[int, int, int, int]:
        """Columns of category levels, splines and missing flags (the main terms), and of
        approach products (``product_features``)."""
        categories = self.design.category_columns
        levels = sum(self.design.level_counts(categories))
        splines = self.spline_edges_.shape[1] * self.spline_edges_.shape[2]
        flags = len(self.imputer_.indicator_.features_)
        return levels, splines, flags, self.product_features().size if self.scale else 0

    def _unscaled(self, x: Matrix) -> Matrix:
        """Main terms then products, before standardisation."""
        levels, splines, flags, products = self._widths()
        categories = self.design.category_columns
        approach = self.design.features.index("approach")
        others = [c for c in categories if c != approach]
        medians, flagged = self.imputer_.statistics_, self.imputer_.indicator_.features_
        numbers = ~self.design.categorical
        main_width = levels + splines + flags
        out = np.empty((len(x), main_width + products), dtype=self.dtype)
        for rows in blocks(len(x)):
            block = x[rows]
            values = block[:, numbers]
            missing = np.isnan(values)
            filled = np.hstack([np.where(missing, medians, values), missing[:, flagged]])
            main = out[rows, :main_width]
            main[:, :levels] = level_indicators(
                block[:, categories], self.design.level_counts(categories)
            )
            spline_columns(
                self.splines_, self.spline_edges_, filled, main[:, levels : levels + splines]
            )
            main[:, levels + splines :] = filled[:, medians.size :]
            if products:
                ranks = np.hstack(
                    [
                        level_indicators(block[:, others], self.design.level_counts(others)),
                        rank_columns(self.ranks_, filled),
                    ]
                )
                asked = level_indicators(block[:, [approach]], self.design.level_counts([approach]))
                out[rows, main_width:] = np.einsum("ni,nj->nij", asked[:, 1:], ranks).reshape(
                    len(block), -1
                )
        return out

    def _standardised(self, basis: Matrix) -> Matrix:
        """The basis standardised as the fitted scalers would, in place, the products times
        ``scale`` and their feature's weight."""
        main = self.main_scaler_
        products = self.products_scaler_
        for rows in blocks(len(basis)):
            block = basis[rows]
            block[:, : self.n_main_] -= main.mean_
            block[:, : self.n_main_] /= main.scale_
            if self.scale:
                block[:, self.n_main_ :] -= products.mean_
                block[:, self.n_main_ :] /= products.scale_
                block[:, self.n_main_ :] *= self.products_multiplier_
        return basis


def spline_logistic(
    design: Design, c: float, scale: float, weights: tuple[float, ...] | None = None
) -> Pipeline:
    """A ridge-penalised logistic regression on splines of every feature plus, unless
    ``scale`` is 0, approach x every-other-feature terms (``SplineBasis``: a generalised
    additive model whose approach effects may depend on the case). ``c``, ``scale`` and the
    features' interaction ``weights`` are chosen on held-out cases
    (``overdue.models.train.choose_penalty``)."""
    return make_pipeline(
        SplineBasis(design, scale, weights), LogisticRegression(C=c, max_iter=5000)
    )


class CategoryLookup:
    """The ordinal encoding a fitted ``HistGradientBoostingClassifier`` runs before every
    prediction (categorical columns to their index among the categories seen in fitting,
    unknown or missing to NaN, then the numeric columns), as one sorted lookup per column:
    scikit-learn's general encoder validated and searched for a third of a counselor request's
    CPU. Same output, checked by a test against the encoder it replaces."""

    def __init__(self, categorical: np.ndarray, categories: Sequence[np.ndarray]) -> None:
        self.categorical = categorical
        self.categories = [np.asarray(known, dtype=np.float64) for known in categories]

    def transform(self, x: Matrix) -> Matrix:
        """Coded categorical columns first, then the numeric ones."""
        x = np.asarray(x, dtype=np.float64)
        values = x[:, self.categorical]
        coded = np.full(values.shape, np.nan)
        for j, known in enumerate(self.categories):
            at = np.minimum(np.searchsorted(known, values[:, j]), len(known) - 1)
            hit = known[at] == values[:, j]  # NaN (missing) never equals a category
            coded[hit, j] = at[hit]
        return np.hstack([coded, x[:, ~self.categorical]])


class Boosting(HistGradientBoostingClassifier):
    """``HistGradientBoostingClassifier`` that, once fitted, encodes categories by
    ``CategoryLookup``."""

    _preprocessor: ColumnTransformer | CategoryLookup | None

    def fit(self, X: Matrix, y: Matrix, sample_weight: Matrix | None = None) -> Boosting:  # noqa: N803
        super().fit(X, y, sample_weight)
        if isinstance(self._preprocessor, ColumnTransformer):
            encoder = self._preprocessor.named_transformers_["encoder"]
            self._preprocessor = CategoryLookup(self.is_categorical_, encoder.categories_)
        return self


def gradient_boosting(
    categorical: np.ndarray,
    seed: int,
    max_iter: int = 1000,
    early_stopping: bool = True,
    learning_rate: float = 0.1,
    patience: int = 30,
) -> Boosting:
    """Histogram gradient boosting with native categories (mask) and missing values.

    Small trees (7 leaves, 100 cases a leaf) and early stopping (after ``patience`` rounds
    without a gain on a tenth of the rows held out): on simulated data with known truth they
    gave the most accurate per-case probabilities of the settings we tried. Choosing the tree
    size per data set by held-out loss was measured on every world and not kept
    (docs/validity.md: as accurate, 12% slower to train).
    """
    return Boosting(
        learning_rate=learning_rate,
        max_iter=max_iter,
        max_leaf_nodes=7,
        min_samples_leaf=100,
        l2_regularization=1.0,
        categorical_features=categorical,
        early_stopping=early_stopping,
        validation_fraction=0.1,
        n_iter_no_change=patience,
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
