"""A damaged or unwritable warehouse and damaged model bundles, as operations meet them: real
processes on copies of the real warehouse and bundle ``trained`` (conftest.py) made, cut short,
deleted or made read-only. Each command prints one line naming the file and what to do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cli_support import ROOT, overdue
from overdue.config import Settings
from overdue.models.registry import ESTIMATORS_FILE, bundle_incomplete
from overdue.models.run import (
    LATEST_FILE,
    incomplete_model_folders,
    latest_bundle_folder,
    model_state,
)
from overdue.warehouse import damage, open_warehouse
from permission_support import small_disk


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The only ``error:`` line of a command that exited 2, with no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and "Exception:" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    return errors[0]


def _copy(trained: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """A copy of the trained warehouse and models folder; the environment that uses them."""
    shutil.copyfile(trained["folder"] / "w.duckdb", tmp_path / "w.duckdb")
    shutil.copytree(trained["folder"] / "models", tmp_path / "models")
    return {
        "OVERDUE_WAREHOUSE": str(tmp_path / "w.duckdb"),
        "OVERDUE_MODELS_DIR": str(tmp_path / "models"),
        "OVERDUE_REPORTS_DIR": str(tmp_path / "reports"),
    }


def _case(trained: dict[str, Any], tmp_path: Path) -> Path:
    """One case of the trained population as JSON, for `overdue estimate --case`."""
    row = pl.read_parquet(trained["cases"]).head(1).to_dicts()[0]
    case = tmp_path / "case.json"
    case.write_text(json.dumps(row, default=str), encoding="utf-8")
    return case


def _small_csv(trained: dict[str, Any], tmp_path: Path) -> Path:
    """A valid file of 50 cases to ingest."""
    path = tmp_path / "good.csv"
    pl.read_parquet(trained["cases"]).head(50).write_csv(path)
    return path


def test_a_truncated_warehouse_is_named_by_every_command(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    """The warehouse cut to half its size: ingest does not blame (or record) the good file,
    and every command prints one line naming the warehouse and a backup, exit 2."""
    env = _copy(trained, tmp_path)
    warehouse = tmp_path / "w.duckdb"
    os.truncate(warehouse, warehouse.stat().st_size // 2)
    assert damage(warehouse) is not None and "truncated" in str(damage(warehouse))
    before = warehouse.read_bytes()
    good = _small_csv(trained, tmp_path)
    for args in (("ingest", str(good)), ("quarantine",), ("effects",), ("report",), ("train",)):
        line = _one_error_line(overdue(*args, env=env))
        assert f"the warehouse {warehouse} cannot be read: it looks damaged" in line, args
        assert "restore it from a backup" in line
        assert "Re-export" not in line and "good.csv" not in line
    assert warehouse.read_bytes() == before  # no refused batch written into it
    assert good.exists()


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("capsh") is None,
    reason="needs root and capsh to drop the capabilities that bypass file permissions",
)
def test_a_read_only_warehouse_or_folder_is_one_line(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    """A read-only warehouse file, then a folder where its .wal cannot be made, under a
    process without root's override of permissions: one line, permission denied, exit 2."""
    folder = tmp_path / "nob"
    folder.mkdir()
    warehouse = folder / "w.duckdb"
    shutil.copyfile(trained["folder"] / "w.duckdb", warehouse)
    good = _small_csv(trained, tmp_path)

    def ingest() -> subprocess.CompletedProcess[str]:
        script = (
            f"cd {ROOT} && exec {sys.executable} -m overdue ingest {good} --warehouse {warehouse}"
        )
        return subprocess.run(
            ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", script],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
        )

    try:
        warehouse.chmod(0o444)
        line = _one_error_line(ingest())
        assert f"could not write the warehouse {warehouse} (permission denied)" in line
        warehouse.chmod(0o644)
        folder.chmod(0o555)
        line = _one_error_line(ingest())
        assert f"could not write the warehouse {warehouse} (permission denied)" in line
    finally:
        folder.chmod(0o755)
        warehouse.chmod(0o644)
    with open_warehouse(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM batches").fetchall() == [(1,)]


def test_a_bundle_without_its_estimators_is_retrained(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    """The pipeline's check reuses a whole bundle, retrains one whose estimators file is gone
    or cut short; the next training removes model folders left without a whole bundle."""
    _copy(trained, tmp_path)
    models, warehouse = tmp_path / "models", tmp_path / "w.duckdb"
    folder = latest_bundle_folder(models)
    assert folder.parent == models  # the pointer names the copy, not the original
    settings = Settings()
    state = (settings.seed, settings.model_max_cases, settings.self_check)
    reused = model_state(warehouse, models, *state)
    estimators = folder / ESTIMATORS_FILE
    os.truncate(estimators, estimators.stat().st_size // 2)
    assert bundle_incomplete(folder) is not None
    cut = model_state(warehouse, models, *state)
    estimators.unlink()
    gone = model_state(warehouse, models, *state)
    assert reused.train_reason is None
    assert cut.train_reason == gone.train_reason == "its bundle is incomplete"
    (models / "m-killed").mkdir()
    assert set(incomplete_model_folders(models)) == {folder, models / "m-killed"}
    (models / ".training-other").mkdir()  # another training may be writing them
    assert incomplete_model_folders(models) == []


def test_estimate_names_the_model_file_that_is_missing_or_damaged(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    """`overdue estimate` from another working directory reads latest.json (old cwd-relative
    pointers too); a missing or truncated estimators file, or a corrupt or incomplete
    latest.json, is one line naming that file and `overdue train`, never the case file."""
    env = _copy(trained, tmp_path)
    models = tmp_path / "models"
    case = _case(trained, tmp_path)
    pointer = models / LATEST_FILE
    assert not Path(json.loads(pointer.read_text(encoding="utf-8"))["path"]).is_absolute()
    folder = latest_bundle_folder(models)
    old = {"model_version": folder.name, "path": f"data/models/{folder.name}"}
    pointer.write_text(json.dumps(old), encoding="utf-8")
    elsewhere = subprocess.run(
        [sys.executable, "-m", "overdue", "estimate", "--case", str(case), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
        cwd=tmp_path,
        check=False,
    )
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
    for text, named in (("{x", "is not readable JSON"), ("{}", "does not name a model folder")):
        pointer.write_text(text, encoding="utf-8")
        line = _one_error_line(overdue("estimate", "--case", str(case), env=env))
        assert str(pointer) in line and named in line and "overdue train" in line
    pointer.write_text(json.dumps(old), encoding="utf-8")
    estimators = folder / ESTIMATORS_FILE
    body = estimators.read_bytes()
    estimators.write_bytes(body[: len(body) // 2])
    line = _one_error_line(overdue("estimate", "--case", str(case), env=env))
    assert str(estimators) in line and "overdue train" in line and str(case) not in line
    estimators.unlink()
    line = _one_error_line(overdue("estimate", "--case", str(case), env=env))
    assert f"{estimators} is missing" in line and "overdue train" in line
    assert str(case) not in line


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
def test_train_on_a_full_disk_is_one_line_and_leaves_no_folder(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    """The models folder on a 1 MB file system: train exits 2 with one line naming the
    folder, the disk and `overdue train`, and leaves no model folder behind."""
    env = _copy(trained, tmp_path)
    with small_disk(tmp_path / "disk", "1m") as disk:
        env["OVERDUE_MODELS_DIR"] = str(disk)
        line = _one_error_line(overdue("train", env={**env, "OVERDUE_SELF_CHECK": "false"}))
        assert "no space left on device" in line and str(disk) in line
        assert "overdue train" in line
        assert not list(disk.glob("m-*"))


@pytest.mark.slow
def test_a_run_on_a_truncated_warehouse_leaves_the_inbox_alone(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    """`overdue run` with a good file in the inbox and the warehouse cut short: one line
    naming the warehouse, exit 2; the file stays in the inbox, nothing is filed as refused."""
    env = _copy(trained, tmp_path)
    warehouse = tmp_path / "w.duckdb"
    os.truncate(warehouse, warehouse.stat().st_size // 2)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = _small_csv(trained, tmp_path).rename(inbox / "good.csv")
    env |= {
        "OVERDUE_INBOX": str(inbox),
        "OVERDUE_SAMPLE": str(trained["cases"]),
        "OVERDUE_PUBLISHED_DIR": str(tmp_path / "published"),
        "OVERDUE_SELF_CHECK": "false",
    }
    line = _one_error_line(overdue("run", env=env))
    assert f"the warehouse {warehouse} cannot be read: it looks damaged" in line
    assert "Re-export" not in line
    assert good.exists()
    assert not (inbox / "refused").exists() or not any((inbox / "refused").iterdir())
