"""A small simulated population, its features and one trained model, shared by model tests."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

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
