"""Prefect flow: ingest case-record files into the warehouse, one task per file.

The logic lives in ``overdue.ingest``: files are found by ``discover_sources`` and each is
ingested by ``ingest_path`` (one batch, one transaction), the same per-file function
``overdue ingest`` loops with; this module only orchestrates. Each task returns a file's counts
and content hash, never rows. A task that fails on I/O (the file is still being copied, the
warehouse is open in another process) is retried after ``settings.retry_delays``; a file that
cannot be ingested at all is recorded as refused, not retried.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from prefect import flow, get_run_logger, task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import Task, TaskRunNameCallbackWithParameters

from overdue.config import Settings, get_settings
from overdue.ingest.load import batch_record, ingest_path, shown_path
from overdue.ingest.read import discover_sources
from overdue.ingest.sources import find_mapping

P = ParamSpec("P")
R = TypeVar("R")


def retry_on_io_error(_task: Task[..., Any], _run: TaskRun, state: State[Any]) -> bool:
    """Retry only failures caused by I/O (OSError, incl. a locked warehouse)."""
    error = state.data
    return isinstance(error, OSError)


def with_retries(stage: Task[P, R], settings: Settings) -> Task[P, R]:
    """The task with the configured retries (``settings.retry_delays``) on I/O errors."""
    delays = [float(d) for d in settings.retry_delays]
    return stage.with_options(
        retries=len(delays), retry_delay_seconds=delays, retry_condition_fn=retry_on_io_error
    )


def ingest_run_name(parameters: dict[str, Any]) -> str:
    """The task run's name: the file's path with personal data masked, as in ``batches``."""
    return f"ingest {shown_path(Path(parameters['path']))}"


# cast: Prefect's protocol for a name callback taking the parameters declares a classmethod
# that no plain function has; Prefect itself tells them apart by the argument's name.
@task(task_run_name=cast("TaskRunNameCallbackWithParameters", ingest_run_name))
def ingest_one(
    path: str, warehouse_path: str, run_id: str, as_of: dt.date, source: str | None = None
) -> dict[str, Any]:
    """``ingest_path`` on one file; its ``batch_record`` (counts, status, SHA-256, the masked
    path stored in ``batches``). ``source`` names the source mapping the file is read through
    (``sources/<name>.yaml``)."""
    mapping = find_mapping(source) if source else None
    report = ingest_path(
        Path(path),
        Path(warehouse_path),
        run_id=run_id,
        as_of=as_of,
        memory_limit=get_settings().duckdb_memory_limit,
        mapping=mapping,
    )
    return batch_record(report, mapped=mapping is not None)


def ingest_files(
    files: Sequence[str],
    warehouse_path: str,
    run_id: str,
    as_of: dt.date,
    source: str | None,
    settings: Settings,
) -> list[dict[str, Any]]:
    """One ``ingest_one`` task per file, one after another (DuckDB lets one process write the
    warehouse at a time), each retried on I/O errors; the records in order."""
    logger = get_run_logger()
    ingest = with_retries(ingest_one, settings)
    results = []
    for path in files:
        result = ingest(path, warehouse_path, run_id, as_of, source)
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


@flow(name="ingest")
def ingest_flow(
    paths: list[str],
    warehouse_path: str | None = None,
    as_of: dt.date | None = None,
    source: str | None = None,
) -> list[dict[str, Any]]:
    """Ingest every file named by ``paths`` (files, folders, globs): one batch per file;
    with ``source``, read through that source mapping."""
    settings = get_settings()
    target = warehouse_path or str(settings.warehouse)
    files = [str(p) for p in discover_sources(paths)]
    day = as_of or dt.date.today()
    return ingest_files(files, target, str(uuid.uuid4()), day, source, settings)


if __name__ == "__main__":
    import sys

    ingest_flow(sys.argv[1:])
