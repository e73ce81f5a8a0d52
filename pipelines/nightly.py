"""The nightly pipeline: ingest -> features, models and effects -> report -> publish.

Prefect only orchestrates; each stage is one coarse task calling the stage's function in
``overdue``. Tasks pass paths, versions and hashes, never case rows. A stage whose inputs did
not change is skipped: the model version is a hash of the data snapshot and the model code
(derived from its source and the bundle format), the report and the published snapshot are
keyed by it; a bundle in another format is retrained, never reused. One pipeline writes at a
time (a file lock beside the warehouse); a run that fails publishes nothing, so the previous
snapshot stays current.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.runtime import flow_run

from overdue.config import Settings, get_settings
from overdue.ingest.load import ALREADY_LOADED
from overdue.ingest.read import discover_sources
from overdue.models.run import model_state
from overdue.models.run import train as train_models
from overdue.models.train import ADVISING_METRICS, TooFewCasesError
from overdue.publish import CURRENT, publish_snapshot
from overdue.reports.build import LATEST, MANIFEST, build_report
from pipelines.ingest import ingest_one, retry_on_io_error


class PipelineBusyError(RuntimeError):
    """Another pipeline run holds the warehouse."""


def _settings(overrides: dict[str, Any]) -> Settings:
    return get_settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})


def _with_retries(stage: Any, settings: Settings) -> Any:
    """The task with the configured retries on I/O errors."""
    delays = list(settings.retry_delays)
    return stage.with_options(
        retries=len(delays), retry_delay_seconds=delays, retry_condition_fn=retry_on_io_error
    )


@task(name="features, models and effects")
def train_stage(warehouse: str, overrides: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Train unless the model of this data snapshot and code is saved, latest and readable."""
    settings = _settings(overrides)
    state = model_state(Path(warehouse), settings.models_dir, settings.seed)
    if state.train_reason is None:
        return {"skipped": True, "model_version": state.model_version,
                "snapshot_hash": state.snapshot_hash}  # fmt: skip
    get_run_logger().info("training: %s", state.train_reason)
    try:
        report = train_models(Path(warehouse), settings, run_id)
    except TooFewCasesError as refusal:
        get_run_logger().warning("no model trained: %s", refusal)
        return {"skipped": True, "model_version": None, "snapshot_hash": state.snapshot_hash,
                "refused": str(refusal)}  # fmt: skip
    return {
        "skipped": False,
        "reason": state.train_reason,
        "model_version": report.model_version,
        "snapshot_hash": report.snapshot_hash,
        "bundle_path": report.bundle_path,
        "labelled": report.labelled,
        "metrics": report.metrics[ADVISING_METRICS],
    }


@task(name="report")
def report_stage(
    warehouse: str, overrides: dict[str, Any], model: str | None, new_batches: bool
) -> dict[str, Any]:
    """Build the report unless no file arrived and the latest report is of this model version
    and k (without a model it is built too: it shows the data and says why there is none)."""
    settings = _settings(overrides)
    manifest = settings.reports_dir / LATEST / MANIFEST
    if manifest.exists() and not new_batches:
        latest = json.loads(manifest.read_text(encoding="utf-8"))
        same = latest.get("model_version") == model and latest.get("k") == settings.k
        if same and model is not None:
            return {"skipped": True, "folder": str(manifest.parent), "run_id": latest["run_id"]}
    built = build_report(Path(warehouse), settings.reports_dir, k=settings.k)
    return {
        "skipped": False,
        "folder": str(built.folder),
        "run_id": built.run_id,
        "seconds": round(built.seconds, 1),
    }


@task(name="publish")
def publish_stage(
    warehouse: str, overrides: dict[str, Any], model: str | None, run_id: str
) -> dict[str, Any]:
    """Publish the read-only snapshot unless the current one is already of this model; with no
    model there is nothing to publish and the previous snapshot stays current."""
    settings = _settings(overrides)
    if model is None:
        return {"skipped": True, "folder": None}
    pointer = settings.published_dir / CURRENT
    if pointer.exists():
        current = settings.published_dir / pointer.read_text(encoding="utf-8").strip()
        manifest = current / "manifest.json"
        if manifest.exists() and json.loads(manifest.read_text())["model_version"] == model:
            return {"skipped": True, "folder": str(current)}
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    folder = publish_snapshot(Path(warehouse), settings.models_dir, settings.published_dir, run_id)
    return {"skipped": False, "folder": str(folder)}


def _summary_markdown(result: dict[str, Any]) -> str:
    ingested = result["ingest"]
    trained = result["train"]
    model_note = trained.get("refused") or (
        "reused" if trained["skipped"] else f"trained: {trained['reason']}"
    )
    lines = [
        f"# Nightly run {result['run_id']}",
        "",
        "| file | status | read | loaded | quarantined | replaced |",
        "|---|---|---:|---:|---:|---:|",
        *(
            f"| {Path(r['path']).name} | {r['status']} | {r['rows_read']} | {r['rows_loaded']} "
            f"| {r['rows_quarantined']} | {r['rows_replaced']} |"
            for r in ingested
        ),
        "",
        f"- model: `{trained['model_version']}` ({model_note})",
        f"- report: {result['report']['folder']}"
        f" ({'reused' if result['report']['skipped'] else 'built'})",
        f"- published: {result['publish']['folder']}"
        f" ({'unchanged' if result['publish']['skipped'] else 'new'})",
    ]
    return "\n".join(lines)


def _effects_table(published: str) -> list[dict[str, Any]]:
    effects = json.loads((Path(published) / "effects.json").read_text(encoding="utf-8"))
    return [
        {"approach": code, "estimate": e["estimate"], "ci_low": e["ci_low"],
         "ci_high": e["ci_high"], "n_asked": e["n_asked"], "overlap_warning": e["overlap_warning"]}
        for code, e in effects["population"].items()
    ]  # fmt: skip


@flow(name="nightly")
def nightly(
    paths: list[str] | None = None,
    warehouse: str | None = None,
    as_of: dt.date | None = None,
    k: int | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Ingest new files (the inbox by default), train if the data changed, report, publish.

    ``source`` names a source mapping (``sources/<name>.yaml``) the files are read through.
    """
    logger = get_run_logger()
    settings = get_settings()
    overrides = {"k": k}
    target = Path(warehouse) if warehouse else settings.warehouse
    sources = paths if paths is not None else [str(settings.inbox)]
    run_id = flow_run.get_id() or dt.datetime.now().strftime("run-%Y%m%d%H%M%S")
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{target}.lock")
    try:
        lock.acquire(timeout=settings.lock_wait_seconds)
    except Timeout:
        raise PipelineBusyError(
            f"another pipeline run is writing {target}; waited {settings.lock_wait_seconds} s. "
            "Try again when it finishes."
        ) from None
    try:
        files = [str(p) for p in discover_sources([s for s in sources if Path(s).exists()])]
        day = as_of or dt.date.today()
        ingest = _with_retries(ingest_one, settings)
        ingested = [ingest(f, str(target), run_id, day, source) for f in files]
        trained = _with_retries(train_stage, settings)(str(target), overrides, run_id)
        model = trained["model_version"]
        new_batches = any(r["status"] != ALREADY_LOADED for r in ingested)
        reported = _with_retries(report_stage, settings)(str(target), overrides, model, new_batches)
        published = _with_retries(publish_stage, settings)(str(target), overrides, model, run_id)
    finally:
        lock.release()
    result = {
        "run_id": run_id,
        "ingest": ingested,
        "train": trained,
        "report": reported,
        "publish": published,
    }
    create_markdown_artifact(
        _summary_markdown(result), key="nightly-summary", description="What the nightly run did"
    )
    if published["folder"]:  # no model (too few cases): nothing published, no effects
        create_table_artifact(
            _effects_table(published["folder"]),
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
    return result
