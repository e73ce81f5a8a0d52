"""How good probabilities are: discrimination, accuracy and calibration."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

ECE_BINS = 15


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |observed rate - mean prediction| over equal-count bins, weighted by bin size.

    Bin edges are quantiles of ``p``; equal predictions always share a bin.
    """
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1))[1:-1])
    which = np.searchsorted(edges, p, side="right")
    error = 0.0
    for b in np.unique(which):
        part = which == b
        error += part.sum() * abs(y[part].mean() - p[part].mean())
    return float(error / len(y))


def probability_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, Brier score, log loss and expected calibration error of ``p`` for labels ``y``."""
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "ece": expected_calibration_error(y, p),
        "n": len(y),
        "base_rate": float(y.mean()),
    }
