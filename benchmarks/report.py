"""Build time and page size of ``overdue report`` on a large warehouse, against plain Plotly.

    python benchmarks/report.py [--rows 1000000] [--no-train]

Not timed: simulating the cases, ingesting them and training on the whole warehouse once
(``overdue train``; reused on later runs, as the warehouse and the model are kept in
benchmarks/out/report-<rows>/). Timed: ``overdue report --lang both`` in a fresh process
(imports included), and in the same run the baseline: Plotly writing one bar chart with
plotly.js inlined (``write_html(include_plotlyjs=True)``). Targets: each page under 10 MB and
the build under 60 s at 1M cases. Everything is aggregated in DuckDB, so the page size does not
grow with the number of cases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = """
import sys, time
import plotly.graph_objects as go
start = time.perf_counter()
fig = go.Figure(go.Bar(x=["a", "b", "c"], y=[0.6, 0.5, 0.7]))
fig.write_html(sys.argv[1], include_plotlyjs=True)
print(time.perf_counter() - start)
"""


def overdue(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``overdue ARGS`` in a fresh process; fail loudly with its output."""
    done = subprocess.run(
        [sys.executable, "-m", "overdue", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"overdue {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def has_model(warehouse: Path) -> bool:
    """True when the warehouse already holds a training run."""
    import duckdb

    if not warehouse.exists():
        return False
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return bool(con.execute("SELECT count(*) FROM model_runs").fetchall()[0][0])
    finally:
        con.close()


def main() -> None:
    """Prepare the warehouse once, then time the report and the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-train", action="store_true", help="report on ingest tables only")
    args = parser.parse_args()
    folder = ROOT / "benchmarks" / "out" / f"report-{args.rows}"
    folder.mkdir(parents=True, exist_ok=True)
    cases, warehouse, reports = folder / "cases.parquet", folder / "w.duckdb", folder / "reports"
    env = {
        "OVERDUE_WAREHOUSE": str(warehouse),
        "OVERDUE_MODELS_DIR": str(folder / "models"),
        "OVERDUE_REPORTS_DIR": str(reports),
    }
    if not cases.exists():
        print(f"simulating {args.rows:,} cases (not timed) ...", flush=True)
        overdue("simulate", "--rows", str(args.rows), "--seed", "3", "--out", str(cases), env=env)
    if not warehouse.exists():
        print("ingesting (not timed) ...", flush=True)
        overdue("ingest", str(cases), env=env)
    if not args.no_train and not has_model(warehouse):
        print("training on the whole warehouse once (not timed) ...", flush=True)
        start = time.perf_counter()
        overdue("train", env={**env, "OVERDUE_MODEL_THREADS": "1"})
        print(f"  trained in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    overdue("report", "--lang", "both", env=env)
    build = time.perf_counter() - start
    manifest = json.loads((reports / "latest" / "report.json").read_text(encoding="utf-8"))
    sizes = {
        lang: (reports / "latest" / name).stat().st_size for lang, name in manifest["files"].items()
    }
    baseline_page = folder / "baseline.html"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", BASELINE, str(baseline_page)],
        capture_output=True,
        text=True,
        check=True,
    )
    baseline = time.perf_counter() - start
    baseline_write = float(done.stdout.strip())
    base_size = baseline_page.stat().st_size
    print(f"{args.rows:,} cases, model {manifest['model_version'] or 'none'}")
    print(f"  overdue report (both languages, fresh process): {build:.1f} s")
    for lang, size in sizes.items():
        print(f"  {lang}.html {size / 1e6:.2f} MB ({size / base_size:.2f} x the baseline page)")
    print(
        f"  baseline: one Plotly bar chart with plotly.js inlined, fresh process {baseline:.1f} s"
        f" (writing {baseline_write:.2f} s), {base_size / 1e6:.2f} MB; "
        f"build ratio {build / baseline:.1f}"
    )
    largest = max(sizes.values())
    print(
        f"  targets: page < 10 MB {'met' if largest < 10e6 else 'MISSED'}, "
        f"build < 60 s {'met' if build < 60 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
