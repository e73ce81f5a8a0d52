"""Refutation tests of the approach effects, in the spirit of DoWhy's refuters.

Each refits the cross-fitted AIPW estimate (``overdue.models.effects.aipw``) of every approach
against the average approach on a subsample (at most ``REFUTE_MAX_ROWS`` cases, ``REFUTE_FOLDS``
folds: bounded cost) after changing the data in a way whose right answer is known:

- placebo: the approaches shuffled within strata (lender type x overdue band): no approach can
  then do better than the average, so each contrast's 95% interval should cover 0; it fails
  when more exclude 0 than chance allows (``allowed_misses``);
- random common cause: a covariate of pure noise added to the adjustment set: the contrasts
  must not move by more than ``MOVE_LIMIT`` of their standard errors;
- data subsets: ``SUBSET_DRAWS`` random halves refitted: each half's 95% interval should hold
  the whole subsample's estimate, no more misses than chance allows (the half's interval is
  about 1.4 times the whole's, the difference's spread about the whole's: a stable estimate
  misses far less often than 5%; refits on half the cases vary about 1.2-1.3 times more than
  the intervals say, measured on simulated worlds, so the whole's own interval would be too
  strict);
- negative-control outcome: the case-record contract has none (every outcome follows the
  negotiation; what is known before it is adjusted for), so it is reported as not available.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any, Final

import numpy as np
import polars as pl
from scipy.stats import binom, norm

from overdue.i18n import LANGS, Lang
from overdue.models.design import Design, Matrix
from overdue.models.effects import APPROACH_TREATMENT, AipwFit, Treatment, aipw
from overdue.models.parallel import side_by_side
from overdue.models.sensitivity import contrast_cases, headline_contrasts

REFUTE_MAX_ROWS: Final = 10_000
REFUTE_FOLDS: Final = 2
PLACEBO_STRATA: Final = ("lender_type", "overdue_band")
MOVE_LIMIT: Final = 1.0
"""Random common cause: the largest move of a contrast allowed, in its standard errors. Refits
with a noise covariate moved contrasts by up to 0.6 SE on simulated worlds of 4,000-20,000
cases (the boosting refits differ a little); one SE keeps the moved estimate well inside the
interval."""
SUBSET_SHARE: Final = 0.5
SUBSET_DRAWS: Final = 3
MISS_SHARE: Final = 0.05  # a 95% interval misses its target this often by chance
MISS_LEVEL: Final = 0.99
"""More misses than the ``MISS_LEVEL`` quantile of Binomial(checks, ``MISS_SHARE``) fail."""
RANDOM_COLUMN: Final = "refute_random_common_cause"
Z: Final = float(norm.ppf(0.975))

VERDICT_TEXT: Final[dict[str, dict[Lang, str]]] = {
    "placebo_passed": {
        "en": "Passed: with the approaches shuffled within lender type and overdue band, "
        "{misses} of {checks} contrasts exclude 0 (up to {allowed} expected by chance)",
        "zh": "通过：在同一机构类型与逾期阶段内随机打乱协商方案后，{checks} 个对比中有 {misses} "
        "个区间不含 0（偶然情况下最多 {allowed} 个）",
    },
    "placebo_failed": {
        "en": "Failed: with the approaches shuffled within lender type and overdue band, "
        "{misses} of {checks} contrasts still exclude 0 (at most {allowed} expected by "
        "chance): the estimate finds effects where there are none",
        "zh": "未通过：在同一机构类型与逾期阶段内随机打乱协商方案后，{checks} 个对比中仍有 "
        "{misses} 个区间不含 0（偶然情况下最多 {allowed} 个）：估计方法在没有效应时也报告了效应",
    },
    "random_common_cause_passed": {
        "en": "Passed: adding a covariate of pure noise moved no contrast by more than "
        "{move:.2f} of its standard error (limit {limit})",
        "zh": "通过：加入一个纯随机的协变量后，各对比的变化最多为其标准误的 {move:.2f} 倍"
        "（上限 {limit}）",
    },
    "random_common_cause_failed": {
        "en": "Failed: adding a covariate of pure noise moved a contrast by {move:.2f} of its "
        "standard error (limit {limit}): the estimate is unstable",
        "zh": "未通过：加入一个纯随机的协变量后，某个对比变化了其标准误的 {move:.2f} 倍"
        "（上限 {limit}）：估计不稳定",
    },
    "data_subset_passed": {
        "en": "Passed: refitted on {draws} random halves, {misses} of {checks} intervals miss "
        "the full sample's estimate (up to {allowed} expected by chance)",
        "zh": "通过：在 {draws} 个随机抽取的一半样本上重新估计，{checks} 个 95% 区间中有 {misses} "
        "个不含全样本的估计值（偶然情况下最多 {allowed} 个）",
    },
    "data_subset_failed": {
        "en": "Failed: refitted on {draws} random halves, {misses} of {checks} intervals miss "
        "the full sample's estimate (at most {allowed} expected by chance): the "
        "estimates are not stable",
        "zh": "未通过：在 {draws} 个随机抽取的一半样本上重新估计，"
        "{checks} 个 95% 区间中有 {misses} 个不含全样本的估计值（偶然情况下最多 {allowed} 个）："
        "估计不稳定",
    },
    "negative_control_not_available": {
        "en": "Not available: the case records hold no outcome the approach cannot affect "
        "(every outcome field follows the negotiation, and what is known before it is "
        "already adjusted for)",
        "zh": "无法进行：案例记录中没有不受协商方案影响的结果字段（所有结果字段都发生在协商之后，"
        "协商前已知的信息都已用于调整）",
    },
    "too_few_cases": {
        "en": "Not run: no approach has enough cases of every level in the subsample",
        "zh": "未进行：子样本中没有足够的案例",
    },
}
"""The verdicts in words, by language; ``{...}`` filled from the result's numbers."""

TEST_NAMES: Final[dict[str, dict[Lang, str]]] = {
    "placebo": {"en": "Placebo approach", "zh": "安慰剂方案"},
    "random_common_cause": {"en": "Random common cause", "zh": "随机共同原因"},
    "data_subset": {"en": "Data-subset refit", "zh": "子样本重新估计"},
    "negative_control": {"en": "Negative-control outcome", "zh": "阴性对照结果"},
}


@dataclass(frozen=True)
class WithColumns(Design):
    """A design with extra numeric columns read as they are (not features of the contract):
    the random common cause, or in tests a planted leak."""

    extra: tuple[str, ...] = ()

    @property
    def categorical(self) -> np.ndarray:
        """The design's category mask, the extra columns numeric."""
        return np.append(super().categorical, np.zeros(len(self.extra), dtype=bool))

    def matrix(self, frame: pl.DataFrame) -> Matrix:
        """The design's matrix, the extra columns after it."""
        extra = frame.select(pl.col(c).cast(pl.Float64) for c in self.extra).to_numpy()
        return np.column_stack([super().matrix(frame), extra])


def with_columns(treatment: Treatment, *names: str) -> Treatment:
    """``treatment`` also adjusting for the columns ``names``."""
    base = treatment.covariates
    extra = base.extra if isinstance(base, WithColumns) else ()
    return replace(treatment, covariates=WithColumns(base.features, (*extra, *names)))


@dataclass(frozen=True)
class ContrastEstimate:
    """One approach against the average approach, in one refit."""

    level: str
    estimate: float
    se: float
    n_min: int  # the fewest cases of any level (k rule)

    @property
    def ci_low(self) -> float:
        """Lower end of the 95% interval."""
        return self.estimate - Z * self.se

    @property
    def ci_high(self) -> float:
        """Upper end of the 95% interval."""
        return self.estimate + Z * self.se


def contrast_estimates(fit: AipwFit, k: int) -> dict[str, ContrastEstimate]:
    """Each headline contrast of ``fit`` resting on at least ``k`` cases of every level, by
    level: the mean of the per-case values phi . w and its standard error."""
    out = {}
    for c in headline_contrasts(fit.treatment):
        n_min = contrast_cases(fit, c)
        if n_min < max(k, 1):
            continue
        values = fit.phi @ c.weights
        se = float(values.std(ddof=1) / np.sqrt(len(values)))
        out[c.level] = ContrastEstimate(c.level, float(values.mean()), se, n_min)
    return out


def allowed_misses(checks: int, share: float = MISS_SHARE, level: float = MISS_LEVEL) -> int:
    """How many of ``checks`` 95% intervals may miss by chance: the ``level`` quantile of
    Binomial(checks, share)."""
    return int(binom.ppf(level, checks, share)) if checks else 0


def shuffled_within(
    frame: pl.DataFrame, column: str, strata: Sequence[str], seed: int
) -> pl.DataFrame:
    """``frame`` with ``column``'s values permuted at random within each stratum."""
    rng = np.random.default_rng(seed)
    keys = frame.select(
        pl.concat_str([pl.col(s).cast(pl.String).fill_null("") for s in strata], separator="|")
    ).to_series()
    stratum = np.unique(keys.to_numpy(), return_inverse=True)[1]
    in_place = np.argsort(stratum, kind="stable")
    drawn = np.lexsort((rng.random(len(stratum)), stratum))
    values = frame[column].to_numpy()
    out = values.copy()
    out[in_place] = values[drawn]
    return frame.with_columns(pl.Series(column, out, dtype=frame[column].dtype))


@dataclass(frozen=True)
class Refutation:
    """One refutation test: its verdict and the numbers behind it (no case rows)."""

    test: str  # placebo, random_common_cause, data_subset, negative_control
    passed: bool | None  # None: not run
    verdict: str  # passed, failed, not_available, not_run
    statistic: float | None  # misses (placebo, subsets) or the largest move in SEs
    allowed: float | None  # the most misses (or the move) allowed
    checks: int  # contrasts (times draws) checked
    rows: int  # cases in the refit
    contrasts: list[dict[str, Any]]  # per approach: the refit's numbers
    name: dict[Lang, str]
    text: dict[Lang, str]


def _words(key: str, **values: Any) -> dict[Lang, str]:
    return {lang: VERDICT_TEXT[key][lang].format(**values) for lang in LANGS}


def _not_run(test: str, rows: int) -> Refutation:
    return Refutation(
        test, None, "not_run", None, None, 0, rows, [], TEST_NAMES[test], _words("too_few_cases")
    )


def _counted(
    test: str,
    misses: int,
    checks: int,
    rows: int,
    contrasts: list[dict[str, Any]],
    **words: Any,
) -> Refutation:
    """A verdict by counting intervals that miss: passed when no more miss than chance allows
    (``allowed_misses``)."""
    allowed = allowed_misses(checks)
    passed = misses <= allowed
    verdict = "passed" if passed else "failed"
    return Refutation(
        test,
        passed,
        verdict,
        float(misses),
        float(allowed),
        checks,
        rows,
        contrasts,
        TEST_NAMES[test],
        _words(f"{test}_{verdict}", misses=misses, checks=checks, allowed=allowed, **words),
    )


def placebo_result(fit: AipwFit, k: int) -> Refutation:
    """The verdict of a fit on shuffled approaches: how many contrasts exclude 0."""
    found = contrast_estimates(fit, k)
    if not found:
        return _not_run("placebo", len(fit.y))
    misses = sum(not (c.ci_low <= 0 <= c.ci_high) for c in found.values())
    contrasts = [
        {"level": c.level, "estimate": c.estimate, "ci_low": c.ci_low, "ci_high": c.ci_high}
        for c in found.values()
    ]
    return _counted("placebo", misses, len(found), len(fit.y), contrasts)


def random_cause_result(base: AipwFit, noisy: AipwFit, k: int) -> Refutation:
    """The verdict of a refit with a noise covariate: the largest move against the SE."""
    before, after = contrast_estimates(base, k), contrast_estimates(noisy, k)
    shared = [level for level in before if level in after]
    if not shared:
        return _not_run("random_common_cause", len(base.y))
    moves = {
        level: abs(after[level].estimate - before[level].estimate) / max(before[level].se, 1e-12)
        for level in shared
    }
    move = max(moves.values())
    passed = move <= MOVE_LIMIT
    return Refutation(
        "random_common_cause",
        passed,
        "passed" if passed else "failed",
        move,
        MOVE_LIMIT,
        len(shared),
        len(base.y),
        [
            {
                "level": level,
                "estimate": before[level].estimate,
                "refitted": after[level].estimate,
                "se": before[level].se,
                "move_in_se": moves[level],
            }
            for level in shared
        ],
        TEST_NAMES["random_common_cause"],
        _words(
            f"random_common_cause_{'passed' if passed else 'failed'}", move=move, limit=MOVE_LIMIT
        ),
    )


def subset_result(base: AipwFit, halves: Sequence[AipwFit], k: int) -> Refutation:
    """The verdict of refits on random halves: how many of their intervals miss the whole's
    estimate."""
    whole = contrast_estimates(base, k)
    found = [contrast_estimates(h, k) for h in halves]
    pairs = [(whole[level], f[level]) for f in found for level in whole if level in f]
    if not pairs:
        return _not_run("data_subset", len(base.y))
    misses = sum(not (h.ci_low <= w.estimate <= h.ci_high) for w, h in pairs)
    contrasts = [
        {
            "level": w.level,
            "estimate": w.estimate,
            "halves": [
                {"estimate": f[w.level].estimate, "ci_low": f[w.level].ci_low,
                 "ci_high": f[w.level].ci_high}
                for f in found
                if w.level in f
            ],
        }
        for w in whole.values()
    ]  # fmt: skip
    return _counted("data_subset", misses, len(pairs), len(base.y), contrasts, draws=len(halves))


def negative_control_result() -> Refutation:
    """The contract holds no negative-control outcome: said so, nothing invented."""
    return Refutation(
        "negative_control",
        None,
        "not_available",
        None,
        None,
        0,
        0,
        [],
        TEST_NAMES["negative_control"],
        _words("negative_control_not_available"),
    )


def refutations(
    frame: pl.DataFrame,
    label: str,
    seed: int,
    k: int,
    treatment: Treatment = APPROACH_TREATMENT,
    max_rows: int = REFUTE_MAX_ROWS,
    folds: int = REFUTE_FOLDS,
) -> list[Refutation]:
    """The four refutation tests of ``treatment`` on at most ``max_rows`` labelled cases of
    ``frame``; the refits run side by side (``overdue.models.parallel``)."""
    rng = np.random.default_rng(seed)
    data = frame.filter(pl.col(label).is_not_null())
    if data.height > max_rows:
        data = data[np.sort(rng.choice(data.height, max_rows, replace=False))]
    noisy = data.with_columns(pl.Series(RANDOM_COLUMN, rng.standard_normal(data.height)))
    placebo = shuffled_within(data, "approach", PLACEBO_STRATA, seed)
    halves = [
        data[np.sort(rng.choice(data.height, round(data.height * SUBSET_SHARE), replace=False))]
        for _ in range(SUBSET_DRAWS)
    ]
    fit = partial(aipw, label=label, seed=seed, folds=folds)
    tasks = [
        partial(fit, data, treatment),
        partial(fit, placebo, treatment),
        partial(fit, noisy, with_columns(treatment, RANDOM_COLUMN)),
        *(partial(fit, half, treatment) for half in halves),
    ]
    base, shuffled, with_noise, *refits = side_by_side(tasks)
    return [
        placebo_result(shuffled, k),
        random_cause_result(base, with_noise, k),
        subset_result(base, refits, k),
        negative_control_result(),
    ]


def refutations_document(rows: Sequence[Refutation]) -> list[dict[str, Any]]:
    """The results as plain dicts (what ``model_runs.refutations`` stores)."""
    return [asdict(r) for r in rows]
