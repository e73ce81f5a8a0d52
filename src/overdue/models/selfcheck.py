"""A self-check on the warehouse's own cases: how right and how honest the estimates are where
the truth is known because we planted it.

Real outcomes have no known truth: nobody knows a case's chance of agreement under the
approaches it did not ask for. So, on a random subsample of the labelled cases (their real
context, preparation, asked approach and dates), a few plausible response surfaces give each
case a true P(agreement) under each of the six approaches; outcomes are drawn from the surface
at the approach each case asked for; the product's own procedure (``fit_outcome_model`` and the
AIPW effects) is refitted on those planted outcomes and scored, on the newest cases of the
subsample (the time split's test period), against the planted truth:

- per case: mean |P - true P| over the six approaches, and how often the 95% intervals hold the
  true P (over all test cases and per lender type with at least k test cases);
- how much log-odds spread, added in quadrature, the intervals lacked to hold the truth 95% of
  the time (``spread_needed``: measured, not applied; a model whose intervals take such a spread
  can set it from here);
- population: each approach's adjusted rate against the planted mean, and how often its 95%
  interval holds it.

The surfaces (``SURFACES``): the product's fitted model itself; a gradient-boosting model of the
real outcomes with the approach as a category (other shapes, other moderators); and that
boosted surface with every approach's deviation from the case's mean log-odds doubled
(stronger heterogeneity than the data showed). A surface is a guess at how the world could be,
not the truth: a procedure that does well on all three is not proven right, but one that does
badly on them is shown wrong on cases shaped like the user's own.

The spread the refitted intervals lack to hold the planted truth 95 times in 100, over the
surfaces that count (``spread_surfaces``), times ``SPREAD_SHARE`` (``spread_for``), becomes the
full model's ``interval_spread`` (``fit_checked_model``, and so in training); each surface's
coverage is reported with the spread measured on the other counted surfaces, so it is not the
number the spread was chosen to hit.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from functools import partial
from typing import Any, Final, Protocol

import numpy as np
import polars as pl
from scipy.special import expit, logit
from scipy.stats import norm

from overdue.contract import APPROACHES
from overdue.models.design import gradient_boosting
from overdue.models.effects import APPROACH_TREATMENT, aipw, summarize
from overdue.models.parallel import alongside
from overdue.models.train import OutcomeModel, fit_outcome_model, interval, time_split

LABEL: Final = "y_agreement"
NOMINAL: Final = 0.95
"""The coverage a 95% interval promises."""
SUBSAMPLE_SHARE: Final = 0.25
MIN_ROWS: Final = 10_000
MAX_ROWS: Final = 20_000
"""The self-check refits the procedure on ``SUBSAMPLE_SHARE`` of the labelled cases, at least
``MIN_ROWS`` (or every case when there are fewer) and at most ``MAX_ROWS``: the spread the
intervals lack is mostly bias, which a fit on a few thousand cases hides behind its sampling
error; the cap bounds the cost beyond (docs/self-check.md)."""
SPREAD_SHARE: Final = 0.69
"""The share of the spread the refits needed (pooled over the counted surfaces) that the full
model's intervals take. The refits learn from a subsample, on surfaces harder than the worlds
they stand for (``heterogeneous`` by design): on the 14 development worlds of docs/worlds.md,
at 50,000 and at 200,000 cases, the spread the full model needed was 0.4-0.9 of it, about the
same at both sizes. Chosen again for the cross-fitted stack (2026-12-07): shares from about
0.68 to 0.70 put 26 of the 28 development runs' coverage in 90-97% (all but
``no_moderation``'s two, too wide at any share that keeps the rest), 0.69 the middle; the
held-out worlds were not looked at to choose it (docs/self-check.md). With the
one-standard-error rule of ``spread_surfaces`` (later that night) 27 of 28: only
``no_moderation`` at 200,000 cases stays too wide."""
HETEROGENEITY_FACTOR: Final = 2.0
"""How much the ``heterogeneous`` surface stretches each approach's deviation from the case's
mean log-odds."""
INTERACTION_EVIDENCE: Final = 1.0
"""The ``heterogeneous`` surface sets the spread only when the approach interactions' held-out
gain exceeds this many of its standard errors: the one-standard-error rule of model selection
(Breiman et al., 1984; Hastie, Tibshirani and Friedman, 2009, section 7.10), fixed before it
was measured on any world."""
SURFACES: Final = ("fitted", "boosted", "heterogeneous")
CODES: Final = tuple(APPROACHES)
PROBABILITY_FLOOR: Final = 1e-6
"""Probabilities are kept this far from 0 and 1 before taking their log-odds."""


class IntervalModel(Protocol):
    """What the self-check asks of a fitted model: P and its 95% interval per row, for the
    approach in the frame's ``approach`` column."""

    def predict_with_interval(
        self, frame: pl.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


class Procedure(Protocol):
    """How the product fits a per-case model (``fit_outcome_model``)."""

    def __call__(
        self, features: pl.DataFrame, label: str = ..., seed: int = ...
    ) -> IntervalModel: ...


@dataclass(frozen=True)
class GroupCoverage:
    """Per-case interval coverage over the test cases of one group (never under k of them)."""

    coverage: float
    test_cases: int


@dataclass(frozen=True)
class EffectCheck:
    """One approach's adjusted population rate against its planted mean."""

    approach: str
    planted: float
    estimate: float | None
    error: float | None
    covered: bool | None


@dataclass(frozen=True)
class Scores:
    """How the refitted procedure did: per-case error; interval coverage (overall and per
    lender type) and width with ``spread_applied`` added as the product adds it, and without
    it (``case_coverage_unwidened``, with the ``spread_needed`` it lacked); the population
    effects' worst error and intervals covering."""

    case_mae: float | None
    case_coverage: float | None
    case_coverage_unwidened: float | None
    interval_width: float | None
    spread_needed: float | None
    spread_applied: float | None
    effect_max_error: float | None
    effects_covered: int
    effects_checked: int
    coverage_by_lender: dict[str, GroupCoverage]
    coverage_by_approach: dict[str, GroupCoverage]
    """``case_coverage`` under each approach alone (every test case, had it asked for it): the
    mean over the six hides an approach whose ranges hold the truth less often."""


@dataclass(frozen=True)
class SurfaceCheck(Scores):
    """The scores on one planted surface, each approach's effect and the seconds it took."""

    surface: str
    effects: list[EffectCheck]
    seconds: float


@dataclass(frozen=True)
class SelfCheck:
    """The whole self-check; ``as_json`` is what the bundle and ``model_runs`` store."""

    rows_used: int
    rows_available: int
    test_cases: int
    seed: int
    k: int
    nominal: float
    full_model_interval_width: float | None
    interval_spread: float
    """The spread the full model's intervals take (``spread_for`` of the pooled spread needed)."""
    spread_surfaces: list[str]
    """The surfaces whose pooled spread set ``interval_spread`` (``spread_surfaces``)."""
    spread_share: float
    """``SPREAD_SHARE`` when the check ran."""
    surfaces: list[SurfaceCheck]
    pooled: Scores
    """The surfaces together: means of the per-case numbers, the spread needed over the counted
    surfaces and the worst effect error, effect intervals covering out of all checked, per-case
    coverage per lender type over all three."""
    seconds: float

    def as_json(self) -> dict[str, Any]:
        """Plain dicts, lists, numbers and strings."""
        return asdict(self)


def result_layout() -> dict[str, list[str]]:
    """The fields of every part of the stored result, with their types: part of the bundle
    format (``overdue.models.registry.bundle_layout``), so a published self-check is always
    in the shape this code reads."""
    parts = (GroupCoverage, EffectCheck, Scores, SurfaceCheck, SelfCheck)
    return {part.__name__: [f"{f.name}: {f.type}" for f in fields(part)] for part in parts}


def subsample_size(available: int) -> int:
    """How many labelled cases the self-check refits on (see ``SUBSAMPLE_SHARE``)."""
    wanted = min(MAX_ROWS, max(MIN_ROWS, round(SUBSAMPLE_SHARE * available)))
    return min(available, wanted)


def labelled_subsample(features: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    """A seeded random subsample of the labelled rows, in their stored order."""
    labelled = features.filter(pl.col(LABEL).is_not_null())
    chosen = np.random.default_rng(seed).choice(labelled.height, rows, replace=False)
    return labelled[np.sort(chosen)]


def with_approach(frame: pl.DataFrame, code: str) -> pl.DataFrame:
    """The rows as had each asked for ``code``."""
    return frame.with_columns(pl.lit(code).alias("approach"))


def intervals_by_approach(
    model: IntervalModel, frame: pl.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P, low and high (rows x approaches) had every row asked for each approach."""
    answers = [model.predict_with_interval(with_approach(frame, code)) for code in CODES]
    p, low, high = (np.column_stack([answer[part] for answer in answers]) for part in range(3))
    return p, low, high


def boosted_surface(rows: pl.DataFrame, seed: int) -> np.ndarray:
    """P(agreement) (rows x approaches) from gradient boosting of the rows' real outcomes on
    the effects' covariates and the approach as a category."""
    covariates = APPROACH_TREATMENT.covariates
    x = covariates.matrix(rows)
    codes = APPROACH_TREATMENT.codes(rows)
    model = gradient_boosting(np.append(covariates.categorical, True), seed).fit(
        np.column_stack([x, codes]), rows[LABEL].to_numpy().astype(np.int8)
    )
    return np.column_stack(
        [
            model.predict_proba(np.column_stack([x, np.full(len(x), level)]))[:, 1]
            for level in range(len(CODES))
        ]
    )


def stretched_heterogeneity(truth: np.ndarray, factor: float = HETEROGENEITY_FACTOR) -> np.ndarray:
    """``truth`` with each approach's deviation from the row's mean log-odds times ``factor``."""
    log_odds = _log_odds(truth)
    mean = log_odds.mean(axis=1, keepdims=True)
    return np.asarray(expit(mean + factor * (log_odds - mean)))


def _log_odds(p: np.ndarray) -> np.ndarray:
    return np.asarray(logit(np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)))


def spread_needed(
    low: np.ndarray, high: np.ndarray, truth: np.ndarray, nominal: float = NOMINAL
) -> float:
    """The log-odds spread that, added in quadrature to each interval's own standard error
    (its log-odds half-width over z), would make ``nominal`` of the intervals hold the truth:
    the error the intervals do not see. 0 when they already hold it often enough."""
    z = float(norm.ppf(0.5 + nominal / 2))
    lower, upper = _log_odds(low), _log_odds(high)
    distance = np.abs(_log_odds(truth) - (lower + upper) / 2) / z
    missing = np.maximum(distance**2 - ((upper - lower) / (2 * z)) ** 2, 0.0)
    return float(np.sqrt(np.quantile(missing, nominal)))


def widened(
    low: np.ndarray, high: np.ndarray, spread: float, nominal: float = NOMINAL
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals with ``spread`` added in quadrature to their own log-odds standard error,
    by the model's own ``interval``."""
    z = float(norm.ppf(0.5 + nominal / 2))
    lower, upper = _log_odds(low), _log_odds(high)
    _, wide_low, wide_high = interval((lower + upper) / 2, (upper - lower) / (2 * z), spread, z)
    return wide_low, wide_high


def spread_for(spread: float) -> float:
    """The full model's ``interval_spread`` from the pooled spread the refits needed."""
    return SPREAD_SHARE * spread


def spread_surfaces(choice: dict[str, Any]) -> tuple[str, ...]:
    """The surfaces whose refits set the spread: all, less ``heterogeneous`` unless the
    model's approach interactions lowered held-out loss by more than ``INTERACTION_EVIDENCE``
    standard errors (``choice["interaction_gain"]``; none when held-out loss chose none): the
    data then show no case-to-case difference in the approaches' effects beyond noise, and a
    surface that doubles such differences tests a world the data argue against."""
    gain = choice["interaction_gain"]
    if choice["scale"] > 0 and gain["held_out_log_loss"] > (
        INTERACTION_EVIDENCE * gain["standard_error"]
    ):
        return SURFACES
    return tuple(s for s in SURFACES if s != "heterogeneous")


def planted_outcomes(truth: np.ndarray, asked: np.ndarray, seed: int) -> np.ndarray:
    """One outcome per row, drawn from its true P at the approach it asked for."""
    p = truth[np.arange(len(asked)), asked]
    return (np.random.default_rng(seed).random(len(p)) < p).astype(np.int8)


def coverage_by_group(covered: np.ndarray, groups: np.ndarray, k: int) -> dict[str, GroupCoverage]:
    """Mean of ``covered`` per group with at least ``k`` rows (smaller groups left out)."""
    found = {}
    for group in sorted({g for g in groups if g is not None}):
        rows = groups == group
        if rows.sum() >= k:
            found[str(group)] = GroupCoverage(float(covered[rows].mean()), int(rows.sum()))
    return found


def coverage_by_approach(held: np.ndarray, k: int) -> dict[str, GroupCoverage]:
    """Mean of ``held`` (test cases x approaches) per approach; none under ``k`` test cases."""
    if len(held) < k:
        return {}
    return {
        code: GroupCoverage(float(held[:, j].mean()), len(held)) for j, code in enumerate(CODES)
    }


def effect_checks(
    rows: pl.DataFrame, truth: np.ndarray, seed: int, k: int, propensity: np.ndarray | None = None
) -> tuple[list[EffectCheck], np.ndarray]:
    """The AIPW population rate of each approach on ``rows`` against the planted mean; also
    the fit's propensity, which refits of the same rows under other outcomes reuse."""
    fit = aipw(rows, APPROACH_TREATMENT, LABEL, seed, propensity=propensity)
    everyone = {"population": np.ones(rows.height, dtype=bool)}
    checks = []
    for row in summarize(fit, everyone, k):
        planted = float(truth[:, CODES.index(row.level)].mean())
        if row.estimate is None or row.ci_low is None or row.ci_high is None:
            checks.append(EffectCheck(row.level, planted, None, None, None))
            continue
        checks.append(
            EffectCheck(
                row.level,
                planted,
                row.estimate,
                row.estimate - planted,
                row.ci_low <= planted <= row.ci_high,
            )
        )
    return checks, fit.propensity


@dataclass(frozen=True)
class Refit:
    """The procedure refitted on one planted surface: its test cases' P and raw intervals under
    every approach, the planted truth there, and its effect checks."""

    surface: str
    p: np.ndarray
    low: np.ndarray
    high: np.ndarray
    truth: np.ndarray
    effects: list[EffectCheck]
    propensity: np.ndarray
    seconds: float


def refit_on_surface(
    name: str,
    rows: pl.DataFrame,
    truth: np.ndarray,
    procedure: Procedure,
    seed: int,
    k: int,
    propensity: np.ndarray | None = None,
) -> Refit:
    """Plant outcomes from ``truth`` (seeded by ``seed``), refit ``procedure`` and the effects
    (with ``propensity`` if given: the asked approaches are the same on every surface); the
    test period's answers."""
    started = time.perf_counter()
    asked = APPROACH_TREATMENT.codes(rows)
    planted = rows.with_columns(pl.Series(LABEL, planted_outcomes(truth, asked, seed)))
    model = procedure(planted, label=LABEL, seed=seed)
    test = time_split(planted).test
    p, low, high = intervals_by_approach(model, planted[test])
    effects, propensity = effect_checks(planted, truth, seed, k, propensity)
    seconds = time.perf_counter() - started
    return Refit(name, p, low, high, truth[test], effects, propensity, seconds)


def surface_scores(
    refit: Refit, spread: float, lenders: np.ndarray, k: int
) -> tuple[Scores, np.ndarray]:
    """One refit's scores with ``spread`` applied to its intervals; also whether each test
    case's widened interval held the truth under each approach (cases x approaches)."""
    enough = len(lenders) >= k
    low, high = widened(refit.low, refit.high, spread)
    held = (low <= refit.truth) & (refit.truth <= high)
    raw = (refit.low <= refit.truth) & (refit.truth <= refit.high)
    errors = [abs(e.error) for e in refit.effects if e.error is not None]
    return (
        Scores(
            case_mae=float(np.abs(refit.p - refit.truth).mean()) if enough else None,
            case_coverage=float(held.mean()) if enough else None,
            case_coverage_unwidened=float(raw.mean()) if enough else None,
            interval_width=float((high - low).mean()) if enough else None,
            spread_needed=needed_spread([refit]) if enough else None,
            spread_applied=spread if enough else None,
            effect_max_error=max(errors) if errors else None,
            effects_covered=sum(1 for e in refit.effects if e.covered),
            effects_checked=len(errors),
            coverage_by_lender=coverage_by_group(held.mean(axis=1), lenders, k),
            coverage_by_approach=coverage_by_approach(held, k),
        ),
        held,
    )


def needed_spread(refits: list[Refit]) -> float:
    """``spread_needed`` over the test cases of all ``refits`` together."""
    return spread_needed(
        np.concatenate([r.low for r in refits]),
        np.concatenate([r.high for r in refits]),
        np.concatenate([r.truth for r in refits]),
    )


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


@dataclass(frozen=True)
class PlantedRefits:
    """The part of the self-check that needs no fitted model: the subsample and the refits on
    the surfaces fitted to its real outcomes (every surface but ``fitted``), so training can
    run it beside the full model's fit."""

    sample: pl.DataFrame
    rows_available: int
    refits: list[Refit]
    seconds: float


def planted_refits(
    features: pl.DataFrame, procedure: Procedure, seed: int, k: int, rows: int | None = None
) -> PlantedRefits:
    """The subsample of ``features``' labelled rows (``subsample_size`` of them unless
    ``rows`` says) and ``procedure`` refitted on the ``boosted`` and ``heterogeneous``
    surfaces, one after the other: the first refit's propensity serves the second (same cases,
    same asked approaches) and, later, the ``fitted`` surface's."""
    started = time.perf_counter()
    available = int(features[LABEL].is_not_null().sum())
    sample = labelled_subsample(features, min(rows or subsample_size(available), available), seed)
    boosted = boosted_surface(sample, seed)
    first = refit_on_surface("boosted", sample, boosted, procedure, seed + 1, k)
    second = refit_on_surface(
        "heterogeneous",
        sample,
        stretched_heterogeneity(boosted),
        procedure,
        seed + 2,
        k,
        first.propensity,
    )
    return PlantedRefits(sample, available, [first, second], time.perf_counter() - started)


def run_self_check(
    features: pl.DataFrame,
    fitted: OutcomeModel,
    procedure: Procedure,
    seed: int,
    k: int,
    rows: int | None = None,
    planted: PlantedRefits | None = None,
) -> SelfCheck:
    """The self-check of ``procedure`` on a subsample of ``features``' labelled rows
    (``subsample_size`` of them unless ``rows`` says), with ``fitted`` as the first surface;
    ``planted``: the other surfaces' refits when already run (``planted_refits`` with the same
    arguments), else they are run here."""
    started = time.perf_counter()
    if planted is None:
        planted = planted_refits(features, procedure, seed, k, rows)
    sample = planted.sample
    truth = np.column_stack([fitted.predict(with_approach(sample, c)) for c in CODES])
    propensity = planted.refits[0].propensity
    refits = [
        refit_on_surface("fitted", sample, truth, procedure, seed, k, propensity),
        *planted.refits,
    ]
    test = time_split(sample).test
    _, fitted_low, fitted_high = intervals_by_approach(fitted, sample[test])
    lenders = sample[test]["lender_type"].to_numpy()
    counted = spread_surfaces(fitted.choice)
    counting = [r for r in refits if r.surface in counted]
    checks, helds = [], []
    for refit in refits:
        # the spread applied to a surface is measured on the others: honest coverage
        others = needed_spread([r for r in counting if r is not refit])
        scored, held = surface_scores(refit, others, lenders, k)
        checks.append(
            SurfaceCheck(
                **vars(scored),
                surface=refit.surface,
                effects=refit.effects,
                seconds=round(refit.seconds, 2),
            )
        )
        helds.append(held)
    spread = needed_spread(counting)
    pooled = Scores(
        case_mae=_mean([c.case_mae for c in checks]),
        case_coverage=_mean([c.case_coverage for c in checks]),
        case_coverage_unwidened=_mean([c.case_coverage_unwidened for c in checks]),
        interval_width=_mean([c.interval_width for c in checks]),
        spread_needed=spread if len(test) >= k else None,
        spread_applied=spread if len(test) >= k else None,
        effect_max_error=max(
            (c.effect_max_error for c in checks if c.effect_max_error is not None), default=None
        ),
        effects_covered=sum(c.effects_covered for c in checks),
        effects_checked=sum(c.effects_checked for c in checks),
        coverage_by_lender=coverage_by_group(np.mean(helds, axis=(0, 2)), lenders, k),
        coverage_by_approach=coverage_by_approach(np.mean(helds, axis=0), k),
    )
    return SelfCheck(
        rows_used=sample.height,
        rows_available=planted.rows_available,
        test_cases=len(test),
        seed=seed,
        k=k,
        nominal=NOMINAL,
        full_model_interval_width=float((fitted_high - fitted_low).mean())
        if len(test) >= k
        else None,
        surfaces=checks,
        pooled=pooled,
        interval_spread=spread_for(spread),
        spread_surfaces=list(counted),
        spread_share=SPREAD_SHARE,
        seconds=round(planted.seconds + time.perf_counter() - started, 2),
    )


def fit_checked_model(
    features: pl.DataFrame, seed: int, k: int, *, self_check: bool = True
) -> tuple[OutcomeModel, SelfCheck | None]:
    """The product's per-case model as training builds it: ``fit_outcome_model`` beside the
    self-check's ``planted_refits``, then (unless switched off) the rest of the self-check,
    whose spread widens the model's intervals."""
    if not self_check:
        return fit_outcome_model(features, LABEL, seed), None
    model, planted = alongside(
        partial(fit_outcome_model, features, LABEL, seed),
        partial(planted_refits, features, fit_outcome_model, seed, k),
    )
    check = run_self_check(features, model, fit_outcome_model, seed, k, planted=planted)
    model.interval_spread = check.interval_spread
    return model, check


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary_line(check: dict[str, Any] | None) -> str:
    """The self-check (``SelfCheck.as_json``) in one plain line, as ``overdue train`` prints it."""
    if check is None:
        return "self-check: off (OVERDUE_SELF_CHECK=false)"
    pooled = check["pooled"]
    by_surface = ", ".join(
        f"{s['surface']} {_share(s['case_coverage'])}" for s in check["surfaces"]
    )
    return (
        f"self-check on {check['rows_used']:,} of {check['rows_available']:,} labelled cases, "
        f"outcomes planted from {len(check['surfaces'])} surfaces ({check['seconds']:.0f} s): "
        f"per-case 95% ranges held the planted truth {_share(pooled['case_coverage'])} of the "
        f"time ({by_surface}; intervals widened by a log-odds spread of "
        f"{_number(check['interval_spread'])}), "
        f"per-case error {_number(pooled['case_mae'])}; population effects within "
        f"{_number(pooled['effect_max_error'])}, {pooled['effects_covered']} of "
        f"{pooled['effects_checked']} intervals covering"
    )
