"""How long it holds: censoring weights and the 12-month model."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from overdue.models.sustain import censoring_weights, followed_at_least
from overdue.models.train import OutcomeModel


def test_followed_at_least_is_the_share_followed_that_long() -> None:
    """Follow-ups 3, 6, 24, 24: half were followed 12 months, all 3 months."""
    followup = np.array([24.0, 24.0, 6.0, 3.0])
    assert followed_at_least(followup, np.array([12.0, 3.0, 25.0])).tolist() == [0.5, 1.0, 0.0]


def test_censored_plans_weigh_nothing_and_the_rest_by_how_rarely_they_are_seen() -> None:
    """A kept plan known at 12 months (G = 1/2) counts twice a plan broken in month 2 (G = 1);
    a plan followed 6 months and not broken is censored (weight 0); weights average 1."""
    agreed = pl.DataFrame(
        {
            "y_sustained_12": [1.0, 0.0, None, 0.0],
            "followup_months": [24, 24, 6, 3],
            "months_to_redefault": [None, 9, None, 2],
            "plan_status": ["on_track", "broken", "on_track", "broken"],
        }
    )
    weights = censoring_weights(agreed)
    assert weights[2] == 0
    assert weights[0] == pytest.approx(2 * weights[3])
    assert weights[1] == pytest.approx(weights[0])  # broken in month 9: 2 of 4 followed that long
    assert weights[[0, 1, 3]].mean() == pytest.approx(1.0)


def test_the_basis_in_single_precision_is_the_models_own(
    features: pl.DataFrame, model: OutcomeModel
) -> None:
    """The plan-kept model reads the advising model's basis in single precision: the same
    numbers to float32's precision, and the model's own basis still transforms in double."""
    x = model.design.matrix(features.head(500))
    double = model.spline_rows(x)
    single = model.spline_rows(x, dtype=np.float32)
    assert single.dtype == np.float32 and double.dtype == np.float64
    np.testing.assert_allclose(single, double, rtol=1e-5, atol=1e-5)
    assert model.advising[0].dtype is np.float64
    assert model.spline_rows(x).dtype == np.float64
