"""Peak memory of each pipeline stage at a given number of cases: what grows with the cases.

    python benchmarks/memory.py --rows 1000000 2000000 [--cases FILE] [--stop-above-gb 14]

For each size the cases are simulated into a Parquet file (or ``--cases`` is read) and ingested
into a fresh warehouse by ``overdue ingest`` in its own process (its peak from
``ru_maxrss`` of that child); a fresh process then runs training (each of
``overdue.models.run.train``'s stages as it reports them), the report and the publish, with its
resident memory sampled every 0.2 s and the peak kept per stage. The run stops if the process
grows past ``--stop-above-gb`` (the machine is shared). Default settings, so the models learn
from at most ``model_max_cases`` labelled cases (docs/configuration.md). Issue 18: 10M cases
end to end in at most 12 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from overdue.simulate import write_simulation

CHILD = """
import json, os, sys, threading, time
from pathlib import Path
from typing import Any
warehouse, limit_mb = Path(sys.argv[1]), float(sys.argv[2])
stage, peaks, starts = ["start"], {}, {}

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0

def sample():
    while True:
        now = stage[0]
        peaks[now] = max(peaks.get(now, 0.0), rss_mb())
        if peaks[now] > limit_mb:
            print(json.dumps({"stopped": now, "peaks_mb": peaks}), flush=True)
            os._exit(3)
        time.sleep(0.2)

def enter(name):
    stage[0] = name
    starts[name] = time.perf_counter()

threading.Thread(target=sample, daemon=True).start()
from overdue.config import get_settings
from overdue.models.run import train
from overdue.publish import publish_snapshot
from overdue.reports.build import build_report
s = get_settings()
report = train(warehouse, s, on_stage=enter)
enter("report")
build_report(warehouse, s.reports_dir, k=s.k)
enter("publish")
s.published_dir.mkdir(parents=True, exist_ok=True)
publish_snapshot(warehouse, s.models_dir, s.published_dir, report.run_id, report.model_version)
enter("end")
time.sleep(0.5)
names = list(starts)
seconds = {a: starts[b] - starts[a] for a, b in zip(names, names[1:])}
print(json.dumps({"peaks_mb": {n: peaks.get(n, 0.0) for n in names[:-1]}, "seconds": seconds,
                  "cases": report.cases, "labelled": report.labelled,
                  "model_cases": report.model_cases}))
"""


def ingest(cases: Path, env: dict[str, str]) -> tuple[float, float]:
    """``overdue ingest`` of ``cases`` in a child process: seconds and that child's peak MB."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "overdue", "ingest", str(cases)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 3):  # 3: some rows quarantined, the rest loaded
        raise RuntimeError(f"overdue ingest {cases} exited with {child.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def measure(cases: Path, folder: Path, stop_above_gb: float) -> dict[str, Any]:
    """Ingest, then train, report and publish in a fresh process, with the peak per stage."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OVERDUE_WAREHOUSE": str(folder / "warehouse.duckdb"),
        "OVERDUE_MODELS_DIR": str(folder / "models"),
        "OVERDUE_REPORTS_DIR": str(folder / "reports"),
        "OVERDUE_PUBLISHED_DIR": str(folder / "published"),
    }
    seconds, peak = ingest(cases, env)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, env["OVERDUE_WAREHOUSE"], str(stop_above_gb * 1024)],
        check=False,  # a run stopped above the limit still prints its peaks
        capture_output=True,
        text=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["peaks_mb"] = {"ingest (child)": peak, **result["peaks_mb"]}
    result.setdefault("seconds", {})["ingest"] = seconds
    return result


def main() -> None:
    """Print each stage's peak memory and time per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--cases", type=Path, help="a case file to use instead of simulating")
    parser.add_argument("--stop-above-gb", type=float, default=14.0)
    args = parser.parse_args()
    for rows in [0] if args.cases else args.rows:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            cases = (
                args.cases
                or write_simulation(
                    folder / "cases.parquet", rows=rows, seed=5, as_of=dt.date(2026, 6, 30)
                ).cases_path
            )
            result = measure(cases, folder, args.stop_above_gb)
        print(
            f"{result.get('cases', rows):,} cases" + (" (STOPPED)" if "stopped" in result else "")
        )
        seconds: dict[str, float] = result.get("seconds", {})
        peaks: dict[str, float] = result["peaks_mb"]
        for stage, peak in peaks.items():
            took = seconds.get(stage.replace(" (child)", ""))
            print(f"  {stage:40s} peak {peak:8,.0f} MB" + (f"  {took:7.1f} s" if took else ""))
        if "model_cases" in result:
            print(f"  the models learnt from {result['model_cases']:,} of {result['labelled']:,}")


if __name__ == "__main__":
    main()
