"""How long it holds: P(the agreed plan is still kept at 12 months | agreed), per case.

The data are the agreed cases and their ``y_sustained_12`` (contract, "What counts as
success"): 1 when the plan was followed for 12 months or completed, 0 when it broke within 12
months, null when censored (followed for fewer months and not broken). Censoring here is
administrative (a recent agreement has been followed for a short time), so the observed cases
are weighted by the inverse probability of being observed that long (IPCW): G(t), the share of
agreed cases followed for at least t months, with t = 12 for a kept plan, the month it broke
for a broken one and its follow-up for one completed sooner; weights are capped at
``MAX_WEIGHT`` and scaled to mean 1.

The model is a ridge-penalised logistic regression (``SUSTAIN_C``) on the advising model's
features, approach included, one-hot categories and scaled numbers (the logistic baseline's
design): main effects only, simple on purpose. Its 95% intervals come from the Laplace
covariance of the weighted fit: sampling error only, not widened by a self-check as the
agreement model's are.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import polars as pl
from scipy.special import expit
from sklearn.pipeline import Pipeline

from overdue.models.design import Design, logistic_baseline

HORIZON: Final = 12
SUSTAIN_C: Final = 1.0
MAX_WEIGHT: Final = 20.0
MIN_OBSERVED: Final = 200
"""Fewer agreed cases with a known 12-month result and the model is not fitted (no estimate)."""
LABEL: Final = f"y_sustained_{HORIZON}"


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


def _dense(pipeline: Pipeline, x: np.ndarray) -> np.ndarray:
    z = pipeline[:-1].transform(x)
    return np.column_stack([np.ones(z.shape[0]), z.toarray() if hasattr(z, "toarray") else z])


def fit_sustain_model(
    features: pl.DataFrame, cases: pl.DataFrame, design: Design
) -> tuple[Pipeline, np.ndarray, dict[str, Any]] | None:
    """The weighted model of keeping the plan 12 months, its coefficients' covariance
    (intercept first) and what it was fitted on; None with fewer than ``MIN_OBSERVED``."""
    follow = cases.select("case_id", "plan_status", "followup_months", "months_to_redefault")
    agreed = features.filter(pl.col("y_agreement") == 1).join(
        follow, on="case_id", how="left", maintain_order="left"
    )
    weights = censoring_weights(agreed)
    observed = weights > 0
    if observed.sum() < MIN_OBSERVED:
        return None
    data = agreed.filter(pl.Series(observed))
    x = design.matrix(data)
    y = data[LABEL].to_numpy().astype(np.int8)
    if len(np.unique(y)) < 2:
        return None
    w = weights[observed]
    model = logistic_baseline(design)
    model.set_params(logisticregression__C=SUSTAIN_C)
    model.fit(x, y, logisticregression__sample_weight=w)
    z = _dense(model, x)
    p = expit(model.decision_function(x))
    hessian = (z * (w * p * (1 - p))[:, None]).T @ z
    hessian[np.arange(1, len(hessian)), np.arange(1, len(hessian))] += 1.0 / SUSTAIN_C
    summary = {
        "horizon_months": HORIZON,
        "agreed": agreed.height,
        "observed": int(observed.sum()),
        "censored": int((~observed).sum()),
        "kept_share_weighted": round(float(np.average(y, weights=w)), 4),
    }
    return model, np.linalg.pinv(hessian, hermitian=True), summary


def sustain_interval(
    model: Pipeline, covariance: np.ndarray, x: np.ndarray, z_95: float = 1.959964
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(kept 12 months | agreed) for design rows and its 95% interval (log-odds ± z·se)."""
    z = _dense(model, x)
    log_odds = model.decision_function(x)
    half = z_95 * np.sqrt(np.maximum(((z @ covariance) * z).sum(1), 0))
    return expit(log_odds), expit(log_odds - half), expit(log_odds + half)
