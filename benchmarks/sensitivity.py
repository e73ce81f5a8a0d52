"""Sensitivity of every headline contrast to a hidden confounder, on one simulated world: the
rows as JSON (what the report and ``overdue effects --json`` can show) and the time it took.

    python benchmarks/sensitivity.py [--world hidden_confounder] [--rows 30000] [--json]

Simulating and building the features are not timed; the AIPW fits, the sensitivity elements
and the benchmark refits (each on at most BENCHMARK_MAX_ROWS cases) are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import polars as pl

from overdue.features import build_features
from overdue.models.sensitivity import rows_json, sensitivity_analysis
from overdue.simulate import simulate_cases
from overdue.worlds import world_named


def main() -> None:
    """Print each contrast's verdict (or the JSON rows) and the seconds taken."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", default="hidden_confounder")
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    run = simulate_cases(args.rows, args.seed, dt.date(2026, 6, 30), world_named(args.world))
    features = build_features(run.cases.lazy()).collect()
    start = time.perf_counter()
    rows = sensitivity_analysis(features, "y_agreement", seed=1)
    seconds = time.perf_counter() - start
    if args.json:
        print(rows_json(rows))
    else:
        labelled = features.filter(pl.col("y_agreement").is_not_null()).height
        print(f"{args.world}: {labelled:,} labelled cases, {seconds:.0f} s")
        for r in rows:
            rv, rva = ("-" if v is None else f"{v:.3f}" for v in (r.rv, r.rva))
            print(
                f"{r.treatment:18s} {r.level:26s} {r.estimate:+.3f} "
                f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}] RV {rv} RVa {rva} "
                f"{r.verdict:8s} vs {r.benchmark}"
            )


if __name__ == "__main__":
    main()
