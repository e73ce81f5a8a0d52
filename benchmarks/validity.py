"""How right the models and effects are, on simulated data with known truth.

    python benchmarks/validity.py [--rows 50000] [--reps 20]

Each repetition simulates a fresh population (its own seed), builds features, fits the outcome
model (time split: tested on the newest cases) and the cross-fitted AIPW approach effects, and
compares them with the simulator's ground truth:
  - AUC on the test set against the oracle AUC of the true probabilities on the same cases;
  - expected calibration error (15 equal-count bins) of the calibrated model;
  - per-case mean |p - true p| over the six approaches on the test cases, and how often the
    per-case 95% intervals cover the true probability;
  - each approach's population effect against the true rate over labelled cases, and whether
    its 95% interval covers it; coverage is counted over all repetitions.
Targets at 50,000 cases: AUC within 0.02 of the oracle, ECE <= 0.02, |effect - truth| <= 0.02,
coverage 90-99%, per-case MAE <= 0.04.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from overdue.contract import APPROACHES
from overdue.features import build_features
from overdue.models.effects import APPROACH_TREATMENT, aipw, summarize
from overdue.models.train import ADVISING_METRICS, fit_outcome_model, time_split
from overdue.simulate import simulate_cases

AS_OF = dt.date(2026, 6, 30)
CODES = list(APPROACHES)


def repetition(rows: int, seed: int) -> dict[str, object]:
    """One simulated population, fitted and scored against its truth."""
    run = simulate_cases(rows, seed=seed, as_of=AS_OF)
    features = build_features(run.cases.lazy()).collect()
    labelled = features.filter(pl.col("y_agreement").is_not_null())
    truth = labelled.select("case_id").join(
        run.truth, on="case_id", how="left", maintain_order="left"
    )
    true_p = np.column_stack([truth[f"p_{c}"].to_numpy() for c in CODES])
    model = fit_outcome_model(features, seed=seed)
    split = time_split(labelled)
    test = labelled[split.test]
    asked = test["approach"].replace_strict({c: i for i, c in enumerate(CODES)}).to_numpy()
    y = test["y_agreement"].to_numpy()
    oracle = roc_auc_score(y, true_p[split.test][np.arange(len(asked)), asked])
    answers = [
        model.predict_with_interval(test.with_columns(pl.lit(c).alias("approach"))) for c in CODES
    ]
    test_truth = true_p[split.test]
    mae = float(
        np.mean([np.abs(p - test_truth[:, i]).mean() for i, (p, _, _) in enumerate(answers)])
    )
    case_coverage = float(
        np.mean(
            [
                ((lo <= test_truth[:, i]) & (test_truth[:, i] <= hi)).mean()
                for i, (_, lo, hi) in enumerate(answers)
            ]
        )
    )
    fit = aipw(labelled, APPROACH_TREATMENT, "y_agreement", seed)
    rows_out = summarize(fit, {"population": np.ones(labelled.height, dtype=bool)}, k=10)
    effects = {}
    for row in rows_out:
        target = float(true_p[:, CODES.index(row.level)].mean())
        effects[row.level] = (row.estimate - target, row.ci_low <= target <= row.ci_high)
    metrics = model.metrics[ADVISING_METRICS]
    return {
        "auc": metrics["auc"],
        "oracle": oracle,
        "ece": metrics["ece"],
        "mae": mae,
        "case_coverage": case_coverage,
        "effects": effects,
        "naive": _naive_gap(labelled, true_p),
    }


def _naive_gap(labelled: pl.DataFrame, true_p: np.ndarray) -> float:
    """Largest |observed rate - true rate| over approaches: what adjustment must undo."""
    gaps = []
    for i, code in enumerate(CODES):
        rows = (labelled["approach"] == code).to_numpy()
        gaps.append(abs(labelled["y_agreement"].to_numpy()[rows].mean() - true_p[:, i].mean()))
    return max(gaps)


def main() -> None:
    """Print each repetition and the summary against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=100)
    args = parser.parse_args()
    results = []
    for seed in range(args.first_seed, args.first_seed + args.reps):
        start = time.perf_counter()
        r = repetition(args.rows, seed)
        results.append(r)
        worst = max(abs(e) for e, _ in r["effects"].values())
        print(
            f"seed {seed}: AUC {r['auc']:.3f} (oracle {r['oracle']:.3f}), ECE {r['ece']:.3f}, "
            f"per-case MAE {r['mae']:.3f} (interval coverage {r['case_coverage']:.0%}), "
            f"worst |effect-truth| {worst:.3f} "
            f"(naive {r['naive']:.3f}), {time.perf_counter() - start:.0f} s",
            flush=True,
        )
    gap = np.array([r["oracle"] - r["auc"] for r in results])
    ece = np.array([r["ece"] for r in results])
    mae = np.array([r["mae"] for r in results])
    print(f"\n{args.reps} repetitions of {args.rows:,} cases")
    print(f"  oracle AUC - AUC: mean {gap.mean():.3f}, max {gap.max():.3f} (target <= 0.02)")
    print(f"  ECE: mean {ece.mean():.3f}, max {ece.max():.3f} (target <= 0.02)")
    print(f"  per-case MAE: mean {mae.mean():.3f}, max {mae.max():.3f} (target <= 0.04)")
    coverage = np.mean([r["case_coverage"] for r in results])
    print(f"  per-case 95% intervals covering the true probability: {coverage:.1%}")
    for code in CODES:
        errors = np.array([r["effects"][code][0] for r in results])
        covered = np.mean([r["effects"][code][1] for r in results])
        print(
            f"  {code:26s} mean error {errors.mean():+.4f}, max |error| "
            f"{np.abs(errors).max():.4f}, coverage {covered:.0%}"
        )
    overall = np.mean([c for r in results for _, c in r["effects"].values()])
    print(f"  interval coverage over all approaches: {overall:.1%} (target 90-99%)")


if __name__ == "__main__":
    main()
