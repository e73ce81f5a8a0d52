"""Read-only snapshots of a successful run, for readers that must not touch the warehouse.

A snapshot is a folder ``<published_dir>/<run_id>/`` holding the model bundle, the effects, the
model card and a manifest with every file's SHA-256. ``<published_dir>/CURRENT`` names the
current one; it is replaced atomically (a rename) only after the new folder is complete,
so a reader sees either the old snapshot or the new one, never half of one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from overdue.models.registry import Bundle, load_bundle
from overdue.models.run import effects_document, latest_bundle_folder

CURRENT: Final = "CURRENT"
MODEL_DIR: Final = "model"
KNOWN_LIMITS: Final = (
    "Observational data: who asks for which approach depends on their situation. Effects are "
    "adjusted for the recorded context and preparation, not for anything unrecorded.",
    "Estimates describe past cases like this one; lenders' policies change.",
    "Where few similar cases asked for an approach (thin data), the estimate leans on the model.",
    "Plan terms (term, payment, upfront) are not model inputs; the approach stands in for them.",
    "Per-case 95% intervals show the model's statistical uncertainty only; on simulated data "
    "with known truth they covered the true chance about 88% of the time.",
    "No published number rests on fewer than k cases.",
)


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
        "cases": meta.get("cases"),
        "labelled_cases": meta.get("labelled"),
        "split_sizes": meta.get("sizes"),
        "metrics": meta.get("metrics"),
        "calibration": diagnostics.get("reliability", []),
        "drivers": diagnostics.get("drivers", []),
        "k": meta.get("k"),
        "known_limits": list(KNOWN_LIMITS),
    }


def publish_snapshot(warehouse: Path, models_dir: Path, published_dir: Path, run_id: str) -> Path:
    """Write the snapshot of ``run_id`` and make it current; returns its folder."""
    source = latest_bundle_folder(models_dir)
    bundle = load_bundle(source)
    effects = effects_document(warehouse)
    folder = published_dir / run_id
    staging = published_dir / f".{run_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging / MODEL_DIR)
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
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    pointer = published_dir / f".{CURRENT}.tmp"
    pointer.write_text(run_id + "\n", encoding="utf-8")
    pointer.replace(published_dir / CURRENT)  # atomic on POSIX
    return folder


def current_snapshot_path(published_dir: Path) -> Path:
    """The folder of the current snapshot."""
    pointer = published_dir / CURRENT
    if not pointer.exists():
        raise FileNotFoundError(
            f"nothing published in {published_dir}; run the pipeline (`overdue run`) first"
        )
    return published_dir / pointer.read_text(encoding="utf-8").strip()


def load_snapshot(folder: Path) -> Snapshot:
    """Load a published snapshot (bundle with its type allow-list, effects, model card)."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return Snapshot(
        path=folder,
        manifest=manifest,
        bundle=load_bundle(folder / MODEL_DIR),
        effects=json.loads((folder / "effects.json").read_text(encoding="utf-8")),
        model_card=json.loads((folder / "model_card.json").read_text(encoding="utf-8")),
    )
