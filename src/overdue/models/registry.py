"""Model bundles on disk: estimators in skops format (no arbitrary pickles) plus metadata JSON.

Every bundle records its ``bundle_format``; a bundle of another format is refused before any of
its estimators is read (``StaleBundleError``), so new code never unpickles an old layout.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import json
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import skops.io as sio

from overdue.models.bundle_file import METADATA_FILE
from overdue.models.design import Design
from overdue.models.selfcheck import result_layout
from overdue.models.train import OutcomeModel

ESTIMATORS_FILE: Final = "estimators.skops"
ESTIMATORS: Final = (
    "advising",
    "boosting",
    "stack",
    "covariance",
    "baseline",
    "sustain",
    "sustain_covariance",
)
"""The ``OutcomeModel`` attributes saved in the skops file, under these names."""
TRUSTED_TYPES: Final = frozenset(
    {
        "numpy.dtype",
        "overdue.models.design.Boosting",
        "overdue.models.design.CategoryLookup",
        "overdue.models.design.SplineBasis",
        "overdue.models.design.Design",
        "scipy._lib.array_api_compat.numpy._aliases.asarray",
        "scipy.interpolate._bsplines.BSpline",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)
"""Types beyond skops' defaults that our bundles contain; a file asking for any other is refused."""
BUNDLE_LIBRARIES: Final = ("numpy", "scipy", "scikit-learn", "skops")
"""Libraries whose objects the skops file holds: scikit-learn does not promise that an estimator
saved by one version loads in another, and scipy's and numpy's internal type paths (see
``TRUSTED_TYPES``) move between versions."""


class UntrustedBundleError(ValueError):
    """A bundle file asks to load types we did not put there."""


class StaleBundleError(ValueError):
    """A bundle was written in another bundle format (older code or other library versions)."""


class DamagedBundleError(ValueError):
    """A bundle's files are missing, cut short or unreadable: train again."""


def library_versions() -> dict[str, str]:
    """The installed version of each of ``BUNDLE_LIBRARIES``."""
    return {name: importlib.metadata.version(name) for name in BUNDLE_LIBRARIES}


def _our_class_source(qualified: str) -> str:
    module, _, name = qualified.rpartition(".")
    source = inspect.getsource(getattr(importlib.import_module(module), name))
    return source.replace("\r\n", "\n")  # the same on every checkout


def bundle_layout() -> dict[str, Any]:
    """What decides whether a bundle can be read back: the estimator names, the trusted types,
    the fields ``load_bundle`` rebuilds, the source of our own classes stored in the skops file,
    the layout of the self-check in its metadata and the versions of the libraries whose
    objects it holds."""
    return {
        "estimators": list(ESTIMATORS),
        "trusted_types": sorted(TRUSTED_TYPES),
        "model_fields": [f.name for f in fields(OutcomeModel)],
        "our_classes": {
            name: _our_class_source(name)
            for name in sorted(TRUSTED_TYPES)
            if name.startswith("overdue.")
        },
        "self_check": result_layout(),
        "libraries": library_versions(),
    }


def bundle_format(layout: dict[str, Any]) -> str:
    """A short name for a bundle layout: equal layouts give equal names on every machine."""
    text = json.dumps(layout, sort_keys=True, ensure_ascii=True)
    return "b-" + hashlib.sha256(text.encode()).hexdigest()[:12]


BUNDLE_FORMAT: Final = bundle_format(bundle_layout())
"""The format this code writes and the only one it reads. Derived, never bumped by hand: changing
what a bundle holds, our stored classes or a library version changes it."""


@dataclass(frozen=True)
class Bundle:
    """A loaded model bundle: the outcome model and its metadata."""

    model: OutcomeModel
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        """The model version."""
        return str(self.metadata["model_version"])


def save_bundle(model: OutcomeModel, metadata: dict[str, Any], folder: Path) -> Path:
    """Write ``model`` and ``metadata`` into ``folder`` (created); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    estimators = folder / ESTIMATORS_FILE
    sio.dump({name: getattr(model, name) for name in ESTIMATORS}, estimators)
    document = {
        **metadata,
        "estimators_bytes": estimators.stat().st_size,
        "estimators_sha256": hashlib.sha256(estimators.read_bytes()).hexdigest(),
        "bundle_format": BUNDLE_FORMAT,
        "libraries": library_versions(),
        "label": model.label,
        "features": list(model.design.features),
        "metrics": model.metrics,
        "period": model.period,
        "sizes": model.sizes,
        "choice": model.choice,
        "interval_spread": model.interval_spread,
        **model.extra,
    }
    (folder / METADATA_FILE).write_text(
        json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    return folder


def read_bundle_metadata(folder: Path) -> dict[str, Any]:
    """The bundle's metadata; refuses (``StaleBundleError``) a bundle of another format."""
    path = folder / METADATA_FILE
    if not path.exists():
        raise FileNotFoundError(f"no model bundle in {folder}; run `overdue train` first")
    retrain = "Retrain with `overdue run` (or `overdue train`) and publish again."
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StaleBundleError(f"{path} is not readable JSON. {retrain}") from None
    found = metadata.get("bundle_format") if isinstance(metadata, dict) else None
    if found is None:
        raise StaleBundleError(
            f"{path} has no bundle_format: it was written by an older version of overdue "
            f"whose bundles this version cannot read. {retrain}"
        )
    if found != BUNDLE_FORMAT:
        then, now = metadata.get("libraries") or {}, library_versions()
        changed = ", ".join(
            f"{name} {then[name]} (now {now[name]})"
            for name in BUNDLE_LIBRARIES
            if name in then and then[name] != now[name]
        )
        raise StaleBundleError(
            f"{path} is in bundle format {found}; this version of overdue reads only "
            f"{BUNDLE_FORMAT}{f' (the bundle was written with {changed})' if changed else ''}. "
            f"{retrain}"
        )
    return metadata


def bundle_incomplete(folder: Path) -> str | None:
    """What is missing or cut short in the bundle in ``folder`` (cheap: the files' presence and
    the estimators' size against the one its metadata records); None when it looks whole."""
    meta, estimators = folder / METADATA_FILE, folder / ESTIMATORS_FILE
    if not meta.is_file():
        return f"{meta} is missing"
    if not estimators.is_file():
        return f"{estimators} is missing"
    try:
        metadata = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return f"{meta} is not readable JSON"
    size = estimators.stat().st_size
    recorded = metadata.get("estimators_bytes") if isinstance(metadata, dict) else None
    if size == 0 or (isinstance(recorded, int) and size != recorded):
        return f"{estimators} is {size:,} bytes where the bundle records {recorded or 'more'}"
    return None


def load_bundle(folder: Path) -> Bundle:
    """Read a bundle back: refuses another bundle format before reading any estimator, and any
    estimator type outside ``TRUSTED_TYPES``; a missing or damaged estimators file raises
    ``DamagedBundleError`` naming it."""
    metadata = read_bundle_metadata(folder)
    path = folder / ESTIMATORS_FILE
    retrain = "run `overdue train` (or `overdue run`) to train the model again"
    if why := bundle_incomplete(folder):
        raise DamagedBundleError(f"the model bundle is incomplete: {why}; {retrain}")
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as error:
        raise DamagedBundleError(
            f"{path} cannot be read ({type(error).__name__}): it looks damaged; {retrain}"
        ) from None
    recorded = metadata.get("estimators_sha256")
    if recorded and hashlib.sha256(path.read_bytes()).hexdigest() != recorded:
        raise DamagedBundleError(
            f"{path} does not match the SHA-256 its bundle.json records: it was changed or "
            f"damaged; {retrain}"
        )
    unexpected = untrusted - TRUSTED_TYPES
    if unexpected:
        raise UntrustedBundleError(
            f"{path} asks to load types we never save: {sorted(unexpected)}; refusing to load it"
        )
    try:
        estimators = sio.load(path, trusted=sorted(untrusted))
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as error:
        raise DamagedBundleError(
            f"{path} cannot be read ({type(error).__name__}): it looks damaged; {retrain}"
        ) from None
    extra: dict[str, Any] = {
        key: metadata[key]
        for key in ("similar_cases", "reference", "drivers", "typical_plans", "sustain")
        if key in metadata
    }
    model = OutcomeModel(
        design=Design(tuple(metadata["features"])),
        label=metadata["label"],
        **{name: estimators[name] for name in ESTIMATORS},
        metrics=metadata["metrics"],
        period=metadata["period"],
        sizes=metadata["sizes"],
        choice=metadata["choice"],
        interval_spread=float(metadata["interval_spread"]),
        extra=extra,
    )
    return Bundle(model, metadata)
