"""The nightly pipeline: ingest -> features, models and effects -> report -> publish.

Prefect only orchestrates: each stage is one coarse task calling its function in
``overdue.stages``, where every decision lives (skip training, reuse the report, skip
publishing). Tasks pass paths, versions and hashes, never case rows; tasks touching I/O retry
after ``settings.retry_delays``. One writer at a time (the lock ``overdue ingest`` and
``train`` take too); a missing warehouse beside a model or snapshot of it is refused, never
made anew; a run publishes the model it trained or reused; a run that fails publishes
nothing, so the previous snapshot stays current. ``overdue run`` finds ``nightly`` through the
``overdue.flows`` entry point.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.runtime import flow_run
from prefect.states import Failed, State

from overdue import stages
from overdue.config import get_settings
from overdue.warehouse import PipelineBusyError, pipeline_lock
from pipelines.ingest import ingest_files, ready_files, store_stage, with_retries

__all__ = ["REFUSALS", "PipelineBusyError", "nightly"]

REFUSALS = "Completed with refusals"
"""The name of a run's failed end when files were refused or rows quarantined (the rest ran)."""


@task(name="features, models and effects")
def train_stage(
    warehouse: str, overrides: dict[str, Any], run_id: str, cluster: str | None = None
) -> dict[str, Any]:
    """``stages.train_unless_current``, its fits on the Dask ``cluster`` if given."""
    settings = stages.settings_with(overrides)
    return stages.train_unless_current(
        Path(warehouse), settings, run_id, get_run_logger(), cluster=cluster
    )


@task(name="report")
def report_stage(
    warehouse: str, overrides: dict[str, Any], model: str | None, new_batches: bool
) -> dict[str, Any]:
    """``stages.report_unless_current``."""
    settings = stages.settings_with(overrides)
    return stages.report_unless_current(Path(warehouse), settings, model, new_batches)


@task(name="publish")
def publish_stage(
    warehouse: str, overrides: dict[str, Any], model: str | None, run_id: str
) -> dict[str, Any]:
    """``stages.publish_unless_current``."""
    settings = stages.settings_with(overrides)
    return stages.publish_unless_current(Path(warehouse), settings, model, run_id)


@flow(name="nightly")
def nightly(
    paths: list[str] | None = None,
    warehouse: str | None = None,
    as_of: dt.date | None = None,
    k: int | None = None,
    source: str | None = None,
    cluster: str | None = None,
) -> dict[str, Any] | State[Any]:
    """Ingest new files (the inbox by default), train if the data changed, report, publish.

    Its result is what each stage did; the run ends failed (red, named "Completed with
    refusals", the result still its data) when a file was refused or rows were quarantined,
    though everything else ran and published.

    ``source`` names a source mapping (``sources/<name>.yaml``) the files are read through.
    ``cluster`` (default ``settings.dask_address``) is a Dask scheduler's address: the files
    are then prepared on that cluster and committed here (``pipelines.cluster``), and the
    training's independent fits run there (``overdue.models.parallel``).
    """
    logger = get_run_logger()
    settings = get_settings()
    overrides = {"k": k}
    target = Path(warehouse) if warehouse else settings.warehouse
    sources = paths if paths is not None else [str(settings.inbox)]
    run_id = flow_run.get_id() or dt.datetime.now().strftime("run-%Y%m%d%H%M%S")
    with pipeline_lock(target, settings.lock_wait_seconds):
        stages.refuse_a_lost_warehouse(target, settings.models_dir, settings.published_dir)
        files, waiting = ready_files(stages.files_to_ingest(sources, settings.inbox), settings)
        day = as_of or dt.date.today()
        address = cluster or settings.dask_address
        if address is None:
            ingested = ingest_files(files, str(target), run_id, day, source, settings)
        else:  # prefect-dask and distributed are imported only for a cluster
            from pipelines.cluster import ingest_files_on_cluster

            ingested = ingest_files_on_cluster(address, files, str(target), run_id, day, source)
        if settings.case_store:  # the one writer adds the committed batches to the store
            with_retries(store_stage, settings)(str(target))
        trained = with_retries(train_stage, settings)(str(target), overrides, run_id, address)
        model = trained["model_version"]
        new_batches = stages.any_new_batch(ingested)
        reported = with_retries(report_stage, settings)(str(target), overrides, model, new_batches)
        published = with_retries(publish_stage, settings)(str(target), overrides, model, run_id)
    result = {
        "run_id": run_id,
        "ingest": ingested,
        "waiting": waiting,
        "train": trained,
        "report": reported,
        "publish": published,
    }
    create_markdown_artifact(
        stages.summary_markdown(result),
        key="nightly-summary",
        description="What the nightly run did",
    )
    create_table_artifact(
        stages.files_table(ingested), key="ingested-files", description="Each file and why"
    )
    if published["folder"]:  # no model (too few cases): nothing published, no effects
        create_table_artifact(
            stages.effects_table(Path(published["folder"])),
            key="approach-effects",
            description="Adjusted agreement rate per approach",
        )
    report_page = Path(reported["folder"]).resolve() / "index.html"
    create_link_artifact(report_page.as_uri(), link_text="report", key="report")
    logger.info(
        "model %s, report %s, published %s",
        trained["model_version"],
        reported["folder"],
        published["folder"],
    )
    trouble = stages.ingest_trouble(ingested)
    if trouble is None:
        return result
    logger.warning("%s", trouble)
    return Failed(name=REFUSALS, message=trouble, data=result)
