"""Model bundles on disk: estimators in skops format (no arbitrary pickles) plus metadata JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import skops.io as sio

from overdue.models.design import Design
from overdue.models.train import OutcomeModel

ESTIMATORS_FILE: Final = "estimators.skops"
METADATA_FILE: Final = "bundle.json"
TRUSTED_TYPES: Final = frozenset(
    {
        "numpy.dtype",
        "overdue.models.design.ApproachInteractions",
        "overdue.models.design.Design",
        "scipy._lib.array_api_compat.numpy._aliases.asarray",
        "scipy.interpolate._bsplines.BSpline",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
    }
)
"""Types beyond skops' defaults that our bundles contain; a file asking for any other is refused."""


class UntrustedBundleError(ValueError):
    """A bundle file asks to load types we did not put there."""


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
    sio.dump(
        {
            "calibrated": model.calibrated,
            "covariance": model.covariance,
            "baseline": model.baseline,
        },
        folder / ESTIMATORS_FILE,
    )
    document = {
        **metadata,
        "label": model.label,
        "features": list(model.design.features),
        "metrics": model.metrics,
        "period": model.period,
        "sizes": model.sizes,
        **model.extra,
    }
    (folder / METADATA_FILE).write_text(
        json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    return folder


def load_bundle(folder: Path) -> Bundle:
    """Read a bundle back, refusing any estimator type outside ``TRUSTED_TYPES``."""
    path = folder / ESTIMATORS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no model bundle in {folder}; run `overdue train` first")
    untrusted = set(sio.get_untrusted_types(file=path))
    unexpected = untrusted - TRUSTED_TYPES
    if unexpected:
        raise UntrustedBundleError(
            f"{path} asks to load types we never save: {sorted(unexpected)}; refusing to load it"
        )
    estimators = sio.load(path, trusted=sorted(untrusted))
    metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    extra = {
        key: metadata[key] for key in ("similar_cases", "reference", "drivers") if key in metadata
    }
    model = OutcomeModel(
        design=Design(tuple(metadata["features"])),
        label=metadata["label"],
        calibrated=estimators["calibrated"],
        covariance=estimators["covariance"],
        baseline=estimators["baseline"],
        metrics=metadata["metrics"],
        period=metadata["period"],
        sizes=metadata["sizes"],
        extra=extra,
    )
    return Bundle(model, metadata)
