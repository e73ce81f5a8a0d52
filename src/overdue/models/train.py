"""The advising model of P(agreement | case, approach), chosen by the data at hand.

Two components: a spline logistic regression whose penalty and approach interactions are chosen
by held-out log loss on the calibration period (``choose_penalty``), and histogram gradient
boosting (thresholds and interactions the additive model cannot draw). A logistic regression on
their out-of-fold log-odds over the training and calibration periods weighs them (non-negative
weights: a component can drop out) and calibrates the result in one step, as a super learner
does; the components themselves then learn from both periods. Per-case intervals: the spline
component's coefficient covariance gives the sampling part; ``interval_spread`` adds, on the
log-odds scale, the error that covariance cannot see (bias, selection), set from the self-check
(0 until then). The newest cases test it all, beside two baselines.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

import numpy as np
import polars as pl
from scipy.special import expit
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from overdue.contract import APPROACHES
from overdue.features import APPROACH, CONTEXT_FEATURES, HISTORY, PREPARATION
from overdue.models.design import (
    Design,
    SplineBasis,
    blocks,
    gradient_boosting,
    logistic_baseline,
    spline_logistic,
)
from overdue.models.metrics import probability_metrics
from overdue.models.parallel import side_by_side
from overdue.models.sample import capped_rows

ADVISING_DESIGN: Final = Design(
    tuple(f.name for f in CONTEXT_FEATURES + HISTORY + PREPARATION + APPROACH)
)
"""What the advising model reads: context, the debtor's history and the actions, never the
plan terms, process or outcome fields."""

ADVISING_METRICS: Final = "advising_stack"
"""The advising model's name in ``metrics``."""
TEST_SHARE: Final = 0.2
CALIBRATION_SHARE: Final = 0.2  # of what is left after the test set
ADVISING_MAX_ROWS: Final = 300_000
"""The spline component and the logistic baseline learn from at most this many cases (a random
subset): their few hundred coefficients are pinned down long before, and the fit stays within
minutes."""
BOOSTING_MAX_ROWS: Final = 600_000
"""The boosting component learns from at most this many cases (a random subset): past a few
hundred thousand its trees barely change, while its copies of the rows grow with them."""
STACK_FOLDS: Final = 2
"""The stack weighs the components' log-odds on each of this many random folds of its cases,
from fits on the other folds."""
STACK_MAX_ROWS: Final = 200_000
"""The stack learns from at most this many cases of the training and calibration periods (a
random subset; every case up to 250,000 labelled ones): three weights are pinned down long
before, and the folds' fits stay a fraction of the final ones at a million cases."""
PENALTY_GRID: Final = (0.0003, 0.001, 0.003, 0.01, 0.03)
"""Candidate inverse ridge penalties ``C`` (scikit-learn's: the penalty's weight against the
summed log loss, i.e. a coefficient's prior variance whatever the number of cases)."""
SCALE_GRID: Final = (0.0, 0.25, 0.5, 1.0)
"""Candidate weights of the approach interactions (0: approach effects the same for all)."""
REWEIGHTINGS: Final = 3
"""At most this many adaptive reweightings of the features' interactions (each kept only if
held-out loss falls): on the development worlds the third still helped where a few fields
moderate the approaches."""
SELECTION_ROWS: Final = 60_000
"""Penalty and interactions are chosen on fits to at most this many training cases, scored on
at most this many calibration cases (their bases are held through the search)."""
MIN_LABELLED: Final = 200
"""Fewer labelled cases than this and the models refuse to fit."""
Z_95: Final = 1.959964


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
    """The advising model: its two components, their stacking (intercept and weights on the
    components' log-odds), the spline component's coefficient covariance, the extra log-odds
    spread of the intervals, what was chosen and how it did, and the logistic baseline."""

    design: Design
    label: str
    advising: Pipeline
    boosting: HistGradientBoostingClassifier
    stack: np.ndarray
    covariance: np.ndarray
    baseline: ClassifierMixin
    metrics: dict[str, dict[str, float]]
    period: dict[str, str]
    sizes: dict[str, int]
    choice: dict[str, Any]
    interval_spread: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    sustain: np.ndarray | None = None
    """Coefficients of P(plan kept 12 months | agreed) on the spline basis, intercept first
    (``overdue.models.sustain``); None when too few cases."""
    sustain_covariance: np.ndarray | None = None

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probabilities for the rows of a feature frame (no intervals: cheaper)."""
        return np.asarray(expit(self.log_odds(self.design.matrix(frame))[0]))

    def predict_with_interval(
        self, frame: pl.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability and its 95% interval for the rows of a feature frame."""
        return self.predict_matrix(self.design.matrix(frame))

    def predict_matrix(
        self, x: np.ndarray, z: float = Z_95
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability and interval for design-matrix rows: the stacked log-odds ± z standard
        errors, the spline component's (from its covariance, times its weight) and
        ``interval_spread`` added in quadrature."""
        log_odds, se = self.log_odds(x, standard_errors=True)
        return interval(log_odds, se, self.interval_spread, z)

    def log_odds(
        self, x: np.ndarray, standard_errors: bool = False, basis: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The stacked log-odds of design-matrix rows and (if asked, else zeros) their standard
        errors: the spline component's, from its covariance, times its weight. ``basis``: the
        rows' ``spline_rows`` when the caller has them already."""
        covariance = self.covariance if standard_errors else None
        spline, se = spline_log_odds(self.advising, covariance, x, basis)
        log_odds = self.stack[0] + self.stack[1] * spline
        if self.stack[2] != 0:
            log_odds = log_odds + self.stack[2] * self.boosting.decision_function(x)
        return log_odds, self.stack[1] * se

    def spline_rows(self, x: np.ndarray, dtype: type[np.floating[Any]] = np.float64) -> np.ndarray:
        """The spline component's basis of design-matrix rows (what its coefficients multiply),
        in ``dtype`` (a copy of the fitted basis transforms: the model itself is not touched)."""
        basis = self.advising[0]
        if basis.dtype is not dtype:
            basis = copy.copy(basis).set_params(dtype=dtype)
        return np.asarray(basis.transform(x))

    def predict_by_approach(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """P(label) had each row asked for each approach, everything else as it is."""
        return {
            code: self.predict(frame.with_columns(pl.lit(code).alias("approach")))
            for code in APPROACHES
        }


def interval(
    log_odds: np.ndarray, se: np.ndarray, spread: float, z: float = Z_95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P and its interval: log-odds ± z · √(se² + spread²), through the logistic function."""
    half = z * np.sqrt(se**2 + spread**2)
    return expit(log_odds), expit(log_odds - half), expit(log_odds + half)


def covariance_products(covariance: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The spline basis rows with the intercept, Z, and Z·Σ (Σ the coefficients' covariance):
    a row's standard error is √(z·Σ·z), the covariance of two rows z_a·Σ·z_b."""
    z = np.column_stack([np.ones(len(basis)), basis])
    return z, z @ covariance


def spline_standard_errors(z: np.ndarray, z_cov: np.ndarray) -> np.ndarray:
    """Standard errors of the spline log-odds of rows Z from ``covariance_products``."""
    return np.sqrt(np.maximum((z_cov * z).sum(1), 0))


def difference_interval(
    model: OutcomeModel,
    a: tuple[np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray],
    p_a: np.ndarray,
    p_b: np.ndarray,
    z: float = Z_95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p_a − p_b of paired rows (e.g. two approaches for one case) and its interval; ``a`` and
    ``b`` are the rows' ``covariance_products``.

    Delta method on the probability scale: the gradient of p_a − p_b in the spline
    coefficients is w·(s_a·z_a − s_b·z_b), with s = p(1−p) and w the spline's stack weight, so
    its variance is w²(s_a²·z_aΣz_a + s_b²·z_bΣz_b − 2·s_a·s_b·z_aΣz_b): what two rows of one
    case share cancels. The extra spread τ (``interval_spread``) is added for each side as if
    independent, s_a·τ and s_b·τ in quadrature (√2·τ on the log-odds scale): conservative,
    since the error it stands for is likely shared by two rows of one case.
    """
    (z_a, zc_a), (z_b, zc_b) = a, b
    s_a, s_b = p_a * (1 - p_a), p_b * (1 - p_b)
    aa, bb, ab = (zc_a * z_a).sum(1), (zc_b * z_b).sum(1), (zc_a * z_b).sum(1)
    spline = model.stack[1] ** 2 * (s_a**2 * aa + s_b**2 * bb - 2 * s_a * s_b * ab)
    variance = np.maximum(spline, 0) + model.interval_spread**2 * (s_a**2 + s_b**2)
    half = z * np.sqrt(variance)
    difference = p_a - p_b
    return difference, difference - half, difference + half


def spline_log_odds(
    gam: Pipeline, covariance: np.ndarray | None, x: np.ndarray, basis: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The spline component's log-odds and their standard errors from its covariance (zeros
    without one); ``basis``: the rows' basis when already computed, else built ``BASIS_BLOCK``
    rows at a time (a basis of every row at once may not fit in memory)."""
    if basis is not None:
        return basis_log_odds(gam[-1], covariance, basis)
    parts = [
        basis_log_odds(gam[-1], covariance, gam[0].transform(x[rows])) for rows in blocks(len(x))
    ]
    if not parts:
        return np.zeros(0), np.zeros(0)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def basis_log_odds(
    lr: LogisticRegression, covariance: np.ndarray | None, basis: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds of a fitted logistic regression on basis rows (its ``decision_function``
    without the per-call checks) and their standard errors from ``covariance`` (zeros
    without one)."""
    log_odds = basis @ lr.coef_[0] + lr.intercept_[0]
    if covariance is None:
        return log_odds, np.zeros(len(basis))
    return log_odds, spline_standard_errors(*covariance_products(covariance, basis))


def choose_penalty(
    design: Design,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_held: np.ndarray,
    y_held: np.ndarray,
) -> dict[str, Any]:
    """The spline component's ``C``, interaction ``scale`` and features' interaction
    ``weights`` with the least held-out log loss.

    First every feature's interactions weigh the same: a coordinate search over
    ``PENALTY_GRID`` x ``SCALE_GRID`` from the middle of both (the best C at this scale, then
    the best scale at that C, until the scale stays; each by ``descend``). Then, while held-out
    loss falls and at most ``REWEIGHTINGS`` times, the interactions are reweighted (adaptive
    ridge): each feature's weight becomes the size of its fitted interaction coefficients,
    the search runs again from where it stopped. A feature whose interactions the data support
    is penalised less, one whose do not more: where a few fields moderate the approaches the
    fit finds them instead of spreading its budget over all. The bases are fitted once.
    Returns the choice, each feature's weight by name (None: all 1), every fit tried with
    its held-out log loss, and ``interaction_gain``: how much less held-out log loss the choice
    has than the best fit without interactions, with that mean's standard error over the
    held-out cases (is the approaches' case-to-case difference distinguishable from noise?).
    """
    basis = SplineBasis(design, 1.0, dtype=np.float32)  # the fits' basis: single precision
    fit_main, fit_inter = np.hsplit(basis.fit_transform(x_fit), [basis.n_main_])
    basis.set_params(dtype=np.float64)  # the held-out losses: double
    held_main, held_inter = np.hsplit(basis.transform(x_held), [basis.n_main_])
    features = basis.product_features()
    steps: list[np.ndarray] = [np.ones(len(design.features))]  # features' weights per step
    # per fit: held-out loss, interaction coefficients, each held-out case's loss
    tried: dict[tuple[int, float, float], tuple[float, np.ndarray, np.ndarray]] = {}
    fits: dict[tuple[int, float], LogisticRegression] = {}  # per step and scale, warm-started
    built: dict[tuple[int, float], np.ndarray] = {}  # the last scaled basis: C's search reuses it

    def held_out_loss(step: int, c: float, scale: float) -> float:
        if (step, c, scale) not in tried:
            multiplier = scale * steps[step][features]
            if (step, scale) not in built:
                built.clear()
                built[step, scale] = (
                    np.hstack([fit_main, fit_inter * multiplier.astype(np.float32)])
                    if scale
                    else fit_main
                )
            fit_x = built[step, scale]
            lr = fits.setdefault((step, scale), LogisticRegression(max_iter=5000, warm_start=True))
            lr.set_params(C=c).fit(fit_x, y_fit)
            # the held-out cases' log-odds block by block: no scaled copy of their basis
            coef = lr.coef_[0]
            log_odds = held_main @ coef[: basis.n_main_] + lr.intercept_[0]
            if scale:
                log_odds += held_inter @ (multiplier * coef[basis.n_main_ :])
            p = np.clip(expit(log_odds), 1e-6, 1 - 1e-6)
            # the interaction coefficients on the standardised products
            effective = multiplier * coef[basis.n_main_ :] if scale else np.zeros(len(features))
            per_case = -np.where(y_held == 1, np.log(p), np.log1p(-p))
            tried[step, c, scale] = float(per_case.mean()), effective, per_case
        return tried[step, c, scale][0]

    def search(step: int, c: float, scale: float, scales: tuple[float, ...]) -> tuple[float, float]:
        while True:
            c = descend(PENALTY_GRID, c, partial(held_out_loss, step, scale=scale))
            better = descend(scales, scale, partial(held_out_loss, step, c))
            if better == scale:
                return c, scale
            scale = better

    step = 0
    c, scale = search(0, PENALTY_GRID[len(PENALTY_GRID) // 2], SCALE_GRID[2], SCALE_GRID)
    while scale and step < REWEIGHTINGS:
        steps.append(feature_weights(tried[step, c, scale][1], features, len(design.features)))
        c_next, scale_next = search(step + 1, c, scale, SCALE_GRID[1:])
        if held_out_loss(step + 1, c_next, scale_next) >= held_out_loss(step, c, scale):
            break
        step, c, scale = step + 1, c_next, scale_next
    plain = descend(PENALTY_GRID, c, partial(held_out_loss, 0, scale=0.0))
    gain = tried[0, plain, 0.0][2] - tried[step, c, scale][2]
    return {
        "c": c,
        "scale": scale,
        "reweightings": step,
        "interaction_gain": {
            "held_out_log_loss": float(gain.mean()),
            "standard_error": float(gain.std(ddof=1) / np.sqrt(len(gain))),
        },
        "weights": dict(zip(design.features, map(float, steps[step]), strict=True))
        if step
        else None,
        "tried": [
            {"reweighting": key[0], "c": key[1], "scale": key[2], "held_out_log_loss": loss}
            for key, (loss, *_) in sorted(tried.items())
        ],
    }


def feature_weights(effective: np.ndarray, features: np.ndarray, n_features: int) -> np.ndarray:
    """Each feature's interaction weight from its fitted interaction coefficients (on the
    standardised products): their root mean square, scaled so the interaction columns' squared
    weights average 1 (the scale grid keeps its meaning). A ridge penalty whose prior standard
    deviation follows the last fit's coefficients: repeated, the adaptive ridge, which drives
    unsupported features' interactions towards 0 as a group lasso would."""
    columns = np.bincount(features, minlength=n_features)
    size = np.sqrt(
        np.bincount(features, effective**2, minlength=n_features) / np.maximum(columns, 1)
    )
    mean_square = (columns * size**2).sum() / columns.sum()
    return size / np.sqrt(mean_square) if mean_square > 0 else np.ones(n_features)


def descend(grid: tuple[float, ...], start: float, loss: Callable[[float], float]) -> float:
    """From ``start``, step along ``grid`` towards the neighbour with less ``loss`` while the
    loss falls (held-out loss against a penalty has one valley): 3-4 fits, not the whole grid."""
    at = grid.index(start)
    while True:
        neighbours = [i for i in (at - 1, at + 1) if 0 <= i < len(grid)]
        best = min(neighbours, key=lambda i: loss(grid[i]))
        if loss(grid[best]) >= loss(grid[at]):
            return grid[at]
        at = best


def stack_components(log_odds: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Intercept and non-negative weights on the components' log-odds (columns) by unpenalised
    logistic regression on held-out cases; a component whose weight comes out negative is
    dropped (weight 0) and the rest refitted."""
    used = list(range(log_odds.shape[1]))
    while True:
        lr = LogisticRegression(C=np.inf, max_iter=1000).fit(log_odds[:, used], y)
        weights = lr.coef_[0]
        if (weights >= 0).all() or len(used) == 1:
            break
        used.pop(int(np.argmin(weights)))
    out = np.zeros(log_odds.shape[1] + 1)
    out[0] = lr.intercept_[0]
    out[1 + np.array(used)] = np.maximum(weights, 0)
    return out


def chosen_spline(
    design: Design, choice: dict[str, Any], x: np.ndarray, y: np.ndarray, rows: np.ndarray
) -> Pipeline:
    """The spline component with the penalty and interactions of ``choice``, fitted on ``rows``
    on a single-precision basis; it transforms in double precision."""
    weights = choice["weights"] and tuple(choice["weights"][f] for f in design.features)
    gam = spline_logistic(design, choice["c"], choice["scale"], weights)
    gam.set_params(splinebasis__dtype=np.float32).fit(x[rows], y[rows])
    return gam.set_params(splinebasis__dtype=np.float64)


def spline_fits(
    design: Design,
    x: np.ndarray,
    y: np.ndarray,
    selection: np.ndarray,
    scoring: np.ndarray,
    folds: list[np.ndarray],
    final: np.ndarray,
) -> tuple[dict[str, Any], list[Pipeline], Pipeline, np.ndarray]:
    """The spline component's penalty and interactions chosen on rows ``selection`` by the loss
    on ``scoring``; then, one after another (each holds a basis of hundreds of MB), its fits on
    each of ``folds`` and on ``final``, with the final fit's coefficient covariance."""
    choice = choose_penalty(design, x[selection], y[selection], x[scoring], y[scoring])
    folded = [chosen_spline(design, choice, x, y, rows) for rows in folds]
    gam = chosen_spline(design, choice, x, y, final)
    return choice, folded, gam, coefficient_covariance(gam, x[final])


def boosting_fits(
    design: Design,
    seed: int,
    x: np.ndarray,
    y: np.ndarray,
    baseline_rows: np.ndarray,
    folds: list[np.ndarray],
    final: np.ndarray,
) -> tuple[Pipeline, list[HistGradientBoostingClassifier], HistGradientBoostingClassifier]:
    """The logistic baseline on ``baseline_rows``; the boosting component on each of ``folds``
    and on ``final``."""
    baseline = logistic_baseline(design).fit(x[baseline_rows], y[baseline_rows])
    folded = [boosting_component(design, seed, x, y, rows) for rows in folds]
    return baseline, folded, boosting_component(design, seed, x, y, final)


def boosting_component(
    design: Design, seed: int, x: np.ndarray, y: np.ndarray, rows: np.ndarray
) -> HistGradientBoostingClassifier:
    """The boosting component, fitted on ``rows``."""
    return gradient_boosting(design.categorical, seed).fit(x[rows], y[rows])


def fit_outcome_model(
    features: pl.DataFrame,
    label: str = "y_agreement",
    seed: int = 0,
    design: Design = ADVISING_DESIGN,
) -> OutcomeModel:
    """Choose on the oldest cases and the next, stack and fit on both, test on the newest."""
    data = features.filter(pl.col(label).is_not_null())
    if data.height < MIN_LABELLED:
        raise TooFewCasesError(
            f"only {data.height} labelled cases for {label}; at least {MIN_LABELLED} are needed "
            "to fit and test a model honestly"
        )
    split = time_split(data)
    x = design.matrix(data)
    y = data[label].to_numpy().astype(np.int8)
    if len(np.unique(y[split.train])) < 2 or len(np.unique(y[split.calibration])) < 2:
        raise TooFewCasesError(
            f"the training or the calibration cases all have the same {label}: nothing to learn"
        )

    held = split.calibration
    selection = capped_rows(split.train, SELECTION_ROWS, np.random.default_rng(seed))
    scoring = capped_rows(held, SELECTION_ROWS, np.random.default_rng(seed))
    fit_rows = np.concatenate([split.train, held])
    final_rows = capped_rows(fit_rows, ADVISING_MAX_ROWS, np.random.default_rng(seed))
    boosting_rows = capped_rows(fit_rows, BOOSTING_MAX_ROWS, np.random.default_rng(seed))

    # the stack's cases in folds: each fold's log-odds from components that learnt from the others
    stack_rows = capped_rows(fit_rows, STACK_MAX_ROWS, np.random.default_rng(seed))
    fold = np.random.default_rng(seed).permutation(len(stack_rows)) % STACK_FOLDS
    learnt = [stack_rows[fold != k] for k in range(STACK_FOLDS)]
    chains: list[Callable[[], Any]] = [
        partial(spline_fits, design, x, y, selection, scoring, learnt, final_rows),
        partial(boosting_fits, design, seed, x, y, final_rows, learnt, boosting_rows),
    ]
    splines, boostings = side_by_side(chains)
    choice, folded_splines, gam, covariance = splines
    baseline, folded_boostings, gbm = boostings
    out_of_fold = np.zeros((len(stack_rows), 2))
    for k, (spline, boosting) in enumerate(zip(folded_splines, folded_boostings, strict=True)):
        rows = x[stack_rows[fold == k]]
        out_of_fold[fold == k, 0] = spline_log_odds(spline, None, rows)[0]
        out_of_fold[fold == k, 1] = boosting.decision_function(rows)
    stack_y = y[stack_rows]
    stack = stack_components(out_of_fold, stack_y)
    choice |= {
        "stack": {
            "intercept": float(stack[0]),
            "spline": float(stack[1]),
            "boosting": float(stack[2]),
        },
        "boosting_iterations": int(gbm.n_iter_),
    }
    model = OutcomeModel(design, label, gam, gbm, stack, covariance, baseline, {}, {}, {}, choice)

    test_x, test_y = x[split.test], y[split.test]
    alone = {
        "spline_logistic_calibrated": (stack_components(out_of_fold[:, :1], stack_y), gam),
        "gradient_boosting_calibrated": (stack_components(out_of_fold[:, 1:], stack_y), gbm),
    }
    model.metrics = {
        ADVISING_METRICS: probability_metrics(test_y, model.predict_matrix(test_x)[0]),
        **{
            name: probability_metrics(
                test_y, expit(weights[0] + weights[1] * part.decision_function(test_x))
            )
            for name, (weights, part) in alone.items()
        },
        "logistic_baseline": probability_metrics(test_y, baseline.predict_proba(test_x)[:, 1]),
        "base_rate_baseline": probability_metrics(test_y, np.full(len(test_y), y[fit_rows].mean())),
    }
    dates = data["first_contact_on"]
    model.period = {
        "train_from": str(dates.gather(split.train).min()),
        "train_to": str(dates.gather(held).max()),
        "test_from": str(dates.gather(split.test).min()),
        "test_to": str(dates.gather(split.test).max()),
    }
    model.sizes = {
        "train": len(split.train),
        "advising_model_train": len(final_rows),
        "boosting_train": len(boosting_rows),
        "stack": len(stack_rows),
        "selection": len(selection),
        "selection_scoring": len(scoring),
        "baseline_train": len(final_rows),
        "calibration": len(held),
        "test": len(split.test),
    }
    return model


def coefficient_covariance(gam: Pipeline, x: np.ndarray) -> np.ndarray:
    """Covariance of the logistic coefficients (intercept first): the inverse Hessian of the
    penalised log-likelihood at the fit, ``(Zᵀ W Z + I / C)⁻¹`` (Laplace approximation: the
    ridge penalty as a normal prior of variance C; the intercept is not penalised)."""
    model = gam[-1]
    hessian = np.zeros((model.coef_.shape[1] + 1,) * 2)
    for rows in blocks(len(x)):
        basis = gam[0].transform(x[rows])
        z = np.column_stack([np.ones(len(basis)), basis])
        p = expit(basis_log_odds(model, None, basis)[0])
        hessian += (z * (p * (1 - p))[:, None]).T @ z
    hessian[np.arange(1, len(hessian)), np.arange(1, len(hessian))] += 1.0 / model.C
    return np.linalg.pinv(hessian, hermitian=True)
