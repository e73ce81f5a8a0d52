"""Adjusted success rates per approach and per preparation lever: doubly robust, cross-fitted.

For a treatment with levels l (the six approaches; a written plan or not; ...), the rate had
every case taken level l is estimated by augmented inverse-propensity weighting (AIPW):

    phi_l(i) = mu_l(x_i) + 1[t_i = l] (y_i - mu_l(x_i)) / e_l(x_i)

with the outcome model mu and the propensity model e fitted on the other folds (cross-fitting)
and e clipped at ``PROPENSITY_FLOOR``. The estimate is the mean of phi_l over the cases of a
(sub)population, its standard error sd(phi_l) / sqrt(n), the interval estimate ± 1.96 SE.
Covariates are what comes *before* the treatment (context, the debtor's history and earlier
choices), never what follows from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final

import numpy as np
import polars as pl
from scipy.stats import norm

from overdue.contract import APPROACHES
from overdue.features import (
    CONTACT,
    CONTEXT_FEATURES,
    DOCUMENTS,
    EARLY_CONTACT_DAYS,
    HELP,
    HISTORY,
    PREPARATION,
    Feature,
)
from overdue.models.design import Boosting, Design, gradient_boosting
from overdue.models.parallel import side_by_side
from overdue.models.sample import capped_rows
from overdue.segments import subgroups

PROPENSITY_FLOOR: Final = 0.01
LOW_PROPENSITY: Final = 0.05
OVERLAP_SHARE: Final = 0.10
"""An approach is flagged for a (sub)group where more than this share of its cases had under a
5% estimated chance of asking for it, or where fewer than ``MIN_TREATED`` asked for it."""
MIN_TREATED: Final = 30
FOLDS: Final = 3
NUISANCE_MAX_ROWS: Final = 200_000
"""Each fold's outcome and propensity models learn from at most this many rows: this bounds the
cost at a million cases, and every case still contributes to the estimate. (A propensity model
capped at 100,000 rows made the subgroup rates at 200,000 cases less accurate in 8 to 12 of 12
populations: docs/benchmarks.md.)"""
LEVER_MAX_ROWS: Final = 100_000
"""Preparation levers are estimated on a random subsample of at most this many cases."""
NUISANCE_LEARNING_RATE: Final = 0.15
NUISANCE_PATIENCE: Final = 10
"""The outcome and propensity models' boosting: a faster rate and a shorter wait for a gain than
the advising model's (0.1, 30 rounds). On the 14 development worlds, two populations of 50,000
cases each, the population rates came out as accurate and the subgroups' more so, in 57% of the
CPU time (docs/benchmarks.md: "Kept: the effects' boosting learns faster and stops sooner")."""

DAYS_DERIVED: Final = (
    "days_overdue_at_contact",
    "overdue_band",
    "collection_stage_rank",
    "outstanding_balance",
    "debt_to_income",
    "balance_to_principal",
    "penalty_share",
    "months_to_clear",
    "savings_to_balance",
)
"""Context that follows from how long the debt has been overdue: it is the result of the
timing of contact, so the early-contact lever is not adjusted for it."""


def _names(*groups: tuple[Feature, ...]) -> tuple[str, ...]:
    return tuple(f.name for group in groups for f in group)


@dataclass(frozen=True)
class Treatment:
    """A choice whose effect is estimated: its levels, how to read them, what to adjust for."""

    name: str
    levels: tuple[str, ...]
    assign: Callable[[pl.DataFrame], pl.Expr]  # level index per row
    covariates: Design

    def codes(self, frame: pl.DataFrame) -> np.ndarray:
        """Level index of each row."""
        return frame.select(self.assign(frame)).to_series().to_numpy().astype(np.int64)


def _level_of(column: str, levels: tuple[str, ...]) -> Callable[[pl.DataFrame], pl.Expr]:
    def assign(_: pl.DataFrame) -> pl.Expr:
        return pl.col(column).replace_strict({v: i for i, v in enumerate(levels)})

    return assign


def _binary(expr: pl.Expr) -> Callable[[pl.DataFrame], pl.Expr]:
    return lambda _: expr.fill_null(False).cast(pl.Int64)


CONTEXT: Final = _names(CONTEXT_FEATURES, HISTORY)
APPROACH_TREATMENT: Final = Treatment(
    "approach",
    tuple(APPROACHES),
    _level_of("approach", tuple(APPROACHES)),
    Design(CONTEXT + _names(PREPARATION)),
)
LEVERS: Final[tuple[Treatment, ...]] = (
    Treatment(
        "professional_help",
        ("none", "lawyer", "nonprofit_counselor", "paid_agent"),
        _level_of("professional_help", ("none", "lawyer", "nonprofit_counselor", "paid_agent")),
        Design(CONTEXT),
    ),
    Treatment(
        "documents",
        ("0-2", "3+"),
        _binary(pl.col("documents_count") >= 3),
        Design(CONTEXT + _names(HELP, CONTACT)),
    ),
    Treatment(
        "written_plan",
        ("no", "yes"),
        _binary(pl.col("repayment_plan_prepared") == 1),
        Design(CONTEXT + _names(HELP, CONTACT, DOCUMENTS)),
    ),
    Treatment(
        "early_contact",
        (f">{EARLY_CONTACT_DAYS} days", f"<={EARLY_CONTACT_DAYS} days"),
        _binary(pl.col("days_to_first_contact") <= EARLY_CONTACT_DAYS),
        Design(CONTEXT).without(DAYS_DERIVED),
    ),
)
TREATMENTS: Final = (APPROACH_TREATMENT, *LEVERS)


@dataclass(frozen=True)
class AipwFit:
    """Cross-fitted pieces of one treatment's AIPW estimate, row by row."""

    treatment: Treatment
    phi: np.ndarray  # n x levels: influence values whose mean is the estimate
    propensity: np.ndarray  # n x levels, before clipping
    codes: np.ndarray  # level taken by each row
    outcome: np.ndarray  # n x levels: mu, the outcome model's P(label | covariates, level)
    y: np.ndarray  # the label of each row


def _folds(codes: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each row, balanced within each level."""
    fold = np.empty(len(codes), dtype=np.int64)
    for level in np.unique(codes):
        rows = np.flatnonzero(codes == level)
        fold[rows] = rng.permutation(len(rows)) % count
    return fold


def nuisance_boosting(categorical: np.ndarray, seed: int, max_iter: int = 1000) -> Boosting:
    """The boosting of the effects' outcome and propensity models."""
    return gradient_boosting(
        categorical,
        seed,
        max_iter,
        learning_rate=NUISANCE_LEARNING_RATE,
        patience=NUISANCE_PATIENCE,
    )


def fit_propensity(
    x: np.ndarray, codes: np.ndarray, levels: int, categorical: np.ndarray, seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    """A model of P(level | covariates); returns a function giving n x levels probabilities."""
    model = nuisance_boosting(categorical, seed, max_iter=300).fit(x, codes)
    columns = list(model.classes_)

    def predict(rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), levels))
        out[:, columns] = model.predict_proba(rows)
        return out

    return predict


def outcome_fold(
    w: np.ndarray,
    codes: np.ndarray,
    y: np.ndarray,
    categorical: np.ndarray,
    levels: int,
    seed: int,
    held: np.ndarray,
    learn: np.ndarray,
) -> np.ndarray:
    """One fold's outcome model, learnt on rows ``learn`` (covariates ``w`` and the level
    taken), and its P(label) for rows ``held`` under every level: held x levels."""
    model = nuisance_boosting(categorical, seed).fit(
        np.column_stack([w[learn], codes[learn]]), y[learn]
    )
    return np.column_stack(
        [
            model.predict_proba(np.column_stack([w[held], np.full(len(held), level)]))[:, 1]
            for level in range(levels)
        ]
    )


def propensity_fold(
    w: np.ndarray,
    codes: np.ndarray,
    categorical: np.ndarray,
    levels: int,
    seed: int,
    held: np.ndarray,
    learn: np.ndarray,
) -> np.ndarray:
    """One fold's propensity model, learnt on rows ``learn``, for rows ``held``."""
    return fit_propensity(w[learn], codes[learn], levels, categorical, seed)(w[held])


def aipw(
    features: pl.DataFrame,
    treatment: Treatment,
    label: str,
    seed: int,
    folds: int = FOLDS,
    propensity: np.ndarray | None = None,
) -> AipwFit:
    """Cross-fitted AIPW influence values for every level of ``treatment``.

    ``propensity``: an earlier fit's on the same rows and treatment, reused (each row's still
    from a model that did not see it; the self-check refits one sample under several planted
    outcomes, the treatment the same).
    """
    rng = np.random.default_rng(seed)
    y = features[label].to_numpy().astype(np.float64)
    codes = treatment.codes(features)
    levels = len(treatment.levels)
    fold = _folds(codes, folds, rng)
    w = treatment.covariates.matrix(features)
    categorical = treatment.covariates.categorical
    with_t = np.append(categorical, True)

    # every fold's rows drawn first, in one order, so the fits may run side by side
    helds, tasks = [], []
    for k in range(folds):
        held = np.flatnonzero(fold == k)
        learn = capped_rows(np.flatnonzero(fold != k), NUISANCE_MAX_ROWS, rng)
        helds.append(held)
        tasks.append(partial(outcome_fold, w, codes, y, with_t, levels, seed + k, held, learn))
        if propensity is None:
            tasks.append(
                partial(propensity_fold, w, codes, categorical, levels, seed + k, held, learn)
            )
    fitted = iter(side_by_side(tasks))
    mu = np.zeros((len(y), levels))
    e = np.zeros((len(y), levels)) if propensity is None else propensity
    for held in helds:
        mu[held] = next(fitted)
        if propensity is None:
            e[held] = next(fitted)
    taken = codes[:, None] == np.arange(levels)[None, :]
    phi = mu + taken * (y[:, None] - mu) / np.maximum(e, PROPENSITY_FLOOR)
    return AipwFit(treatment, phi, e, codes, mu, y)


@dataclass(frozen=True)
class EffectRow:
    """One published number: the adjusted rate of one level in one (sub)group."""

    treatment: str
    level: str
    subgroup: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_treated: int
    share_low_propensity: float
    overlap_flag: bool
    suppressed: bool
    naive: float | None
    """The observed (unadjusted) rate among the cases that took the level; None where
    suppressed or where fewer than k of them agreed or fewer than k did not."""
    n_agreed: int
    """Cases that took the level and agreed: the numerator of ``naive``."""


def summarize(fit: AipwFit, groups: dict[str, np.ndarray], k: int) -> list[EffectRow]:
    """Adjusted rates with 95% intervals, observed rates and overlap flags per (sub)group;
    cells under k suppressed (an observed rate also when its agreements or their complement
    are under k)."""
    z = float(norm.ppf(0.975))
    rows = []
    for key, mask in groups.items():
        n = int(mask.sum())
        for index, level in enumerate(fit.treatment.levels):
            took = mask & (fit.codes == index)
            treated = int(took.sum())
            agreed = int(fit.y[took].sum())
            values = fit.phi[mask, index]
            low_share = float((fit.propensity[mask, index] < LOW_PROPENSITY).mean()) if n else 1.0
            suppressed = n < k or treated < k
            if suppressed or n < 2:
                estimate = low = high = None
            else:
                estimate = float(np.clip(values.mean(), 0, 1))
                se = float(values.std(ddof=1) / np.sqrt(n))
                low = float(np.clip(values.mean() - z * se, 0, 1))
                high = float(np.clip(values.mean() + z * se, 0, 1))
            rows.append(
                EffectRow(
                    fit.treatment.name,
                    level,
                    key,
                    estimate,
                    low,
                    high,
                    n,
                    treated,
                    round(low_share, 4),
                    low_share > OVERLAP_SHARE or treated < MIN_TREATED,
                    suppressed,
                    None if suppressed or agreed < k or treated - agreed < k else agreed / treated,
                    agreed,
                )
            )
    return rows


def group_masks(features: pl.DataFrame) -> dict[str, np.ndarray]:
    """The population and every subgroup as boolean row masks."""
    masks = {"population": np.ones(features.height, dtype=bool)}
    for key, expr in subgroups().items():
        masks[key] = features.select(expr.fill_null(False)).to_series().to_numpy()
    return masks


@dataclass(frozen=True)
class EffectFit:
    """One treatment's AIPW fit and the rows it was made from."""

    fit: AipwFit
    frame: pl.DataFrame


def effect_fits(features: pl.DataFrame, label: str, seed: int) -> list[EffectFit]:
    """The AIPW fit of the approaches (all labelled cases) and of each preparation lever (a
    random subsample of at most ``LEVER_MAX_ROWS``, the same for every lever)."""
    data = features.filter(pl.col(label).is_not_null())
    rng = np.random.default_rng(seed)
    sample = (
        data
        if data.height <= LEVER_MAX_ROWS
        else data[np.sort(rng.choice(data.height, LEVER_MAX_ROWS, replace=False))]
    )
    return [EffectFit(aipw(data, APPROACH_TREATMENT, label, seed), data)] + [
        EffectFit(aipw(sample, lever, label, seed), sample) for lever in LEVERS
    ]


def effect_rows(fits: list[EffectFit], k: int) -> list[EffectRow]:
    """The published numbers of every fit, for the population and each subgroup."""
    masks: dict[int, dict[str, np.ndarray]] = {}
    rows = []
    for f in fits:
        groups = masks.setdefault(id(f.frame), group_masks(f.frame))
        rows += summarize(f.fit, groups, k)
    return rows


def estimate_effects(features: pl.DataFrame, label: str, seed: int, k: int) -> list[EffectRow]:
    """Adjusted rates for the approaches (all labelled cases) and the preparation levers."""
    return effect_rows(effect_fits(features, label, seed), k)
