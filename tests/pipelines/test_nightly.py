"""The nightly pipeline, run for real by Prefect: first run, reuse, new data, failure, locking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipelines.nightly import nightly
from prefect.settings import PREFECT_API_URL

from overdue.config import get_settings
from overdue.publish import CURRENT
from overdue.simulate import write_simulation
from overdue.warehouse import open_warehouse
from settings_support import settings_in

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Settings pointing every path into one temporary folder, with 3,000 cases in the inbox."""
    folder = tmp_path_factory.mktemp("nightly")
    with settings_in(folder):
        drop_in_inbox(folder, "first.parquet", rows=3_000, seed=31)
        yield folder


def drop_in_inbox(folder: Path, name: str, rows: int, seed: int) -> None:
    """Simulate a file of cases (its ground truth stays outside) and put it in the inbox."""
    result = write_simulation(
        folder / "simulated" / name, rows=rows, seed=seed, as_of=get_settings().as_of
    )
    (folder / "inbox").mkdir(exist_ok=True)
    result.cases_path.rename(folder / "inbox" / name)


def current(folder: Path) -> str:
    """The run id of the current published snapshot."""
    return (folder / "published" / CURRENT).read_text(encoding="utf-8").strip()


def model_runs(folder: Path) -> int:
    """How many training runs the warehouse records."""
    with open_warehouse(folder / "warehouse.duckdb", read_only=True) as con:
        return con.execute("SELECT count(*) FROM model_runs").fetchall()[0][0]


def test_first_run_goes_end_to_end(place: Path) -> None:
    """Ingest, train, report and publish all happen; outputs carry the same model version."""
    result = nightly()
    assert [r["status"] for r in result["ingest"]] == ["loaded"]
    assert not result["train"]["skipped"]
    assert not result["report"]["skipped"]
    assert not result["publish"]["skipped"]
    published = place / "published" / current(place)
    manifest = json.loads((published / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model_version"] == result["train"]["model_version"]
    report = json.loads((place / "reports" / "latest" / "report.json").read_text())
    assert report["model_version"] == result["train"]["model_version"]
    assert (published / "effects.json").exists()


def test_second_run_reuses_what_did_not_change(place: Path) -> None:
    """Nothing new in the inbox: the file is already loaded and every later stage is skipped."""
    before = current(place)
    result = nightly()
    assert [r["status"] for r in result["ingest"]] == ["already_loaded"]
    assert result["train"]["skipped"] and result["report"]["skipped"]
    assert result["publish"]["skipped"]
    assert current(place) == before
    assert model_runs(place) == 1


def test_a_new_file_in_the_inbox_is_picked_up(place: Path) -> None:
    """A new file is ingested, a new model trained and a new snapshot published."""
    before = current(place)
    drop_in_inbox(place, "second.parquet", rows=800, seed=32)
    result = nightly()
    statuses = {Path(r["path"]).name: r["status"] for r in result["ingest"]}
    assert statuses == {"first.parquet": "already_loaded", "second.parquet": "loaded"}
    assert not result["train"]["skipped"]
    assert current(place) != before
    assert model_runs(place) == 2


def test_a_failing_stage_fails_the_run_and_publishes_nothing(
    place: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training cannot save its bundle: the flow fails, the warehouse records no model run and
    the previous snapshot stays current."""
    before, runs = current(place), model_runs(place)
    drop_in_inbox(place, "third.parquet", rows=500, seed=33)
    blocker = place / "not-a-folder"
    blocker.write_text("a file where the models folder should be", encoding="utf-8")
    monkeypatch.setenv("OVERDUE_MODELS_DIR", str(blocker))
    get_settings.cache_clear()
    state = nightly(return_state=True)
    monkeypatch.setenv("OVERDUE_MODELS_DIR", str(place / "models"))
    get_settings.cache_clear()
    assert state.is_failed()
    assert current(place) == before
    assert model_runs(place) == runs


def test_two_pipelines_at_once_one_stops_cleanly(place: Path) -> None:
    """Started together, one run finishes and the other stops with a clear message; the
    warehouse stays consistent."""
    drop_in_inbox(place, "fourth.parquet", rows=500, seed=34)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "COLUMNS": "200"}
    command = [sys.executable, "-m", "overdue", "run", str(place / "inbox")]
    runs = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in runs]
    codes = sorted(p.returncode for p in runs)
    assert codes == [0, 2], outputs
    loser = outputs[[p.returncode for p in runs].index(2)]
    assert "another pipeline run is writing" in loser
    with open_warehouse(place / "warehouse.duckdb", read_only=True) as con:
        loaded = con.execute("SELECT sum(rows_loaded) FROM batches").fetchall()[0][0]
        cases = con.execute("SELECT count(*) FROM cases").fetchall()[0][0]
    assert cases == loaded
