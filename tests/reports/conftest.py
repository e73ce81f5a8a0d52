"""A real warehouse with two training runs and reports built from it, shared by report tests.

Made once per session: 2,600 simulated cases, a training run (no self-check), 700 more cases
plus a small file with bad rows (quarantine), a second training run; reports are built after
each run with the real ``overdue report`` command, so ``reports/index.html`` lists two runs.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from report_scan import Built

from cli_support import overdue
from overdue.config import Settings
from overdue.ingest import ingest_paths
from overdue.models.run import train
from overdue.simulate import write_simulation


def simulate(path: Path, rows: int, seed: int, settings: Settings) -> Path:
    """Write simulated cases to ``path``."""
    write_simulation(path, rows=rows, seed=seed, as_of=settings.as_of)
    return path


def bad_rows_file(path: Path, settings: Settings) -> Path:
    """40 cases, 25 with an age band outside the contract and 3 with an unknown lender type."""
    cases = pl.read_parquet(simulate(path.with_suffix(".src.parquet"), 40, 77, settings))
    row = pl.int_range(pl.len())
    cases = cases.with_columns(
        pl.when(row < 25).then(pl.lit("99-100")).otherwise(pl.col("age_band")).alias("age_band"),
        pl.when((row >= 25) & (row < 28))
        .then(pl.lit("pawnshop"))
        .otherwise(pl.col("lender_type"))
        .alias("lender_type"),
    )
    cases.write_parquet(path)
    return path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Two training runs on a real warehouse, a report built after each."""
    folder = tmp_path_factory.mktemp("report")
    settings = Settings(
        warehouse=folder / "w.duckdb",
        models_dir=folder / "models",
        reports_dir=folder / "reports",
    )
    env = {
        "OVERDUE_WAREHOUSE": str(settings.warehouse),
        "OVERDUE_MODELS_DIR": str(settings.models_dir),
        "OVERDUE_REPORTS_DIR": str(settings.reports_dir),
    }
    ingest_paths([simulate(folder / "a.parquet", 2_600, 31, settings)], settings.warehouse)
    # the pages show the second run's self-check only: the first run trains without one
    first = train(settings.warehouse, settings.model_copy(update={"self_check": False}))
    result = overdue("report", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    ingest_paths(
        [
            simulate(folder / "b.parquet", 700, 32, settings),
            bad_rows_file(folder / "bad.parquet", settings),
        ],
        settings.warehouse,
    )
    second = train(settings.warehouse, settings)
    result = overdue("report", "--lang", "both", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(
        folder, settings.warehouse, settings.reports_dir, settings, first.run_id, second.run_id
    )


@pytest.fixture(scope="session")
def ingest_only(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A warehouse of 150 ingested cases and no model, and its report (k = 10)."""
    from overdue.reports.build import build_report

    folder = tmp_path_factory.mktemp("ingest_only")
    settings = Settings(warehouse=folder / "w.duckdb", reports_dir=folder / "reports")
    ingest_paths([simulate(folder / "c.parquet", 150, 41, settings)], settings.warehouse)
    report = build_report(settings.warehouse, settings.reports_dir, k=settings.k)
    return Built(folder, settings.warehouse, settings.reports_dir, settings, "", report.run_id)
