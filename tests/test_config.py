"""One frozen settings object with OVERDUE_* overrides."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pydantic
import pytest

from overdue.config import Settings


def test_defaults_are_the_documented_ones() -> None:
    """Warehouse, k and the simulator's as-of date have their documented defaults."""
    settings = Settings()
    assert settings.warehouse == Path("data/warehouse.duckdb")
    assert settings.k == 10


def test_environment_overrides_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """OVERDUE_* variables override paths, k, seeds and dates."""
    monkeypatch.setenv("OVERDUE_WAREHOUSE", "/tmp/other.duckdb")
    monkeypatch.setenv("OVERDUE_K", "25")
    monkeypatch.setenv("OVERDUE_SEED", "3")
    monkeypatch.setenv("OVERDUE_AS_OF", "2025-01-31")
    settings = Settings()
    assert settings.warehouse == Path("/tmp/other.duckdb")
    assert (settings.k, settings.seed, settings.as_of) == (25, 3, dt.date(2025, 1, 31))


def test_settings_are_frozen() -> None:
    """Nothing changes settings behind the run's back."""
    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.k = 3  # type: ignore[misc]  # assigning a frozen field is what is tested


def test_k_below_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A privacy threshold under 1 is a configuration error, named as such."""
    monkeypatch.setenv("OVERDUE_K", "0")
    with pytest.raises(pydantic.ValidationError, match="k"):
        Settings()
