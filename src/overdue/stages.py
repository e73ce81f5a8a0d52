"""The nightly pipeline's stages and what each decides: skip, reuse or run.

Plain functions on paths and settings, testable without Prefect; ``pipelines/`` only wires them
into flows and tasks with retries. Each stage returns plain values (paths, versions, counts),
never case rows. A stage whose inputs did not change is skipped: the model version is a hash of
the data snapshot and the model code, the report and the published snapshot are keyed by it; a
bundle in another format is retrained, never reused. One pipeline writes at a time (a file lock
beside the warehouse).

The package never imports ``pipelines``: ``overdue run`` finds the nightly flow by its entry
point (``overdue.flows`` in ``pyproject.toml``, installed with the package), so Prefect stays in
``pipelines/`` at the edge while the CLI still runs the same flow a deployment runs.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Final

from overdue.config import Settings, get_settings
from overdue.ingest.load import ALREADY_LOADED, REFUSED, file_sha256, shown_path
from overdue.ingest.read import (
    PROCESSED,
    REFUSED_FOLDER,
    discover_sources,
    inbox_files,
    real_path,
)
from overdue.models.run import LATEST_FILE, model_state
from overdue.models.run import train as train_models
from overdue.models.train import ADVISING_METRICS, TooFewCasesError
from overdue.publish import CURRENT, publish_snapshot
from overdue.publish import MANIFEST as SNAPSHOT_MANIFEST
from overdue.reports.build import LATEST, build_report
from overdue.reports.build import MANIFEST as REPORT_MANIFEST
from overdue.warehouse import WarehouseLockedError

FLOWS: Final = "overdue.flows"
"""The entry-point group naming the pipeline's flows (``nightly``)."""
_LOG: Final = logging.getLogger(__name__)
HEALING_ERRNOS: Final = frozenset(
    {errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT, errno.ENOLCK, errno.ESTALE}
)


def flow_entry_point(name: str) -> Callable[..., Any]:
    """The flow registered as ``name`` under ``overdue.flows`` (``pipelines.nightly:nightly``)."""
    found = entry_points(group=FLOWS, name=name)
    if not found:
        raise LookupError(
            f"no flow {name!r} installed (entry point group {FLOWS}); reinstall overdue "
            "with `make setup` (it installs pipelines/ with the package)"
        )
    flow: Callable[..., Any] = next(iter(found)).load()
    return flow


def settings_with(overrides: Mapping[str, Any]) -> Settings:
    """The settings with the run's overrides (``None`` leaves a setting as it is)."""
    return get_settings().model_copy(update={k: v for k, v in overrides.items() if v is not None})


class WarehouseMissingError(RuntimeError):
    """The warehouse file is gone while a model or snapshot of it remains: a run would start an
    empty warehouse and publish a model of the sample over the real one."""


def refuse_a_lost_warehouse(warehouse: Path, models_dir: Path, published_dir: Path) -> None:
    """Raise ``WarehouseMissingError`` when ``warehouse`` does not exist but ``models_dir``
    holds a model or ``published_dir`` a snapshot (moved file, unmounted volume, a typo in
    ``OVERDUE_WAREHOUSE``); a first run (neither there) goes on and makes the warehouse."""
    if warehouse.exists():
        return
    kept = [p for p in (models_dir / LATEST_FILE, published_dir / CURRENT) if p.exists()]
    if kept:
        raise WarehouseMissingError(
            f"the warehouse {warehouse} does not exist, but {kept[0]} does: this run would "
            "start an empty warehouse and publish its model over the current one. Restore the "
            "warehouse or point OVERDUE_WAREHOUSE (--warehouse) at it; to start afresh on "
            f"purpose, move {models_dir} and {published_dir} aside first"
        )


def can_heal(error: BaseException) -> bool:
    """Whether a retry may cure ``error``: another process holding the warehouse, a timeout, a
    busy or interrupted call. A wrong setting (a folder that is a file, no permission), bad data
    or a bug fails at once: waiting does not change them."""
    if isinstance(
        error,
        WarehouseLockedError | TimeoutError | BlockingIOError | InterruptedError | ConnectionError,
    ):
        return True
    return isinstance(error, OSError) and error.errno in HEALING_ERRNOS


def files_to_ingest(sources: Sequence[str], inbox: Path | None = None) -> list[str]:
    """The files named by ``sources`` (files, folders, globs; ``inbox`` as ``inbox_files``
    finds them); a folder or file that does not exist (an inbox not made yet) is passed over,
    a glob that matches nothing is an error (``SourceError``)."""
    found: list[str] = []
    for source in sources:
        if inbox is not None and real_path(source) == real_path(inbox):
            files = inbox_files(inbox)
        elif Path(source).exists() or Path(source).is_symlink() or any(c in source for c in "*?["):
            files = discover_sources([source])
        else:
            files = []
        found += [str(p) for p in files if str(p) not in found]
    return found


def still_changing(
    files: Sequence[str], inbox: Path, settle_seconds: float, now: float
) -> dict[str, float]:
    """The files of ``files`` in ``inbox`` changed less than ``settle_seconds`` before ``now``
    (seconds since the epoch; a time up to ``settle_seconds`` ahead counts too: a writer's
    clock may run ahead, a file dated further ahead is not held back for ever), each
    with the seconds since it changed: they may still be uploading, and the run leaves them
    for the next one. Files outside the inbox, and ones without a time (a broken link, refused
    later), are never held back."""
    waiting: dict[str, float] = {}
    if settle_seconds <= 0:
        return waiting
    inside = real_path(inbox)
    for name in files:
        if inside not in real_path(name).parents:
            continue
        try:
            changed = Path(name).stat().st_mtime
        except OSError:
            continue
        if abs(now - changed) < settle_seconds:
            waiting[name] = round(now - changed, 1)
    return waiting


def waiting_note(seconds: float, settle_seconds: float) -> str:
    """Why a file was left in the inbox by ``still_changing``."""
    return (
        f"changed {max(seconds, 0):g} s ago (inbox_settle_seconds: {settle_seconds:g}), it may "
        "still be uploading; left in the inbox for the next run"
    )


CHANGED_WHILE_READ: Final = (
    "the file changed while it was read (still being written?): left in the inbox, the next "
    "run reads it again and the newest version of each case wins"
)


class FileChangedError(RuntimeError):
    """A file in the inbox is no longer the content ingest read: it is not filed away."""


def _free_name(folder: Path, name: str) -> Path:
    """``folder / name``, or ``name`` with ``-2``, ``-3``... before its suffix if taken."""
    target, count = folder / name, 1
    while target.exists():
        count += 1
        target = folder / f"{Path(name).stem}-{count}{Path(name).suffix}"
    return target


def file_away(path: Path, record: Mapping[str, Any], inbox: Path, day: dt.date) -> Path | None:
    """Move an ingested file out of ``inbox``, under its name with personal data masked (the
    name printed and logged, so what the log names is there): to ``refused/`` with
    ``<name>.reason.txt`` (the masked reason) beside it when it was refused, else to
    ``processed/<day>/``. Files outside the inbox stay where they are (``None``); nothing is
    deleted or overwritten. A file whose SHA-256 is no longer the one ingest read (the
    record's ``sha256``; still being written) stays in the inbox: ``FileChangedError``."""
    if real_path(inbox) not in real_path(path).parents:
        return None
    read = record.get("sha256")
    if read and file_sha256(path) != read:
        raise FileChangedError(f"{shown_path(path)}: {CHANGED_WHILE_READ}")
    refused = record["status"] == REFUSED
    folder = inbox / REFUSED_FOLDER if refused else inbox / PROCESSED / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, shown_path(Path(path.name)).name)
    shutil.move(path, target)
    if refused:
        note = target.with_name(f"{target.name}.reason.txt")
        note.write_text(f"{record.get('message') or REFUSED}\n", encoding="utf-8")
    return target


def any_new_batch(ingested: Sequence[Mapping[str, Any]]) -> bool:
    """Whether some file of the run was not already loaded."""
    return any(r["status"] != ALREADY_LOADED for r in ingested)


def train_unless_current(
    warehouse: Path,
    settings: Settings,
    run_id: str,
    logger: logging.Logger | logging.LoggerAdapter[Any] = _LOG,
    cluster: str | None = None,
) -> dict[str, Any]:
    """Train unless the model of this data snapshot and code is saved, latest and readable
    (its fits on the Dask ``cluster`` if given); with too few cases no model is trained and
    the refusal is returned."""
    state = model_state(
        warehouse,
        settings.models_dir,
        settings.seed,
        settings.model_max_cases,
        settings.self_check,
    )
    if state.train_reason is None:
        return {"skipped": True, "model_version": state.model_version,
                "snapshot_hash": state.snapshot_hash}  # fmt: skip
    logger.info("training: %s", state.train_reason)
    try:
        report = train_models(
            warehouse,
            settings,
            run_id,
            on_stage=lambda stage: logger.info("training: %s", stage),
            cluster=cluster,
        )
    except TooFewCasesError as refusal:
        logger.warning("no model trained: %s", refusal)
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


def reusable_report(
    reports_dir: Path, model: str | None, k: int, new_batches: bool
) -> dict[str, Any] | None:
    """The latest report (its folder and run id) when it can stand for this run: no file
    arrived and it is of this model version and k. Without a model it is never reused: it is
    built to show the data and say why there is none."""
    manifest = reports_dir / LATEST / REPORT_MANIFEST
    if model is None or new_batches or not manifest.exists():
        return None
    latest = json.loads(manifest.read_text(encoding="utf-8"))
    if latest.get("model_version") != model or latest.get("k") != k:
        return None
    return {"folder": str(manifest.parent), "run_id": latest["run_id"]}


def report_unless_current(
    warehouse: Path, settings: Settings, model: str | None, new_batches: bool
) -> dict[str, Any]:
    """Build the report unless the latest one can be reused (``reusable_report``)."""
    reused = reusable_report(settings.reports_dir, model, settings.k, new_batches)
    if reused is not None:
        return {"skipped": True, **reused}
    built = build_report(warehouse, settings.reports_dir, k=settings.k)
    return {
        "skipped": False,
        "folder": str(built.folder),
        "run_id": built.run_id,
        "seconds": round(built.seconds, 1),
    }


def current_snapshot(published_dir: Path) -> Path | None:
    """The snapshot the service serves now, if any."""
    pointer = published_dir / CURRENT
    return published_dir / pointer.read_text(encoding="utf-8").strip() if pointer.exists() else None


def current_snapshot_of(published_dir: Path, model: str) -> Path | None:
    """The current published snapshot when it is already of ``model``, else ``None``."""
    current = current_snapshot(published_dir)
    if current is None:
        return None
    manifest = current / SNAPSHOT_MANIFEST
    if manifest.exists() and json.loads(manifest.read_text())["model_version"] == model:
        return current
    return None


def publish_unless_current(
    warehouse: Path, settings: Settings, model: str | None, run_id: str
) -> dict[str, Any]:
    """Publish the read-only snapshot of ``model`` (the run's own, never whatever
    ``latest.json`` names) unless the current one is already of it; with no model there is
    nothing to publish and the previous snapshot stays current. Run under the writer lock."""
    if model is None:
        return {"skipped": True, "folder": None}
    current = current_snapshot_of(settings.published_dir, model)
    if current is not None:
        return {"skipped": True, "folder": str(current)}
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    folder = publish_snapshot(warehouse, settings.models_dir, settings.published_dir, run_id, model)
    return {"skipped": False, "folder": str(folder)}


def summary_markdown(result: Mapping[str, Any]) -> str:
    """What a nightly run did, as Markdown: one row per file, then model, report, snapshot."""
    ingested = result["ingest"]
    trained = result["train"]
    model_note = trained.get("refused") or (
        "reused" if trained["skipped"] else f"trained: {trained['reason']}"
    )
    lines = [
        f"# Nightly run {result['run_id']}",
        "",
        "| file | status | read | loaded | quarantined | replaced | why |",
        "|---|---|---:|---:|---:|---:|---|",
        *(
            f"| {Path(r['file']).name} | {r['status']} | {r['read']} | {r['loaded']} "
            f"| {r['quarantined']} | {r['replaced']} | {r['why'].replace('|', '/')} |"
            for r in files_table(ingested)
        ),
        "",
        *(f"- waiting in the inbox: {w['path']} ({w['why']})" for w in result.get("waiting", [])),
        f"- model: `{trained['model_version']}` ({model_note})",
        f"- report: {result['report']['folder']}"
        f" ({'reused' if result['report']['skipped'] else 'built'})",
        f"- published: {result['publish']['folder']}"
        f" ({'unchanged' if result['publish']['skipped'] else 'new'})",
    ]
    return "\n".join(lines)


def _why(record: Mapping[str, Any]) -> str:
    if record["status"] == REFUSED:
        return str(record["message"])
    left = f"; {record['left_in_inbox']}" if record.get("left_in_inbox") else ""
    if record["rows_quarantined"]:
        return f"rows quarantined: `overdue quarantine --batch {record['batch_id']}`{left}"
    return left.removeprefix("; ")


def files_table(ingested: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per file of a run: masked path, status, counts, why it was refused or where
    its quarantined rows' reasons are, and where it was filed."""
    return [
        {
            "file": r["path"],
            "status": r["status"],
            "read": r["rows_read"],
            "loaded": r["rows_loaded"],
            "quarantined": r["rows_quarantined"],
            "replaced": r["rows_replaced"],
            "why": _why(r),
            "filed_to": r.get("filed_to") or "",
        }
        for r in ingested
    ]


def ingest_trouble(ingested: Sequence[Mapping[str, Any]]) -> str | None:
    """One line on the files refused and the rows quarantined in a run, or ``None``."""
    refused = sum(r["status"] == REFUSED for r in ingested)
    quarantined = sum(int(r["rows_quarantined"]) for r in ingested)
    if not refused and not quarantined:
        return None
    return (
        f"{refused} file(s) refused, {quarantined} row(s) quarantined; every other row was "
        "loaded and the run went on (reasons: the ingested-files artifact, `overdue quarantine`)"
    )


def effects_table(published: Path) -> list[dict[str, Any]]:
    """The population effect per approach of a published snapshot, one row each."""
    effects = json.loads((published / "effects.json").read_text(encoding="utf-8"))
    return [
        {"approach": code, "estimate": e["estimate"], "ci_low": e["ci_low"],
         "ci_high": e["ci_high"], "n_asked": e["n_asked"], "overlap_warning": e["overlap_warning"]}
        for code, e in effects["population"].items()
    ]  # fmt: skip
