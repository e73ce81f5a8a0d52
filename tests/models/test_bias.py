"""The held-out bias estimate: planted log-odds bias recovered from outcomes, none found where
there is none."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from overdue.models.bias import bias_spreads, grouped_bias_variance

ROWS = 40_000


def planted(bias: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cases with a numeric feature, a 4-level category and an asked approach (3 levels); the
    model's log-odds miss the truth by ±``bias`` depending on the category and the approach."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.normal(size=ROWS), rng.integers(0, 4, ROWS), rng.integers(0, 3, ROWS)]
    ).astype(np.float64)
    model_log_odds = -0.3 + 0.8 * x[:, 0]
    sign = np.where((x[:, 1] + x[:, 2]) % 2 == 0, 1.0, -1.0)
    truth = expit(model_log_odds + bias * sign)
    y = (rng.random(ROWS) < truth).astype(np.float64)
    return x, y, expit(model_log_odds), sign


@pytest.mark.parametrize("bias", [0.2, 0.4])
def test_planted_bias_is_recovered(bias: float) -> None:
    x, y, p, _ = planted(bias, seed=1)
    found = bias_spreads(x, y, p, np.array([False, True, True]), approach=2)
    assert found["grouped"] == pytest.approx(bias, abs=0.06)


def test_no_bias_gives_about_none() -> None:
    x, y, p, _ = planted(0.0, seed=2)
    found = bias_spreads(x, y, p, np.array([False, True, True]), approach=2)
    assert found["grouped"] < 0.06
    assert found["probability"] < 0.06


def test_the_noise_is_taken_out_of_each_group() -> None:
    """Pure noise in groups of 100: the mean residuals' squares alone would report a bias of
    about 0.2 log-odds; with each group's noise subtracted the estimate is about 0."""
    rng = np.random.default_rng(3)
    p = np.full(ROWS, 0.5)
    y = (rng.random(ROWS) < p).astype(np.float64)
    groups = np.arange(ROWS) % (ROWS // 100)
    residual, noise = y - p, p * (1 - p)
    raw = np.mean([residual[groups == g].mean() ** 2 for g in range(ROWS // 100)]) / 0.25**2
    assert np.sqrt(raw) > 0.15
    assert abs(grouped_bias_variance(residual, noise, groups)) < 0.01
