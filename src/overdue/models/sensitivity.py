"""How strong a confounder nobody measured would have to be to erase an adjusted contrast.

Chernozhukov, Cinelli, Newey, Sharma & Syrgkanis, "Long Story Short: Omitted Variable Bias in
Causal Machine Learning" (NBER w30302, 2022), as DoubleML's ``sensitivity_analysis`` and
``sensitivity_benchmark`` implement it for the IRM and APO models (doubleml 0.11). A headline
contrast is a weighted sum of the AIPW rates, theta = sum_l w_l theta_l: an approach against the
average of all approaches (w = 1[l] - 1/L), a lever level against its reference (w = 1[l] -
1[ref]). From the AIPW fit's own cross-fitted predictions (mu, e; nothing is refitted):

    sigma2 = E[(Y - mu_D(X))^2]                  residual variation of the outcome
    alpha  = w_D / e_D(X)                        the contrast's Riesz representer
    nu2    = E[2 sum_l w_l^2 / e_l(X) - alpha^2] its variation (E[alpha^2], debiased)
    S      = sqrt(sigma2 nu2)

An omitted confounder A moves theta by at most |rho| C_y C_d S, with C_y^2 = cf_y (the share of
the outcome's residual variation A explains) and C_d^2 = cf_d / (1 - cf_d) (cf_d: the share of
the Riesz representer's variation A adds). The confidence bounds of theta -/+ that bias take the
influence values psi -/+ strength * psi_bias, psi_bias = (sigma2 psi_nu2 + nu2 psi_sigma2) / 2S,
one-sided at ``level`` (0.975: with no confounding they are the 95% interval's ends).

Robustness values (rho = 1, cf_y = cf_d = r): RV is the r at which the bound reaches zero,
r^2 / (1 - r) = (theta / S)^2; RVa the r at which the confidence bound does (0 when the interval
already covers zero). A contrast is fragile when RVa is at most the strength of the strongest
observed covariate group (the larger of its cf_y and cf_d), as Cinelli & Hazlett read RV.
Benchmarks refit without one group of observed covariates (and, on a subsample, with every
covariate too, so both learn from as many cases) and read its
strength as DoubleML's ``gain_statistics`` does: cf_y = (R2_long - R2_short) / (1 - R2_long)
with R2 = 1 - sigma2 / Var(Y), cf_d = (1 - nu2_short / nu2_long) / (nu2_short / nu2_long),
rho = (theta_short - theta_long) / sqrt((sigma2_short - sigma2_long)(nu2_long - nu2_short)).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Final

import numpy as np
import polars as pl
from scipy.optimize import brentq
from scipy.stats import norm

from overdue.features import CONTACT, DOCUMENTS, HELP
from overdue.i18n import LANGS, Lang
from overdue.models.effects import (
    APPROACH_TREATMENT,
    FOLDS,
    PROPENSITY_FLOOR,
    TREATMENTS,
    AipwFit,
    EffectFit,
    Treatment,
    aipw,
    effect_fits,
)
from overdue.reports.i18n import field_label, value_label

LEVEL: Final = 0.975
"""One-sided level of the confidence bounds: with no confounding they are the 95% interval."""
BENCHMARK_MAX_ROWS: Final = 20_000
"""Each benchmark refits on a random subsample of at most this many of the fit's cases."""
TREATMENT_NAMES: Final = tuple(t.name for t in TREATMENTS)
TRAIN_BENCHMARK_ROWS: Final = 15_000
TRAIN_BENCHMARK_FOLDS: Final = 2
"""``overdue train`` benchmarks every treatment on at most ``TRAIN_BENCHMARK_ROWS`` cases with
two folds (the refits cost the same at any size above the cap). Three folds on 20,000 cases
cost about as much as the rest of training at 200k; on 5,000-10,000 cases the strongest
group's strength was too noisy to tell the hidden confounder's contrast from the clear ones
(docs/sensitivity.md)."""
MIN_BENCHMARK_ROWS: Final = TRAIN_BENCHMARK_ROWS
"""A treatment fitted on fewer cases is not benchmarked: its contrasts keep their robustness
values in words (``not_benchmarked``). Benchmarks on 5,000 and 10,000 cases misread the hidden
confounder's contrast or clear ones; on 15,000 they read right (docs/sensitivity.md)."""
RV_CEILING: Final = 0.9999  # cf_d must stay below 1; DoubleML searches [0, 0.9999] too

BENCHMARK_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "debt_to_income": (
        "debt_to_income",
        "outstanding_balance",
        "principal",
        "months_to_clear",
        "balance_to_principal",
        "payment_due_to_income",
    ),
    "days_overdue": ("days_overdue_at_contact", "overdue_band", "collection_stage_rank"),
    "income": (
        "monthly_income",
        "monthly_essential_expenses",
        "disposable_income",
        "emergency_fund_months",
        "savings_to_balance",
        "dependents",
    ),
    "hardship_reason": ("hardship_reason",),
    "lender_type": ("lender_type", "annual_rate", "penalty_share"),
    "preparation": tuple(f.name for f in (*HELP, *CONTACT, *DOCUMENTS)),
}
"""Observed covariates a hidden confounder is compared with, each with the features derived
from the same fields (dropping debt-to-income alone would leave balance and income to rebuild
it). A group is used for a treatment only where the treatment adjusts for it."""

GROUP_LABELS: Final[dict[str, dict[Lang, str]]] = {
    "debt_to_income": {"zh": "负债收入比", "en": "debt-to-income"},
    "days_overdue": {"zh": "逾期天数", "en": "days overdue"},
    "income": {"zh": "收入与储蓄", "en": "income and savings"},
    "hardship_reason": {"zh": "逾期原因", "en": "the hardship reason"},
    "lender_type": {"zh": "出借方类型与利率", "en": "the lender type and rate"},
    "preparation": {"zh": "专业帮助、联系方式与材料", "en": "help, contact and documents"},
}

VERDICT_TEXT: Final[dict[str, dict[Lang, str]]] = {
    "robust": {
        "en": "{contrast}: a hidden confounder as strong as {group} would not erase it",
        "zh": "{contrast}：即使存在与{group}同等强度的未观测混杂因素，这一差异依然成立",
    },
    "blurred": {
        "en": "{contrast}: a hidden confounder as strong as {group} would not erase it, "
        "but could make it indistinguishable from zero",
        "zh": "{contrast}：与{group}同等强度的未观测混杂因素不足以抹去这一差异，"
        "但可能使其与零无法区分",
    },
    "erased": {
        "en": "{contrast}: a hidden confounder as strong as {group} could erase it",
        "zh": "{contrast}：与{group}同等强度的未观测混杂因素就可能抹去这一差异",
    },
    "unclear": {
        "en": "{contrast}: not distinguishable from zero even without a hidden confounder",
        "zh": "{contrast}：即使没有未观测混杂因素，也与零无法区分",
    },
    "not_estimable": {
        "en": "{contrast}: too few cases to bound it (the weights' estimated variation is not "
        "positive)",
        "zh": "{contrast}：案例太少，无法给出敏感性界限（权重的估计变异不为正）",
    },
    "not_benchmarked": {
        "en": "{contrast}: a hidden confounder would have to explain {rva} of what the "
        "covariates leave unexplained of both agreement and the choice to make it "
        "indistinguishable from zero (not compared with an observed covariate)",
        "zh": "{contrast}：未观测混杂因素须同时解释协议结果与该选择中协变量未能解释部分的{rva}，"
        "才能使其与零无法区分（未与已观测变量比较）",
    },
}
"""The verdict in words: robust; fragile as ``blurred`` (the interval would reach zero) or
``erased`` (the estimate itself would); unclear; not_benchmarked (no observed covariate group
was refitted for the treatment: RVa alone, in words); not_estimable (no bounds: ``bounded``)."""


@dataclass(frozen=True)
class Contrast:
    """A weighted sum of one treatment's adjusted rates, named for the reader."""

    treatment: str
    level: str
    against: str  # "average" (of all levels) or the reference level
    weights: np.ndarray  # one per level


def headline_contrasts(treatment: Treatment) -> list[Contrast]:
    """Each approach against the average of all approaches; each lever level against the
    lever's first level."""
    levels = treatment.levels
    unit = np.eye(len(levels))
    if treatment.name == APPROACH_TREATMENT.name:
        return [
            Contrast(treatment.name, level, "average", unit[i] - 1 / len(levels))
            for i, level in enumerate(levels)
        ]
    return [
        Contrast(treatment.name, level, levels[0], unit[i] - unit[0])
        for i, level in enumerate(levels)
        if i > 0
    ]


@dataclass(frozen=True)
class Elements:
    """What the bounds of one contrast are made of, on one set of rows."""

    theta: float
    psi: np.ndarray  # influence values: phi . w - theta
    sigma2: float
    nu2: float
    psi_sigma2: np.ndarray
    psi_nu2: np.ndarray
    var_y: float  # Var(Y), ddof 0: the benchmarks' R2 denominator


def elements(fit: AipwFit, weights: np.ndarray, rows: np.ndarray | None = None) -> Elements:
    """The contrast's estimate, influence values, sigma2 and nu2 from an AIPW fit's predictions
    (``rows``: a subset of the fit's rows, e.g. a benchmark's subsample)."""
    take = np.arange(len(fit.y)) if rows is None else rows
    codes, y = fit.codes[take], fit.y[take]
    e = np.maximum(fit.propensity[take], PROPENSITY_FLOOR)
    at = np.arange(len(take))
    phi = fit.phi[take] @ weights
    theta = float(phi.mean())
    residual2 = (y - fit.outcome[take][at, codes]) ** 2
    alpha = weights[codes] / e[at, codes]
    nu2_element = 2 * (weights**2 / e).sum(axis=1) - alpha**2
    sigma2, nu2 = float(residual2.mean()), float(nu2_element.mean())
    return Elements(
        theta, phi - theta, sigma2, nu2, residual2 - sigma2, nu2_element - nu2, float(y.var())
    )


def bounded(el: Elements) -> bool:
    """Whether the bounds exist: sigma2 and nu2 positive (nu2, debiased, can be negative on
    few cases with unsure propensities; DoubleML refuses such fits too)."""
    return el.sigma2 > 0 and el.nu2 > 0


def confounding_strength(cf_y: float, cf_d: float, rho: float = 1.0) -> float:
    """|rho| C_y C_d: the bias bound in units of S."""
    return abs(rho) * float(np.sqrt(cf_y * cf_d / (1.0 - cf_d)))


@dataclass(frozen=True)
class Bounds:
    """theta -/+ the bias bound, and their one-sided confidence bounds."""

    theta_low: float
    theta_high: float
    ci_low: float
    ci_high: float


def bounds(el: Elements, strength: float, level: float = LEVEL) -> Bounds:
    """The bounds on theta under confounding of ``strength`` (|rho| C_y C_d); with none, the
    plain interval (which needs no ``bounded`` elements)."""
    z = float(norm.ppf(level))
    if strength == 0:
        se = float(np.sqrt(np.mean(el.psi**2) / len(el.psi)))
        return Bounds(el.theta, el.theta, el.theta - z * se, el.theta + z * se)
    s = float(np.sqrt(el.sigma2 * el.nu2))
    psi_bias = (el.sigma2 * el.psi_nu2 + el.nu2 * el.psi_sigma2) / (2.0 * s)
    n = len(el.psi)
    se_low = float(np.sqrt(np.mean((el.psi - strength * psi_bias) ** 2) / n))
    se_high = float(np.sqrt(np.mean((el.psi + strength * psi_bias) ** 2) / n))
    low, high = el.theta - strength * s, el.theta + strength * s
    return Bounds(low, high, low - z * se_low, high + z * se_high)


def robustness_values(el: Elements, level: float = LEVEL) -> tuple[float, float]:
    """(RV, RVa): the equal strength cf_y = cf_d (rho = 1) at which the bound nearest zero, and
    then its confidence bound, reaches zero."""
    s = float(np.sqrt(el.sigma2 * el.nu2))
    a = (el.theta / s) ** 2
    rv = min(float((-a + np.sqrt(a * a + 4 * a)) / 2), RV_CEILING)
    sign = 1.0 if el.theta >= 0 else -1.0

    def gap(r: float) -> float:  # the confidence bound nearest zero, signed toward the estimate
        b = bounds(el, confounding_strength(r, r), level)
        return b.ci_low if sign > 0 else -b.ci_high

    if gap(0.0) <= 0:
        return rv, 0.0
    if gap(RV_CEILING) > 0:
        return rv, RV_CEILING
    return rv, float(brentq(gap, 0.0, RV_CEILING, xtol=1e-10))


@dataclass(frozen=True)
class Benchmark:
    """How strong one group of observed covariates is, read as a confounder's strength."""

    group: str
    cf_y: float
    cf_d: float
    rho: float
    delta_theta: float  # theta without the group - theta with it


def gain_statistics(group: str, long: Elements, short: Elements) -> Benchmark:
    """DoubleML's ``gain_statistics``: the strength of what the short fit left out."""
    r2_long = 1.0 - long.sigma2 / long.var_y
    r2_short = 1.0 - short.sigma2 / long.var_y
    r2_riesz = short.nu2 / long.nu2
    cf_y = float(np.clip((r2_long - r2_short) / (1.0 - r2_long), 0, 1))
    cf_d = float(np.clip((1.0 - r2_riesz) / r2_riesz, 0, 1))
    delta = short.theta - long.theta
    var_g, var_riesz = short.sigma2 - long.sigma2, long.nu2 - short.nu2
    denom = float(np.sqrt(var_g * var_riesz)) if var_g > 0 and var_riesz > 0 else 0.0
    rho = float(np.sign(delta) * (np.clip(abs(delta) / denom, 0, 1) if denom else 1.0))
    return Benchmark(group, cf_y, cf_d, rho, float(delta))


def benchmark_groups(treatment: Treatment) -> dict[str, tuple[str, ...]]:
    """The benchmark groups the treatment adjusts for, each cut to the features it reads."""
    present = set(treatment.covariates.features)
    groups = {
        name: tuple(f for f in group if f in present) for name, group in BENCHMARK_GROUPS.items()
    }
    return {name: group for name, group in groups.items() if group}


def benchmarks(
    frame: pl.DataFrame,
    fit: AipwFit,
    contrasts: Sequence[Contrast],
    label: str,
    seed: int,
    max_rows: int = BENCHMARK_MAX_ROWS,
    folds: int = FOLDS,
) -> dict[str, list[Benchmark]]:
    """Per contrast (by level), one benchmark per covariate group: the treatment refitted
    without the group, compared with it refitted with every covariate, both on the same
    subsample of ``frame`` (the rows ``fit`` was made from; ``fit`` itself when ``frame`` is
    within ``max_rows`` and ``folds`` are the fit's). Long and short learn from equally many
    cases, as in DoubleML's ``sensitivity_benchmark``: a short fit on fewer cases than the long
    one would fit worse for that alone and make every group look strong."""
    rng = np.random.default_rng(seed)
    long, sample = fit, frame
    if frame.height > max_rows:
        sample = frame[np.sort(rng.choice(frame.height, max_rows, replace=False))]
    if frame.height > max_rows or folds != FOLDS:
        long = aipw(sample, fit.treatment, label, seed, folds)
    out: dict[str, list[Benchmark]] = {c.level: [] for c in contrasts}
    for name, group in benchmark_groups(fit.treatment).items():
        treatment = replace(fit.treatment, covariates=fit.treatment.covariates.without(group))
        short = aipw(sample, treatment, label, seed, folds)
        for c in contrasts:
            pair = elements(long, c.weights), elements(short, c.weights)
            if all(bounded(el) for el in pair):
                out[c.level].append(gain_statistics(name, *pair))
    return out


@dataclass(frozen=True)
class SensitivityRow:
    """One headline contrast: its estimate, how robust it is, and the verdict in words."""

    treatment: str
    level: str
    against: str
    estimate: float
    ci_low: float
    ci_high: float
    rv: float | None  # equal strength cf_y = cf_d that could move the estimate to zero
    rva: float | None  # ... that could move its 95% interval to zero (None: not_estimable)
    benchmark: str | None  # the strongest observed covariate group; None: not benchmarked
    benchmark_cf_y: float | None
    benchmark_cf_d: float | None
    bound_low: float | None  # theta's bounds with cf_y = cf_d = the benchmark's strength
    bound_high: float | None  # (rho = 1)
    bound_ci_low: float | None
    bound_ci_high: float | None
    verdict: str  # robust, fragile, unclear, not_benchmarked, not_estimable
    text: dict[Lang, str]  # the verdict in words, by language
    n_min: int  # the fewest cases that took any level the contrast weighs (the k rule)
    contrast: dict[Lang, str]  # the contrast as a reader sees it, by language
    benchmark_label: dict[Lang, str] | None  # the benchmark group's name, by language


def verdict(el: Elements, rva: float, benchmark: float, level: float = LEVEL) -> str:
    """Cinelli & Hazlett's reading of the robustness value: a confounder explaining less than RVa
    of both residual variations cannot bring the interval to zero. ``robust`` when RVa exceeds
    the benchmark's strength (the larger of its cf_y and cf_d), ``fragile`` when it does not;
    ``unclear`` when the interval includes zero with no confounding at all."""
    plain = bounds(el, 0.0, level)
    if plain.ci_low <= 0 <= plain.ci_high:
        return "unclear"
    return "fragile" if rva <= benchmark else "robust"


def _wording(word: str, rv: float, benchmark: float) -> str:
    if word != "fragile":
        return word
    return "erased" if rv <= benchmark else "blurred"


def contrast_label(treatment: str, level: str, against: str, lang: Lang) -> str:
    """E.g. 'deferral vs the average approach', '专业协助:律师对比无'."""
    shown = value_label(treatment, level, lang)
    if against == "average":
        return f"{shown}对比平均方案" if lang == "zh" else f"{shown} vs the average approach"
    name = field_label(treatment, lang)
    against_label = value_label(treatment, against, lang)
    if lang == "zh":
        return f"{name}:{shown}对比{against_label}"
    return f"{name}: {shown} vs {against_label}"


def contrast_cases(fit: AipwFit, c: Contrast) -> int:
    """The fewest cases that took any level ``c`` weighs (every level for 'the average')."""
    counts = np.bincount(fit.codes, minlength=len(fit.treatment.levels))
    return int(counts[np.flatnonzero(c.weights)].min())


def benchmark_strength(b: Benchmark) -> float:
    """A group's strength as one number: the larger of its cf_y and cf_d."""
    return min(max(b.cf_y, b.cf_d), RV_CEILING)


def strongest(found: Sequence[Benchmark]) -> Benchmark:
    """The strongest observed covariate group (``benchmark_strength``)."""
    return max(found, key=benchmark_strength)


def sensitivity_rows(
    fit: AipwFit,
    found: dict[str, list[Benchmark]] | None,
    level: float = LEVEL,
    k: int = 1,
) -> list[SensitivityRow]:
    """One row per headline contrast of ``fit``'s treatment resting on at least ``k`` cases
    of every level it weighs, read against the strongest of its benchmarks (``found``, by
    level, as ``benchmarks`` returns them; None: not benchmarked, RVa alone)."""
    rows = []
    for c in headline_contrasts(fit.treatment):
        n_min = contrast_cases(fit, c)
        if n_min < max(k, 1):
            continue
        el = elements(fit, c.weights)
        plain = bounds(el, 0.0, level)
        rv, rva = robustness_values(el, level) if bounded(el) else (None, None)
        top = strongest(found[c.level]) if found and found[c.level] else None
        if rv is None or rva is None:
            word = wording = "not_estimable"
            top = at = None
        elif top is None:
            word = "unclear" if plain.ci_low <= 0 <= plain.ci_high else "not_benchmarked"
            at, wording = None, word
        else:
            strength = benchmark_strength(top)
            at = bounds(el, confounding_strength(strength, strength), level)
            word = verdict(el, rva, strength, level)
            wording = _wording(word, rv, strength)
        text = {
            lang: VERDICT_TEXT[wording][lang].format(
                contrast=contrast_label(c.treatment, c.level, c.against, lang),
                group=GROUP_LABELS[top.group][lang] if top else "",
                rva=f"{rva:.1%}" if rva is not None else "",
            )
            for lang in LANGS
        }
        rows.append(
            SensitivityRow(
                c.treatment,
                c.level,
                c.against,
                el.theta,
                plain.ci_low,
                plain.ci_high,
                rv,
                rva,
                top.group if top else None,
                top.cf_y if top else None,
                top.cf_d if top else None,
                at.theta_low if at else None,
                at.theta_high if at else None,
                at.ci_low if at else None,
                at.ci_high if at else None,
                word,
                text,
                n_min,
                {lang: contrast_label(c.treatment, c.level, c.against, lang) for lang in LANGS},
                GROUP_LABELS[top.group] if top else None,
            )
        )
    return rows


def fits_sensitivity(
    fits: Sequence[EffectFit],
    label: str,
    seed: int,
    k: int,
    benchmark_rows: int = BENCHMARK_MAX_ROWS,
    benchmarked: Sequence[str] = TREATMENT_NAMES,
    benchmark_folds: int = FOLDS,
    min_rows: int = MIN_BENCHMARK_ROWS,
) -> list[SensitivityRow]:
    """Every headline contrast of the fits ``estimate_effects`` makes (no fit is repeated),
    each treatment named in ``benchmarked`` and fitted on at least ``min_rows`` cases read
    against its observed covariate groups."""
    out = []
    for f in fits:
        contrasts = [
            c for c in headline_contrasts(f.fit.treatment) if contrast_cases(f.fit, c) >= k
        ]
        found = (
            benchmarks(f.frame, f.fit, contrasts, label, seed, benchmark_rows, benchmark_folds)
            if contrasts and f.fit.treatment.name in benchmarked and f.frame.height >= min_rows
            else None
        )
        out += sensitivity_rows(f.fit, found, k=k)
    return out


def train_sensitivity(
    fits: Sequence[EffectFit], label: str, seed: int, k: int
) -> list[dict[str, object]]:
    """What ``overdue train`` stores in ``model_runs.sensitivity``: every headline contrast,
    each benchmarked on ``TRAIN_BENCHMARK_ROWS`` cases with ``TRAIN_BENCHMARK_FOLDS`` folds."""
    rows = fits_sensitivity(
        fits, label, seed, k, TRAIN_BENCHMARK_ROWS, TREATMENT_NAMES, TRAIN_BENCHMARK_FOLDS
    )
    return rows_document(rows)


def sensitivity_analysis(
    features: pl.DataFrame,
    label: str,
    seed: int,
    benchmark_rows: int = BENCHMARK_MAX_ROWS,
    k: int = 1,
) -> list[SensitivityRow]:
    """Every headline contrast of the approaches (all labelled cases) and the levers (a
    subsample of at most LEVER_MAX_ROWS, as ``estimate_effects`` draws it), benchmarked."""
    return fits_sensitivity(effect_fits(features, label, seed), label, seed, k, benchmark_rows)


def rows_document(rows: Sequence[SensitivityRow]) -> list[dict[str, object]]:
    """The rows as plain dicts (what ``model_runs.sensitivity`` stores)."""
    return [asdict(r) for r in rows]


def rows_json(rows: Sequence[SensitivityRow]) -> str:
    """The rows as a JSON array (what ``--json`` prints)."""
    return json.dumps(rows_document(rows), ensure_ascii=False, indent=2)
