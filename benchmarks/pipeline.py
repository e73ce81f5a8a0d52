"""Prefect's overhead: the nightly pipeline with Prefect against the same stages called directly.

    python benchmarks/pipeline.py [--rows 1000000]

Simulates the cases once, then in the same process runs (1) the stage functions directly into
one warehouse and (2) the Prefect flow into a fresh one (the temporary Prefect server is started
before the clock starts). Prints each stage's time both ways and the overhead ratio (target at
most 1.2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from overdue.config import get_settings
from overdue.simulate import write_simulation

STAGES = ("ingest", "features, models and effects", "report", "publish")


def paths_in(folder: Path) -> dict[str, str]:
    """Settings that put every output of a run in ``folder``."""
    return {
        "OVERDUE_WAREHOUSE": str(folder / "warehouse.duckdb"),
        "OVERDUE_MODELS_DIR": str(folder / "models"),
        "OVERDUE_REPORTS_DIR": str(folder / "reports"),
        "OVERDUE_PUBLISHED_DIR": str(folder / "published"),
    }


def direct(inbox: Path, folder: Path) -> dict[str, float]:
    """Each stage function called in turn; seconds per stage."""
    from overdue.ingest.load import ingest_paths
    from overdue.models.run import train
    from overdue.publish import publish_snapshot
    from overdue.reports.build import build_report

    os.environ.update(paths_in(folder))
    get_settings.cache_clear()
    s = get_settings()
    times = {}
    start = time.perf_counter()
    ingest_paths([str(inbox)], s.warehouse, as_of=dt.date.today())
    times["ingest"] = time.perf_counter() - start
    start = time.perf_counter()
    report = train(s.warehouse, s)
    times["features, models and effects"] = time.perf_counter() - start
    start = time.perf_counter()
    build_report(s.warehouse, s.reports_dir, k=s.k)
    times["report"] = time.perf_counter() - start
    start = time.perf_counter()
    s.published_dir.mkdir(parents=True, exist_ok=True)
    publish_snapshot(
        s.warehouse, s.models_dir, s.published_dir, report.run_id, report.model_version
    )
    times["publish"] = time.perf_counter() - start
    return times


def with_prefect(inbox: Path, folder: Path) -> tuple[dict[str, float], float]:
    """The nightly flow; seconds per task run (from Prefect) and for the whole flow."""
    from pipelines.nightly import nightly
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.testing.utilities import prefect_test_harness

    os.environ.update(paths_in(folder))
    get_settings.cache_clear()
    with prefect_test_harness(server_startup_timeout=None):
        start = time.perf_counter()
        state = nightly(paths=[str(inbox)], return_state=True)
        total = time.perf_counter() - start
        run_id = state.state_details.flow_run_id
        if run_id is None:
            raise RuntimeError("the nightly flow ran without a flow run id")
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
            )
    times: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    for run in runs:
        stage = "ingest" if run.name.startswith("ingest") else run.name.rsplit("-", 1)[0]
        if stage in times and run.start_time and run.end_time:
            times[stage] += (run.end_time - run.start_time).total_seconds()
    return times, total


def main() -> None:
    """Print both timings and the overhead ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(get_settings().model_threads))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inbox = root / "inbox"
        result = write_simulation(
            root / "sim" / "cases.parquet", rows=args.rows, seed=5, as_of=get_settings().as_of
        )
        inbox.mkdir()
        result.cases_path.rename(inbox / "cases.parquet")
        plain = direct(inbox, root / "direct")
        flow_times, flow_total = with_prefect(inbox, root / "prefect")
    print(f"nightly pipeline on {args.rows:,} cases (seconds)")
    print(f"  {'stage':32s} {'direct':>8s} {'Prefect':>8s}")
    for stage in STAGES:
        print(f"  {stage:32s} {plain[stage]:8.1f} {flow_times[stage]:8.1f}")
    plain_total = sum(plain.values())
    print(f"  {'whole run':32s} {plain_total:8.1f} {flow_total:8.1f}")
    print(f"  Prefect overhead ratio: {flow_total / plain_total:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
