"""Time and peak memory of features + training + effects, against one plain model fit.

    python benchmarks/train.py [--rows 200000 1000000]

For each size the cases are simulated once into a Parquet file (not timed or counted in the
peak: ``overdue train`` reads cases, it does not simulate them); a fresh process reads them and
times building the features, fitting the advising model (penalty and approach interactions
chosen on held-out cases, the spline logistic with its coefficient covariance and gradient
boosting, stacked; the logistic baseline beside it), estimating the effects, their
sensitivity to hidden confounding, the refutation tests and the policy value (as ``overdue
train`` does), then, apart from that total, the
self-check training runs after them (``overdue.models.selfcheck``); a second process times the
baseline, one default HistGradientBoostingClassifier fit on the same labelled features. Targets:
1M cases in under 10 minutes and 200k in under 3 on a 2-core machine, with the self-check, which
should take at most 25% of the training time; peak memory at 1M under 6 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from overdue.config import get_settings
from overdue.simulate import simulate_cases

CHILD = """
import json, resource, sys, time
import polars as pl
from overdue.features import build_features
path, side = sys.argv[1], sys.argv[2]
cases = pl.read_parquet(path)
times = {}
start = time.perf_counter()
features = build_features(cases.lazy()).collect()
times["features"] = time.perf_counter() - start
if side == "overdue":
    from overdue.config import get_settings
    from overdue.models.parallel import fit_threads
    threads = fit_threads(get_settings().model_threads)  # kept open to the end
    threads.__enter__()
    from overdue.models.train import fit_outcome_model
    from overdue.models.effects import effect_fits, effect_rows
    from overdue.models.selfcheck import run_self_check
    from overdue.models.sensitivity import train_sensitivity
    t = time.perf_counter()
    model = fit_outcome_model(features, seed=1)
    times["train"] = time.perf_counter() - t
    t = time.perf_counter()
    fits = effect_fits(features, "y_agreement", 1)
    effect_rows(fits, 10)
    times["effects"] = time.perf_counter() - t
    t = time.perf_counter()
    train_sensitivity(fits, "y_agreement", 1, 10)
    times["sensitivity"] = time.perf_counter() - t
    from overdue.models.policy import policy_values
    from overdue.models.refute import refutations
    from overdue.plans import budget_rules, typical_plans
    t = time.perf_counter()
    labelled = features.filter(pl.col("y_agreement").is_not_null())
    refutations(labelled, "y_agreement", 1, 10)
    plans = typical_plans(cases, 10)
    policy_values(model, fits[0].frame, fits[0].fit, plans, budget_rules(get_settings()), 10, 1)
    times["refutations_policy"] = time.perf_counter() - t
    del fits, labelled
    times["total"] = time.perf_counter() - start
    t = time.perf_counter()
    run_self_check(features, model, fit_outcome_model, 1, 10)
    times["self_check"] = time.perf_counter() - t
else:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from overdue.models.train import ADVISING_DESIGN
    data = features.filter(pl.col("y_agreement").is_not_null())
    x, y = ADVISING_DESIGN.matrix(data), data["y_agreement"].to_numpy()
    t = time.perf_counter()
    HistGradientBoostingClassifier(categorical_features=ADVISING_DESIGN.categorical).fit(x, y)
    times["one_fit"] = time.perf_counter() - t
times.setdefault("total", time.perf_counter() - start)
times["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(times))
"""


TARGET_SECONDS: Final = {200_000: 180, 1_000_000: 600}
"""Issue 14: ``overdue train`` (models, effects and the self-check) at these sizes."""


def simulated(rows: int, folder: Path) -> Path:
    """``rows`` simulated cases in a Parquet file."""
    path = folder / f"cases-{rows}.parquet"
    simulate_cases(rows, seed=3, as_of=dt.date(2026, 6, 30)).cases.write_parquet(path)
    return path


def measure(cases: Path, side: str) -> dict[str, float]:
    """One side on one file of cases, in a fresh process."""
    # ours: fits side by side in threads of one OpenMP thread each; the baseline: one fit
    # with an OpenMP team of as many threads
    threads = get_settings().model_threads
    env = {**os.environ, "OMP_NUM_THREADS": "1" if side == "overdue" else str(threads)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(cases), side],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print the stage times, peak memory and the ratio to one plain fit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    args = parser.parse_args()
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            cases = simulated(rows, Path(folder))
            base = measure(cases, "baseline")
            ours = measure(cases, "overdue")
        print(f"{rows:,} cases")
        print(
            f"  features {ours['features']:.1f} s, outcome models {ours['train']:.1f} s, "
            f"effects {ours['effects']:.1f} s, sensitivity {ours['sensitivity']:.1f} s, "
            f"refutations and policy value {ours['refutations_policy']:.1f} s: "
            f"total {ours['total']:.1f} s, "
            f"peak {ours['peak_mb']:.0f} MB"
        )
        share = ours["self_check"] / ours["total"]
        print(
            f"  self-check {ours['self_check']:.1f} s after them: {share:.0%} of the training "
            f"time (target <= 25%: {_met(share <= 0.25)})"
        )
        print(
            f"  baseline: one HistGradientBoosting fit {base['one_fit']:.1f} s "
            f"(peak {base['peak_mb']:.0f} MB); ratio {ours['total'] / base['total']:.1f}"
        )
        whole = ours["total"] + ours["self_check"]
        target = TARGET_SECONDS.get(rows)
        verdict = "" if target is None else f" (target {target} s: {_met(whole <= target)})"
        print(f"  with the self-check: {whole:.1f} s{verdict}")
        if rows >= 1_000_000:
            print(f"  peak memory target 6 GB: {_met(ours['peak_mb'] <= 6 * 1024)}")


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
