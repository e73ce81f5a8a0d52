"""Aggregates that describe a trained model for reports: no case rows, no cells under k."""

from __future__ import annotations

from functools import partial
from typing import Any, Final

import numpy as np
import polars as pl
from sklearn.metrics import log_loss, roc_curve

from overdue.features import FEATURE_BY_NAME, Encoding
from overdue.models.estimate import DRIVER_GROUPS
from overdue.models.parallel import side_by_side
from overdue.models.train import OutcomeModel

RELIABILITY_BINS: Final = 15
ROC_POINTS: Final = 50
IMPORTANCE_MAX_ROWS: Final = 50_000
DISTRIBUTION_BINS: Final = 10
MERGED: Final = "(levels under k, merged)"


def reliability_table(y: np.ndarray, p: np.ndarray, k: int) -> list[dict[str, float | int]]:
    """Equal-count bins of predictions: mean prediction, observed rate, n (bins under k dropped)."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, RELIABILITY_BINS + 1))[1:-1])
    which = np.searchsorted(edges, p, side="right")
    table = []
    for b in np.unique(which):
        part = which == b
        if part.sum() >= k:
            table.append(
                {
                    "predicted": float(p[part].mean()),
                    "observed": float(y[part].mean()),
                    "n": int(part.sum()),
                }
            )
    return table


def roc_points(y: np.ndarray, p: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve thinned to about ``ROC_POINTS`` points."""
    fpr, tpr, _ = roc_curve(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, ROC_POINTS).round().astype(int))
    return {"fpr": fpr[keep].round(4).tolist(), "tpr": tpr[keep].round(4).tolist()}


def driver_importance(
    model: OutcomeModel, frame: pl.DataFrame, label: str, seed: int
) -> list[dict[str, float | str]]:
    """How much worse the log loss gets when each group of features is shuffled together
    (the groups scored side by side, ``overdue.models.parallel``)."""
    rng = np.random.default_rng(seed)
    if frame.height > IMPORTANCE_MAX_ROWS:
        frame = frame[np.sort(rng.choice(frame.height, IMPORTANCE_MAX_ROWS, replace=False))]
    y = frame[label].to_numpy()

    def loss(group: tuple[str, ...], order: np.ndarray | None) -> float:
        rows = frame if order is None else frame.with_columns(frame[c].gather(order) for c in group)
        return float(log_loss(y, np.clip(model.predict(rows), 1e-6, 1 - 1e-6), labels=[0, 1]))

    groups = {**DRIVER_GROUPS, "approach": ("approach",)}
    orders = [rng.permutation(frame.height) for _ in groups]  # drawn in order: same as serial
    losses = side_by_side(
        [partial(loss, (), None)]
        + [partial(loss, g, o) for g, o in zip(groups.values(), orders, strict=True)],
        on_cluster=False,
    )
    out: list[dict[str, float | str]] = [
        {"driver": name, "log_loss_increase": round(shuffled - losses[0], 5)}
        for name, shuffled in zip(groups, losses[1:], strict=True)
    ]
    return sorted(out, key=lambda d: -float(d["log_loss_increase"]))


def feature_distributions(frame: pl.DataFrame | pl.LazyFrame, k: int) -> dict[str, dict[str, Any]]:
    """Per feature: decile edges and shares (numbers) or level shares (categories), for drift.

    Categories held by fewer than k cases are merged into ``MERGED``; number edges are
    quantiles, so every bin holds about a tenth of the cases. A lazy frame (e.g. a Parquet
    scan) is read one column at a time.
    """
    out: dict[str, dict[str, Any]] = {}
    n = int(frame.lazy().select(pl.len()).collect().item())
    for name, feature in FEATURE_BY_NAME.items():
        column = frame.lazy().select(name).collect().to_series()
        if feature.encoding is Encoding.CATEGORY:
            counts = column.fill_null("missing").value_counts()
            shares: dict[str, float] = {}
            for level, count in counts.iter_rows():
                key = level if count >= k else MERGED
                shares[key] = shares.get(key, 0.0) + count / n
            out[name] = {"kind": "category", "shares": shares}
        else:
            values = column.drop_nulls().to_numpy()
            if len(values) < k:
                continue
            edges = np.unique(np.quantile(values, np.linspace(0, 1, DISTRIBUTION_BINS + 1)[1:-1]))
            out[name] = {
                "kind": "number",
                "edges": edges.round(6).tolist(),
                "missing_share": float(column.null_count() / n),
            }
    return out


def population_stability(before: dict[str, Any], after: pl.Series) -> float:
    """Population stability index of ``after`` against the stored distribution ``before``."""
    if before["kind"] == "category":
        expected = before["shares"]
        counts = after.fill_null("missing").value_counts()
        actual = {level: count / after.len() for level, count in counts.iter_rows()}
        levels = set(expected) | set(actual)
        e = np.array([expected.get(level, 0.0) for level in levels])
        a = np.array([actual.get(level, 0.0) for level in levels])
    else:
        edges = np.array(before["edges"])
        values = after.drop_nulls().to_numpy()
        e = np.full(len(edges) + 1, 1 / (len(edges) + 1))
        a = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(e)) / max(
            len(values), 1
        )
    e, a = np.clip(e, 1e-4, None), np.clip(a, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))
