"""Shared by model tests: a small simulated population, its features and one trained model;
and one real warehouse trained and reported through the ``overdue`` commands."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cli_support import overdue
from overdue.features import build_features
from overdue.models.train import OutcomeModel, fit_outcome_model
from overdue.simulate import Chunk, simulate_cases


@pytest.fixture(scope="session")
def population() -> Chunk:
    """6,000 simulated cases with their truth."""
    return simulate_cases(6_000, seed=21, as_of=dt.date(2026, 6, 30))


@pytest.fixture(scope="session")
def features(population: Chunk) -> pl.DataFrame:
    """Their features and labels."""
    return build_features(population.cases.lazy()).collect()


@pytest.fixture(scope="session")
def model(features: pl.DataFrame) -> OutcomeModel:
    """The calibrated advising model and its baselines."""
    return fit_outcome_model(features, seed=3)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """4,000 simulated cases through `overdue simulate`, `ingest`, `train` (self-check on) and
    `report --lang both` in real processes on a real warehouse. Read-only: the CLI and the
    refutation tests share it (a test that changes the warehouse copies it first)."""
    folder = tmp_path_factory.mktemp("trained")
    env = {
        "OVERDUE_WAREHOUSE": str(folder / "w.duckdb"),
        "OVERDUE_MODELS_DIR": str(folder / "models"),
        "OVERDUE_REPORTS_DIR": str(folder / "reports"),
    }
    cases: Path = folder / "cases.parquet"
    outputs, errors = [], []
    for args in (
        ("simulate", "--rows", "4000", "--seed", "6", "--out", str(cases)),
        ("ingest", str(cases)),
        ("train",),
        ("report", "--lang", "both"),
    ):
        result = overdue(*args, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout)
        errors.append(result.stderr)
    return {
        "folder": folder,
        "cases": cases,
        "env": env,
        "train_out": outputs[2],
        "train_err": errors[2],
    }


@pytest.fixture(scope="session")
def effects_json(trained: dict[str, Any]) -> dict[str, Any]:
    """What `overdue effects --json` prints for ``trained``, read by several tests (each call
    costs a process that imports the model code)."""
    result = overdue("effects", "--json", env=trained["env"])
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document
