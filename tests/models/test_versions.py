"""Model versions and bundle formats: derived from the code, checked on load and before reuse."""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from overdue import warehouse as warehouse_module
from overdue.config import get_settings
from overdue.features import FEATURE_SET_VERSION
from overdue.ingest import ingest_paths
from overdue.models.registry import (
    BUNDLE_FORMAT,
    ESTIMATORS_FILE,
    METADATA_FILE,
    StaleBundleError,
    bundle_format,
    bundle_layout,
    library_versions,
    load_bundle,
    save_bundle,
)
from overdue.models.run import (
    LATEST_FILE,
    MODEL_SOURCES,
    NOT_MODEL_SOURCES,
    OUTCOME,
    SPILL_OWNER,
    SPILL_PREFIX,
    abandoned_spills,
    code_version,
    model_state,
    model_version,
    module_sources,
)
from overdue.models.train import OutcomeModel
from overdue.simulate import write_simulation
from overdue.warehouse import open_warehouse, snapshot_hash

SEED = 7


def edit_metadata(folder: Path, **changes: Any) -> None:
    """Rewrite bundle.json with keys changed (a value of None removes the key)."""
    path = folder / METADATA_FILE
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata.update(changes)
    path.write_text(json.dumps({k: v for k, v in metadata.items() if v is not None}), "utf-8")


def test_a_bundle_records_its_format_and_loads_back(model: OutcomeModel, tmp_path: Path) -> None:
    """bundle.json names the bundle format and library versions it was written with."""
    folder = save_bundle(model, {"model_version": "m-test"}, tmp_path / "m")
    metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    assert metadata["bundle_format"] == BUNDLE_FORMAT
    assert metadata["libraries"] == library_versions()
    assert load_bundle(folder).version == "m-test"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"bundle_format": None}, "has no bundle_format"),
        ({"bundle_format": "b-000000000000"}, "is in bundle format b-000000000000"),
        (
            {"bundle_format": "b-000000000000", "libraries": {"scikit-learn": "1.0.0"}},
            "written with scikit-learn 1.0.0 (now",
        ),
    ],
    ids=["missing", "different", "other-library"],
)
def test_a_bundle_of_another_format_is_refused_before_its_estimators_are_read(
    model: OutcomeModel, tmp_path: Path, changes: dict[str, Any], says: str
) -> None:
    """The refusal says to retrain; the estimators file (here not even a skops file) is never
    opened."""
    folder = save_bundle(model, {"model_version": "m-old"}, tmp_path / "m")
    edit_metadata(folder, **changes)
    (folder / ESTIMATORS_FILE).write_bytes(b"not a skops file")
    with pytest.raises(StaleBundleError, match="overdue train") as refusal:
        load_bundle(folder)
    assert says in str(refusal.value)


def test_the_code_version_ignores_line_endings_and_module_order() -> None:
    """The same sources give the same version on every checkout."""
    unix = {"overdue.a": "x = 1\ny = 2\n", "overdue.b": "z = 3\n"}
    windows = {"overdue.b": "z = 3\r\n", "overdue.a": "x = 1\r\ny = 2\r\n"}
    assert code_version(unix, "b-1") == code_version(windows, "b-1")


def test_the_code_version_changes_with_any_source_or_the_bundle_format() -> None:
    """One changed character, a moved text or another bundle format gives another version."""
    sources = module_sources(MODEL_SOURCES)
    base = code_version(sources, BUNDLE_FORMAT)
    for name in sources:
        assert code_version({**sources, name: sources[name] + " "}, BUNDLE_FORMAT) != base
    moved = {"overdue.a": "xy", "overdue.b": ""}
    assert code_version(moved, "b-1") != code_version({"overdue.a": "x", "overdue.b": "y"}, "b-1")
    assert code_version(sources, "b-other") != base


def test_the_bundle_format_changes_with_the_layout_and_library_versions() -> None:
    """Renamed estimators, another trusted type, another self-check layout or another
    scikit-learn: another format."""
    layout = bundle_layout()
    assert bundle_format(json.loads(json.dumps(layout))) == BUNDLE_FORMAT
    variants = [
        {**layout, "estimators": ["calibrated", "ensemble", "baseline"]},
        {**layout, "trusted_types": [*layout["trusted_types"], "functools.partial"]},
        {**layout, "self_check": {**layout["self_check"], "GroupCoverage": ["coverage: float"]}},
        {**layout, "libraries": {**layout["libraries"], "scikit-learn": "1.0.0"}},
    ]
    assert {bundle_format(v) for v in variants}.isdisjoint({BUNDLE_FORMAT})


def _overdue_imports(source: str) -> set[str]:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "overdue":
                imported |= {f"overdue.{alias.name}" for alias in node.names}
            elif node.module.startswith("overdue."):
                imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names if a.name.startswith("overdue.")}
    return imported


def test_every_module_the_model_code_imports_is_in_its_version() -> None:
    """A module the model code reads is hashed into the version or listed as not defining it."""
    sources = module_sources(MODEL_SOURCES)
    imported = set().union(*(_overdue_imports(text) for text in sources.values()))
    unversioned = {
        name
        for name in imported
        if not any(name == s or name.startswith(f"{s}.") for s in MODEL_SOURCES)
    }
    assert unversioned <= set(NOT_MODEL_SOURCES), sorted(unversioned - set(NOT_MODEL_SOURCES))


@pytest.fixture(scope="module")
def cases_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real warehouse with 400 simulated cases and no model."""
    folder = tmp_path_factory.mktemp("versions")
    cases = folder / "cases.parquet"
    write_simulation(cases, rows=400, seed=5, as_of=get_settings().as_of)
    ingest_paths([cases], folder / "w.duckdb")
    return folder / "w.duckdb"


@pytest.fixture
def place(cases_warehouse: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """A copy of the warehouse, an empty models folder and the warehouse's snapshot hash."""
    warehouse = tmp_path / "w.duckdb"
    shutil.copyfile(cases_warehouse, warehouse)
    with open_warehouse(warehouse, read_only=True) as con:
        snapshot = snapshot_hash(con)
    return warehouse, tmp_path / "models", snapshot


def test_the_snapshot_hash_streams_the_same_hash_as_before(
    place: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamed in batches (here of 7 rows), the hash is the SHA-256 of every case's
    ``case_id:batch_id`` in case id order, joined by commas: the hash DuckDB computed in one
    string before, so a warehouse's model versions survive the upgrade; a case loaded again in
    another batch changes it."""
    warehouse, _, snapshot = place
    monkeypatch.setattr(warehouse_module, "SNAPSHOT_BATCH_ROWS", 7)
    with open_warehouse(warehouse) as con:
        rows = con.execute("SELECT case_id, batch_id FROM cases").fetchall()
        joined = ",".join(f"{case}:{batch}" for case, batch in sorted(rows))
        assert len(rows) > 7
        assert snapshot_hash(con) == snapshot == hashlib.sha256(joined.encode()).hexdigest()
        before = con.execute(
            "SELECT sha256(string_agg(case_id || ':' || batch_id, ',' ORDER BY case_id)) FROM cases"
        ).fetchall()[0][0]
        assert before == snapshot
        con.execute("UPDATE cases SET batch_id = batch_id + 1 WHERE case_id = ?", [rows[0][0]])
        assert snapshot_hash(con) != snapshot
        con.execute("DELETE FROM cases")
        assert snapshot_hash(con) == hashlib.sha256(b"").hexdigest()


def record_model(
    model: OutcomeModel, warehouse: Path, models_dir: Path, snapshot: str, version: str
) -> Path:
    """Save a bundle as ``version``, record its run and make it the latest, as training does."""
    folder = save_bundle(model, {"model_version": version}, models_dir / version)
    with open_warehouse(warehouse) as con:
        con.execute(
            "INSERT INTO model_runs VALUES"
            " (?, 'r', ?, ?, ?, ?, 0, 0, 0, 0, 0, '{}', '{}', '{}', ?, NULL, NULL, NULL, NULL)",
            [version, dt.datetime.now(), OUTCOME, snapshot, FEATURE_SET_VERSION, str(folder)],
        )
    pointer = {"model_version": version, "path": str(folder)}
    (models_dir / LATEST_FILE).write_text(json.dumps(pointer), encoding="utf-8")
    return folder


def test_a_warehouse_without_a_model_is_trained(place: tuple[Path, Path, str]) -> None:
    """No training run yet: train."""
    warehouse, models_dir, snapshot = place
    state = model_state(warehouse, models_dir, SEED)
    assert state.train_reason == "no model trained yet"
    assert state.model_version == model_version(snapshot, SEED)


def test_a_model_learnt_from_a_sample_has_a_version_of_its_own(
    place: tuple[Path, Path, str],
) -> None:
    """At most ``max_cases`` cases: the version of every case, whatever the setting; more: the
    cap enters the version, so another cap is another model and trains again."""
    warehouse, models_dir, snapshot = place
    whole = model_version(snapshot, SEED)
    assert model_state(warehouse, models_dir, SEED, max_cases=400).model_version == whole
    sampled = model_state(warehouse, models_dir, SEED, max_cases=399).model_version
    assert sampled == model_version(snapshot, SEED, sample=399) != whole
    assert model_state(warehouse, models_dir, SEED, max_cases=300).model_version != sampled


def test_the_saved_model_of_this_data_and_code_is_reused(
    model: OutcomeModel, place: tuple[Path, Path, str]
) -> None:
    """Same data, same code, bundle saved, latest and readable: nothing to train."""
    warehouse, models_dir, snapshot = place
    record_model(model, warehouse, models_dir, snapshot, model_version(snapshot, SEED))
    assert model_state(warehouse, models_dir, SEED).train_reason is None


def test_a_model_of_older_code_is_retrained(
    model: OutcomeModel, place: tuple[Path, Path, str]
) -> None:
    """The same data trained by the first model code ("models-1"): the version differs, train."""
    warehouse, models_dir, snapshot = place
    old = model_version(snapshot, SEED, code="models-1")
    folder = record_model(model, warehouse, models_dir, snapshot, old)
    edit_metadata(folder, bundle_format=None, libraries=None, model_code_version="models-1")
    state = model_state(warehouse, models_dir, SEED)
    assert state.model_version != old
    assert (
        state.train_reason == "the model code, library versions, seed or self-check setting changed"
    )


def test_switching_the_self_check_trains_again(
    model: OutcomeModel, place: tuple[Path, Path, str]
) -> None:
    """A model trained with the self-check off (its intervals without the self-check's spread)
    is another model: switched back on, the nightly run trains, and not the other way round
    either."""
    warehouse, models_dir, snapshot = place
    unchecked = model_version(snapshot, SEED, self_check=False)
    assert unchecked != model_version(snapshot, SEED)
    record_model(model, warehouse, models_dir, snapshot, unchecked)
    assert model_state(warehouse, models_dir, SEED, self_check=False).train_reason is None
    state = model_state(warehouse, models_dir, SEED)
    assert state.model_version == model_version(snapshot, SEED)
    assert (
        state.train_reason == "the model code, library versions, seed or self-check setting changed"
    )


@pytest.mark.parametrize("damage", ["old format", "missing", "not latest"])
def test_a_saved_model_that_cannot_be_served_is_retrained(
    model: OutcomeModel, place: tuple[Path, Path, str], damage: str
) -> None:
    """The version is recorded but its bundle is of another format, gone, or not the latest."""
    warehouse, models_dir, snapshot = place
    folder = record_model(model, warehouse, models_dir, snapshot, model_version(snapshot, SEED))
    if damage == "old format":
        edit_metadata(folder, bundle_format=None)
    elif damage == "missing":
        shutil.rmtree(folder)
    else:
        pointer = {"model_version": "m-other", "path": str(models_dir / "m-other")}
        (models_dir / LATEST_FILE).write_text(json.dumps(pointer), encoding="utf-8")
    reason = model_state(warehouse, models_dir, SEED).train_reason
    assert (
        reason
        == {
            "old format": "its bundle is in another bundle format",
            "missing": "its bundle is missing",
            "not latest": "the latest bundle is of another model",
        }[damage]
    )


def test_only_spills_of_dead_trainings_on_this_machine_are_abandoned(tmp_path: Path) -> None:
    """A killed training's spill folder is found (and the next training removes it); a live
    training's, another machine's and one without its owner file are not."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # reaped: its pid names no process now
    owners = {
        "dead": {"host": socket.gethostname(), "pid": ended.pid},
        "alive": {"host": socket.gethostname(), "pid": os.getpid()},
        "elsewhere": {"host": socket.gethostname() + "-other", "pid": ended.pid},
    }
    for name, owner in owners.items():
        folder = tmp_path / f"{SPILL_PREFIX}{name}"
        folder.mkdir()
        (folder / SPILL_OWNER).write_text(json.dumps(owner), encoding="utf-8")
    (tmp_path / f"{SPILL_PREFIX}unowned").mkdir()
    (tmp_path / "m-123").mkdir()
    assert abandoned_spills(tmp_path) == [tmp_path / f"{SPILL_PREFIX}dead"]
