"""The nightly pipeline on real LendingClub rows, read through the source mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipelines.nightly import nightly

from overdue.warehouse import open_warehouse
from settings_support import settings_in

ROOT = Path(__file__).resolve().parents[2]
EXTRACT = ROOT / "tests" / "ingest" / "data" / "lendingclub_extract.csv"


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Path]:
    """Settings pointing every path into tmp_path."""
    with settings_in(tmp_path, OVERDUE_SOURCES_DIR=str(ROOT / "sources")):
        yield tmp_path


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
