"""The value of a policy: the agreement rate had each case asked for what the model advises.

The advising model is trained on the oldest cases of the time split; the policy is evaluated on
the newest (the test period), which the model never saw. Each case's recommended approach is the
one the model rates highest for it (``best_approaches``); restricted to affordable plans, the
highest-rated of the approaches whose typical plan (``overdue.plans``) the case's budget bears,
over the cases with at least one. The policy's rate is estimated doubly robustly, as the mean of
the cross-fitted AIPW influence value (``overdue.models.effects.aipw``) of each case's
recommended approach; against it, the rate of what debtors actually asked for is the observed
rate. The difference's interval comes from the per-case differences phi_rec(i) - y_i (Dudik,
Langford & Li, "Doubly robust policy evaluation and learning", 2011; what EconML's policy
interpreter and policytree evaluate). The policy is fixed before the evaluation cases are
looked at, so the interval is the plain one of a mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Final

import numpy as np
import polars as pl
from scipy.stats import norm

from overdue.contract import APPROACHES
from overdue.i18n import Lang
from overdue.models.effects import AipwFit, group_masks
from overdue.models.parallel import side_by_side
from overdue.models.train import OutcomeModel, time_split
from overdue.plans import BudgetRules, approach_plan

Z: Final = float(norm.ppf(0.975))
POLICY_MAX_ROWS: Final = 20_000
"""The policy is valued on a random subsample of at most this many test-period cases: scoring
every approach and checking every plan for 40,000 cases (200,000 in all) cost about twice as
much, and 20,000 give intervals about 3 points wide."""
BUDGET_FIELDS: Final = (
    "monthly_income",
    "monthly_essential_expenses",
    "emergency_fund_months",
    "outstanding_balance",
)
POLICY_NAMES: Final[dict[str, dict[Lang, str]]] = {
    "model": {"en": "the model's best approach", "zh": "模型评分最高的方案"},
    "model_affordable": {
        "en": "the model's best affordable approach",
        "zh": "模型评分最高且负担得起的方案",
    },
}


def approach_scores(model: OutcomeModel, frame: pl.DataFrame) -> np.ndarray:
    """n x approaches: the model's probability of agreement had each case asked for each
    (the approaches side by side, ``overdue.models.parallel``)."""
    tasks = [
        partial(model.predict, frame.with_columns(pl.lit(code).alias("approach")))
        for code in APPROACHES
    ]
    return np.column_stack(side_by_side(tasks, on_cluster=False))


def best_approaches(scores: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Each row's highest-scoring approach (index), among the ``allowed`` ones where given
    (rows with none allowed: -1)."""
    if allowed is None:
        return np.asarray(scores.argmax(axis=1))
    masked = np.where(allowed, scores, -np.inf)
    return np.where(allowed.any(axis=1), masked.argmax(axis=1), -1)


def affordable_approaches(
    frame: pl.DataFrame, plans: Mapping[str, Mapping[str, Any]], rules: BudgetRules
) -> np.ndarray:
    """n x approaches: whether the case's budget bears the approach's typical plan
    (``overdue.plans.approach_plan``)."""
    cases = frame.select(BUDGET_FIELDS).iter_rows(named=True)
    return np.array(
        [
            [approach_plan(case, plans[code], rules).affordable for code in APPROACHES]
            for case in cases
        ],
        dtype=bool,
    ).reshape(frame.height, len(APPROACHES))


@dataclass(frozen=True)
class PolicyRow:
    """One policy's value against what debtors asked for, in one (sub)group of the test
    period's cases."""

    policy: str  # model or model_affordable
    subgroup: str
    n: int  # cases evaluated
    n_followed: int  # of them, cases that asked for the recommended approach
    value: float | None  # the policy's agreement rate (doubly robust)
    value_low: float | None
    value_high: float | None
    actual: float | None  # the observed agreement rate
    difference: float | None  # value - actual
    difference_low: float | None
    difference_high: float | None
    suppressed: bool  # under k cases, followed cases, agreements or refusals


_NONE: Final = (None,) * 7  # a suppressed row's numbers


def _interval(values: np.ndarray, lowest: float) -> tuple[float, float, float]:
    """Mean and 95% interval, clipped to [lowest, 1] (a rate: 0; a difference: -1)."""
    mean = float(values.mean())
    se = float(values.std(ddof=1) / np.sqrt(len(values)))

    def clip(v: float) -> float:
        return min(max(v, lowest), 1.0)

    return clip(mean), clip(mean - Z * se), clip(mean + Z * se)


def policy_rows(
    fit: AipwFit,
    rows: np.ndarray,
    recommended: np.ndarray,
    groups: Mapping[str, np.ndarray],
    policy: str,
    k: int,
) -> list[PolicyRow]:
    """The value of recommending ``recommended`` (an approach index per row of ``rows``, -1:
    no recommendation, the case left out) to the cases ``rows`` of ``fit``, per group
    (boolean masks over ``rows``); numbers under k cases suppressed."""
    out = []
    for key, mask in groups.items():
        take = mask & (recommended >= 0)
        picked, at = recommended[take], rows[take]
        n = int(take.sum())
        y = fit.y[at]
        followed = int((fit.codes[at] == picked).sum())
        agreed = int(y.sum())
        suppressed = min(n, followed, agreed, n - agreed) < k or n < 2
        if suppressed:
            out.append(PolicyRow(policy, key, n, followed, *_NONE, suppressed=True))
            continue
        phi = fit.phi[at, picked]
        value, low, high = _interval(phi, 0.0)
        difference, d_low, d_high = _interval(phi - y, -1.0)
        out.append(
            PolicyRow(
                policy, key, n, followed, value, low, high, agreed / n, difference, d_low, d_high,
                False,
            )
        )  # fmt: skip
    return out


def policy_values(
    model: OutcomeModel,
    frame: pl.DataFrame,
    fit: AipwFit,
    plans: Mapping[str, Mapping[str, Any]] | None,
    rules: BudgetRules,
    k: int,
    seed: int = 0,
    max_rows: int = POLICY_MAX_ROWS,
) -> list[PolicyRow]:
    """The model's policy on the test period of ``frame`` (the labelled rows ``fit`` was made
    from, in its order; at most ``max_rows`` of them, drawn at random), overall and per
    subgroup; also restricted to affordable plans when ``plans`` (the typical plan of each
    approach) is given."""
    rows = time_split(frame).test
    if len(rows) > max_rows:
        rows = np.random.default_rng(seed).choice(rows, max_rows, replace=False)
    rows = np.sort(rows)
    test = frame[rows]
    scores = approach_scores(model, test)
    groups = group_masks(test)
    out = policy_rows(fit, rows, best_approaches(scores), groups, "model", k)
    if plans is not None:
        allowed = affordable_approaches(test, plans, rules)
        out += policy_rows(
            fit, rows, best_approaches(scores, allowed), groups, "model_affordable", k
        )
    return out


def policy_document(found: Sequence[PolicyRow]) -> list[dict[str, Any]]:
    """The rows as plain dicts (what ``model_runs.policy_value`` stores)."""
    return [asdict(r) for r in found]
