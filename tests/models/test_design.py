"""The spline basis and the boosting's category lookup: the same columns, fits and estimates
as scikit-learn's own composites gave."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import polars as pl
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline, make_union
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)

from overdue.models.design import (
    QUANTILES,
    SPLINE_KNOTS,
    CategoryLookup,
    Design,
    SplineBasis,
    gradient_boosting,
)
from overdue.models.train import (
    ADVISING_DESIGN,
    OutcomeModel,
    coefficient_covariance,
    time_split,
)


def one_hot(design: Design, columns: list[int]) -> tuple[str, OneHotEncoder, list[int]]:
    levels = [[float(i) for i in range(n)] for n in design.level_counts(columns)]
    encoder = OneHotEncoder(categories=levels, handle_unknown="ignore", sparse_output=False)
    return ("category", encoder, columns)


def rank_basis(design: Design, columns: list[int]) -> ColumnTransformer:
    """The interactions' basis as it was built before ``SplineBasis``."""
    mask = design.categorical
    imputer = SimpleImputer(strategy="median", add_indicator=True)
    ranks = QuantileTransformer(n_quantiles=QUANTILES, subsample=100_000, random_state=0)
    return ColumnTransformer(
        [
            one_hot(design, [c for c in columns if mask[c]]),
            ("number", make_pipeline(imputer, ranks), [c for c in columns if not mask[c]]),
        ]
    )


class ApproachInteractions(TransformerMixin, BaseEstimator):
    """The approach interactions as they were built before ``SplineBasis``; each product
    times its feature's weight (the feature read from the column's name)."""

    def __init__(
        self, design: Design, scale: float = 1.0, weights: tuple[float, ...] | None = None
    ) -> None:
        self.design = design
        self.scale = scale
        self.weights = weights

    def fit(self, x: np.ndarray, y: object = None) -> ApproachInteractions:
        approach = self.design.features.index("approach")
        others = [c for c in range(len(self.design.features)) if c != approach]
        self.basis_ = rank_basis(self.design, others).fit(x)
        self.scaler_ = StandardScaler().fit(self._products(x))
        names = self.basis_.get_feature_names_out()  # e.g. category__x11_3.0, number__x3
        feature = [int(re.search(r"x(\d+)", name).group(1)) for name in names]  # type: ignore[union-attr]
        weights = np.ones(len(self.design.features)) if self.weights is None else self.weights
        contrasts = self.design.level_counts([approach])[0] - 1
        self.multiplier_ = self.scale * np.tile(np.asarray(weights)[feature], contrasts)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.multiplier_ * self.scaler_.transform(self._products(x))

    def _products(self, x: np.ndarray) -> np.ndarray:
        approach = self.design.features.index("approach")
        levels = self.design.level_counts([approach])[0]
        asked = np.zeros((len(x), levels))
        code = x[:, approach]
        known = np.flatnonzero((code >= 0) & (code < levels))
        asked[known, code[known].astype(int)] = 1.0
        basis = self.basis_.transform(x)
        return np.einsum("ni,nj->nij", asked[:, 1:], basis).reshape(len(x), -1)


def stock_basis(
    design: Design, scale: float, weights: tuple[float, ...] | None = None
) -> Pipeline | FeatureUnion:
    """The spline logistic model's basis as scikit-learn's composites built it before
    ``SplineBasis``: one-hot encoders in column transformers, pipelines, a feature union."""
    mask = design.categorical
    categories = [c for c in range(len(mask)) if mask[c]]
    numbers = [c for c in range(len(mask)) if not mask[c]]
    spline = SplineTransformer(n_knots=SPLINE_KNOTS, knots="quantile", extrapolation="constant")
    splines = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        ColumnTransformer([("spline", spline, list(range(len(numbers))))], remainder="passthrough"),
    )
    main = make_pipeline(
        ColumnTransformer([one_hot(design, categories), ("number", splines, numbers)]),
        StandardScaler(),
    )
    return make_union(main, ApproachInteractions(design, scale, weights)) if scale else main


@pytest.fixture(scope="module")
def rows(features: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The design rows and labels the final model learns from (training and calibration
    periods), and other rows with what a request may hold: an approach no model knows, missing
    categories and numbers, every number above and below the training range (beyond tied
    knots too)."""
    labelled = features.filter(pl.col("y_agreement").is_not_null())
    split = time_split(labelled)
    x = ADVISING_DESIGN.matrix(labelled)
    y = labelled["y_agreement"].to_numpy().astype(np.int8)
    other = x[split.test].copy()
    mask = ADVISING_DESIGN.categorical
    category, number = np.flatnonzero(mask)[0], np.flatnonzero(~mask)[0]
    other[:5, ADVISING_DESIGN.features.index("approach")] = 99
    other[5:10, category] = np.nan
    other[10:15, number] = np.nan
    numbers = np.flatnonzero(~mask)
    other[15:20, numbers] = 1e9
    other[20:25, numbers] = -1e9
    learnt = np.concatenate([split.train, split.calibration])  # what the final fit learns from
    return x[learnt], y[learnt], other


@pytest.mark.parametrize(
    ("scale", "weighted"),
    [(0.0, False), (0.5, False), (0.5, True)],
    ids=["main", "products", "weighted"],
)
def test_the_basis_has_the_stock_composites_columns(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray], scale: float, weighted: bool
) -> None:
    """Fitted on the same rows, ``SplineBasis`` gives the columns, in the same order, that the
    one-hot encoders, column transformers and feature union gave, on training rows and on rows
    with unknown, missing and out-of-range values; with a weight per feature too, each
    product weighted by the feature its column's name says."""
    train, _, other = rows
    n = len(ADVISING_DESIGN.features)
    weights = (
        tuple(np.linspace(0.1, 3.0, n)[np.random.default_rng(1).permutation(n)])
        if weighted
        else None
    )
    ours = SplineBasis(ADVISING_DESIGN, scale, weights).fit(train)
    stock = stock_basis(ADVISING_DESIGN, scale, weights).fit(train)
    for x in (train, other):
        expected = stock.transform(x)
        assert ours.transform(x).shape == expected.shape
        assert np.abs(ours.transform(x) - expected).max() <= 1e-12
    assert np.array_equal(
        SplineBasis(ADVISING_DESIGN, scale, weights).fit_transform(train), ours.transform(train)
    )
    single = SplineBasis(ADVISING_DESIGN, scale, weights, np.float32).fit_transform(train)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, stock.transform(train), rtol=1e-6, atol=1e-6)


def test_estimates_and_intervals_are_those_of_the_stock_composites(
    model: OutcomeModel, rows: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    """The fitted advising model gives the probabilities and intervals that its spline
    component fitted on the stock composites' basis (in single precision, as training fits)
    gives, with that fit's covariance."""
    train, y, other = rows
    choice = model.choice
    assert len(train) == model.sizes["advising_model_train"]  # all of them: no subsample
    weights = choice["weights"] and tuple(choice["weights"][f] for f in ADVISING_DESIGN.features)
    stock_fit = make_pipeline(
        stock_basis(ADVISING_DESIGN, choice["scale"], weights),
        FunctionTransformer(np.float32),
        LogisticRegression(C=choice["c"], max_iter=5000),
    ).fit(train, y)
    stock = Pipeline([stock_fit.steps[0], stock_fit.steps[-1]])  # transforms in double
    before = dataclasses.replace(
        model, advising=stock, covariance=coefficient_covariance(stock, train)
    )
    for ours, theirs in zip(model.predict_matrix(other), before.predict_matrix(other), strict=True):
        # the two single-precision bases may round a last bit apart, and the fits follow
        assert np.abs(ours - theirs).max() <= 1e-4


def test_the_boosting_category_lookup_gives_what_the_encoder_gave(features: pl.DataFrame) -> None:
    """Unknown levels, missing values and every known level code as scikit-learn codes them."""
    design = ADVISING_DESIGN
    x = design.matrix(features.filter(pl.col("y_agreement").is_not_null()))
    y = features.filter(pl.col("y_agreement").is_not_null())["y_agreement"].to_numpy()
    ours = gradient_boosting(design.categorical, seed=1, max_iter=60).fit(x, y)
    stock = HistGradientBoostingClassifier(**ours.get_params()).fit(x, y)
    assert isinstance(ours._preprocessor, CategoryLookup)
    assert isinstance(stock._preprocessor, ColumnTransformer)
    probe = x[:500].copy()
    columns = np.flatnonzero(design.categorical)
    probe[:100, columns] = np.nan  # missing
    probe[100:200, columns] = 97.0  # never seen
    np.testing.assert_array_equal(
        ours._preprocessor.transform(probe), stock._preprocessor.transform(probe)
    )
    np.testing.assert_array_equal(ours.predict_proba(probe), stock.predict_proba(probe))


def test_a_number_missing_in_every_training_case_keeps_the_columns_in_place(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """A source that never records one number (missing in every training case) still gets
    every other column where it belongs: the category levels and the other numbers' splines
    are those of a basis fitted where the number was recorded, and the number's own splines
    are zeros (they carry nothing), whatever a later case holds."""
    train, _, other = rows
    design = ADVISING_DESIGN
    levels = sum(design.level_counts(design.category_columns))
    blank = train.copy()
    blank[:, np.flatnonzero(~design.categorical)[1]] = np.nan  # the second number
    ours = SplineBasis(design, 0.5).fit(blank).transform(other)
    theirs = SplineBasis(design, 0.5).fit(train).transform(other)
    width = SPLINE_KNOTS + 2  # cubic splines per number
    numbers = levels + width * int((~design.categorical).sum())
    own = np.zeros(ours.shape[1], dtype=bool)
    own[levels + width : levels + 2 * width] = True
    assert np.isfinite(ours).all()
    assert (ours[:, own] == 0).all()
    assert (theirs[:, own[: theirs.shape[1]]] != 0).any()
    kept = ~own[:numbers]
    assert np.abs(ours[:, :numbers][:, kept] - theirs[:, :numbers][:, kept]).max() <= 1e-12
