"""No report publishes a count of 1..k-1, a case id or a per-case value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_scan import (
    RAW_TRACE_TYPES,
    Built,
    embedded_json,
    page_without_library,
    published_counts,
    trace_types,
)

from overdue.reports.build import build_report
from overdue.warehouse import open_warehouse

TOKEN = re.compile(r"[A-Za-z0-9_-]{6,64}")


def case_ids(warehouse: Path) -> set[str]:
    """Every case id the warehouse holds (and the ids of quarantined rows' batches' cases)."""
    with open_warehouse(warehouse, read_only=True) as con:
        return {str(r[0]) for r in con.execute("SELECT case_id FROM cases").fetchall()}


def pages(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.html"))


@pytest.fixture(scope="module")
def strict_report(built: Built, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The same warehouse with k = 60: most cells of most tables hold 1..59 cases."""
    out = tmp_path_factory.mktemp("strict")
    report = build_report(built.warehouse, out, k=60)
    return report.folder, 60


def test_strict_report_publishes_no_count_under_k(strict_report: tuple[Path, int]) -> None:
    """With many tiny groups, every number that is a count is 0 or at least k."""
    folder, k = strict_report
    for page in pages(folder):
        counts = published_counts(page)
        if page.name != "index.html":  # the language pages hold counts; the chooser none
            assert counts, f"{page.name}: the scan found no counts at all"
        small = sorted({c for c in counts if 0 < c < k})
        assert not small, f"{page.name} publishes counts under k={k}: {small[:20]}"


def test_strict_report_marks_suppressed_cells(strict_report: tuple[Path, int]) -> None:
    """Suppressed cells are marked, not silently dropped."""
    folder, _ = strict_report
    assert "suppressed" in (folder / "en.html").read_text(encoding="utf-8")
    assert "已隐藏" in (folder / "zh.html").read_text(encoding="utf-8")


def test_default_report_publishes_no_count_under_k(built: Built) -> None:
    """The report the command wrote (k = 10) holds no count of 1..9."""
    folder = built.reports / built.run_id
    for page in pages(folder):
        assert not {c for c in published_counts(page) if 0 < c < built.settings.k}


def test_ingest_only_report_publishes_no_count_under_k(ingest_only: Built) -> None:
    """A report of 150 cases (tiny groups everywhere) holds no count of 1..9."""
    folder = ingest_only.reports / ingest_only.run_id
    for page in pages(folder):
        assert not {c for c in published_counts(page) if 0 < c < ingest_only.settings.k}


@pytest.mark.parametrize("which", ["built", "ingest_only"])
def test_reports_hold_no_case_id(which: str, request: pytest.FixtureRequest) -> None:
    """No token of any page is a case id of the warehouse."""
    source: Built = request.getfixturevalue(which)
    ids = case_ids(source.warehouse)
    for page in pages(source.reports / source.run_id):
        tokens = set(TOKEN.findall(page_without_library(page)))
        assert not tokens & ids, f"{page.name} holds case ids"
        assert "case_id" not in page_without_library(page)


def test_reports_draw_no_per_case_points(built: Built) -> None:
    """Histograms and other raw-data traces are never used: everything is binned in DuckDB."""
    for page in pages(built.reports / built.run_id):
        assert not trace_types(page) & RAW_TRACE_TYPES


def test_reports_never_show_quarantined_records(built: Built) -> None:
    """Quarantine reasons appear as counts; the rejected values themselves never do."""
    page = page_without_library(built.reports / built.run_id / "en.html")
    assert "value not allowed: age band" in page
    assert "99-100" not in page
    assert "pawnshop" not in page


def test_no_chart_slice_hides_exactly_one_bar_under_a_shown_total(
    strict_report: tuple[Path, int],
) -> None:
    """Complementary suppression, read back from the page: under every lender x period filter,
    a chart whose total is shown in the lender-type chart never hides exactly one bar."""
    folder, _ = strict_report
    page = page_without_library(folder / "en.html")
    slices = next(d for d in embedded_json(page) if isinstance(d, dict) and "approach" in d)
    totals: dict[tuple[str, str], int] = {}
    for key, (bars, _) in slices["lender_type"].items():
        if key == "empty" or not key.startswith("__all__|"):
            continue
        period = key.split("|")[1]
        for label, custom in zip(bars.get("x", []), bars.get("customdata", []), strict=True):
            totals[(label.replace(" ", "_"), period)] = custom[0]
    checked = 0
    for dimension, by_key in slices.items():
        if dimension == "lender_type":
            continue
        for key, (_, crosses) in by_key.items():
            lender, _, period = key.partition("|")
            if key == "empty" or (lender, period) not in totals:
                continue
            checked += 1
            assert len(crosses.get("x", [])) != 1, (dimension, key)
    assert checked > 20
