"""The nightly flow on a real Dask cluster (``distributed.LocalCluster``, two worker
processes): the same warehouse as the local ingest of the same files, one writer, idempotent,
a large file prepared in row ranges, the same model and effects as training here, and a
worker killed while preparing a part or while fitting."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from distributed import Client, LocalCluster, Worker
from pipelines.cluster import ingest_files_on_cluster
from pipelines.ingest import ingest_flow
from pipelines.nightly import nightly
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

from overdue.config import get_settings
from overdue.features import build_features
from overdue.ingest.load import ingest_path
from overdue.models.effects import EffectFit, effect_fits
from overdue.models.parallel import fit_threads, fits_on_cluster
from overdue.models.run import train as train_models
from overdue.models.train import ADVISING_METRICS
from overdue.publish import effects_document
from overdue.simulate import simulate_cases, write_simulation
from overdue.warehouse import open_warehouse
from parts_support import BAD_AT, large_parquet
from settings_support import settings_in
from warehouse_support import warehouse_rows

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 5)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two worker processes of one thread each, the scheduler on 127.0.0.1; the workers import
    ``pipelines`` and ``overdue`` from this checkout."""
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env={"PYTHONPATH": path, "OMP_NUM_THREADS": "1"},
    ) as local_cluster:
        yield local_cluster


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Settings inside one temporary folder, and 2,000 simulated cases in three files: a
    Parquet file, a CSV file that repeats 100 of its cases (a later version wins) and has a
    row that cannot be split (quarantined), and a Parquet file."""
    folder = tmp_path_factory.mktemp("cluster")
    with settings_in(folder):
        simulated = write_simulation(
            folder / "simulated" / "cases.parquet", rows=2_000, seed=41, as_of=get_settings().as_of
        )
        cases = pl.read_parquet(simulated.cases_path)
        files = folder / "files"
        files.mkdir()
        cases[:700].write_parquet(files / "a.parquet")
        cases[600:1400].write_csv(files / "b.csv")
        with (files / "b.csv").open("a", encoding="utf-8") as handle:
            handle.write("a row,that cannot be split\n")
        cases[1400:].write_parquet(files / "c.parquet")
        yield folder


def input_files(place: Path) -> list[str]:
    """The three files, in the order they are ingested."""
    return [str(place / "files" / name) for name in ("a.parquet", "b.csv", "c.parquet")]


def prepare_runs_completed() -> int:
    """How many ``prepare`` task runs (the ones on the workers) completed."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="prepare "))
        )
    return sum(run.state is not None and run.state.is_completed() for run in runs)


def tasks_run_by_workers(local_cluster: LocalCluster) -> int:
    """How many tasks the cluster's workers have run, all together."""
    with Client(local_cluster) as client:
        counts = client.run(lambda dask_worker: dask_worker.state.executed_count)
    return sum(counts.values())


@pytest.fixture(scope="module")
def local_rows(place: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The tables after the local ingest flow (the nightly flow's default path) ran the files."""
    target = place / "local" / "warehouse.duckdb"
    ingest_flow(input_files(place), warehouse_path=str(target), as_of=TODAY, return_state=True)
    return warehouse_rows(target)


def test_files_prepared_on_the_workers_are_stored_as_a_local_ingest_stores_them(
    place: Path, cluster: LocalCluster, local_rows: dict[str, list[tuple[Any, ...]]]
) -> None:
    """Each file is prepared by a task on the workers and committed here: the warehouse holds
    the same cases, quarantined rows and batches as after the local ingest. This process holds
    the warehouse open for writing all along (DuckDB's file lock), so no worker could open it;
    the staging folder is emptied."""
    target = place / "held" / "warehouse.duckdb"
    executed, prepared = tasks_run_by_workers(cluster), prepare_runs_completed()
    with open_warehouse(target):
        records = ingest_files_on_cluster(
            cluster.scheduler_address, input_files(place), str(target), "run-1", TODAY, None
        )
    assert [r["status"] for r in records] == ["loaded"] * 3
    assert [r["rows_quarantined"] for r in records] == [0, 1, 0]
    assert [r["cases_superseded"] for r in records] == [0, 100, 0]
    assert warehouse_rows(target) == local_rows
    assert len(local_rows["cases"]) == 2_000
    assert prepare_runs_completed() - prepared == 3
    assert tasks_run_by_workers(cluster) - executed >= 3
    assert not any((place / "held" / "staging").iterdir())


def test_the_same_files_again_change_nothing(
    place: Path, cluster: LocalCluster, local_rows: dict[str, list[tuple[Any, ...]]]
) -> None:
    """Re-running the files through the cluster finds every content stored: no new batch."""
    target = place / "held" / "warehouse.duckdb"
    records = ingest_files_on_cluster(
        cluster.scheduler_address, input_files(place), str(target), "run-2", TODAY, None
    )
    assert [r["status"] for r in records] == ["already_loaded"] * 3
    assert [r["batch_id"] for r in records] == [1, 2, 3]
    assert warehouse_rows(target) == local_rows


def test_the_nightly_flow_runs_its_ingest_on_the_cluster(
    place: Path, cluster: LocalCluster, local_rows: dict[str, list[tuple[Any, ...]]]
) -> None:
    """``nightly(cluster=...)`` (what ``overdue run --cluster`` runs) ingests on the cluster,
    trains with its model fits on the cluster, reports and publishes; training the same
    warehouse here gives the same model version, metrics, self-check and effects, bit for bit
    (every fit carries its own seed)."""
    prepared, tasks = prepare_runs_completed(), tasks_run_by_workers(cluster)
    state = nightly(
        paths=input_files(place), as_of=TODAY, cluster=cluster.scheduler_address, return_state=True
    )
    result = state.result(raise_on_failure=False)  # red: a row was quarantined
    assert isinstance(result, dict), result
    assert [r["status"] for r in result["ingest"]] == ["loaded"] * 3
    assert prepare_runs_completed() - prepared == 3
    # the prepares, then at least the model's 3 components and the effects' 5 x 3 x 2 folds
    assert tasks_run_by_workers(cluster) - tasks >= 3 + 3 + 30
    assert warehouse_rows(place / "warehouse.duckdb") == local_rows
    assert result["publish"]["folder"] is not None

    here = place / "trained-here"
    here.mkdir()
    shutil.copy(place / "warehouse.duckdb", here / "warehouse.duckdb")
    with settings_in(place, OVERDUE_MODELS_DIR=str(here / "models")):
        report = train_models(here / "warehouse.duckdb", get_settings())
    trained = result["train"]
    assert (report.model_version, report.metrics[ADVISING_METRICS]) == (
        trained["model_version"],
        trained["metrics"],
    )
    here_effects, there_effects = (
        effects_document(target, get_settings().k)
        for target in (here / "warehouse.duckdb", place / "warehouse.duckdb")
    )
    assert here_effects.pop("run_id") != there_effects.pop("run_id")
    assert here_effects == there_effects


@pytest.fixture(scope="module")
def large(place: Path) -> tuple[str, dict[str, list[tuple[Any, ...]]]]:
    """A 2,000-row Parquet file (a case repeated in a later range, a quarantined row near the
    end: ``parts_support``) and the tables after a local ingest of it."""
    folder = place / "large"
    folder.mkdir()
    path = large_parquet(folder, get_settings().as_of)
    target = folder / "local.duckdb"
    ingest_path(path, target, run_id="local", as_of=TODAY)
    return str(path), warehouse_rows(target)


def test_a_large_file_is_prepared_in_row_ranges_and_committed_as_one_batch(
    place: Path, cluster: LocalCluster, large: tuple[str, dict[str, list[tuple[Any, ...]]]]
) -> None:
    """With parts of 300 rows, the 2,000-row file is prepared by seven tasks on the workers and
    stored as one batch: the same tables as its local ingest (the later row of the repeated
    case wins, the quarantined row under its line in the file)."""
    path, local = large
    target = place / "rows" / "warehouse.duckdb"
    prepared = prepare_runs_completed()
    with settings_in(place, OVERDUE_PART_ROWS="300"), open_warehouse(target):
        records = ingest_files_on_cluster(
            cluster.scheduler_address, [path], str(target), "run-rows", TODAY, None
        )
    assert [(r["status"], r["batch_id"]) for r in records] == [("loaded", 1)]
    assert (records[0]["rows_read"], records[0]["rows_replaced"]) == (2_000, 1)
    assert prepare_runs_completed() - prepared == 7
    rows = warehouse_rows(target)
    assert rows == local
    assert [line for _, line, *_ in rows["quarantine"]] == [BAD_AT + 1]
    assert not any((place / "rows" / "staging").iterdir())


def exit_while_working(dask_worker: Worker) -> bool:
    """On a worker: end its process at once if it is running a task; False if it is idle."""
    if dask_worker.state.executing:
        os._exit(1)
    return False


def kill_a_working_worker(address: str, done: threading.Event) -> bool:
    """Ask the workers one at a time, until ``done``, to end if running a task
    (``exit_while_working``); True once one did (its answer is the lost connection): only
    that one, the other is never asked again."""
    with Client(address) as client:
        while not done.is_set():
            for worker in client.scheduler_info()["workers"]:
                answers = client.run(exit_while_working, workers=[worker], on_error="return")
                if isinstance(answers.get(worker), BaseException):
                    return True
    return False


def test_a_worker_killed_while_preparing_a_part_changes_nothing(
    place: Path, cluster: LocalCluster, large: tuple[str, dict[str, list[tuple[Any, ...]]]]
) -> None:
    """A worker process killed in the middle of a ``prepare`` task (of three ranges of 700
    rows): Dask runs the task again on the other worker, its Prefect task run completes, and the
    file is stored once, as by its local ingest (no row lost or doubled, one batch); the staging
    folder, the dead worker's half-written part included, is emptied. (Last in the module: the
    nanny's new worker process may still be importing the libraries.)"""
    path, local = large
    target = place / "killed" / "warehouse.duckdb"
    with Client(cluster) as client:
        before = set(client.run(os.getpid).values())
    prepared, done = prepare_runs_completed(), threading.Event()
    with settings_in(place, OVERDUE_PART_ROWS="700"), ThreadPoolExecutor(1) as pool:
        killed = pool.submit(kill_a_working_worker, cluster.scheduler_address, done)
        try:
            records = ingest_files_on_cluster(
                cluster.scheduler_address, [path], str(target), "run-killed", TODAY, None
            )
        finally:
            done.set()
        assert killed.result()
    with Client(cluster) as client:
        after = set(client.run(os.getpid).values())
    assert len(before - after) == 1  # one worker process ended (the nanny may start another)
    assert prepare_runs_completed() - prepared == 3  # the killed one's task run completed too
    assert [(r["status"], r["batch_id"], r["rows_read"]) for r in records] == [("loaded", 1, 2_000)]
    assert warehouse_rows(target) == local
    assert not any((place / "killed" / "staging").iterdir())


@pytest.fixture(scope="module")
def labelled_features() -> pl.DataFrame:
    """6,000 simulated cases' features: the effects' covariates of each fold are over the
    size (1 MB) that is sent to every worker once, not inside each task."""
    run = simulate_cases(6_000, seed=43, as_of=TODAY)
    return build_features(run.cases.lazy()).collect()


def effects_here(features: pl.DataFrame) -> list[EffectFit]:
    """The effects' AIPW fits, here, two fits at a time."""
    with fit_threads(2):
        return effect_fits(features, "y_agreement", 7)


def test_a_worker_killed_while_fitting_changes_no_effect(
    cluster: LocalCluster, labelled_features: pl.DataFrame
) -> None:
    """The effects' cross-fitting folds as tasks on the cluster, one worker process killed in
    the middle of a fit: Dask runs the fit again on the other worker (it holds the scattered
    covariates too) and every treatment's influence values, propensities and outcome
    predictions are those of the same fits here, bit for bit. (Last in the module, as the
    kill above.)"""
    here = effects_here(labelled_features)
    with Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)  # the nanny's worker from the kill above
        before = set(client.run(os.getpid).values())
        done = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            killed = pool.submit(kill_a_working_worker, cluster.scheduler_address, done)
            try:
                with fit_threads(2), fits_on_cluster(client):
                    there = effect_fits(labelled_features, "y_agreement", 7)
            finally:
                done.set()
            assert killed.result()
        after = set(client.run(os.getpid).values())
    assert len(before - after) == 1
    assert [f.fit.treatment.name for f in there] == [f.fit.treatment.name for f in here]
    for a, b in zip(here, there, strict=True):
        for name in ("phi", "propensity", "outcome", "codes", "y"):
            assert np.array_equal(getattr(a.fit, name), getattr(b.fit, name)), name
