"""How long it holds: P(the agreed plan is still kept at 12 months | agreed), per case.

The data are the agreed cases and their ``y_sustained_12`` (contract, "What counts as
success"): 1 when the plan was followed for 12 months or completed, 0 when it broke within 12
months, null when censored (followed for fewer months and not broken). Censoring here is
administrative (a recent agreement has been followed for a short time), so the observed cases
are weighted by the inverse probability of being observed that long (IPCW): G(t), the share of
agreed cases followed for at least t months, with t = 12 for a kept plan, the month it broke
for a broken one and its follow-up for one completed sooner; weights are capped at
``MAX_WEIGHT`` and scaled to mean 1.

The model is a ridge-penalised logistic regression on the advising model's own spline basis
(``OutcomeModel.spline_rows``: splines of every feature and, when chosen, approach
interactions), with the penalty the advising model chose: a vector of coefficients, so a
request costs a matrix product on rows the estimator has already turned into that basis. Its
95% intervals come from the Laplace covariance of the weighted fit: sampling error only, not
widened by a self-check as the agreement model's are.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import polars as pl
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from overdue.models.design import blocks
from overdue.models.train import ADVISING_MAX_ROWS, OutcomeModel

HORIZON: Final = 12
MAX_WEIGHT: Final = 20.0
MIN_OBSERVED: Final = 200
"""Fewer agreed cases with a known 12-month result and the model is not fitted (no estimate)."""
LABEL: Final = f"y_sustained_{HORIZON}"
FOLLOW_UP_COLUMNS: Final = ("case_id", "plan_status", "followup_months", "months_to_redefault")
"""The case columns the model reads beside the features."""


def followed_at_least(followup: np.ndarray, months: np.ndarray) -> np.ndarray:
    """G(t): the share of ``followup`` values >= each of ``months``."""
    ordered = np.sort(followup)
    return 1.0 - np.searchsorted(ordered, months, side="left") / len(ordered)


def censoring_weights(agreed: pl.DataFrame, horizon: int = HORIZON) -> np.ndarray:
    """IPCW of agreed cases with a known result at ``horizon`` (0 for censored ones): 1/G(t),
    t the month the result became known, capped at ``MAX_WEIGHT``, scaled to mean 1."""
    label = agreed[f"y_sustained_{horizon}"].to_numpy()
    followup = agreed["followup_months"].fill_null(0).to_numpy().astype(float)
    broke = agreed["months_to_redefault"].fill_null(horizon).to_numpy().astype(float)
    completed = (agreed["plan_status"] == "completed").fill_null(False).to_numpy()
    known_at = np.where(label == 0, np.minimum(broke, horizon), horizon)
    known_at = np.where(completed & (label == 1), np.minimum(followup, horizon), known_at)
    share = followed_at_least(followup, known_at)
    weights = np.where(np.isnan(label), 0.0, 1.0 / np.maximum(share, 1.0 / MAX_WEIGHT))
    observed = weights > 0
    return weights / weights[observed].mean() if observed.any() else weights


def fit_sustain_model(
    features: pl.DataFrame, follow_up: pl.DataFrame, model: OutcomeModel, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """Coefficients (intercept first) of the weighted model of keeping the plan 12 months on
    ``model``'s spline basis, their covariance and what it was fitted on; None with fewer than
    ``MIN_OBSERVED`` known results or only one kind. At most ``ADVISING_MAX_ROWS`` observed
    cases (a seeded sample, as the advising model learns): the basis of every agreed case of a
    million took 8 GB."""
    agreed = features.filter(pl.col("y_agreement") == 1).join(
        follow_up.select(FOLLOW_UP_COLUMNS), on="case_id", how="left", maintain_order="left"
    )
    weights = censoring_weights(agreed)
    observed = weights > 0
    if observed.sum() < MIN_OBSERVED:
        return None
    data, w = agreed.filter(pl.Series(observed)), weights[observed]
    if data.height > ADVISING_MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(data.height, ADVISING_MAX_ROWS, False))
        data, w = data[rows], w[rows]
    y = data[LABEL].to_numpy().astype(np.int8)
    if len(np.unique(y)) < 2:
        return None
    # fitted on a single-precision basis, as the advising model's spline: half the memory and
    # about 0.6 of the time; the coefficients and their covariance in double precision
    basis = model.spline_rows(model.design.matrix(data), dtype=np.float32)
    c = float(model.choice.get("c", 1.0))
    fit = LogisticRegression(C=c, max_iter=5000).fit(basis, y, sample_weight=w)
    coefficients = np.concatenate([fit.intercept_, fit.coef_[0]]).astype(np.float64)
    hessian = np.zeros((len(coefficients),) * 2)
    for block in blocks(len(basis)):  # no n x columns copies
        z = np.column_stack([np.ones(len(basis[block])), basis[block]])
        p = expit(z @ coefficients)
        hessian += (z * (w[block] * p * (1 - p))[:, None]).T @ z
    hessian[np.arange(1, len(hessian)), np.arange(1, len(hessian))] += 1.0 / c
    summary = {
        "horizon_months": HORIZON,
        "agreed": agreed.height,
        "observed": int(observed.sum()),
        "censored": int((~observed).sum()),
        "fitted": data.height,
        "kept_share_weighted": round(float(np.average(y, weights=w)), 4),
        "c": c,
    }
    return coefficients, np.linalg.pinv(hessian, hermitian=True), summary


def sustain_interval(
    coefficients: np.ndarray, covariance: np.ndarray, z: np.ndarray, z_95: float = 1.959964
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(kept 12 months | agreed) for spline basis rows with the intercept (``z``, as
    ``covariance_products`` gives them) and its 95% interval (log-odds ± z·se)."""
    log_odds = z @ coefficients
    half = z_95 * np.sqrt(np.maximum(((z @ covariance) * z).sum(1), 0))
    return expit(log_odds), expit(log_odds - half), expit(log_odds + half)
