"""Small statistics for reports: Wilson intervals, Kaplan-Meier on aggregated counts, PSI."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

Z95: Final = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (good near 0 and 1 and for small n)."""
    if n <= 0:
        raise ValueError("a proportion needs at least one case")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def kaplan_meier(
    at_risk: list[int], events: list[int], z: float = Z95
) -> list[tuple[float, float, float]]:
    """Survival, lower and upper 95% bound after each step (Greenwood, log-log scale).

    ``at_risk[i]`` cases were still followed at the start of step i and ``events[i]`` of them
    failed in it.
    """
    out = []
    s, greenwood = 1.0, 0.0
    for n, d in zip(at_risk, events, strict=True):
        if n > 0:
            s *= 1 - d / n
            if n > d:
                greenwood += d / (n * (n - d))
        if 0 < s < 1 and greenwood > 0:
            log_s = math.log(s)
            spread = z * math.sqrt(greenwood) / abs(log_s)
            low, high = s ** math.exp(spread), s ** math.exp(-spread)
        else:
            low, high = s, s
        out.append((s, low, high))
    return out


def psi_from_shares(expected: dict[str, float], actual: dict[str, float]) -> float:
    """Population stability index of two share vectors (same clipping as the training code)."""
    levels = sorted(set(expected) | set(actual))
    e = np.clip(np.array([expected.get(level, 0.0) for level in levels]), 1e-4, None)
    a = np.clip(np.array([actual.get(level, 0.0) for level in levels]), 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))
