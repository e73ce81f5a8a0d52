"""How far the advising model's probabilities are from the truth, estimated from observed
outcomes on cases it did not learn from (issue 14: the bias its intervals cannot see).

A case's outcome y is drawn from its true P; the model says p. The residual y − p has mean
b = P − p (the bias) and variance about p(1 − p). Averaged over a group of n cases, the mean
residual's square estimates b̄² + mean p(1 − p) / n, so subtracting the noise term leaves the
squared bias of the group at that resolution (``grouped_bias_variance``). Groups: the approach
asked for x bins of one feature, for every feature, and x deciles of p. It sees bias only at
the resolution of its groups and only at the approach each case asked for: a lower bound of
the spread the intervals need. Measured on the development worlds and not applied: at 50,000
cases its noise is as large as the bias it looks for (docs/validity.md).
"""

from __future__ import annotations

from typing import Final

import numpy as np

BINS: Final = 5
"""Equal-count bins of a numeric feature in ``feature_groups``."""
PROBABILITY_BINS: Final = 10
"""Bins of the model's probability in ``feature_groups``."""


def grouped_bias_variance(residual: np.ndarray, noise: np.ndarray, groups: np.ndarray) -> float:
    """Mean squared bias of the groups' mean residuals, on the log-odds scale, weighted by
    group size; not truncated (an unbiased estimate can be below 0).

    Per group g of n_g cases: (r̄_g² − mean(noise)_g / n_g) / s̄_g², with ``noise`` each case's
    outcome variance p(1 − p) and s̄_g its mean (the delta method: a log-odds bias β moves P by
    about p(1 − p)·β).
    """
    _, codes = np.unique(groups, return_inverse=True)
    n = np.bincount(codes).astype(np.float64)
    mean_residual = np.bincount(codes, residual) / n
    mean_noise = np.bincount(codes, noise) / n
    squared = (mean_residual**2 - mean_noise / n) / np.maximum(mean_noise, 1e-6) ** 2
    return float((n * squared).sum() / n.sum())


def quantile_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """Equal-count bin of each value (0..bins-1; missing values a bin of their own, -1)."""
    known = ~np.isnan(values)
    codes = np.full(len(values), -1, dtype=np.int64)
    if known.any():
        edges = np.unique(np.quantile(values[known], np.linspace(0, 1, bins + 1)[1:-1]))
        codes[known] = np.searchsorted(edges, values[known], side="right")
    return codes


def feature_groups(
    x: np.ndarray, categorical: np.ndarray, approach: int | None, p: np.ndarray
) -> dict[str, np.ndarray]:
    """Group codes per grouping: the approach (column ``approach`` of ``x``; None: one group)
    x the levels or ``BINS`` bins of each other column, and x ``PROBABILITY_BINS`` bins of
    ``p``."""
    asked = (
        np.zeros(len(x), dtype=np.int64)
        if approach is None
        else np.nan_to_num(x[:, approach], nan=-1).astype(np.int64) + 1
    )
    groupings = {"probability": quantile_bins(p, PROBABILITY_BINS)}
    for j in range(x.shape[1]):
        if j == approach:
            continue
        column = x[:, j]
        if categorical[j]:
            groupings[str(j)] = np.nan_to_num(column, nan=-1).astype(np.int64)
        else:
            groupings[str(j)] = quantile_bins(column, BINS)
    return {name: asked * 1000 + codes + 1 for name, codes in groupings.items()}


def bias_spreads(
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    categorical: np.ndarray,
    approach: int | None,
) -> dict[str, float]:
    """Log-odds bias spreads (root mean squared bias, 0 when the estimate is below 0) of the
    model's probabilities ``p`` against outcomes ``y`` of held-out cases: the largest over the
    ``feature_groups`` (``grouped``), their mean (``mean``) and with p's bins alone
    (``probability``)."""
    noise = p * (1 - p)
    residual = y - p
    by_grouping = {
        name: grouped_bias_variance(residual, noise, codes)
        for name, codes in feature_groups(x, categorical, approach, p).items()
    }
    found = {
        "grouped": max(by_grouping.values()),
        "mean": float(np.mean(list(by_grouping.values()))),
        "probability": by_grouping["probability"],
    }
    return {name: float(np.sqrt(max(value, 0.0))) for name, value in found.items()}
