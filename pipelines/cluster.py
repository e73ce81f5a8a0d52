"""The nightly flow's ingest on a Dask cluster, through prefect-dask's ``DaskTaskRunner``.

Used only when a cluster is named (``overdue run --cluster ADDRESS`` or
``OVERDUE_DASK_ADDRESS``); without one, ``pipelines.ingest.ingest_files`` runs as before.
The ``ingest on cluster`` subflow runs on a ``DaskTaskRunner`` connected to the cluster: one
``prepare`` task per file, or per row range of a Parquet file of more than ``part_rows`` rows
(``overdue.ingest.parts.row_ranges``), runs on a worker (``prepare_part``: read, normalise,
validate, screen for personal data, write a Parquet part into the staging folder beside the
warehouse) and passes back the part's folder, counts and hash; then the flow's own process, the
one writer, commits the files in order, all parts of a file as one batch in one transaction
(``commit_parts``). Workers are never given the warehouse's path.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from prefect import flow, task, unmapped
from prefect.client.orchestration import get_client
from prefect.futures import PrefectFuture
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import State
from prefect.task_runners import TaskRunner
from prefect.tasks import TaskRunNameCallbackWithParameters
from prefect_dask import DaskTaskRunner

from overdue.config import get_settings
from overdue.ingest.load import batch_record, shown_path
from overdue.ingest.parts import (
    PreparedPart,
    RowRange,
    commit_parts,
    known_contents,
    prepare_part,
    remove_parts,
    row_ranges,
)
from overdue.ingest.sources import SourceMapping, find_mapping
from overdue.warehouse import open_warehouse
from pipelines.ingest import filed_state, logged_record, with_retries

STAGING: str = "staging"
"""The folder beside the warehouse where workers write parts (shared by every worker)."""


def staging_folder(warehouse_path: Path, run_id: str) -> Path:
    """Where the parts of one run are written: ``<warehouse's folder>/staging/<run id>``."""
    return warehouse_path.resolve().parent / STAGING / run_id


def prepare_run_name(parameters: dict[str, Any]) -> str:
    """The task run's name: the file's path with personal data masked, and its rows if a range
    (numbered from 1)."""
    rows: RowRange | None = parameters.get("rows")
    shown = f" rows {rows.start + 1}-{rows.stop}" if rows else ""
    return f"prepare {shown_path(Path(parameters['path']))}{shown}"


def commit_run_name(parameters: dict[str, Any]) -> str:
    """The task run's name: the file's path with personal data masked."""
    return f"commit {shown_path(Path(parameters['path']))}"


# cast: as in pipelines.ingest, Prefect's protocol for a name callback is a classmethod.
@task(task_run_name=cast("TaskRunNameCallbackWithParameters", prepare_run_name))
def prepare_one(
    path: str,
    staging: str,
    run_id: str,
    as_of: dt.date,
    known: frozenset[str],
    mapping: SourceMapping | None,
    rows: RowRange | None,
) -> PreparedPart:
    """``prepare_part`` on one file or row range, on a worker."""
    return prepare_part(
        Path(path),
        Path(staging),
        run_id=run_id,
        as_of=as_of,
        known=known,
        memory_limit=get_settings().duckdb_memory_limit,
        mapping=mapping,
        rows=rows,
    )


@task(task_run_name=cast("TaskRunNameCallbackWithParameters", commit_run_name))
def commit_one(
    path: str,
    parts: list[PreparedPart],
    warehouse_path: str,
    as_of: dt.date,
    inbox: str | None,
    mapped: bool,
) -> State[Any]:
    """``commit_parts`` of ``path``'s parts in the flow's process, the parts then deleted; the
    file's state as ``ingest_one`` gives it (a file in ``inbox`` filed away)."""
    settings = get_settings()
    with open_warehouse(Path(warehouse_path), memory_limit=settings.duckdb_memory_limit) as con:
        report = commit_parts(con, parts)
    remove_parts(parts)
    return filed_state(Path(path), batch_record(report, mapped=mapped), inbox, as_of)


@flow(name="ingest on cluster")
def ingest_on_cluster(
    files: list[str], warehouse_path: str, run_id: str, as_of: dt.date, source: str | None
) -> list[dict[str, Any]]:
    """Prepare every file (every row range of a large Parquet file) on the cluster, then
    commit the files here one after another."""
    settings = get_settings()
    mapping = find_mapping(source) if source else None
    with open_warehouse(Path(warehouse_path), memory_limit=settings.duckdb_memory_limit) as con:
        known = known_contents(con, mapping)
    staging = staging_folder(Path(warehouse_path), run_id)
    prepare = with_retries(prepare_one, settings)
    commit = with_retries(commit_one, settings)
    jobs = [(path, rows) for path in files for rows in row_ranges(Path(path), settings.part_rows)]
    futures = prepare.map(
        [path for path, _ in jobs], unmapped(str(staging)), unmapped(run_id), unmapped(as_of),
        unmapped(known), unmapped(mapping), [rows for _, rows in jobs],
    )  # fmt: skip
    by_file: dict[str, list[PrefectFuture[PreparedPart]]] = {path: [] for path in files}
    for (path, _), future in zip(jobs, futures, strict=True):
        by_file[path].append(future)
    inbox, mapped = str(settings.inbox), mapping is not None
    records = []
    try:
        for path, file_futures in by_file.items():
            parts = [future.result() for future in file_futures]
            state = commit(path, parts, warehouse_path, as_of, inbox, mapped, return_state=True)
            records.append(logged_record(state))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return records


def ingest_files_on_cluster(
    address: str,
    files: Sequence[str],
    warehouse_path: str,
    run_id: str,
    as_of: dt.date,
    source: str | None,
) -> list[dict[str, Any]]:
    """``pipelines.ingest.ingest_files``, with the files prepared on the Dask cluster at
    ``address`` (``ingest_on_cluster`` as a subflow on a ``DaskTaskRunner``)."""
    # cast: Flow.with_options types the runner's futures invariantly; Dask's are Prefect's
    runner = cast("TaskRunner[PrefectFuture[Any]]", DaskTaskRunner(address=address))
    on_cluster = ingest_on_cluster.with_options(task_runner=runner)
    with temporary_settings({PREFECT_API_URL: reported_to()}):
        return on_cluster(list(files), warehouse_path, run_id, as_of, source)


def reported_to() -> str:
    """The Prefect API this process reports to, given to the workers' task runs with the
    settings (else each worker would start a temporary server of its own): the temporary
    server's address when ``overdue run`` started one, reachable only from this machine."""
    with get_client(sync_client=True) as client:
        return str(client.api_url)
