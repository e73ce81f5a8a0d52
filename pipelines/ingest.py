"""Prefect flow: ingest case-record files into the warehouse, one task per file.

The logic lives in ``overdue.ingest``: files are found by ``discover_sources`` and each is
ingested by ``ingest_path`` (one batch, one transaction), the same per-file function
``overdue ingest`` loops with; this module only orchestrates. Each task returns a file's counts
and content hash, never rows; a file that was refused or had rows quarantined leaves its task
red with the reason (the run goes on), and a file from the inbox is filed away into its
``processed/`` or ``refused/`` folder. A task that failed on something a wait may cure (the
warehouse open in another process, a timeout) is retried after ``settings.retry_delays``;
anything else fails at once."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.objects import TaskRun
from prefect.states import Completed, Failed, State
from prefect.tasks import Task, TaskRunNameCallbackWithParameters

from overdue.casestore import case_store, sync_warehouse
from overdue.config import Settings, get_settings
from overdue.ingest.load import REFUSED, batch_record, ingest_path, shown_path
from overdue.ingest.sources import find_mapping
from overdue.stages import (
    FileChangedError,
    can_heal,
    file_away,
    files_table,
    files_to_ingest,
    ingest_trouble,
    still_changing,
    waiting_note,
)
from overdue.warehouse import pipeline_lock

P = ParamSpec("P")
R = TypeVar("R")


def retry_if_it_can_heal(_task: Task[..., Any], _run: TaskRun, state: State[Any]) -> bool:
    """Retry only failures a wait may cure (``stages.can_heal``: a locked warehouse, a
    timeout); a wrong setting or bad data fails at once."""
    return isinstance(state.data, BaseException) and can_heal(state.data)


def with_retries(stage: Task[P, R], settings: Settings) -> Task[P, R]:
    """The task with the configured retries (``settings.retry_delays``) on what can heal."""
    delays = [float(d) for d in settings.retry_delays]
    return stage.with_options(
        retries=len(delays), retry_delay_seconds=delays, retry_condition_fn=retry_if_it_can_heal
    )


def ingest_run_name(parameters: dict[str, Any]) -> str:
    """The task run's name: the file's path with personal data masked, as in ``batches``."""
    return f"ingest {shown_path(Path(parameters['path']))}"


def file_state(record: dict[str, Any]) -> State[Any]:
    """A file's task state: failed (red in the UI, named Refused or Quarantined, with the
    reason) when the file was refused or some of its rows were quarantined, else completed;
    the record is its result either way."""
    if record["status"] == REFUSED:
        return Failed(name="Refused", message=str(record["message"]), data=record)
    if record["rows_quarantined"]:
        message = f"{record['rows_quarantined']} of {record['rows_read']} rows quarantined"
        return Failed(name="Quarantined", message=message, data=record)
    return Completed(data=record)


# cast: Prefect's protocol for a name callback taking the parameters declares a classmethod
# that no plain function has; Prefect itself tells them apart by the argument's name.
@task(task_run_name=cast("TaskRunNameCallbackWithParameters", ingest_run_name))
def ingest_one(
    path: str,
    warehouse_path: str,
    run_id: str,
    as_of: dt.date,
    source: str | None = None,
    inbox: str | None = None,
) -> State[Any]:
    """``ingest_path`` on one file; its ``batch_record`` (counts, status, SHA-256, the masked
    path stored in ``batches``) in the state ``file_state`` gives. ``source`` names the source
    mapping the file is read through (``sources/<name>.yaml``); a file in ``inbox`` is then
    filed away (``stages.file_away``)."""
    mapping = find_mapping(source) if source else None
    report = ingest_path(
        Path(path),
        Path(warehouse_path),
        run_id=run_id,
        as_of=as_of,
        memory_limit=get_settings().duckdb_memory_limit,
        mapping=mapping,
    )
    return filed_state(Path(path), batch_record(report, mapped=mapping is not None), inbox, as_of)


def filed_state(
    path: Path, record: dict[str, Any], inbox: str | None, as_of: dt.date
) -> State[Any]:
    """``file_state`` of a file's record, once a file in ``inbox`` is filed away
    (``stages.file_away``; where to, masked, in the record). A file that changed since it was
    read stays in the inbox, and the record says why (``left_in_inbox``)."""
    if inbox is not None:
        try:
            moved = file_away(path, record, Path(inbox), as_of)
        except FileChangedError as changed:
            record["filed_to"], record["left_in_inbox"] = None, str(changed)
        else:
            record["filed_to"] = None if moved is None else str(shown_path(moved))
    return file_state(record)


def ready_files(files: Sequence[str], settings: Settings) -> tuple[list[str], list[dict[str, Any]]]:
    """``files`` split into those to ingest now and those in the inbox that changed within
    ``settings.inbox_settle_seconds`` (``stages.still_changing``: maybe still uploading), left
    for the next run; each of those is logged as a warning and listed (masked path, why)."""
    settle = settings.inbox_settle_seconds
    changing = still_changing(files, settings.inbox, settle, time.time())
    waiting = [
        {"path": str(shown_path(Path(name))), "why": waiting_note(seconds, settle)}
        for name, seconds in changing.items()
    ]
    logger = get_run_logger()
    for item in waiting:
        logger.warning("%s: %s", item["path"], item["why"])
    return [f for f in files if f not in changing], waiting


def ingest_files(
    files: Sequence[str],
    warehouse_path: str,
    run_id: str,
    as_of: dt.date,
    source: str | None,
    settings: Settings,
) -> list[dict[str, Any]]:
    """One ``ingest_one`` task per file, one after another (DuckDB lets one process write the
    warehouse at a time), each retried on what can heal; the records in order. A refused file
    or quarantined rows log a warning and leave their task red; the others go on."""
    ingest = with_retries(ingest_one, settings)
    results = []
    for path in files:
        state = ingest(path, warehouse_path, run_id, as_of, source, str(settings.inbox),
                       return_state=True)  # fmt: skip
        results.append(logged_record(state))
    return results


def logged_record(state: State[Any]) -> dict[str, Any]:
    """A file task's record, its counts logged (a warning when its task is red); raises what
    stopped the task (the warehouse itself failed: the run stops)."""
    logger = get_run_logger()
    result = cast("dict[str, Any] | BaseException", state.result(raise_on_failure=False))
    if isinstance(result, BaseException):
        raise result
    counts = (
        f"read {result['rows_read']} = loaded {result['rows_loaded']} + quarantined "
        f"{result['rows_quarantined']} + replaced {result['rows_replaced']}"
    )
    if state.is_failed():
        logger.warning("%s: %s: %s (%s)", result["path"], state.name, state.message, counts)
    else:
        logger.info("%s: %s, %s", result["path"], result["status"], counts)
    if result.get("left_in_inbox"):
        logger.warning("%s", result["left_in_inbox"])
    return result


@task(name="case store")
def store_stage(warehouse_path: str) -> list[int]:
    """``casestore.sync_warehouse`` into the case store the settings name (docs/case-store.md),
    by the one writer once the batches are committed; the batches written."""
    settings = get_settings()
    store = case_store(settings)
    if store is None:
        return []
    return sync_warehouse(Path(warehouse_path), store, memory_limit=settings.duckdb_memory_limit)


@flow(name="ingest")
def ingest_flow(
    paths: list[str],
    warehouse_path: str | None = None,
    as_of: dt.date | None = None,
    source: str | None = None,
) -> list[dict[str, Any]] | State[Any]:
    """Ingest every file named by ``paths`` (files, folders, globs; the inbox as
    ``overdue.ingest.read.inbox_files`` finds it): one batch per file; with ``source``, read
    through that source mapping; under the writer lock, as a pipeline run. Ends failed (the
    records still its result) when a file was refused or rows were quarantined."""
    settings = get_settings()
    target = warehouse_path or str(settings.warehouse)
    with pipeline_lock(Path(target), settings.lock_wait_seconds):  # one writer, as `nightly`
        files, _waiting = ready_files(files_to_ingest(paths, settings.inbox), settings)
        day = as_of or dt.date.today()
        records = ingest_files(files, target, str(uuid.uuid4()), day, source, settings)
        if settings.case_store:
            with_retries(store_stage, settings)(target)
    create_table_artifact(files_table(records), key="ingested-files", description="Each file")
    trouble = ingest_trouble(records)
    return records if trouble is None else Failed(name="Refusals", message=trouble, data=records)


if __name__ == "__main__":
    import sys

    ingest_flow(sys.argv[1:])
