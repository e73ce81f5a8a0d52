"""Prefect flow: ingest case-record files into the warehouse, one task per file.

The logic lives in ``overdue.ingest``; this module only orchestrates. Each task ingests one file
(one batch, one transaction) and returns its counts and content hash, never rows. A task that
fails on I/O (the file is still being copied, the warehouse is open in another process) is
retried; a file that cannot be ingested at all is recorded as refused, not retried.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import Task, TaskRunNameCallbackWithParameters

from overdue import warehouse
from overdue.config import get_settings
from overdue.ingest.load import ingest_file, shown_path
from overdue.ingest.read import discover_sources
from overdue.ingest.sources import find_mapping

RETRY_DELAYS: list[float] = [2, 10, 30]


def retry_on_io_error(_task: Task[..., Any], _run: TaskRun, state: State[Any]) -> bool:
    """Retry only failures caused by I/O (OSError, incl. a locked warehouse)."""
    error = state.data
    return isinstance(error, OSError)


def ingest_run_name(parameters: dict[str, Any]) -> str:
    """The task run's name: the file's path with personal data masked, as in ``batches``."""
    return f"ingest {shown_path(Path(parameters['path']))}"


@task(
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_on_io_error,
    # cast: Prefect's protocol for a name callback taking the parameters declares a classmethod
    # that no plain function has; Prefect itself tells them apart by the argument's name.
    task_run_name=cast("TaskRunNameCallbackWithParameters", ingest_run_name),
)
def ingest_one(
    path: str, warehouse_path: str, run_id: str, as_of: dt.date, source: str | None = None
) -> dict[str, Any]:
    """Ingest one file as one batch; counts, status and SHA-256 (never rows). The path it
    returns is the masked one stored in ``batches``.

    ``source`` names the source mapping the file is read through (``sources/<name>.yaml``).
    """
    settings = get_settings()
    mapping = find_mapping(source) if source else None
    with warehouse.open_warehouse(
        Path(warehouse_path), memory_limit=settings.duckdb_memory_limit
    ) as con:
        report = ingest_file(con, Path(path), run_id=run_id, as_of=as_of, mapping=mapping)
    result: dict[str, Any] = {
        "path": str(report.path),
        "status": report.status,
        "batch_id": report.batch_id,
        "sha256": report.sha256,
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
        "rows_replaced": report.rows_replaced,
        "cases_superseded": report.cases_superseded,
        "message": report.message,
    }
    if mapping is not None:  # read = loaded + quarantined + replaced + skipped
        result |= {
            "source": report.source,
            "rows_skipped": report.rows_skipped,
            "skip_reasons": report.skip_reasons,
        }
    return result


@flow(name="ingest")
def ingest_flow(
    paths: list[str],
    warehouse_path: str | None = None,
    as_of: dt.date | None = None,
    source: str | None = None,
) -> list[dict[str, Any]]:
    """Ingest every file named by ``paths`` (files, folders, globs): one batch per file;
    with ``source``, read through that source mapping."""
    logger = get_run_logger()
    target = warehouse_path or str(get_settings().warehouse)
    run_id = str(uuid.uuid4())
    day = as_of or dt.date.today()
    results = []
    # One file after another: DuckDB lets one process write the warehouse at a time.
    for path in discover_sources(paths):
        result = ingest_one(str(path), target, run_id, day, source)
        logger.info(
            "%s: %s, read %s = loaded %s + quarantined %s + replaced %s",
            result["path"],
            result["status"],
            result["rows_read"],
            result["rows_loaded"],
            result["rows_quarantined"],
            result["rows_replaced"],
        )
        results.append(result)
    return results


if __name__ == "__main__":
    import sys

    ingest_flow(sys.argv[1:])
