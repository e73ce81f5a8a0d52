"""The model bundle's metadata file and what it says of its sources, apart from the model code:
``overdue report`` reads them without importing scikit-learn (seconds per process)."""

from __future__ import annotations

from typing import Any, Final

METADATA_FILE: Final = "bundle.json"


def simulated(sources: list[dict[str, Any]] | None) -> bool | None:
    """Whether the model learnt from the simulator's cases (any of its files was written by the
    simulator); None for a bundle trained before its sources were recorded."""
    if sources is None:
        return None
    return any(source.get("simulated") for source in sources)
