"""The cluster path: ingest of one large Parquet file, then training, on one Dask worker and two.

    python benchmarks/cluster.py [--rows 1000000] [--part-rows 250000] [--data benchmarks/out]
                                 [--train]

Builds (once, cached in ``--data``) the simulated Parquet file ``overdue simulate --rows N
--format parquet`` writes, then ingests it into a fresh warehouse three ways, in this order:

- local: ``ingest_path`` in this process, one file as one batch (what ``overdue ingest`` does);
- on a ``distributed.LocalCluster`` this script starts with 1, then 2 worker processes of one
  thread each: its row ranges of ``--part-rows`` rows (``row_ranges``) prepared by
  ``prepare_part`` on the workers, then committed as one batch by ``commit_parts`` here, the
  calls the nightly flow's ``prepare``/``commit`` tasks make (Prefect's bookkeeping left out).

With ``--train``, the whole of ``overdue train`` (``overdue.models.run.train``) on the cases
just loaded, three ways: here (its fits two at a time in threads, the default), then with its
fits on a ``LocalCluster`` of 1 and of 2 worker processes (``cluster=``); each on its own copy
of the warehouse, each stage timed as training reports it, and the results compared: the
same model version and the same effects, bit for bit.

The workers import the libraries before the clock starts. Prints seconds per stage, the
speed-up of 2 workers over 1, and each worker process's peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster

from overdue.config import get_settings
from overdue.ingest.load import ingest_path
from overdue.ingest.parts import commit_parts, prepare_part, remove_parts, row_ranges
from overdue.models.run import train
from overdue.publish import effects_document
from overdue.warehouse import open_warehouse

AS_OF = dt.date(2026, 6, 30)


def simulated_parquet(rows: int, folder: Path) -> Path:
    """The simulated Parquet file of ``rows`` records, written once and reused."""
    path = folder / f"cases-{rows}.parquet"
    if not path.exists():
        from overdue.simulate import OutputFormat, write_simulation

        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.parquet")
        write_simulation(partial, rows=rows, seed=1, as_of=AS_OF, fmt=OutputFormat.PARQUET)
        partial.rename(path)
    return path


def peak_rss_mb() -> float:
    """This process's peak resident memory, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def warm_up() -> None:
    """Import what a ``prepare`` and the model fits need (on a worker, before the clock)."""
    import overdue.ingest.parts  # imported for their cost only
    import overdue.models.selfcheck  # noqa: F401


@contextmanager
def local_cluster(workers: int) -> Iterator[Client]:
    """A client of a fresh ``LocalCluster`` of ``workers`` one-thread processes, warmed up."""
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env={"OMP_NUM_THREADS": "1", "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(warm_up)
        yield client


@dataclass(frozen=True)
class ClusterRun:
    """One ingest on the cluster: parts, seconds per stage, rows loaded, workers' peak RSS."""

    parts: int
    prepare: float
    commit: float
    loaded: int
    peaks_mb: tuple[float, ...]

    @property
    def total(self) -> float:
        """Seconds from the first part submitted to the batch committed."""
        return self.prepare + self.commit


def on_cluster(workers: int, source: Path, part_rows: int, folder: Path) -> ClusterRun:
    """Prepare ``source``'s row ranges on ``workers`` worker processes, commit them here."""
    memory_limit = get_settings().duckdb_memory_limit
    with local_cluster(workers) as client:
        ranges = row_ranges(source, part_rows)
        start = time.perf_counter()
        futures = [
            client.submit(
                prepare_part,
                source,
                folder / "staging",
                run_id=f"bench-{workers}",
                as_of=AS_OF,
                memory_limit=memory_limit,
                rows=rows,
                pure=False,
            )
            for rows in ranges
        ]
        parts = client.gather(futures)
        prepared = time.perf_counter()
        with open_warehouse(folder / f"workers-{workers}.duckdb", memory_limit=memory_limit) as con:
            report = commit_parts(con, parts)
        committed = time.perf_counter()
        remove_parts(parts)
        peaks = client.run(peak_rss_mb)
    return ClusterRun(
        len(ranges),
        prepared - start,
        committed - prepared,
        report.rows_loaded,
        tuple(sorted(peaks.values())),
    )


@dataclass(frozen=True)
class TrainRun:
    """One ``overdue train``: seconds per stage, what it published, workers' peak RSS."""

    stages: dict[str, float]
    version: str
    effects: dict[str, Any]
    peaks_mb: tuple[float, ...] = ()


def timed_train(warehouse: Path, models: Path, client: Client | None) -> TrainRun:
    """Train on a copy of ``warehouse`` (models into ``models``), here or on ``client``'s
    cluster; every stage's seconds."""
    target = models / "warehouse.duckdb"
    models.mkdir()
    shutil.copy(warehouse, target)
    settings = get_settings().model_copy(update={"models_dir": models})
    stages: dict[str, float] = {}
    started: dict[str, float] = {}

    def on_stage(name: str) -> None:
        now = time.perf_counter()
        for previous, at in started.items():
            stages[previous] = now - at
        started.clear()
        if name:
            started[name] = now

    address = client.scheduler_info()["address"] if client is not None else None
    start = time.perf_counter()
    report = train(target, settings, on_stage=on_stage, cluster=address)
    on_stage("")
    stages["total"] = time.perf_counter() - start
    document = effects_document(target, settings.k)
    document.pop("run_id")
    peaks = tuple(sorted(client.run(peak_rss_mb).values())) if client is not None else ()
    return TrainRun(stages, report.model_version, document, peaks)


def train_three_ways(warehouse: Path, folder: Path) -> None:
    """Print ``overdue train`` here, on 1 worker and on 2: seconds per stage, speed-up."""
    runs = {"here (2 threads)": timed_train(warehouse, folder / "here", None)}
    for n in (1, 2):
        with local_cluster(n) as client:
            runs[f"{n} worker(s)"] = timed_train(warehouse, folder / f"train-{n}", client)
    names = list(runs)
    print(f"  {'train stage':38}" + "".join(f"{name:>18}" for name in names))
    for stage in runs[names[0]].stages:
        print(f"  {stage:38}" + "".join(f"{r.stages[stage]:16.1f} s" for r in runs.values()))
    one, two = runs["1 worker(s)"], runs["2 worker(s)"]
    print(
        f"  speed-up of 2 workers over 1, train: {one.stages['total'] / two.stages['total']:.2f}x"
    )
    for name, run in runs.items():
        if run.peaks_mb:
            print(
                f"  {name}: peak RSS per worker {', '.join(f'{p:,.0f}' for p in run.peaks_mb)} MB"
            )
    same = all(
        (r.version, r.effects) == (runs[names[0]].version, runs[names[0]].effects)
        for r in runs.values()
    )
    print(f"  same model version and effects, bit for bit, all three: {same}")


def main() -> None:
    """Print the local ingest, then 1 and 2 workers: seconds per stage, speed-up, peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--part-rows", type=int, default=get_settings().part_rows)
    parser.add_argument("--data", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--train", action="store_true", help="also time overdue train")
    args = parser.parse_args()
    source = simulated_parquet(args.rows, args.data)
    size_mb = source.stat().st_size / 2**20
    print(f"ingest {args.rows:,} rows ({size_mb:,.0f} MiB Parquet), parts of {args.part_rows:,}")
    with tempfile.TemporaryDirectory(dir=args.data) as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        local = ingest_path(
            source, folder / "local.duckdb", run_id="bench", as_of=AS_OF,
            memory_limit=get_settings().duckdb_memory_limit,
        )  # fmt: skip
        print(f"  local (one process)  total {time.perf_counter() - start:7.1f} s   "
              f"loaded {local.rows_loaded:,}")  # fmt: skip
        results = {n: on_cluster(n, source, args.part_rows, folder) for n in (1, 2)}
        if args.train:
            train_three_ways(folder / "local.duckdb", folder)
    for n, run in results.items():
        peaks = ", ".join(f"{p:,.0f}" for p in run.peaks_mb)
        print(
            f"  {n} worker(s), {run.parts} parts: prepare {run.prepare:6.1f} s   "
            f"commit {run.commit:5.1f} s   total {run.total:6.1f} s   "
            f"loaded {run.loaded:,}   peak RSS per worker {peaks} MB"
        )
    for stage in ("prepare", "commit", "total"):
        one, two = getattr(results[1], stage), getattr(results[2], stage)
        print(f"  speed-up of 2 workers over 1, {stage}: {one / two:.2f}x")


if __name__ == "__main__":
    main()
