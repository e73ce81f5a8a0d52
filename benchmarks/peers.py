"""Our approach effects and per-case model beside EconML, DoubleML and causalml on the same worlds.

    python benchmarks/peers.py [--rows 50000] [--worlds baseline,strong_confounding] [--seed 100]
                               [--json PATH]
    python benchmarks/peers.py --populations 2 [--rows 50000] [--worlds development] [--seed 200]

The peers are optional benchmark dependencies (their venv: ``benchmarks/requirements-peers.txt``),
never runtime ones; a peer that is not installed is skipped with a message. For each world one
population is simulated (``validity.population``); every method sees the same labelled cases
and the same covariates (the approach effects' design, ``APPROACH_TREATMENT.covariates``), with
one model thread per fit (LightGBM ``n_jobs=1``; run with ``OMP_NUM_THREADS=1``). Printed side
by side:
  - the six approach rates' largest |error| against the world's truth (the mean true
    probability over the labelled cases) and how many of the six 95% intervals cover it;
  - per-case MAE of P(agreement) over the six approaches on fresh test cases (a second
    population of the world, never fitted on), where the method predicts per case;
  - seconds, in this one process, one method after the other.
Methods:
  - ours, effects: cross-fitted AIPW of the approaches and every subgroup's rates
    (``aipw`` + ``summarize``), as ``overdue train`` computes them (its ``model_threads``);
  - ours, per-case: the advising model (``fit_outcome_model``, no self-check: it only widens
    intervals);
  - ours, whole ``overdue train`` on a warehouse of the same cases, in a fresh process
    (``benchmarks/train.py``: model selection, bootstrap, self-check, refutations ... included);
  - EconML ``LinearDRLearner`` (LightGBM propensity and outcome classifiers, discrete outcome,
    the approach as a discrete treatment): rates and intervals from its cross-fitted
    doubly-robust pseudo-outcomes (the mean of column t is the rate of approach t; its final
    linear model's ATE is the difference of these means); per case from its outcome models
    (the mean over folds) and, second, from its own CATE plus the outcome models' baseline;
  - DoubleML ``DoubleMLAPOS`` (LightGBM ``ml_g`` classifier and ``ml_m``, all six levels):
    rates and intervals; no per-case predictions;
  - causalml ``BaseTClassifier`` (T-learner, LightGBM): per case from its control and
    treatment models; rates as the mean of those over the labelled cases (no interval).
With ``--populations N`` only the two effect estimators run (ours and EconML's), on N populations
of each world (seeds ``--seed`` onwards), and their accuracy is compared over all of them: one
population's largest error is too noisy to say which estimator is more accurate. Every rate is
scored on the cells ours publishes (population and subgroups), EconML's as the mean of its doubly
robust pseudo-outcomes over the same cases.
Targets (issue 18): at equal accuracy (our largest rate error at most EconML's), our effects
(approaches + subgroups) in at most 0.5x EconML's time and the whole ``overdue train`` in at
most 3x. The machine is shared: compare seconds within one run only.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import numpy as np
import polars as pl
from scipy.stats import norm

from overdue.config import get_settings
from overdue.models.effects import (
    APPROACH_TREATMENT,
    AipwFit,
    EffectRow,
    aipw,
    group_masks,
    summarize,
)
from overdue.models.parallel import fit_threads
from overdue.models.train import fit_outcome_model
from overdue.worlds import World
from train import ingested, measure
from validity import CODES, K, Population, chosen_worlds, effect_checks, per_case_mae, population

LABEL: Final = "y_agreement"
TEST_ROWS: Final = 50_000  # the fresh population the per-case predictions are scored on
FOLDS: Final = 3  # cross-fitting folds of every peer, as ours (``effects.FOLDS``)
PEERS: Final = {  # import name: distribution, the version measured
    "econml": ("econml", "0.17.0"),
    "doubleml": ("DoubleML", "0.11.4"),
    "causalml": ("causalml", "0.18.0"),
    "lightgbm": ("lightgbm", "4.7.0"),
}
EFFECT_RATIO: Final = 0.5  # our effects' seconds / EconML's, at most
TRAIN_RATIO: Final = 3.0  # the whole overdue train's seconds / EconML's, at most


@dataclass(frozen=True)
class Result:
    """One method on one world."""

    world: str
    method: str
    seconds: float
    max_error: float | None = None  # largest |rate - truth| over the six approaches
    covered: int | None = None  # of the six 95% intervals, how many hold the truth
    case_mae: float | None = None  # on the fresh test cases


def missing_peers() -> dict[str, str]:
    """Peers that cannot be used here, each with the reason."""
    missing = {}
    for module, (distribution, wanted) in PEERS.items():
        try:
            importlib.import_module(module)
        except ImportError as error:
            missing[module] = (
                f"not installed ({error}); its venv: benchmarks/requirements-peers.txt"
            )
            continue
        found = importlib.metadata.version(distribution)
        if found != wanted:
            print(
                f"note: {distribution} {found} installed, {wanted} measured in docs/benchmarks.md"
            )
    return missing


def rate_checks(
    estimates: np.ndarray, low: np.ndarray | None, high: np.ndarray | None, true_p: np.ndarray
) -> tuple[float, int | None]:
    """Largest |error| of six rates against the mean true probabilities, and how many of the
    intervals (if any) cover them."""
    truth = true_p.mean(axis=0)
    error = float(np.abs(estimates - truth).max())
    if low is None or high is None:
        return error, None
    return error, int(((low <= truth) & (truth <= high)).sum())


def mean_intervals(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means of ``values`` (n x levels) with normal 95% intervals."""
    z = float(norm.ppf(0.975))
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / np.sqrt(len(values))
    return mean, mean - z * se, mean + z * se


T = TypeVar("T")


def timed(task: Callable[[], T]) -> tuple[T, float]:
    """The result of ``task`` and its seconds."""
    start = time.perf_counter()
    result = task()
    return result, time.perf_counter() - start


@dataclass(frozen=True)
class Inputs:
    """What every method is given: covariates, approach codes and outcomes, for the labelled
    cases and the fresh test cases."""

    w: np.ndarray
    codes: np.ndarray
    y: np.ndarray
    true_p: np.ndarray
    test: pl.DataFrame
    test_w: np.ndarray
    test_true_p: np.ndarray


def inputs(fitted: Population, fresh: Population) -> Inputs:
    """The matrices of ``fitted`` (to fit on) and ``fresh`` (to score per case on)."""
    design = APPROACH_TREATMENT.covariates
    return Inputs(
        design.matrix(fitted.labelled),
        APPROACH_TREATMENT.codes(fitted.labelled),
        fitted.labelled[LABEL].to_numpy().astype(np.int64),
        fitted.true_p,
        fresh.labelled,
        design.matrix(fresh.labelled),
        fresh.true_p,
    )


def effects_stage(
    labelled: pl.DataFrame, seed: int
) -> tuple[list[EffectRow], dict[str, np.ndarray]]:
    """The approaches' rates in the population and every subgroup, as training publishes
    them, and the subgroups' row masks."""
    masks = group_masks(labelled)
    return summarize(aipw(labelled, APPROACH_TREATMENT, LABEL, seed), masks, K), masks


def ours(world: World, drawn: Population, data: Inputs, seed: int) -> list[Result]:
    """Our effects stage, our per-case model and the whole ``overdue train``."""
    settings = get_settings()
    with fit_threads(settings.model_threads):
        (rows, masks), effect_seconds = timed(lambda: effects_stage(drawn.labelled, seed))
        model, model_seconds = timed(lambda: fit_outcome_model(drawn.features, LABEL, seed))
    population_rows = [
        e for e in effect_checks(rows, masks, data.true_p) if e.subgroup == "population"
    ]
    predicted = [
        model.predict(data.test.with_columns(pl.lit(code).alias("approach"))) for code in CODES
    ]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        cases = folder / "cases.parquet"
        drawn.cases.write_parquet(cases)
        whole = measure("overdue", ingested(cases, folder), folder)["total"]
    threads = f"{settings.model_threads} threads"
    return [
        Result(
            world.name,
            f"ours: effects, approaches + subgroups ({threads})",
            effect_seconds,
            max(abs(e.error) for e in population_rows),
            sum(e.covered for e in population_rows),
        ),
        Result(
            world.name,
            f"ours: advising model, per case ({threads})",
            model_seconds,
            case_mae=per_case_mae(predicted, data.test_true_p),
        ),
        Result(world.name, f"ours: whole overdue train ({threads})", whole),
    ]


def lgbm_classifier(seed: int) -> Any:
    """The peers' nuisance and outcome learner: LightGBM defaults on one thread."""
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_jobs=1, random_state=seed, verbose=-1)


def fit_econml(
    w: np.ndarray, codes: np.ndarray, y: np.ndarray, seed: int
) -> tuple[Any, Callable[[np.ndarray], np.ndarray], np.ndarray, float]:
    """EconML's LinearDRLearner fitted on the cases: the learner, how it wants covariates
    filled, its doubly robust pseudo-outcomes (n x levels, control first as ours) and seconds."""
    from econml.dr import LinearDRLearner

    learner = LinearDRLearner(
        model_propensity=lgbm_classifier(seed),
        model_regression=lgbm_classifier(seed),
        discrete_outcome=True,
        categories=list(range(len(CODES))),
        cv=FOLDS,
        random_state=seed,
    )
    # it takes no missing values: each one below its column's smallest value (to a tree the
    # same split as a missing value going left)
    below = np.nanmin(w, axis=0) - 1

    def filled(rows: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(rows), below, rows)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation and convergence chatter
        _, seconds = timed(lambda: learner.fit(y, codes, X=filled(w), cache_values=True))
    pseudo = learner._cached_values.nuisances[0].reshape(len(y), len(CODES))
    return learner, filled, pseudo, seconds


def econml(world: World, data: Inputs, seed: int) -> list[Result]:
    """EconML's LinearDRLearner: rates from its pseudo-outcomes, per case two ways."""
    learner, filled, pseudo, seconds = fit_econml(data.w, data.codes, data.y, seed)
    rates, low, high = mean_intervals(pseudo)
    error, covered = rate_checks(rates, low, high, data.true_p)
    test_x = filled(data.test_w)
    outcome = [
        np.mean(
            [
                m.predict_proba(
                    np.column_stack(
                        [test_x, np.eye(len(CODES))[[level]][:, 1:].repeat(len(test_x), axis=0)]
                    )
                )[:, 1]
                for m in learner.models_regression[0]
            ],
            axis=0,
        )
        for level in range(len(CODES))
    ]
    baseline = outcome[0]
    cate = [baseline] + [
        np.clip(baseline + learner.effect(test_x, T0=0, T1=t).ravel(), 0, 1)
        for t in range(1, len(CODES))
    ]
    name = "EconML LinearDRLearner"
    return [
        Result(world.name, name, seconds, error, covered, per_case_mae(outcome, data.test_true_p)),
        Result(
            world.name,
            f"{name}: per case as CATE + baseline",
            seconds,
            case_mae=per_case_mae(cate, data.test_true_p),
        ),
    ]


def doubleml(world: World, data: Inputs, seed: int) -> list[Result]:
    """DoubleML's DoubleMLAPOS: the six average potential outcomes with intervals."""
    from doubleml import DoubleMLAPOS, DoubleMLData

    np.random.seed(seed)  # DoubleML draws its folds from numpy's global generator
    apos = DoubleMLAPOS(
        DoubleMLData.from_arrays(data.w, data.y, data.codes, force_all_x_finite="allow-nan"),
        ml_g=lgbm_classifier(seed),
        ml_m=lgbm_classifier(seed),
        treatment_levels=list(range(len(CODES))),
        n_folds=FOLDS,
    )
    _, seconds = timed(apos.fit)
    bounds = apos.confint().to_numpy()
    error, covered = rate_checks(np.asarray(apos.coef), bounds[:, 0], bounds[:, 1], data.true_p)
    return [Result(world.name, "DoubleML DoubleMLAPOS", seconds, error, covered)]


def causalml(world: World, data: Inputs, seed: int) -> list[Result]:
    """causalml's T-learner: per case from its models, rates as their means."""
    from causalml.inference.meta import BaseTClassifier

    learner = BaseTClassifier(learner=lgbm_classifier(seed), control_name=0)
    _, seconds = timed(lambda: learner.fit(data.w, data.codes, data.y))

    def by_level(w: np.ndarray) -> list[np.ndarray]:
        _, control, treated = learner.predict(w, return_components=True, verbose=False)
        return [control[1]] + [treated[t] for t in range(1, len(CODES))]

    rates = np.array([p.mean() for p in by_level(data.w)])
    error, _ = rate_checks(rates, None, None, data.true_p)
    return [
        Result(
            world.name,
            "causalml T-learner",
            seconds,
            error,
            case_mae=per_case_mae(by_level(data.test_w), data.test_true_p),
        )
    ]


PEER_RUNS: Final = {"econml": econml, "doubleml": doubleml, "causalml": causalml}


def compare(world: World, rows: int, seed: int, missing: dict[str, str]) -> list[Result]:
    """Every available method on one population of ``world``."""
    drawn = population(world, rows, seed)
    fresh = population(world, min(rows, TEST_ROWS), seed + 1)
    data = inputs(drawn, fresh)
    results = []
    for module, run in PEER_RUNS.items():
        if module in missing or "lightgbm" in missing:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the peers' deprecation and convergence chatter
            done = run(world, data, seed)
        print(f"  {done[0].method}: {done[0].seconds:.1f} s", flush=True)
        results += done
    results += ours(world, drawn, data, seed)
    return results


def _cell(value: float | int | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def table(results: list[Result]) -> str:
    """Methods side by side, one block per world."""
    lines = [f"{'method':<58} {'rate max err':>12} {'CI cover':>9} {'per-case MAE':>12} {'s':>7}"]
    for r in results:
        lines.append(
            f"{r.method:<58} {_cell(r.max_error, '.4f'):>12} "
            f"{_cell(r.covered, 'd') + '/6' if r.covered is not None else '-':>9} "
            f"{_cell(r.case_mae, '.4f'):>12} {r.seconds:>7.1f}"
        )
    return "\n".join(lines)


def verdicts(results: list[Result]) -> list[str]:
    """Issue 18's ratio targets against EconML, where it ran."""
    by = {r.method.split(" (")[0]: r for r in results}
    peer = by.get("EconML LinearDRLearner")
    effects, whole = by["ours: effects, approaches + subgroups"], by["ours: whole overdue train"]
    if peer is None:
        return ["EconML not run: no ratios"]
    assert peer.max_error is not None and effects.max_error is not None
    equal = effects.max_error <= peer.max_error
    lines = [
        f"accuracy: our largest rate error {effects.max_error:.4f} vs EconML's "
        f"{peer.max_error:.4f}: {'at least as accurate' if equal else 'less accurate'}"
    ]
    for name, ours_seconds, target in (
        ("effects (approaches + subgroups)", effects.seconds, EFFECT_RATIO),
        ("whole overdue train", whole.seconds, TRAIN_RATIO),
    ):
        ratio = ours_seconds / peer.seconds
        met = ratio <= target and equal
        lines.append(
            f"{name}: {ours_seconds:.1f} s / EconML {peer.seconds:.1f} s = {ratio:.2f}x "
            f"(target <= {target}x at equal accuracy: {'met' if met else 'missed'})"
        )
    return lines


def cell_errors(
    rows: list[EffectRow], masks: dict[str, np.ndarray], values: np.ndarray, true_p: np.ndarray
) -> tuple[float, np.ndarray]:
    """From per-case doubly robust values (n x levels): the population's largest |rate error|
    and the errors of every subgroup cell in ``rows`` (the cells ours publishes)."""
    overall: list[float] = []
    cells: list[float] = []
    for row in rows:
        if row.estimate is None:
            continue
        mask, level = masks[row.subgroup], CODES.index(row.level)
        error = float(values[mask, level].mean() - true_p[mask, level].mean())
        (overall if row.subgroup == "population" else cells).append(abs(error))
    return max(overall), np.asarray(cells)


@dataclass(frozen=True)
class EffectScore:
    """One estimator's effects on one population."""

    world: str
    seed: int
    method: str
    seconds: float
    largest_error: float  # of the six population rates
    subgroup_rmse: float
    subgroup_largest: float


def effects_on_population(world: World, rows: int, seed: int) -> list[EffectScore]:
    """Ours and EconML's approach effects on one population, scored on the same cells."""
    drawn = population(world, rows, seed)
    labelled = drawn.labelled
    masks = group_masks(labelled)

    def our_effects() -> tuple[AipwFit, list[EffectRow]]:
        fit = aipw(labelled, APPROACH_TREATMENT, LABEL, seed)
        return fit, summarize(fit, masks, K)

    with fit_threads(get_settings().model_threads):
        (fit, published), ours_seconds = timed(our_effects)
    covariates = APPROACH_TREATMENT.covariates.matrix(labelled)
    codes = APPROACH_TREATMENT.codes(labelled)
    y = labelled[LABEL].to_numpy().astype(np.int64)
    *_, pseudo, peer_seconds = fit_econml(covariates, codes, y, seed)
    scores = []
    for method, values, seconds in (
        ("EconML LinearDRLearner", pseudo, peer_seconds),
        ("ours", fit.phi, ours_seconds),
    ):
        largest, subgroups = cell_errors(published, masks, values, drawn.true_p)
        scores.append(
            EffectScore(
                world.name,
                seed,
                method,
                seconds,
                largest,
                float(np.sqrt(np.mean(subgroups**2))),
                float(subgroups.max()),
            )
        )
    return scores


def effects_summary(scores: list[EffectScore]) -> str:
    """Both estimators over every population: means, how often ours was better, seconds."""
    peer = [s for s in scores if s.method != "ours"]
    mine = [s for s in scores if s.method == "ours"]
    n = len(mine)
    lines = [
        f"{'over ' + str(n) + ' populations':<44} {'EconML':>8} {'ours':>8} {'ours better':>12}"
    ]
    for label, field in (
        ("population rates: mean largest error", "largest_error"),
        ("subgroup rates: root mean squared error", "subgroup_rmse"),
        ("subgroup rates: mean largest error", "subgroup_largest"),
    ):
        theirs = np.array([getattr(s, field) for s in peer])
        ours_ = np.array([getattr(s, field) for s in mine])
        better = int((ours_ < theirs).sum())
        lines.append(f"{label:<44} {theirs.mean():>8.4f} {ours_.mean():>8.4f} {better:>6} of {n}")
    theirs_s, mine_s = sum(s.seconds for s in peer), sum(s.seconds for s in mine)
    lines.append(
        f"{'seconds, all fits':<44} {theirs_s:>8.1f} {mine_s:>8.1f} "
        f"{'(' + format(mine_s / theirs_s, '.2f') + 'x)':>12}"
    )
    return "\n".join(lines)


def main() -> None:
    """Run every method on every chosen world and print the table and the ratios."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument(
        "--worlds",
        type=chosen_worlds,
        default="baseline,strong_confounding",
        help="all, or NAME[,NAME...]",
    )
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--populations",
        type=int,
        default=0,
        help="only the effects, ours and EconML's, over this many populations of each world",
    )
    args = parser.parse_args()
    missing = missing_peers()
    for module, reason in missing.items():
        print(f"skipped {module}: {reason}")
    if args.populations:
        if "econml" in missing or "lightgbm" in missing:
            raise SystemExit("--populations compares with EconML, which is not installed here")
        scores: list[EffectScore] = []
        for world in args.worlds:
            for seed in range(args.seed, args.seed + args.populations):
                scores += effects_on_population(world, args.rows, seed)
                print(
                    f"{world.name}, seed {seed}: largest rate error",
                    ", ".join(
                        f"{s.method} {s.largest_error:.4f} ({s.seconds:.1f} s)" for s in scores[-2:]
                    ),
                    flush=True,
                )
        print(effects_summary(scores))
        if args.json is not None:
            rows = [{**asdict(s), "rows": args.rows} for s in scores]
            args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        return
    everything: list[Result] = []
    for world in args.worlds:
        print(f"{world.name}, {args.rows:,} cases:", flush=True)
        results = compare(world, args.rows, args.seed, missing)
        print(table(results))
        print("\n".join(verdicts(results)), end="\n\n", flush=True)
        everything += results
    print("seconds: one process on a shared 2-core machine; compare within one run only")
    if args.json is not None:
        rows = [{**asdict(r), "rows": args.rows} for r in everything]
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
