"""The nightly pipeline, run for real by Prefect: first run, reuse, new data, failure, locking."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from pipelines.nightly import nightly
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import StateType, TaskRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_API_URL

from cli_support import overdue
from overdue.config import get_settings
from overdue.publish import CURRENT
from overdue.simulate import write_simulation
from overdue.warehouse import open_warehouse
from permission_support import without_root
from settings_support import settings_in

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # real pipeline runs: `make check` starts them first


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Settings pointing every path into one temporary folder, with 2,000 cases in the inbox."""
    folder = tmp_path_factory.mktemp("nightly")
    with settings_in(folder):
        drop_in_inbox(folder, "first.parquet", rows=2_000, seed=31)
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
    """Nothing new in the inbox: every stage is skipped."""
    before = current(place)
    result = nightly()
    assert result["ingest"] == []  # the first file went to processed/: nothing waits
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
    assert statuses == {"second.parquet": "loaded"}
    assert (place / "inbox" / "processed").is_dir() and not (
        place / "inbox" / "first.parquet"
    ).exists()
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
    assert "another command is writing" in loser
    winner = outputs[[p.returncode for p in runs].index(0)]
    assert "fourth.parquet, filed to " in winner  # where the inbox file went, not only its old path
    with open_warehouse(place / "warehouse.duckdb", read_only=True) as con:
        loaded = con.execute("SELECT sum(rows_loaded) FROM batches").fetchall()[0][0]
        cases = con.execute("SELECT count(*) FROM cases").fetchall()[0][0]
    assert cases == loaded


def _flow_task_runs(flow_run_id: UUID) -> list[TaskRun]:
    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


def test_refused_files_and_quarantined_rows_leave_the_run_red_with_reasons(place: Path) -> None:
    """An empty CSV, a binary file, a text note and a CSV with 4 bad rows of 200: the run goes
    on and publishes, then ends failed ("Completed with refusals"); each file's task is red with
    its reason, the artifact lists why, the refused files wait in refused/ beside their reasons
    and the loaded one in processed/<day>/."""
    inbox = place / "inbox"
    (inbox / "empty.csv").write_bytes(b"")
    (inbox / "scan.csv").write_bytes(bytes(range(256)) * 8)
    (inbox / "note.txt").write_text("周一回电话 / call back on Monday\n", encoding="utf-8")
    simulated = write_simulation(
        place / "simulated" / "mixed.csv", rows=200, seed=35, as_of=get_settings().as_of
    )
    lines = simulated.cases_path.read_text(encoding="utf-8").splitlines(keepends=True)
    for at in (5, 50, 100, 150):  # a monthly income no case can have
        fields = lines[at].split(",")
        fields[lines[0].split(",").index("monthly_income")] = "-5"
        lines[at] = ",".join(fields)
    (inbox / "mixed.csv").write_text("".join(lines), encoding="utf-8")
    before = current(place)

    state = nightly(return_state=True)
    result = state.result(raise_on_failure=False)

    assert state.is_failed() and state.name == "Completed with refusals"
    assert "3 file(s) refused, 4 row(s) quarantined" in str(state.message)
    ended = {Path(r["path"]).name: (r["status"], r["rows_quarantined"]) for r in result["ingest"]}
    assert ended == {
        "empty.csv": ("refused", 0),
        "scan.csv": ("refused", 0),
        "note.txt": ("refused", 0),
        "mixed.csv": ("loaded", 4),
    }
    assert not result["publish"]["skipped"] and current(place) != before
    ingest_runs = {
        run.name.removeprefix("ingest ").rsplit("/", 1)[-1]: run
        for run in _flow_task_runs(state.state_details.flow_run_id)
        if run.name.startswith("ingest ")
    }
    assert {name: (run.state_type, run.state_name) for name, run in ingest_runs.items()} == {
        "empty.csv": (StateType.FAILED, "Refused"),
        "scan.csv": (StateType.FAILED, "Refused"),
        "note.txt": (StateType.FAILED, "Refused"),
        "mixed.csv": (StateType.FAILED, "Quarantined"),
    }
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingested-files"])),
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            ),
        )
    rows = {Path(r["file"]).name: r for r in json.loads(str(artifact.data))}
    assert all(rows[n]["why"] for n in ("empty.csv", "scan.csv", "note.txt", "mixed.csv"))
    assert "overdue quarantine --batch" in rows["mixed.csv"]["why"]
    refused = inbox / "refused"
    assert sorted(p.name for p in refused.iterdir()) == sorted(
        [f"{n}{suffix}" for n in ("empty.csv", "scan.csv", "note.txt")
         for suffix in ("", ".reason.txt")]
    )  # fmt: skip
    assert (refused / "scan.csv.reason.txt").read_text(encoding="utf-8").strip() == (
        next(r["message"] for r in result["ingest"] if r["path"].endswith("scan.csv"))
    )
    filed = Path(next(r["filed_to"] for r in result["ingest"] if r["path"].endswith("mixed.csv")))
    assert filed.exists() and filed.parent.parent == inbox / "processed"


def test_a_configuration_error_is_not_retried_and_said_in_one_line(place: Path) -> None:
    """The reports folder is a file: the report task fails once (no retry), the run stops
    with one clear line naming the error and the snapshot still served, no traceback."""
    blocker = place / "reports-is-a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    served = current(place)
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "COLUMNS": "200",
        "OVERDUE_REPORTS_DIR": str(blocker),
        "OVERDUE_K": "11",  # another k: the report cannot be reused, it must be built
    }
    done = subprocess.run(
        [sys.executable, "-m", "overdue", "run", str(place / "inbox")],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert "not retried" in errors[0] and f"keeps serving snapshot {served}" in errors[0]
    assert "Traceback" not in output
    assert current(place) == served
    with get_client(sync_client=True) as client:
        (latest,) = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
    (report,) = [r for r in _flow_task_runs(latest.id) if r.name.startswith("report")]
    assert report.state_type == StateType.FAILED and report.run_count == 1


def test_a_missing_warehouse_beside_a_published_model_is_refused(place: Path) -> None:
    """The warehouse was moved (an unmounted volume, a typo in OVERDUE_WAREHOUSE) while its
    model and snapshot remain: the run refuses in one line, exit 2, rather than start an empty
    warehouse and publish a model of the sample over the real one."""
    warehouse, served = place / "warehouse.duckdb", current(place)
    moved = warehouse.rename(place / "warehouse.duckdb.moved")
    try:
        done = overdue(
            "run", str(place / "inbox"), env={"PREFECT_API_URL": str(PREFECT_API_URL.value())}
        )
        assert not warehouse.exists()
    finally:
        moved.rename(warehouse)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    assert errors[0].startswith(f"error: the warehouse {warehouse} does not exist, but ")
    assert f"keeps serving snapshot {served}" in errors[0]
    assert current(place) == served


def test_an_inbox_that_cannot_be_listed_stops_the_run_in_one_line(place: Path) -> None:
    """A folder in the inbox the run may not read (chmod 000, permissions applying as for a
    user): the run stops before ingesting anything, exit 2, one line naming the folder;
    never a quiet night with exit 0."""
    locked = place / "inbox" / "from-branch"
    locked.mkdir(parents=True)
    (locked / "cases.csv").write_text("case_id\nC-1\n", encoding="utf-8")
    env = {"PREFECT_API_URL": str(PREFECT_API_URL.value()), "COLUMNS": "200"}
    locked.chmod(0)
    try:
        done = without_root([sys.executable, "-m", "overdue", "run", str(place / "inbox")], env)
    finally:
        locked.chmod(0o755)
        shutil.rmtree(locked)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert errors[0].startswith(
        f"error: cannot list the inbox {place / 'inbox'}: {locked} (permission denied); nothing "
        "new was published"
    ), output
    assert "Traceback" not in output
