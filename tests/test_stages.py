"""Each stage decision of the nightly pipeline on plain calls, real files and no Prefect."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import resource
import shutil
import signal
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import duckdb
import pytest

from overdue import stages
from overdue.config import Settings, get_settings
from overdue.ingest import ingest_paths
from overdue.ingest.load import ALREADY_LOADED, LOADED, REFUSED, batch_record
from overdue.ingest.read import SourceError
from overdue.models.registry import load_bundle, save_bundle
from overdue.models.run import LATEST_FILE
from overdue.publish import CURRENT, MANIFEST, SnapshotWriteError, publish_snapshot
from overdue.simulate import write_simulation
from overdue.warehouse import PipelineBusyError, WarehouseLockedError, pipeline_lock
from permission_support import without_root

SRC = Path(__file__).resolve().parents[1] / "src"
RUN = "run-stages"


def _settings(folder: Path) -> Settings:
    return get_settings().model_copy(
        update={
            "warehouse": folder / "warehouse.duckdb",
            "models_dir": folder / "models",
            "reports_dir": folder / "reports",
            "published_dir": folder / "published",
            "self_check": False,  # the stages' decisions do not depend on it
        }
    )


def _ingested(folder: Path, rows: int, seed: int) -> tuple[Settings, list[dict[str, Any]]]:
    """Settings inside ``folder`` whose warehouse holds ``rows`` simulated cases; the file's
    record."""
    settings = _settings(folder)
    cases = write_simulation(
        folder / "simulated" / "cases.parquet", rows=rows, seed=seed, as_of=settings.as_of
    ).cases_path
    summary = ingest_paths([cases], settings.warehouse, as_of=settings.as_of, run_id=RUN)
    assert [b.status for b in summary.batches] == [LOADED]
    return settings, [batch_record(b, mapped=False) for b in summary.batches]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A first run of the stages on 2,000 ingested cases: trained, reported, published."""
    settings, ingested = _ingested(tmp_path_factory.mktemp("stages"), rows=2_000, seed=17)
    trained = stages.train_unless_current(settings.warehouse, settings, RUN)
    model = trained["model_version"]
    reported = stages.report_unless_current(settings.warehouse, settings, model, True)
    published = stages.publish_unless_current(settings.warehouse, settings, model, RUN)
    return {"settings": settings, "ingest": ingested, "train": trained, "report": reported,
            "publish": published}  # fmt: skip


def test_the_first_run_trains_reports_and_publishes(run: dict[str, Any]) -> None:
    """With no model yet every stage runs, and says why training did."""
    assert not run["train"]["skipped"]
    assert run["train"]["reason"] == "no model trained yet"
    assert not run["report"]["skipped"]
    assert not run["publish"]["skipped"]
    assert Path(run["publish"]["folder"], "effects.json").exists()


def test_training_is_skipped_when_the_model_of_this_data_is_saved(run: dict[str, Any]) -> None:
    """The same data, code and seed: the saved model is reused, not retrained."""
    settings = run["settings"]
    again = stages.train_unless_current(settings.warehouse, settings, "run-again")
    assert again == {
        "skipped": True,
        "model_version": run["train"]["model_version"],
        "snapshot_hash": run["train"]["snapshot_hash"],
    }


def test_too_few_cases_train_no_model(tmp_path: Path) -> None:
    """Below the minimum of labelled cases no model is trained; the refusal says why."""
    settings, _ = _ingested(tmp_path, rows=40, seed=3)
    trained = stages.train_unless_current(settings.warehouse, settings, RUN)
    assert trained["skipped"]
    assert trained["model_version"] is None
    assert trained["refused"]


def test_the_report_is_reused_for_the_same_model_and_k_without_new_files(
    run: dict[str, Any],
) -> None:
    """No file arrived and the latest report is of this model and k: it stands for this run."""
    settings = run["settings"]
    model = run["train"]["model_version"]
    reused = stages.reusable_report(settings.reports_dir, model, settings.k, new_batches=False)
    assert reused == {
        "folder": str(settings.reports_dir / "latest"),
        "run_id": run["report"]["run_id"],
    }


@pytest.mark.parametrize(
    ("model", "k_more", "new_batches"),
    [("same", 0, True), ("same", 1, False), ("m-another", 0, False), (None, 0, False)],
    ids=["a new file arrived", "another k", "another model", "no model"],
)
def test_the_report_is_built_again(
    run: dict[str, Any], model: str | None, k_more: int, new_batches: bool
) -> None:
    """A new file, another k or model, or no model at all: the latest report is not reused."""
    settings = run["settings"]
    version = run["train"]["model_version"] if model == "same" else model
    reports = settings.reports_dir
    assert stages.reusable_report(reports, version, settings.k + k_more, new_batches) is None


def test_publishing_is_skipped_when_the_current_snapshot_is_of_this_model(
    run: dict[str, Any],
) -> None:
    """The current snapshot already holds this model: nothing new is published."""
    settings = run["settings"]
    model = run["train"]["model_version"]
    again = stages.publish_unless_current(settings.warehouse, settings, model, "run-again")
    assert again == {"skipped": True, "folder": run["publish"]["folder"]}
    assert stages.current_snapshot_of(settings.published_dir, "m-another") is None


def _elsewhere(settings: Settings, folder: Path) -> Settings:
    """``settings`` with a copy of its models folder and an empty published folder in
    ``folder``: the module's run stays as it was for the other tests."""
    shutil.copytree(settings.models_dir, folder / "models")
    return settings.model_copy(
        update={"models_dir": folder / "models", "published_dir": folder / "published"}
    )


def test_publishing_takes_the_runs_model_not_the_one_latest_json_names(
    run: dict[str, Any], tmp_path: Path
) -> None:
    """Another training saved a bundle and pointed latest.json at it after the run trained:
    the run publishes its own model, with its own effects and card."""
    settings = _elsewhere(run["settings"], tmp_path)
    model = run["train"]["model_version"]
    bundle = load_bundle(settings.models_dir / model)
    other = save_bundle(
        bundle.model,
        {**bundle.metadata, "model_version": "m-other", "run_id": "by-hand"},
        settings.models_dir / "m-other",
    )
    (settings.models_dir / LATEST_FILE).write_text(
        json.dumps({"model_version": "m-other", "path": str(other)}), encoding="utf-8"
    )
    published = stages.publish_unless_current(settings.warehouse, settings, model, "run-own")
    folder = Path(published["folder"])
    assert json.loads((folder / MANIFEST).read_text())["model_version"] == model
    assert json.loads((folder / "model_card.json").read_text())["model_version"] == model
    assert json.loads((folder / "effects.json").read_text())["model_version"] == model
    assert load_bundle(folder / "model").version == model


def test_a_failed_publish_leaves_no_partial_copy_and_removes_those_left_before(
    run: dict[str, Any], tmp_path: Path
) -> None:
    """A staging folder left by a killed publish goes at the next publish; a publish that fails
    removes its own and leaves CURRENT alone; the next one publishes."""
    settings = _elsewhere(run["settings"], tmp_path)
    model = run["train"]["model_version"]
    published = settings.published_dir
    left = published / ".killed-run.partial" / "model"
    left.mkdir(parents=True)
    (left / "estimators.skops").write_bytes(b"half a file")
    (published / "run-blocked").write_text("a file where the snapshot goes", encoding="utf-8")
    with pytest.raises(OSError, match="run-blocked"):
        publish_snapshot(settings.warehouse, settings.models_dir, published, "run-blocked", model)
    assert list(published.glob(".*.partial")) == []
    assert not (published / CURRENT).exists()
    folder = publish_snapshot(settings.warehouse, settings.models_dir, published, "run-ok", model)
    assert (published / CURRENT).read_text().strip() == "run-ok" and folder.is_dir()
    assert list(published.glob(".*.partial")) == []


def test_a_disk_refusing_the_snapshot_is_one_line_and_leaves_no_partial_copy(
    run: dict[str, Any], tmp_path: Path
) -> None:
    """Writes fail half way (a file-size limit stands in for a full disk: both are refused
    writes, EFBIG and ENOSPC): one line saying so and what to do, the staging folder removed,
    nothing published."""
    settings = run["settings"]
    published = tmp_path / "published"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, limit[1]))
    try:
        with pytest.raises(SnapshotWriteError) as refused:
            publish_snapshot(
                settings.warehouse, settings.models_dir, published, "run-full",
                run["train"]["model_version"],
            )  # fmt: skip
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    assert str(refused.value) == (
        f"could not write the snapshot in {published} (file too large); its partial copy was "
        "removed and nothing new was published. Free disk space and run the pipeline again"
    )
    assert [p.name for p in published.iterdir()] == []


def test_a_lost_warehouse_is_refused_while_a_model_or_snapshot_of_it_remains(
    tmp_path: Path,
) -> None:
    """A first run (nothing there) makes the warehouse; a missing warehouse beside a model or
    a published snapshot is refused, naming it; an existing warehouse goes on."""
    warehouse, models, published = (tmp_path / n for n in ("w.duckdb", "models", "published"))
    stages.refuse_a_lost_warehouse(warehouse, models, published)
    published.mkdir()
    (published / CURRENT).write_text("run-1\n", encoding="utf-8")
    with pytest.raises(stages.WarehouseMissingError, match=f"the warehouse {warehouse} does not"):
        stages.refuse_a_lost_warehouse(warehouse, models, published)
    (published / CURRENT).unlink()
    models.mkdir()
    (models / LATEST_FILE).write_text("{}", encoding="utf-8")
    with pytest.raises(stages.WarehouseMissingError, match="Restore the warehouse"):
        stages.refuse_a_lost_warehouse(warehouse, models, published)
    warehouse.write_bytes(b"")
    stages.refuse_a_lost_warehouse(warehouse, models, published)


def test_without_a_model_nothing_is_published(run: dict[str, Any]) -> None:
    """No model (too few cases): the previous snapshot stays current."""
    settings = run["settings"]
    published = stages.publish_unless_current(settings.warehouse, settings, None, "run-none")
    assert published == {"skipped": True, "folder": None}


def test_nothing_is_published_before_the_first_snapshot(tmp_path: Path) -> None:
    """Without a CURRENT pointer there is no current snapshot of any model."""
    assert stages.current_snapshot_of(tmp_path, "m-any") is None


def test_only_files_not_loaded_before_count_as_new() -> None:
    """A run whose every file was already loaded brings no new batch."""
    already = {"status": ALREADY_LOADED}
    assert not stages.any_new_batch([already, already])
    assert stages.any_new_batch([already, {"status": LOADED}])


def test_an_inbox_not_made_yet_is_passed_over(tmp_path: Path) -> None:
    """Missing folders are skipped; files in existing ones are found."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("case_id\n", encoding="utf-8")
    found = stages.files_to_ingest([str(tmp_path / "in"), str(tmp_path / "missing")])
    assert found == [str(tmp_path / "in" / "a.csv")]


def test_the_inbox_offers_every_waiting_file_and_none_filed_away(tmp_path: Path) -> None:
    """Any name (a note is refused later, with its reason), not processed/, refused/ or
    hidden files; a glob that matches nothing is an error, a missing inbox is not."""
    inbox = tmp_path / "inbox"
    for name in ("a.csv", "note.docx", "sub/b.parquet", "processed/2026-01-01/c.csv",
                 "refused/d.csv", ".partial.csv"):  # fmt: skip
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_text("x", encoding="utf-8")
    found = stages.files_to_ingest([str(inbox), str(tmp_path / "missing")], inbox)
    assert [Path(f).relative_to(inbox).as_posix() for f in found] == [
        "a.csv",
        "note.docx",
        "sub/b.parquet",
    ]
    with pytest.raises(SourceError, match="no such file"):
        stages.files_to_ingest([str(tmp_path / "*.nothing")], inbox)


def test_ingested_files_leave_the_inbox_and_nothing_is_lost(tmp_path: Path) -> None:
    """Loaded to processed/<day>/, refused to refused/ with the masked reason beside it, each
    under its masked name (the one the log prints), a second file of the same name kept beside
    the first; files outside the inbox stay."""
    inbox, day = tmp_path / "inbox", dt.date(2026, 12, 5)
    inbox.mkdir()
    loaded = {"status": LOADED, "message": None}
    refused = {"status": REFUSED, "message": "张三_[mobile].csv: empty file, no header"}
    (inbox / "a.csv").write_text("one", encoding="utf-8")
    assert stages.file_away(inbox / "a.csv", loaded, inbox, day) == (
        inbox / "processed" / "2026-12-05" / "a.csv"
    )
    (inbox / "a.csv").write_text("two", encoding="utf-8")
    again = stages.file_away(inbox / "a.csv", loaded, inbox, day)
    assert again is not None and again.name == "a-2.csv" and again.read_text() == "two"
    named = inbox / "张三_13812345678.csv"
    named.write_text("", encoding="utf-8")
    moved = stages.file_away(named, refused, inbox, day)
    assert moved == inbox / "refused" / "张三_[mobile].csv" and moved.exists()
    notes = list((inbox / "refused").glob("*.reason.txt"))
    assert [n.name for n in notes] == [f"{moved.name}.reason.txt"]
    assert notes[0].read_text(encoding="utf-8").strip() == refused["message"]
    outside = tmp_path / "sample.csv"
    outside.write_text("kept", encoding="utf-8")
    assert stages.file_away(outside, loaded, inbox, day) is None and outside.exists()
    assert sorted(p.name for p in inbox.iterdir()) == ["processed", "refused"]


@pytest.mark.parametrize(
    ("error", "heals"),
    [
        (WarehouseLockedError("the warehouse is open in another process"), True),
        (TimeoutError("timed out"), True),
        (OSError(errno.EBUSY, "busy"), True),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), False),
        (FileExistsError(errno.EEXIST, "File exists"), False),
        (PermissionError(errno.EACCES, "Permission denied"), False),
        (ValueError("bad data"), False),
    ],
)
def test_only_what_a_wait_may_cure_is_retried(error: BaseException, heals: bool) -> None:
    assert stages.can_heal(error) is heals


def test_a_second_pipeline_stops_while_one_holds_the_warehouse(tmp_path: Path) -> None:
    """The lock beside the warehouse lets one pipeline write at a time."""
    warehouse = tmp_path / "w.duckdb"
    with (
        pipeline_lock(warehouse, wait_seconds=0),
        pytest.raises(PipelineBusyError, match="another command is writing"),
        pipeline_lock(warehouse, wait_seconds=0),
    ):
        pass


def test_the_summary_lists_each_file_and_what_each_stage_did(run: dict[str, Any]) -> None:
    """The run summary names the file's counts, the model and whether stages were reused."""
    result = {"run_id": RUN, **run}
    text = stages.summary_markdown(result)
    assert f"# Nightly run {RUN}" in text
    assert "| cases.parquet | loaded | 2000 | " in text
    assert "(trained: no model trained yet)" in text
    assert "(built)" in text
    assert "(new)" in text
    waiting = {"path": "inbox/upload.csv", "why": stages.waiting_note(3.0, 60)}
    text = stages.summary_markdown({**result, "waiting": [waiting]})
    assert "- waiting in the inbox: inbox/upload.csv (changed 3 s ago" in text
    left = {**run["ingest"][0], "left_in_inbox": f"a.csv: {stages.CHANGED_WHILE_READ}"}
    assert stages.files_table([left])[0]["why"] == left["left_in_inbox"]


def test_the_effects_table_has_one_row_per_approach(run: dict[str, Any]) -> None:
    """The published effects as rows for the run's table artifact."""
    published = Path(run["publish"]["folder"])
    effects = json.loads((published / "effects.json").read_text(encoding="utf-8"))
    rows = stages.effects_table(published)
    assert [r["approach"] for r in rows] == list(effects["population"])


def test_the_nightly_flow_is_found_by_its_entry_point() -> None:
    """``overdue run`` loads the flow through an entry point, not an import of pipelines."""
    (entry,) = entry_points(group=stages.FLOWS, name="nightly")
    assert entry.value == "pipelines.nightly:nightly"
    with pytest.raises(LookupError, match="no flow 'weekly'"):
        stages.flow_entry_point("weekly")


def test_the_package_never_imports_pipelines() -> None:
    """Prefect wiring depends on the package, never the other way round."""
    importing = re.compile(r"^\s*(import pipelines|from pipelines)", re.MULTILINE)
    offenders = [p for p in SRC.rglob("*.py") if importing.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_a_file_changed_within_the_settle_time_is_left_for_the_next_run(tmp_path: Path) -> None:
    """A file in the inbox changed seconds ago (maybe still uploading) is held back with its
    age; one changed before the settle time, one outside the inbox and a broken link are not;
    0 holds nothing back."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fresh, old, outside = inbox / "upload.csv", inbox / "old.csv", tmp_path / "sample.csv"
    for path in (fresh, old, outside):
        path.write_text("case_id\n", encoding="utf-8")
    (inbox / "gone.csv").symlink_to(tmp_path / "nothing")
    now = fresh.stat().st_mtime + 5
    os.utime(old, (now - 61, now - 61))
    files = [str(p) for p in (fresh, old, outside, inbox / "gone.csv")]
    assert stages.still_changing(files, inbox, 60, now) == {str(fresh): 5.0}
    assert stages.still_changing(files, inbox, 0, now) == {}
    os.utime(old, (now + 3600, now + 3600))  # a clock far ahead is not "just changed"
    assert str(old) not in stages.still_changing(files, inbox, 60, now)
    assert "changed 5 s ago" in stages.waiting_note(5.0, 60)


def test_a_file_changed_while_read_stays_in_the_inbox_and_loads_whole_next_time(
    tmp_path: Path,
) -> None:
    """An upload still being appended to while ingest reads it: the part read is loaded, but
    the file is not filed away; the next ingest reads the whole file as new content, and the
    newest version of each case wins: every case once, none twice."""
    settings = _settings(tmp_path)
    inbox, day = tmp_path / "inbox", dt.date(2026, 12, 7)
    inbox.mkdir()
    whole = write_simulation(
        tmp_path / "sim" / "cases.csv", rows=3_000, seed=90, as_of=settings.as_of
    ).cases_path
    lines = whole.read_bytes().splitlines(keepends=True)
    upload = inbox / "upload.csv"
    upload.write_bytes(b"".join(lines[:1_801]))  # the header and 1,800 cases so far

    def uploader(_path: Path, stage: str, _done: float | None) -> None:
        if stage == "writing":  # the file is read: the rest arrives before it is filed away
            with upload.open("ab") as out:
                out.write(b"".join(lines[1_801:]))

    first = ingest_paths([upload], settings.warehouse, as_of=settings.as_of, on_progress=uploader)
    record = batch_record(first.batches[0], mapped=False)
    assert (record["status"], record["rows_read"]) == (LOADED, 1_800)
    with pytest.raises(stages.FileChangedError, match="changed while it was read"):
        stages.file_away(upload, record, inbox, day)
    assert upload.read_bytes() == whole.read_bytes()  # still in the inbox, whole
    assert not (inbox / "processed").exists()

    second = ingest_paths([upload], settings.warehouse, as_of=settings.as_of).batches[0]
    assert (second.status, second.rows_read) == (LOADED, 3_000)
    assert second.rows_loaded + second.rows_replaced == 3_000
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        counts = con.execute("SELECT count(*), count(DISTINCT case_id) FROM cases").fetchone()
    assert counts == (3_000, 3_000)
    moved = stages.file_away(upload, batch_record(second, mapped=False), inbox, day)
    assert moved == inbox / "processed" / "2026-12-07" / "upload.csv"


def test_an_inbox_that_cannot_be_listed_stops_the_run(tmp_path: Path) -> None:
    """An inbox that is a file, or a folder in it that cannot be read, is an error naming it,
    never an empty inbox (a night on which nothing was read must not look quiet)."""
    inbox = tmp_path / "inbox"
    inbox.write_text("not a folder", encoding="utf-8")
    with pytest.raises(SourceError, match=r"cannot list the inbox .*inbox \(not a directory\)"):
        stages.files_to_ingest([str(inbox)], inbox)
    inbox.unlink()
    (inbox / "sub").mkdir(parents=True)
    (inbox / "sub" / "a.csv").write_text("case_id\n", encoding="utf-8")
    (inbox / "sub").chmod(0)
    try:
        code = (
            "from pathlib import Path; from overdue.ingest.read import SourceError, inbox_files"
            f"\ntry:\n    print(inbox_files(Path({str(inbox)!r})))\n"
            "except SourceError as e:\n    print('error:', e)"
        )
        out = without_root([sys.executable, "-c", code])
    finally:
        (inbox / "sub").chmod(0o755)
    assert out.stdout.strip() == (
        f"error: cannot list the inbox {inbox}: {inbox / 'sub'} (permission denied)"
    ), out.stderr
