"""How right the models and effects are in each simulated world, against its known truth.

    python benchmarks/validity.py [--worlds all|NAME[,NAME...]] [--rows 50000] [--reps 1]
                                  [--first-seed 100] [--same-seeds] [--json PATH]
    python benchmarks/validity.py --table-from PATH   # the table of an earlier --json

Each repetition simulates a fresh population of one world (docs/worlds.md), builds features,
fits the outcome model as training does (``fit_checked_model``: the model beside the
self-check's refits, then the rest of the self-check, which widens its intervals; tested on the
newest cases of its time split) and the cross-fitted AIPW approach effects, and compares them
with the world's ground truth:
  - AUC on the test cases against the oracle AUC of the true probability of the approach asked
    for on the same cases;
  - expected calibration error (15 equal-count bins) of the model's probabilities on the test
    cases, and the oracle's own ECE on the same cases (what noise alone gives); both again
    averaged over ``REDRAWS`` fresh draws of the test cases' outcomes from the truth, since one
    draw moves either by about as much as the target allows, and the model's against the true
    probabilities themselves (no outcome noise);
  - each approach's population effect against the mean true probability over labelled cases,
    and whether its 95% interval covers it;
  - the same for every subgroup (``overdue.segments.subgroups``; cells under k=10 suppressed,
    as published), truth = mean true probability over the subgroup's labelled cases;
  - per-case mean |p - true p| over the six approaches on the test cases, and how often the
    per-case 95% intervals cover the true probability;
  - the value of the model's policy (``overdue.models.policy``: each test case asks for the
    approach the model rates highest) and its difference from what was asked for, doubly
    robust on the test cases, against the truth: the mean true probability of each test case
    under its recommended approach (minus under the one it asked for); whether the 95%
    intervals cover it, per world and pooled over worlds (target: about 95%).
One row per world; held-out worlds (never looked at while tuning) are marked. Each world draws
its own populations (world i: seeds first-seed + i x reps onwards), so the population coverage
over worlds counts independent draws; ``--same-seeds`` gives every world the same seeds (common
random numbers: rows then differ by their knobs alone, and a miss every row shares may be one
unlucky population). Targets (issue 14),
in every world: AUC within 0.01 of the oracle; ECE within 0.005 of the oracle's; population
effects max |error| <= 0.015 with 95% intervals covering >= 90%; per-case MAE <= 0.045 at 50,000
cases (<= 0.035 at 200,000); per-case 95% intervals covering 90-97%.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from overdue.contract import APPROACHES
from overdue.features import build_features
from overdue.models.effects import (
    APPROACH_TREATMENT,
    AipwFit,
    EffectRow,
    aipw,
    group_masks,
    summarize,
)
from overdue.models.metrics import expected_calibration_error
from overdue.models.policy import best_approaches, policy_rows
from overdue.models.selfcheck import fit_checked_model
from overdue.models.train import time_split
from overdue.simulate import simulate_cases
from overdue.worlds import WORLDS, World

AS_OF: Final = dt.date(2026, 6, 30)
CODES: Final = list(APPROACHES)
K: Final = 10  # published cells rest on at least k cases, as in the product
LARGE_ROWS: Final = 200_000  # from here on the per-case MAE target is the large-sample one
REDRAWS: Final = 100  # outcome draws from the truth over which the ECEs are averaged too


@dataclass(frozen=True)
class Targets:
    """What every world should meet (issue 14)."""

    auc_gap: float = 0.01
    ece_above_oracle: float = 0.005
    population_error: float = 0.015
    population_coverage: float = 0.90
    case_mae_small: float = 0.045  # at 50,000 cases
    case_mae_large: float = 0.035  # at 200,000 cases
    case_coverage: tuple[float, float] = (0.90, 0.97)

    def case_mae(self, rows: int) -> float:
        """The per-case MAE target for a population of ``rows`` cases."""
        return self.case_mae_large if rows >= LARGE_ROWS else self.case_mae_small


TARGETS: Final = Targets()


@dataclass(frozen=True)
class EffectCheck:
    """One published effect against the truth."""

    subgroup: str
    approach: str
    error: float  # estimate - truth
    covered: bool  # the 95% interval holds the truth


@dataclass(frozen=True)
class PolicyCheck:
    """The model's policy on the test cases against the truth."""

    error: float  # estimated value - true value
    covered: bool  # the value's 95% interval holds the true value
    width: float  # of that interval
    gain_error: float  # estimated difference from what was asked for - the true difference
    gain_covered: bool


def policy_check(
    fit: AipwFit, test: np.ndarray, scores: np.ndarray, true_p: np.ndarray
) -> PolicyCheck:
    """The model's policy (the highest of ``scores`` per test case) valued doubly robustly
    from ``fit`` over the rows ``test``, against the truth on the same cases."""
    recommended = best_approaches(scores)
    ones = {"population": np.ones(len(test), dtype=bool)}
    row = policy_rows(fit, test, recommended, ones, "model", 1)[0]
    assert row.value is not None and row.value_low is not None and row.value_high is not None
    assert row.difference is not None and row.difference_low is not None
    assert row.difference_high is not None
    truth = float(true_p[test, recommended].mean())
    gain = truth - float(true_p[test, fit.codes[test]].mean())
    return PolicyCheck(
        row.value - truth,
        row.value_low <= truth <= row.value_high,
        row.value_high - row.value_low,
        row.difference - gain,
        row.difference_low <= gain <= row.difference_high,
    )


@dataclass(frozen=True)
class Repetition:
    """One fresh population of one world, fitted and scored against its truth."""

    seed: int
    auc: float
    oracle_auc: float
    ece: float
    oracle_ece: float
    ece_redrawn: float
    oracle_ece_redrawn: float
    ece_truth: float
    case_mae: float
    case_coverage: float  # over the six approaches
    case_coverage_by_approach: dict[str, float]  # not a target: what the mean hides
    effects: tuple[EffectCheck, ...]
    naive_gap: float  # largest |observed rate - true rate|: what adjustment must undo
    seconds: float
    policy: PolicyCheck | None = None


def effect_checks(
    rows: list[EffectRow], masks: dict[str, np.ndarray], true_p: np.ndarray
) -> tuple[EffectCheck, ...]:
    """Every published (not suppressed) effect against the mean true probability of its
    (sub)group's labelled cases."""
    checks = []
    for row in rows:
        if row.estimate is None or row.ci_low is None or row.ci_high is None:
            continue
        truth = float(true_p[masks[row.subgroup], CODES.index(row.level)].mean())
        checks.append(
            EffectCheck(
                row.subgroup,
                row.level,
                row.estimate - truth,
                row.ci_low <= truth <= row.ci_high,
            )
        )
    return tuple(checks)


def naive_gap(labelled: pl.DataFrame, true_p: np.ndarray) -> float:
    """Largest |observed rate - true rate| over approaches."""
    asked = labelled["approach"].to_numpy()
    agreed = labelled["y_agreement"].to_numpy()
    return max(
        abs(agreed[asked == code].mean() - true_p[:, i].mean()) for i, code in enumerate(CODES)
    )


@dataclass(frozen=True)
class Population:
    """One simulated population of a world: its cases, features and the truth."""

    cases: pl.DataFrame
    features: pl.DataFrame
    labelled: pl.DataFrame  # the features of the cases with an outcome
    true_p: np.ndarray  # labelled cases x approaches: the true probability of agreement


def population(world: World, rows: int, seed: int) -> Population:
    """Simulate ``rows`` cases of ``world`` and read the truth of the labelled ones."""
    run = simulate_cases(rows, seed=seed, as_of=AS_OF, world=world)
    features = build_features(run.cases.lazy()).collect()
    labelled = features.filter(pl.col("y_agreement").is_not_null())
    truth = labelled.select("case_id").join(
        run.truth, on="case_id", how="left", maintain_order="left"
    )
    true_p = np.column_stack([truth[f"p_{c}"].to_numpy() for c in CODES])
    return Population(run.cases, features, labelled, true_p)


def redrawn_ece(p: np.ndarray, truth: np.ndarray, seed: int) -> tuple[float, float]:
    """The mean ECE of ``p`` and of the truth itself over ``REDRAWS`` outcome draws from
    ``truth``: the issue's comparison without the luck of one draw."""
    draws = np.random.default_rng(seed).random((REDRAWS, len(truth))) < truth
    pairs = [
        (expected_calibration_error(y, p), expected_calibration_error(y, truth)) for y in draws
    ]
    model, oracle = np.mean(pairs, axis=0)
    return float(model), float(oracle)


def per_case_mae(predicted: list[np.ndarray], true_p: np.ndarray) -> float:
    """Mean |p - true p| over cases, averaged over the approaches (one array of p each, in
    ``CODES`` order)."""
    return float(np.mean([np.abs(p - true_p[:, i]).mean() for i, p in enumerate(predicted)]))


def repetition(world: World, rows: int, seed: int) -> Repetition:
    """Simulate, fit and score one population of ``world``."""
    start = time.perf_counter()
    drawn = population(world, rows, seed)
    features, labelled, true_p = drawn.features, drawn.labelled, drawn.true_p

    model, _ = fit_checked_model(features, seed, K)
    split = time_split(labelled)
    test, test_truth = labelled[split.test], true_p[split.test]
    asked = test["approach"].replace_strict({c: i for i, c in enumerate(CODES)}).to_numpy()
    y = test["y_agreement"].to_numpy()
    oracle = test_truth[np.arange(len(asked)), asked]
    answers = [
        model.predict_with_interval(test.with_columns(pl.lit(c).alias("approach"))) for c in CODES
    ]
    by_case = np.column_stack([p for p, _, _ in answers])  # test cases x approaches
    predicted = by_case[np.arange(len(asked)), asked]  # the approach each case asked for
    case_mae = per_case_mae([p for p, _, _ in answers], test_truth)
    by_approach = {
        code: float(((low <= test_truth[:, i]) & (test_truth[:, i] <= high)).mean())
        for i, (code, (_, low, high)) in enumerate(zip(CODES, answers, strict=True))
    }

    redrawn, oracle_redrawn = redrawn_ece(predicted, oracle, seed)
    masks = group_masks(labelled)
    fit = aipw(labelled, APPROACH_TREATMENT, "y_agreement", seed)
    return Repetition(
        seed=seed,
        auc=float(roc_auc_score(y, predicted)),
        oracle_auc=float(roc_auc_score(y, oracle)),
        ece=expected_calibration_error(y, predicted),
        oracle_ece=expected_calibration_error(y, oracle),
        ece_redrawn=redrawn,
        oracle_ece_redrawn=oracle_redrawn,
        ece_truth=expected_calibration_error(oracle, predicted),
        case_mae=case_mae,
        case_coverage=float(np.mean(list(by_approach.values()))),
        case_coverage_by_approach=by_approach,
        effects=effect_checks(summarize(fit, masks, K), masks, true_p),
        naive_gap=float(naive_gap(labelled, true_p)),
        seconds=time.perf_counter() - start,
        policy=policy_check(fit, split.test, by_case, true_p),
    )


@dataclass(frozen=True)
class WorldRow:
    """One world over its repetitions: means, worst cases and coverage shares."""

    world: str
    held_out: bool
    rows: int
    seeds: tuple[int, ...]
    auc_gap: float  # mean oracle AUC - AUC
    ece: float  # mean
    oracle_ece: float  # mean
    population_errors: dict[str, float]  # mean estimate - truth per approach
    population_max_error: float  # over approaches and repetitions
    population_coverage: float  # share of intervals covering
    population_checked: int  # intervals over approaches and repetitions
    subgroup_max_error: float
    subgroup_coverage: float
    subgroup_cells: int  # published subgroup x approach cells per repetition, on average
    case_mae: float  # mean
    case_coverage: float  # mean
    naive_gap: float  # worst
    seconds: float  # mean per repetition
    policy_covered: int = 0  # repetitions whose policy-value interval held the truth
    policy_gain_covered: int = 0  # ... whose interval of the difference from as-asked did
    policy_checked: int = 0  # repetitions with a policy check (0 in files from before it)
    policy_max_error: float = 0.0
    policy_width: float = 0.0  # mean width of the policy value's 95% interval
    ece_redrawn: float | None = None  # mean; None in files from before it
    oracle_ece_redrawn: float | None = None
    ece_truth: float | None = None
    case_coverage_by_approach: dict[str, float] | None = None  # mean; None in older files


def world_row(world: World, rows: int, reps: list[Repetition]) -> WorldRow:
    """Summarise the repetitions of one world."""

    def checks(population: bool) -> list[EffectCheck]:
        return [e for r in reps for e in r.effects if (e.subgroup == "population") is population]

    population, subgroup = checks(True), checks(False)
    policies = [r.policy for r in reps if r.policy is not None]
    return WorldRow(
        world=world.name,
        held_out=world.held_out,
        rows=rows,
        seeds=tuple(r.seed for r in reps),
        auc_gap=float(np.mean([r.oracle_auc - r.auc for r in reps])),
        ece=float(np.mean([r.ece for r in reps])),
        oracle_ece=float(np.mean([r.oracle_ece for r in reps])),
        population_errors={
            code: float(np.mean([e.error for e in population if e.approach == code]))
            for code in CODES
        },
        population_max_error=max(abs(e.error) for e in population),
        population_coverage=float(np.mean([e.covered for e in population])),
        population_checked=len(population),
        subgroup_max_error=max(abs(e.error) for e in subgroup),
        subgroup_coverage=float(np.mean([e.covered for e in subgroup])),
        subgroup_cells=round(len(subgroup) / len(reps)),
        case_mae=float(np.mean([r.case_mae for r in reps])),
        case_coverage=float(np.mean([r.case_coverage for r in reps])),
        naive_gap=max(r.naive_gap for r in reps),
        seconds=float(np.mean([r.seconds for r in reps])),
        policy_covered=sum(p.covered for p in policies),
        policy_gain_covered=sum(p.gain_covered for p in policies),
        policy_checked=len(policies),
        policy_max_error=max((abs(p.error) for p in policies), default=0.0),
        policy_width=float(np.mean([p.width for p in policies])) if policies else 0.0,
        ece_redrawn=float(np.mean([r.ece_redrawn for r in reps])),
        oracle_ece_redrawn=float(np.mean([r.oracle_ece_redrawn for r in reps])),
        ece_truth=float(np.mean([r.ece_truth for r in reps])),
        case_coverage_by_approach={
            code: float(np.mean([r.case_coverage_by_approach[code] for r in reps]))
            for code in CODES
        },
    )


COLUMNS: Final = (
    ("world", 28),
    ("AUC gap", 9),
    ("ECE (oracle)", 15),
    ("redrawn (oracle)", 17),
    ("pop. max err", 13),
    ("pop. cover", 11),
    ("subgr. max err", 15),
    ("subgr. cover", 13),
    ("per-case MAE", 13),
    ("per-case cover", 15),
    ("lowest approach cover", 33),
    ("policy cover", 13),
    ("seconds", 8),
)


def _line(cells: list[str]) -> str:
    return " ".join(f"{cell:<{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True))


def _mark(text: str, met: bool) -> str:
    return text if met else text + " x"


def _lowest(coverage: dict[str, float] | None) -> str:
    if not coverage:
        return "-"
    code = min(coverage, key=coverage.__getitem__)
    return f"{coverage[code]:.1%} ({code})"


def table(rows: list[WorldRow], size: int) -> str:
    """The table printed: a header, the targets, one line per world (misses marked x)."""
    t = TARGETS
    low, high = t.case_coverage
    lines = [
        _line([name for name, _ in COLUMNS]),
        _line(
            [
                "target",
                f"<= {t.auc_gap}",
                f"<= oracle+{t.ece_above_oracle}",
                "the same",
                f"<= {t.population_error}",
                f">= {t.population_coverage:.0%}",
                "-",
                f">= {t.population_coverage:.0%}",
                f"<= {t.case_mae(size)}",
                f"{low:.0%}-{high:.0%}",
                "- (not a target)",
                "~95%",
                "",
            ]
        ),
    ]
    for r in rows:
        lines.append(
            _line(
                [
                    r.world + (" (held out)" if r.held_out else ""),
                    _mark(f"{r.auc_gap:.4f}", r.auc_gap <= t.auc_gap),
                    _mark(
                        f"{r.ece:.3f} ({r.oracle_ece:.3f})",
                        r.ece <= r.oracle_ece + t.ece_above_oracle,
                    ),
                    "-"
                    if r.ece_redrawn is None or r.oracle_ece_redrawn is None
                    else _mark(
                        f"{r.ece_redrawn:.3f} ({r.oracle_ece_redrawn:.3f})",
                        r.ece_redrawn <= r.oracle_ece_redrawn + t.ece_above_oracle,
                    ),
                    _mark(
                        f"{r.population_max_error:.3f}",
                        r.population_max_error <= t.population_error,
                    ),
                    f"{round(r.population_coverage * r.population_checked)}/{r.population_checked}",
                    f"{r.subgroup_max_error:.3f}",
                    _mark(
                        f"{r.subgroup_coverage:.0%}", r.subgroup_coverage >= t.population_coverage
                    ),
                    _mark(f"{r.case_mae:.3f}", r.case_mae <= t.case_mae(r.rows)),
                    _mark(f"{r.case_coverage:.1%}", low <= r.case_coverage <= high),
                    _lowest(r.case_coverage_by_approach),
                    f"{r.policy_covered}+{r.policy_gain_covered}/{2 * r.policy_checked}",
                    f"{r.seconds:.0f}",
                ]
            )
        )
    covered = sum(round(r.population_coverage * r.population_checked) for r in rows)
    checked = sum(r.population_checked for r in rows)
    share = covered / checked if checked else 0.0
    lines.append(
        "population 95% intervals covering over all worlds and repetitions: "
        + _mark(f"{covered}/{checked} ({share:.1%})", share >= t.population_coverage)
        + f" (target >= {t.population_coverage:.0%}; per world: any miss of 6 is 83%)"
    )
    held = sum(r.policy_covered + r.policy_gain_covered for r in rows)
    policy_checks = sum(2 * r.policy_checked for r in rows)
    if policy_checks:
        lines.append(
            "policy value and its difference from as-asked, 95% intervals covering the truth "
            f"over all worlds: {held}/{policy_checks} ({held / policy_checks:.0%}; target ~95%), "
            f"mean width {np.mean([r.policy_width for r in rows if r.policy_checked]):.3f}, "
            f"largest |error| {max(r.policy_max_error for r in rows):.3f}"
        )
    cells = [(code, c) for r in rows for code, c in (r.case_coverage_by_approach or {}).items()]
    if cells:
        under = Counter(code for code, c in cells if c < low)
        lines.append(
            f"per-case 95% intervals per approach (not a target): in {low:.0%}-{high:.0%} in "
            f"{sum(low <= c <= high for _, c in cells)} of {len(cells)} world x approach cells, "
            f"under {low:.0%} in {sum(under.values())}"
            + (f" ({', '.join(f'{code} {n}' for code, n in under.most_common())})" if under else "")
        )
    return "\n".join(lines)


def saved_row(row: dict[str, Any]) -> WorldRow:
    """A row written by ``--json`` (files from before ``population_checked``: 6 per world)."""
    return WorldRow(**{"population_checked": 6, **row, "seeds": tuple(row["seeds"])})


def chosen_worlds(text: str) -> list[World]:
    """``all``, ``development``, ``held-out`` or comma-separated world names, as the worlds to
    run. ``all`` leaves out worlds with a hidden confounder: their effects and per-case truths
    depend on a field no model sees, so they are missed by design (``benchmarks/sensitivity.py``
    uses them); ``development`` leaves out the held-out worlds too."""
    if text in ("all", "development", "held-out"):
        seen = [w for w in WORLDS.values() if not w.hidden_confounder]
        if text == "all":
            return seen
        return [w for w in seen if w.held_out == (text == "held-out")]
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORLDS]
    if unknown or not names:
        named = ", ".join(unknown) or "(none)"
        raise argparse.ArgumentTypeError(
            f"unknown world {named}: use all, development, held-out or some of {', '.join(WORLDS)}"
        )
    return [WORLDS[name] for name in names]


def main() -> None:
    """Run every chosen world, print one line per repetition, then the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--worlds", type=chosen_worlds, default="baseline", help="all, or NAME[,NAME...]"
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument(
        "--same-seeds",
        action="store_true",
        help="every world draws from the same seeds (rows then differ by knobs alone); by "
        "default each world has its own, so the coverage over worlds counts independent draws",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--table-from", type=Path, default=None, help="print the table of a --json file, no run"
    )
    args = parser.parse_args()
    if args.table_from is not None:
        saved = json.loads(args.table_from.read_text(encoding="utf-8"))
        print(table([saved_row(row) for row in saved], saved[0]["rows"] if saved else 0))
        return
    worlds: list[World] = args.worlds
    rows = []
    for index, world in enumerate(worlds):
        reps = []
        first = args.first_seed + (0 if args.same_seeds else index * args.reps)
        for seed in range(first, first + args.reps):
            r = repetition(world, args.rows, seed)
            reps.append(r)
            print(
                f"{world.name} seed {seed}: AUC {r.auc:.3f} (oracle {r.oracle_auc:.3f}), "
                f"ECE {r.ece:.3f} (oracle {r.oracle_ece:.3f}; redrawn {r.ece_redrawn:.3f}, "
                f"{r.oracle_ece_redrawn:.3f}; against the truth {r.ece_truth:.3f}), "
                f"per-case MAE {r.case_mae:.3f} "
                f"(covering {r.case_coverage:.0%}), naive gap {r.naive_gap:.3f}, {r.seconds:.0f} s"
                + (
                    f", policy error {r.policy.error:+.3f} (covered {r.policy.covered}, width "
                    f"{r.policy.width:.3f}), difference covered {r.policy.gain_covered}"
                    if r.policy
                    else ""
                ),
                flush=True,
            )
        rows.append(world_row(world, args.rows, reps))
    print(f"\n{args.reps} repetition(s) of {args.rows:,} cases per world; x = target missed")
    print(table(rows, args.rows))
    if args.json is not None:
        args.json.write_text(
            json.dumps([asdict(r) for r in rows], indent=2) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
