"""Read-only snapshots of a successful run, for readers that must not touch the warehouse.

A snapshot is a folder ``<published_dir>/<run_id>/`` holding the model bundle, the effects, the
model card and a manifest with every file's SHA-256. ``<published_dir>/CURRENT`` names the
current one; it is replaced atomically (a rename) only after the new folder is complete,
so a reader sees either the old snapshot or the new one, never half of one.

Readers trust nothing they did not check: ``CURRENT`` must name a folder directly inside
``published_dir`` (a plain run id, never a path), and a snapshot is loaded only when its files
are exactly those its manifest lists, each with the listed SHA-256. The manifest guards against
edits and corruption, not against someone able to rewrite the manifest too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import polars as pl

from overdue.contract import APPROACHES
from overdue.models.bundle_file import simulated
from overdue.models.policy import PolicyRow
from overdue.models.registry import Bundle, load_bundle
from overdue.models.run import OUTCOME
from overdue.reports.content import (
    effects_protection,
    effects_table,
    policy_shown,
    refutations_shown,
    sensitivity_shown,
    subgroup_sizes_shown,
)
from overdue.reports.suppression import Protection
from overdue.warehouse import open_warehouse, write_failure

CURRENT: Final = "CURRENT"
MODEL_DIR: Final = "model"
MANIFEST: Final = "manifest.json"
SNAPSHOT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A run id as a snapshot folder's name: a plain name, never a path."""
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
KNOWN_LIMITS: Final = (
    "Observational data: who asks for which approach depends on their situation. Effects are "
    "adjusted for the recorded context and preparation, not for anything unrecorded.",
    "Estimates describe past cases like this one; lenders' policies change.",
    "Where few similar cases asked for an approach (thin data), the estimate leans on the model.",
    "Plan terms (term, payment, upfront) are not model inputs; the approach stands in for them.",
    "Per-case 95% intervals add to the model's statistical uncertainty the error the self-check "
    "measured on planted outcomes; on simulated worlds with known truth they covered the true "
    "chance 92-97% of the time in 16 of 17 worlds (86% in the hardest). They do not cover a "
    "change of the world after the training period or cases unlike any in the data.",
    "The self-check's numbers come from outcomes planted on a subsample of these cases: they "
    "show how the method behaves on cases shaped like these, refitted at that smaller size, "
    "not how right it is about real outcomes.",
    "No published number rests on fewer than k cases.",
)


STAGING: Final = ".{}.partial"
"""A snapshot's folder while it is written (``.<run_id>.partial``), renamed when complete."""


class SnapshotWriteError(OSError):
    """The snapshot could not be written (disk full, quota, read-only file system)."""


class SnapshotError(ValueError):
    """A published snapshot that must not be served; the message names no absolute path."""


@dataclass(frozen=True)
class Snapshot:
    """A published run, loaded."""

    path: Path
    manifest: dict[str, Any]
    bundle: Bundle
    effects: dict[str, Any]
    model_card: dict[str, Any]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_card(bundle: Bundle) -> dict[str, Any]:
    """What the model is, what it was trained on, how good it is and what it cannot do."""
    meta = bundle.metadata
    diagnostics = meta.get("diagnostics", {})
    return {
        "model_version": bundle.version,
        "run_id": meta.get("run_id"),
        "trained_at": meta.get("trained_at"),
        "outcome": meta.get("outcome"),
        "data_snapshot_hash": meta.get("snapshot_hash"),
        "data_period": meta.get("period"),
        "data_sources": meta.get("sources"),
        "simulated": simulated(meta.get("sources")),
        "cases": meta.get("cases"),
        "labelled_cases": meta.get("labelled"),
        "model_cases": meta.get("model_cases", meta.get("labelled")),
        "split_sizes": meta.get("sizes"),
        "model_choice": meta.get("choice"),
        "metrics": meta.get("metrics"),
        "calibration": diagnostics.get("reliability", []),
        "drivers": diagnostics.get("drivers", []),
        "self_check": meta.get("self_check"),
        "k": meta.get("k"),
        "known_limits": list(KNOWN_LIMITS),
    }


def adjustment_removed(naive: float | None, adjusted: float | None) -> float | None:
    """The observed rate minus the adjusted one: what adjusting for the covariates removed
    (positive when the cases that took the level would have agreed more often anyway)."""
    return None if naive is None or adjusted is None else round(naive - adjusted, 4)


def _entry(row: dict[str, Any], protection: Protection, sizes: set[str]) -> dict[str, Any]:
    """One published cell: its numbers only where the k rule and complementary suppression
    let them be shown (``overdue.reports.content.effects_protection``)."""
    key = (row["treatment"], row["level"], row["subgroup"])
    shown = protection.count_shown(key)
    naive = row.get("naive") if shown and protection.rate_shown(key) else None
    return {
        "estimate": row["estimate"] if shown else None,
        "naive": naive,
        "difference": adjustment_removed(naive, row["estimate"]),
        "ci_low": row["ci_low"] if shown else None,
        "ci_high": row["ci_high"] if shown else None,
        "n": row["n"] if row["subgroup"] in sizes else None,
        "n_asked": row["n_treated"] if shown else None,
        "overlap_warning": row["overlap_flag"],
        "suppressed": not shown,
    }


def _policy_published(rows: list[dict[str, Any]] | None, k: int) -> list[dict[str, Any]] | None:
    """Every stored policy row, its numbers only where they rest on k cases, k that followed
    the advice, k agreements and k refusals (as the report shows them)."""
    shown = policy_shown(rows, k)
    if rows is None or shown is None:
        return None
    kept = {(r["policy"], r["subgroup"]) for r in shown}
    numbers = [f.name for f in fields(PolicyRow) if f.name not in ("policy", "subgroup")]
    return [
        r
        if (r["policy"], r["subgroup"]) in kept
        else {**r, **dict.fromkeys(numbers), "suppressed": True}
        for r in rows
    ]


def effects_document(warehouse: Path, k: int, model_version: str | None = None) -> dict[str, Any]:
    """The latest run's effects (of ``model_version`` when given) as the JSON outside tools
    read (``overdue effects --json``): per approach and lever level the adjusted rate
    (``estimate``) with its interval, the observed rate (``naive``) and ``difference`` (naive -
    adjusted); ``sensitivity``: one row per headline contrast
    (``overdue.models.sensitivity.SensitivityRow``); ``refutations``
    (``overdue.models.refute.Refutation``) and ``policy_value``
    (``overdue.models.policy.PolicyRow``); each None for a run trained before it was stored.
    Published as the report publishes them: no number on fewer than ``k`` cases, and none that
    the others would give away (complementary suppression along subgroup families)."""
    with open_warehouse(warehouse, read_only=True) as con:
        columns = {
            str(r[0])
            for r in con.execute("SELECT column_name FROM (DESCRIBE model_runs)").fetchall()
        }
        stored = ", ".join(
            c if c in columns else f"NULL AS {c}"
            for c in ("sensitivity", "refutations", "policy_value")
        )
        of_model = "" if model_version is None else "WHERE model_version = ? "
        runs = con.execute(
            f"SELECT model_version, run_id, {stored} FROM model_runs {of_model}"
            "ORDER BY trained_at DESC LIMIT 1",
            [] if model_version is None else [model_version],
        ).fetchall()
        if not runs:
            which = "" if model_version is None else f" {model_version}"
            raise LookupError(f"no trained model{which} in {warehouse}; run `overdue train` first")
        rows = con.sql(
            "SELECT * FROM approach_effects WHERE model_version = ? AND run_id = ?",
            params=list(runs[0][:2]),
        ).pl()
    latest = runs[0]
    saved = [json.loads(value) if value is not None else None for value in latest[2:5]]
    if "naive" not in rows.columns:  # warehouses older than migration 5
        rows = rows.with_columns(naive=pl.lit(None, pl.Float64), n_agreed=pl.lit(None, pl.Int64))
    protection, sizes = effects_protection(rows, k), subgroup_sizes_shown(rows, k)
    shown = sensitivity_shown(saved[0], effects_table(rows, k, None, show_counts=False), k)
    document: dict[str, Any] = {
        "model_version": latest[0],
        "run_id": latest[1],
        "outcome": OUTCOME,
        "population": {},
        "subgroups": {},
        "levers": {},
        "sensitivity": shown,
        "refutations": refutations_shown(saved[1], k),
        "policy_value": _policy_published(saved[2], k),
    }
    for row in rows.iter_rows(named=True):
        entry = _entry(row, protection, sizes)
        if row["treatment"] == "approach":
            if row["subgroup"] == "population":
                document["population"][row["level"]] = entry
            else:
                document["subgroups"].setdefault(row["subgroup"], {})[row["level"]] = entry
        elif row["subgroup"] == "population":
            document["levers"].setdefault(row["treatment"], {})[row["level"]] = entry
    document["population"] = {
        a: document["population"][a] for a in APPROACHES if a in document["population"]
    }
    return document


def publish_snapshot(
    warehouse: Path, models_dir: Path, published_dir: Path, run_id: str, model_version: str
) -> Path:
    """Write the snapshot of ``run_id`` holding the bundle ``model_version`` (the run's own
    model, not whatever ``latest.json`` names now) and make it current; returns its folder.

    Call it under the writer lock (``overdue.warehouse.pipeline_lock``): it first removes
    staging folders left by killed publishes, then removes its own on any failure; a full
    disk is one line (``SnapshotWriteError``). ``CURRENT`` changes only once all is written."""
    snapshot_name(run_id)
    source = models_dir / model_version
    bundle = load_bundle(source)
    effects = effects_document(warehouse, int(bundle.metadata["k"]), bundle.version)  # as trained
    for stale in stale_staging(published_dir):
        shutil.rmtree(stale, ignore_errors=True)
    staging = published_dir / STAGING.format(run_id)
    try:
        _write_snapshot(source, staging, bundle, effects, run_id)
        folder = published_dir / run_id
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        pointer = published_dir / f".{CURRENT}.tmp"
        pointer.write_text(run_id + "\n", encoding="utf-8")
        pointer.replace(published_dir / CURRENT)  # atomic on POSIX
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        what = write_failure(error)
        if what is None:
            raise
        raise SnapshotWriteError(
            f"could not write the snapshot in {published_dir} ({what}); its partial copy was "
            "removed and nothing new was published. Free disk space and run the pipeline again"
        ) from None
    return folder


def stale_staging(published_dir: Path) -> list[Path]:
    """Staging folders (``.<run_id>.partial``) a killed or failed publish left behind; under
    the writer lock no other publish is writing one."""
    if not published_dir.is_dir():
        return []
    found = published_dir.glob(STAGING.format("*"))
    return sorted(p for p in found if p.is_dir() and not p.is_symlink())


def _copy_files(source: Path, target: Path) -> None:
    """``source``'s files and folders copied into the new folder ``target``; the first error
    raised as it is, its errno kept (``shutil.copytree`` gathers them into one list)."""
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*")):
        copy = target / path.relative_to(source)
        if path.is_dir():
            copy.mkdir(exist_ok=True)
        else:
            shutil.copy2(path, copy)


def _write_snapshot(
    source: Path, staging: Path, bundle: Bundle, effects: dict[str, Any], run_id: str
) -> None:
    """The snapshot's files in ``staging``: the bundle, effects, model card and manifest."""
    shutil.rmtree(staging, ignore_errors=True)
    _copy_files(source, staging / MODEL_DIR)
    (staging / "effects.json").write_text(
        json.dumps(effects, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (staging / "model_card.json").write_text(
        json.dumps(model_card(bundle), ensure_ascii=False, indent=2, default=str) + "\n",
        encoding="utf-8",
    )
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    manifest = {
        "run_id": run_id,
        "model_version": bundle.version,
        "data_snapshot_hash": bundle.metadata.get("snapshot_hash"),
        "published_at": dt.datetime.now().isoformat(timespec="seconds"),
        "files": {str(p.relative_to(staging)): _sha256(p) for p in files},
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def snapshot_name(text: str) -> str:
    """``text`` when it can name a snapshot folder (a plain run id), else ``SnapshotError``."""
    if not SNAPSHOT_NAME.fullmatch(text):
        raise SnapshotError(
            "a snapshot is named by a run id (letters, digits, '.', '-', '_'; no path): "
            f"{CURRENT} holds something else; publish again (`overdue run`)"
        )
    return text


def current_snapshot_path(published_dir: Path) -> Path:
    """The folder ``CURRENT`` names: always a direct child of ``published_dir``."""
    pointer = published_dir / CURRENT
    if not pointer.exists():
        raise FileNotFoundError(
            f"nothing published in {published_dir}; run the pipeline (`overdue run`) first"
        )
    name = snapshot_name(pointer.read_text(encoding="utf-8").strip())
    folder = published_dir / name
    if folder.is_symlink() or folder.resolve().parent != published_dir.resolve():
        raise SnapshotError(f"snapshot {name} is a link out of the published folder; refused")
    return folder


def verified_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a snapshot folder, once every file matches it exactly.

    Every file the manifest lists must exist with its SHA-256, and no other file (nor any link)
    may be in the folder: an edited, missing or added file refuses the whole snapshot.
    """
    name = folder.name
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SnapshotError(f"snapshot {name} has no readable {MANIFEST}; refused") from None
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(v)
        for k, v in listed.items()
    ):
        raise SnapshotError(f"snapshot {name}: {MANIFEST} lists no files with SHA-256s; refused")
    present = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise SnapshotError(f"snapshot {name}: {relative} is a link; refused")
        if path.is_file() and relative != MANIFEST:
            present[relative] = path
    unlisted = sorted(set(present) - set(listed))
    if unlisted:
        raise SnapshotError(f"snapshot {name}: {unlisted[0]} is not in its {MANIFEST}; refused")
    missing = sorted(set(listed) - set(present))
    if missing:
        raise SnapshotError(f"snapshot {name}: {missing[0]} is missing; refused")
    changed = [r for r, path in sorted(present.items()) if _sha256(path) != listed[r]]
    if changed:
        raise SnapshotError(
            f"snapshot {name}: {changed[0]} does not match its SHA-256 in {MANIFEST}; refused"
        )
    return manifest


def load_snapshot(folder: Path) -> Snapshot:
    """Load a published snapshot (bundle with its type allow-list, effects, model card) once
    its files match its manifest."""
    manifest = verified_manifest(folder)
    return Snapshot(
        path=folder,
        manifest=manifest,
        bundle=load_bundle(folder / MODEL_DIR),
        effects=json.loads((folder / "effects.json").read_text(encoding="utf-8")),
        model_card=json.loads((folder / "model_card.json").read_text(encoding="utf-8")),
    )
