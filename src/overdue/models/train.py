"""Outcome models: a time-based split, the advising model (a spline logistic regression with
Platt calibration and its coefficients' covariance) and, for comparison in ``metrics``, a
calibrated gradient-boosting model and two baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import polars as pl
from scipy.special import expit
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from overdue.contract import APPROACHES
from overdue.features import APPROACH, CONTEXT_FEATURES, HISTORY, PREPARATION
from overdue.models.design import Design, gradient_boosting, logistic_baseline, spline_logistic
from overdue.models.metrics import probability_metrics

ADVISING_DESIGN: Final = Design(
    tuple(f.name for f in CONTEXT_FEATURES + HISTORY + PREPARATION + APPROACH)
)
"""What the advising model reads: context, the debtor's history and the actions, never the
plan terms, process or outcome fields."""

ADVISING_METRICS: Final = "spline_logistic_calibrated"
"""The advising model's name in ``metrics``."""
TEST_SHARE: Final = 0.2
CALIBRATION_SHARE: Final = 0.2  # of what is left after the test set
ADVISING_MAX_ROWS: Final = 300_000
"""The advising model learns from at most this many of the training cases (a random subset):
a few hundred coefficients are pinned down long before, and the fit stays within minutes."""
COVARIANCE_CHUNK: Final = 50_000
MIN_LABELLED: Final = 200
"""Fewer labelled cases than this and the models refuse to fit."""


class TooFewCasesError(ValueError):
    """There are not enough labelled cases to fit a model honestly."""


@dataclass(frozen=True)
class TimeSplit:
    """Row indices of the oldest (train), middle (calibration) and newest (test) cases."""

    train: np.ndarray
    calibration: np.ndarray
    test: np.ndarray


def time_split(frame: pl.DataFrame) -> TimeSplit:
    """Order by first contact (then case id): the newest cases are the test set."""
    order = np.lexsort(
        (frame["case_id"].to_numpy(), frame["first_contact_on"].to_physical().to_numpy())
    )
    n = len(order)
    n_test = round(n * TEST_SHARE)
    n_cal = round((n - n_test) * CALIBRATION_SHARE)
    n_train = n - n_test - n_cal
    return TimeSplit(order[:n_train], order[n_train : n_train + n_cal], order[n_train + n_cal :])


@dataclass
class OutcomeModel:
    """The calibrated advising model of P(label | features), its coefficients' covariance for
    intervals, and the logistic baseline."""

    design: Design
    label: str
    calibrated: CalibratedClassifierCV
    covariance: np.ndarray
    baseline: ClassifierMixin
    metrics: dict[str, dict[str, float]]
    period: dict[str, str]
    sizes: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def advising(self) -> Pipeline:
        """The advising model's pipeline (spline basis, then the logistic regression)."""
        return self.calibrated.estimator.estimator  # the fitted pipeline inside FrozenEstimator

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probabilities for the rows of a feature frame."""
        return self.predict_matrix(self.design.matrix(frame))[0]

    def predict_with_interval(
        self, frame: pl.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability and its 95% interval for the rows of a feature frame."""
        return self.predict_matrix(self.design.matrix(frame))

    def predict_matrix(
        self, x: np.ndarray, z: float = 1.96
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability and interval for design-matrix rows: the log-odds ± z standard errors
        (from the coefficients' covariance), each through the calibration."""
        gam = self.advising
        basis = gam[:-1].transform(x)
        log_odds = gam[-1].decision_function(basis)
        with_intercept = np.column_stack([np.ones(len(basis)), basis])
        se = np.sqrt(np.maximum(((with_intercept @ self.covariance) * with_intercept).sum(1), 0))
        # scikit-learn has no public way to apply a fitted sigmoid calibration to other scores
        # (here log-odds ± z·se); refitting it publicly would change every saved number.
        platt = self.calibrated.calibrated_classifiers_[0].calibrators[0]
        p, a, b = (platt.predict(log_odds + shift) for shift in (0.0, -z * se, z * se))
        return p, np.minimum(a, b), np.maximum(a, b)

    def predict_by_approach(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """P(label) had each row asked for each approach, everything else as it is."""
        return {
            code: self.predict(frame.with_columns(pl.lit(code).alias("approach")))
            for code in APPROACHES
        }


def fit_outcome_model(
    features: pl.DataFrame,
    label: str = "y_agreement",
    seed: int = 0,
    design: Design = ADVISING_DESIGN,
) -> OutcomeModel:
    """Train on the oldest cases, calibrate on the next, test on the newest."""
    data = features.filter(pl.col(label).is_not_null())
    if data.height < MIN_LABELLED:
        raise TooFewCasesError(
            f"only {data.height} labelled cases for {label}; at least {MIN_LABELLED} are needed "
            "to fit and test a model honestly"
        )
    split = time_split(data)
    x = design.matrix(data)
    y = data[label].to_numpy().astype(np.int8)
    if len(np.unique(y[split.train])) < 2:
        raise TooFewCasesError(f"every training case has the same {label}: nothing to learn")

    learn = split.train
    if len(learn) > ADVISING_MAX_ROWS:
        learn = np.sort(np.random.default_rng(seed).choice(learn, ADVISING_MAX_ROWS, replace=False))
    gam = spline_logistic(design).fit(x[learn], y[learn])
    covariance = coefficient_covariance(gam, x[learn])
    # Platt scaling: smooth, so per-case estimates keep their order and spacing
    calibrated = _platt(gam, x[split.calibration], y[split.calibration])
    gbm = gradient_boosting(design.categorical, seed).fit(x[split.train], y[split.train])
    fit_rows = np.concatenate([split.train, split.calibration])
    baseline = logistic_baseline(design).fit(x[fit_rows], y[fit_rows])

    test_x, test_y = x[split.test], y[split.test]
    prior = np.full(len(test_y), y[fit_rows].mean())
    metrics = {
        ADVISING_METRICS: probability_metrics(test_y, calibrated.predict_proba(test_x)[:, 1]),
        "gradient_boosting_calibrated": probability_metrics(
            test_y,
            _platt(gbm, x[split.calibration], y[split.calibration]).predict_proba(test_x)[:, 1],
        ),
        "logistic_baseline": probability_metrics(test_y, baseline.predict_proba(test_x)[:, 1]),
        "base_rate_baseline": probability_metrics(test_y, prior),
    }
    dates = data["first_contact_on"]
    period = {
        "train_from": str(dates.gather(split.train).min()),
        "train_to": str(
            dates.gather(split.calibration).max()
            if len(split.calibration)
            else dates.gather(split.train).max()
        ),
        "test_from": str(dates.gather(split.test).min()),
        "test_to": str(dates.gather(split.test).max()),
    }
    sizes = {
        "train": len(split.train),
        "advising_model_train": len(learn),
        "calibration": len(split.calibration),
        "test": len(split.test),
    }
    return OutcomeModel(design, label, calibrated, covariance, baseline, metrics, period, sizes)


def _platt(model: ClassifierMixin, x: np.ndarray, y: np.ndarray) -> CalibratedClassifierCV:
    return CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid").fit(x, y)


def coefficient_covariance(gam: Pipeline, x: np.ndarray) -> np.ndarray:
    """Covariance of the logistic coefficients (intercept first): the inverse Hessian of the
    penalised log-likelihood at the fit, ``(Zᵀ W Z + I / C)⁻¹`` (Laplace approximation: the
    ridge penalty as a normal prior of variance C; the intercept is not penalised)."""
    model = gam[-1]
    hessian = np.zeros((model.coef_.shape[1] + 1,) * 2)
    for start in range(0, len(x), COVARIANCE_CHUNK):
        basis = gam[:-1].transform(x[start : start + COVARIANCE_CHUNK])
        z = np.column_stack([np.ones(len(basis)), basis])
        p = expit(model.decision_function(basis))
        hessian += (z * (p * (1 - p))[:, None]).T @ z
    hessian[np.arange(1, len(hessian)), np.arange(1, len(hessian))] += 1.0 / model.C
    return np.linalg.pinv(hessian, hermitian=True)
