"""Tiny fixed examples for the sensitivity formulas, and how their reference numbers were made.

``python tests/models/sensitivity_support.py`` (in a scratch environment with doubleml 0.11.4:
``uv pip install doubleml==0.11.4``) prints DoubleML's numbers on the same nuisance predictions;
test_sensitivity.py holds them. doubleml is not a dependency: it pulls in statsmodels, optuna,
SQLAlchemy, alembic, matplotlib and seaborn for what is a 40-line check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from overdue.models.effects import AipwFit

ROWS = 400


def tiny(levels: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y, codes, mu n x levels, e n x levels): a small confounded example with fixed nuisance
    predictions (propensities within [0.1, 0.8], no clipping)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(ROWS)
    scores = np.column_stack([0.6 * (j - 1) * x for j in range(levels)])
    e = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    e = 0.1 + (1 - 0.1 * levels) * e  # every level at least 10%
    codes = (rng.random(ROWS)[:, None] > np.cumsum(e, axis=1)).sum(axis=1)
    mu = 1 / (1 + np.exp(-(0.3 * x[:, None] + 0.4 * np.arange(levels)[None, :] - 0.2)))
    y = (rng.random(ROWS) < mu[np.arange(ROWS), codes]).astype(float)
    return y, codes, mu, e


def fit_of(y: np.ndarray, codes: np.ndarray, mu: np.ndarray, e: np.ndarray) -> AipwFit:
    """An AipwFit from given nuisance predictions (what ``aipw`` computes from its models)."""
    import polars as pl

    from overdue.models.design import Design
    from overdue.models.effects import AipwFit, Treatment

    levels = mu.shape[1]
    taken = codes[:, None] == np.arange(levels)[None, :]
    phi = mu + taken * (y[:, None] - mu) / e
    names = tuple(str(i) for i in range(levels))
    treatment = Treatment("t", names, lambda _: pl.lit(0), Design(()))
    return AipwFit(treatment, phi, e, codes, mu, y)


def _doubleml_reference() -> None:  # pragma: no cover - needs doubleml, run by hand
    import doubleml as dml
    import pandas as pd
    from doubleml.utils import gain_statistics
    from sklearn.linear_model import LinearRegression, LogisticRegression

    def irm(y, d, g0, g1, m):  # type: ignore[no-untyped-def]
        data = dml.DoubleMLData(pd.DataFrame({"y": y, "d": d, "x": 0.0}), "y", "d", "x")
        model = dml.DoubleMLIRM(data, LinearRegression(), LogisticRegression(), n_folds=2)
        preds = {"d": {"ml_g0": g0[:, None], "ml_g1": g1[:, None], "ml_m": m[:, None]}}
        return model.fit(external_predictions=preds)

    y, codes, mu, e = tiny(2, seed=1)
    long = irm(y, codes, mu[:, 0], mu[:, 1], e[:, 1])
    long.sensitivity_analysis(cf_y=0.03, cf_d=0.04, rho=1.0, level=0.975)
    print("IRM theta", long.coef, "sensitivity_params", long.sensitivity_params)
    # a "short" fit: the same rows with blurred predictions, for gain_statistics
    short = irm(y, codes, 0.5 * mu[:, 0] + 0.3, 0.5 * mu[:, 1] + 0.3, 0.5 * e[:, 1] + 0.25)
    print("gain_statistics", gain_statistics(long, short), "short theta", short.coef)

    y, codes, mu, e = tiny(3, seed=2)
    for level in range(3):
        data = dml.DoubleMLData(pd.DataFrame({"y": y, "d": codes, "x": 0.0}), "y", "d", "x")
        apo = dml.DoubleMLAPO(
            data, LinearRegression(), LogisticRegression(), treatment_level=level, n_folds=2
        )
        others = mu[np.arange(ROWS), codes]  # E[Y | D, X] at the level each row took
        preds = {
            "d": {
                "ml_g_d_lvl0": others[:, None],
                "ml_g_d_lvl1": mu[:, level][:, None],
                "ml_m": e[:, level][:, None],
            }
        }
        apo.fit(external_predictions=preds)
        apo.sensitivity_analysis(cf_y=0.03, cf_d=0.04, rho=1.0, level=0.975)
        print("APO", level, apo.coef, apo.sensitivity_params)


if __name__ == "__main__":
    _doubleml_reference()
