"""Fitted gradient-boosting models as flat numpy arrays, for fast single-case predictions.

scikit-learn's ``HistGradientBoostingClassifier.predict_proba`` spends ~7 ms of every call
validating and ordinal-encoding its input (a ``ColumnTransformer``), whatever the number of rows.
A counselor's estimate needs 6 approaches x (1 calibrated + 8 bootstrap) models plus the
drivers: about 55 such calls, 0.2-0.5 s a case. Here every tree of every model becomes one row
range of flat node arrays, categorical splits become lookup tables indexed by the raw level
index the design matrix holds, and all trees of all models walk the rows together, a few
vectorised steps deep: the same numbers in well under a millisecond.

The compiled forest reads fitted attributes of scikit-learn's estimators (``_predictors``,
``_preprocessor``, ``_bin_mapper``, ``_baseline_prediction``): private, so ``check_compiled``
checks its own answers against scikit-learn's on probe rows and refuses (``ForestMismatchError``)
when they differ, and the caller keeps scikit-learn's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator

from overdue.models.train import OutcomeModel

TOLERANCE: Final = 1e-12
"""Largest difference from scikit-learn's probabilities accepted on the probe rows."""


class ForestMismatchError(ValueError):
    """The compiled forest does not reproduce scikit-learn's predictions."""


@dataclass(frozen=True)
class _Trees:
    """Every tree of several models as one node table (leaves point to themselves)."""

    feature: np.ndarray  # column of the raw design matrix a node splits on
    threshold: np.ndarray  # NaN at categorical nodes and leaves: ``value <= NaN`` is false
    missing_left: np.ndarray  # bool: NaN (or an unknown category) goes left
    children: np.ndarray  # left child at 2 * node, right child at 2 * node + 1
    value: np.ndarray
    category_row: np.ndarray  # row of ``category_left`` for categorical nodes, -1 otherwise
    category_left: np.ndarray  # bool (n_category_nodes, width + 1); last column = missing
    roots: np.ndarray  # first node of each tree
    tree_model: np.ndarray  # which model each tree belongs to
    baselines: np.ndarray  # raw baseline prediction of each model
    depth: int


def _hgb(estimator: Any) -> HistGradientBoostingClassifier:
    inner = estimator.estimator if isinstance(estimator, FrozenEstimator) else estimator
    if not isinstance(inner, HistGradientBoostingClassifier) or inner.n_trees_per_iteration_ != 1:
        raise ForestMismatchError(f"cannot compile {type(inner).__name__}: not a binary HGB")
    return inner


def _column_maps(model: HistGradientBoostingClassifier) -> tuple[np.ndarray, list[np.ndarray]]:
    """Raw column of each preprocessed column, and the encoder's categories per raw column."""
    n = int(model.n_features_in_)
    categories: list[np.ndarray] = [np.empty(0)] * n
    if model._preprocessor is None:  # no categorical feature: columns as they are
        return np.arange(n), categories
    source = np.empty(n, dtype=np.intp)
    pre = model._preprocessor
    for name, transformer, columns in pre.transformers_:
        if name == "remainder":
            continue
        raw_columns = np.flatnonzero(np.asarray(columns))
        source[pre.output_indices_[name]] = raw_columns
        if name == "encoder":
            for column, found in zip(raw_columns, transformer.categories_, strict=True):
                categories[column] = np.asarray(found, dtype=np.float64)
    return source, categories


def _in_bitset(bitsets: np.ndarray, row: int, value: int) -> bool:
    return bool((int(bitsets[row, value // 32]) >> (value % 32)) & 1)


def _compile(models: list[HistGradientBoostingClassifier], width: int) -> _Trees:
    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("feature", "threshold", "missing_left", "left", "right", "value")
    }
    category_row: list[np.ndarray] = []
    tables: list[np.ndarray] = []
    roots, tree_model, baselines = [], [], []
    offset, depth = 0, 0
    for index, model in enumerate(models):
        source, categories = _column_maps(model)
        known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
        baselines.append(float(np.asarray(model._baseline_prediction).ravel()[0]))
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            size = len(nodes)
            own = np.arange(size) + offset
            leaf = nodes["is_leaf"].astype(bool)
            columns["feature"].append(np.where(leaf, 0, source[nodes["feature_idx"]]))
            columns["threshold"].append(nodes["num_threshold"].astype(np.float64))
            columns["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
            columns["left"].append(np.where(leaf, own, nodes["left"].astype(np.intp) + offset))
            columns["right"].append(np.where(leaf, own, nodes["right"].astype(np.intp) + offset))
            columns["value"].append(nodes["value"].astype(np.float64))
            rows = np.full(size, -1, dtype=np.intp)
            for i in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
                rows[i] = len(tables)
                tables.append(
                    _category_table(
                        nodes[i],
                        predictor,
                        known,
                        f_idx_map,
                        categories[source[nodes[i]["feature_idx"]]],
                        width,
                    )
                )
            category_row.append(rows)
            roots.append(offset)
            tree_model.append(index)
            depth = max(depth, int(nodes["depth"].max()))
            offset += size
    category = np.concatenate(category_row)
    threshold = np.concatenate(columns["threshold"])
    threshold[category >= 0] = np.nan
    left = np.concatenate(columns["left"]).astype(np.intp)
    children = np.empty(2 * len(left), dtype=np.intp)
    children[0::2] = left
    children[1::2] = np.concatenate(columns["right"]).astype(np.intp)
    return _Trees(
        feature=np.concatenate(columns["feature"]).astype(np.intp),
        threshold=threshold,
        missing_left=np.concatenate(columns["missing_left"]),
        children=children,
        value=np.concatenate(columns["value"]),
        category_row=category,
        category_left=np.array(tables, dtype=bool).reshape(len(tables), width + 1),
        roots=np.array(roots, dtype=np.intp),
        tree_model=np.array(tree_model, dtype=np.intp),
        baselines=np.array(baselines, dtype=np.float64),
        depth=depth,
    )


def _category_table(
    node: np.void,
    predictor: Any,
    known: np.ndarray,
    f_idx_map: np.ndarray,
    categories: np.ndarray,
    width: int,
) -> np.ndarray:
    """Whether each raw level index (0..width-1, then 'missing') goes left at this node."""
    missing = bool(node["missing_go_to_left"])
    table = np.full(width + 1, missing)
    known_row = int(f_idx_map[node["feature_idx"]])
    for level in range(width):
        found = np.flatnonzero(categories == float(level))
        if not len(found):
            continue  # a level the model never saw: unknown, treated as missing
        code = int(found[0])
        if _in_bitset(predictor.raw_left_cat_bitsets, int(node["bitset_idx"]), code):
            table[level] = True
        elif _in_bitset(known, known_row, code):
            table[level] = False
    return table


def _raw(trees: _Trees, x: np.ndarray) -> np.ndarray:
    """Raw predictions (log-odds), shape (rows, models).

    Each step moves every (row, tree) pair one level down, as scikit-learn's predictor does
    for one row and one tree: NaN goes the node's missing side; a category goes left when its
    bit is set, right when it is a known category, else the missing side; a number goes left
    when ``value <= threshold``.
    """
    width = trees.category_left.shape[1] - 1
    n_rows, n_features = x.shape
    flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
    offsets = (np.arange(n_rows, dtype=np.intp) * n_features)[:, None]
    node = np.broadcast_to(trees.roots, (n_rows, len(trees.roots))).copy()
    categorical = len(trees.category_left) > 0
    for _ in range(trees.depth):
        value = flat[offsets + trees.feature[node]]
        missing = np.isnan(value)
        go_left = (value <= trees.threshold[node]) | (missing & trees.missing_left[node])
        if categorical:
            category = trees.category_row[node]
            split = np.nonzero(category >= 0)
            if len(split[0]):
                v = value[split]
                level = np.where(np.isnan(v) | (v < 0) | (v >= width), width, v).astype(np.intp)
                go_left[split] = trees.category_left[category[split], level]
        node = trees.children[2 * node + ~go_left]
    leaves = trees.value[node]  # (rows, trees)
    out = np.empty((n_rows, len(trees.baselines)))
    for model in range(len(trees.baselines)):
        own = leaves[:, trees.tree_model == model].T
        # baseline first, then tree by tree: scikit-learn's order of additions
        out[:, model] = np.add.reduce(
            np.vstack([np.full(n_rows, trees.baselines[model]), own]), axis=0
        )
    return out


class CompiledModel:
    """An ``OutcomeModel``'s calibrated model and bootstrap ensemble as compiled forests."""

    def __init__(self, model: OutcomeModel) -> None:
        calibrated = model.calibrated
        if not isinstance(calibrated, CalibratedClassifierCV) or calibrated.method != "sigmoid":
            raise ForestMismatchError("only sigmoid-calibrated models are compiled")
        self.calibrators = [
            (float(c.calibrators[0].a_), float(c.calibrators[0].b_))
            for c in calibrated.calibrated_classifiers_
        ]
        inner = [_hgb(c.estimator) for c in calibrated.calibrated_classifiers_]
        members = [_hgb(m) for m in model.ensemble]
        seen = [c[~np.isnan(c)] for m in inner + members for c in _column_maps(m)[1] if len(c)]
        width = int(max((c.max() for c in seen if len(c)), default=0)) + 1
        self.calibrated_trees = _compile(inner, width)
        self.member_trees = _compile(members, width) if members else None

    def predict_calibrated(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the rows of a design matrix."""
        raw = _raw(self.calibrated_trees, np.asarray(x, dtype=np.float64))
        out = np.zeros(x.shape[0])
        for i, (a, b) in enumerate(self.calibrators):
            out += expit(-(a * raw[:, i] + b))
        return out / len(self.calibrators)

    def predict_members(self, x: np.ndarray) -> np.ndarray:
        """Each bootstrap member's probabilities, shape (members, rows)."""
        if self.member_trees is None:
            return np.empty((0, x.shape[0]))
        return expit(_raw(self.member_trees, np.asarray(x, dtype=np.float64)).T)


def probe_matrix(model: OutcomeModel, seed: int = 0, rows: int = 64) -> np.ndarray:
    """Rows that reach many branches: every category level, split thresholds, NaN."""
    rng = np.random.default_rng(seed)
    categorical = model.design.categorical
    n = len(categorical)
    thresholds: list[list[float]] = [[] for _ in range(n)]
    for estimator in _estimators(model):
        source, _ = _column_maps(estimator)
        for (predictor,) in estimator._predictors:
            nodes = predictor.nodes
            numeric = ~nodes["is_leaf"].astype(bool) & ~nodes["is_categorical"].astype(bool)
            for node in nodes[numeric & np.isfinite(nodes["num_threshold"])]:
                thresholds[source[node["feature_idx"]]].append(float(node["num_threshold"]))
    x = np.empty((rows, n))
    for j in range(n):
        if categorical[j]:
            x[:, j] = rng.integers(0, 9, rows)
        elif thresholds[j]:
            picks = rng.choice(thresholds[j], rows)
            x[:, j] = picks + rng.choice([-1e-6, 0.0, 1e-6], rows) * np.maximum(1, np.abs(picks))
        else:
            x[:, j] = rng.normal(size=rows)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


def _estimators(model: OutcomeModel) -> list[HistGradientBoostingClassifier]:
    calibrated = model.calibrated
    assert isinstance(calibrated, CalibratedClassifierCV)
    inner = [_hgb(c.estimator) for c in calibrated.calibrated_classifiers_]
    return inner + [_hgb(m) for m in model.ensemble]


def check_compiled(model: OutcomeModel, seed: int = 0) -> CompiledModel:
    """The compiled model, after checking it against scikit-learn on probe rows."""
    compiled = CompiledModel(model)
    x = probe_matrix(model, seed)
    ours, members = compiled.predict_calibrated(x), compiled.predict_members(x)
    gap = float(np.max(np.abs(ours - model.calibrated.predict_proba(x)[:, 1])))
    for member, estimator in zip(members, model.ensemble, strict=True):
        gap = max(gap, float(np.max(np.abs(member - estimator.predict_proba(x)[:, 1]))))
    if gap > TOLERANCE:
        raise ForestMismatchError(f"compiled forest differs from scikit-learn by {gap:.3g}")
    return compiled
