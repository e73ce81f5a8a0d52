"""The nightly pipeline on real LendingClub rows, read through the source mapping."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipelines.nightly import nightly

from overdue.config import get_settings
from overdue.warehouse import open_warehouse

ROOT = Path(__file__).resolve().parents[2]
EXTRACT = ROOT / "tests" / "ingest" / "data" / "lendingclub_extract.csv"


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Path]:
    """Settings pointing every path into tmp_path."""
    env = {
        "OVERDUE_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "OVERDUE_INBOX": str(tmp_path / "inbox"),
        "OVERDUE_MODELS_DIR": str(tmp_path / "models"),
        "OVERDUE_REPORTS_DIR": str(tmp_path / "reports"),
        "OVERDUE_PUBLISHED_DIR": str(tmp_path / "published"),
        "OVERDUE_SOURCES_DIR": str(ROOT / "sources"),
        "OVERDUE_RETRY_DELAYS": "[0]",
        "OVERDUE_LOCK_WAIT_SECONDS": "0",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    yield tmp_path
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


def test_real_lendingclub_rows_run_end_to_end_without_inventing_a_model(place: Path) -> None:
    """Ingest balances with skipped rows; training refuses (38 cases); the report is built
    without a model; nothing is published."""
    result = nightly(paths=[str(EXTRACT)], source="lendingclub")
    (ingested,) = result["ingest"]
    assert ingested["status"] == "loaded" and ingested["source"] == "lendingclub"
    assert (ingested["rows_read"], ingested["rows_loaded"], ingested["rows_skipped"]) == (
        68,
        38,
        30,
    )
    assert ingested["rows_quarantined"] == ingested["rows_replaced"] == 0
    assert ingested["skip_reasons"] == {"no_hardship_or_settlement": 30}
    trained = result["train"]
    assert trained["model_version"] is None
    assert "only 38 labelled cases" in trained["refused"]
    assert result["publish"]["folder"] is None
    assert not (place / "published" / "CURRENT").exists()
    manifest = json.loads((place / "reports" / "latest" / "report.json").read_text("utf-8"))
    assert manifest["model_version"] is None
    with open_warehouse(place / "warehouse.duckdb", read_only=True) as con:
        assert con.execute("SELECT count(*) FROM cases").fetchall() == [(38,)]
        assert con.execute("SELECT count(*) FROM model_runs").fetchall() == [(0,)]
