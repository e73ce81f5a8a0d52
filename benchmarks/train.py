"""Time and peak memory of ``overdue train`` as a user runs it, against one plain model fit.

    python benchmarks/train.py [--rows 200000 1000000]

For each size the cases are simulated into a Parquet file and ingested into a fresh warehouse
(neither timed); a fresh process then runs the whole of ``overdue train``
(``overdue.models.run.train``, default settings): reading the warehouse, features, the advising
model with its held-out choices, the self-check, the effects, their sensitivity, the refutation
tests, the policy value, the sustained-success model, diagnostics, the bundle and the tables. A
second process times the baseline, one default HistGradientBoostingClassifier fit on the same
labelled features. A third process trains with the self-check off: the self-check's cost is
the difference (it runs beside the effects, so its own seconds overstate what it adds).
Targets (issue 14): 1M cases in under 10 minutes and 200k in under 3 on a 2-core machine, the
self-check at most 25% of the training time, peak memory at 1M under 6 GB.
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
from pathlib import Path
side = sys.argv[1]
start = time.perf_counter()
if side == "overdue":
    from overdue.config import get_settings
    from overdue.models.run import train
    report = train(Path(sys.argv[2]), get_settings())
    times = {"total": time.perf_counter() - start}
else:
    import polars as pl
    from sklearn.ensemble import HistGradientBoostingClassifier
    from overdue.features import build_features
    from overdue.models.train import ADVISING_DESIGN
    features = build_features(pl.scan_parquet(sys.argv[2])).collect()
    data = features.filter(pl.col("y_agreement").is_not_null())
    x, y = ADVISING_DESIGN.matrix(data), data["y_agreement"].to_numpy()
    t = time.perf_counter()
    HistGradientBoostingClassifier(categorical_features=ADVISING_DESIGN.categorical).fit(x, y)
    times = {"total": time.perf_counter() - t}
times["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(times))
"""


TARGET_SECONDS: Final = {200_000: 180, 1_000_000: 600}
"""Issue 14: ``overdue train`` (models, effects and the self-check) at these sizes."""


def prepared(rows: int, folder: Path) -> tuple[Path, Path]:
    """``rows`` simulated cases in a Parquet file, and a warehouse that has ingested them."""
    cases = folder / f"cases-{rows}.parquet"
    simulate_cases(rows, seed=3, as_of=dt.date(2026, 6, 30)).cases.write_parquet(cases)
    return cases, ingested(cases, folder)


def ingested(cases: Path, folder: Path) -> Path:
    """A fresh warehouse in ``folder`` that has ingested the case file ``cases``."""
    warehouse = folder / "warehouse.duckdb"
    subprocess.run(
        [sys.executable, "-m", "overdue", "ingest", str(cases)],
        capture_output=True,
        check=True,
        env={**os.environ, "OVERDUE_WAREHOUSE": str(warehouse)},
    )
    return warehouse


def measure(side: str, path: Path, folder: Path, self_check: bool = True) -> dict[str, float]:
    """One side in a fresh process: ``overdue`` trains on the warehouse at ``path`` (with the
    self-check or not), the baseline fits on the cases at ``path``."""
    # ours: fits side by side in threads of one OpenMP thread each (``overdue.models.parallel``);
    # the baseline: one fit with an OpenMP team of as many threads
    threads = get_settings().model_threads
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1" if side == "overdue" else str(threads),
        "OVERDUE_MODELS_DIR": str(folder / ("models" if self_check else "models-unchecked")),
        "OVERDUE_SELF_CHECK": str(self_check).lower(),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, side, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print the training time, the self-check's share, peak memory and the ratio to one fit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    args = parser.parse_args()
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            cases, warehouse = prepared(rows, folder)
            base = measure("baseline", cases, folder)
            ours = measure("overdue", warehouse, folder)
            unchecked = measure("overdue", warehouse, folder, self_check=False)
        target = TARGET_SECONDS.get(rows)
        verdict = "" if target is None else f" (target {target} s: {_met(ours['total'] <= target)})"
        cost = ours["total"] - unchecked["total"]
        share = cost / unchecked["total"]
        print(f"{rows:,} cases")
        print(f"  overdue train: {ours['total']:.1f} s{verdict}, peak {ours['peak_mb']:.0f} MB")
        print(
            f"  without the self-check {unchecked['total']:.1f} s: it adds {cost:.1f} s, "
            f"{share:.0%} of the rest "
            f"(target <= 25%: {_met(share <= 0.25)})"
        )
        print(
            f"  baseline: one HistGradientBoosting fit {base['total']:.1f} s "
            f"(peak {base['peak_mb']:.0f} MB); ratio {ours['total'] / base['total']:.1f}"
        )
        if rows >= 1_000_000:
            print(f"  peak memory target 6 GB: {_met(ours['peak_mb'] <= 6 * 1024)}")


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
