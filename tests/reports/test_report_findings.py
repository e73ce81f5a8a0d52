"""The report opens with its key findings (computed, protected, linked to their evidence) and
says what changed since the previous training run; on a real warehouse and real reports."""

from __future__ import annotations

import dataclasses
import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import BrowserContext
from report_scan import Built, page_without_library

from browser_support import chromium, visit
from overdue.config import Settings
from overdue.ingest import ingest_paths
from overdue.models.run import train
from overdue.reports import findings
from overdue.reports.build import build_report, collect
from overdue.reports.content import ReportContent
from overdue.reports.i18n import Lang, text
from overdue.reports.pages import contrast_finding_text, render_report, subgroup_finding_text
from overdue.simulate import is_simulated_file, write_simulation
from overdue.warehouse import open_warehouse
from overdue.worlds import WORLDS

LANGS: tuple[Lang, ...] = ("zh", "en")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "cases.parquet"
HIGH_K = 150
"""A k under which some cells the fixture's default k shows are suppressed."""


def section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}">')
    return page[start : page.index("</section>", start)]


def content_at(built: Built, k: int) -> ReportContent:
    with open_warehouse(built.warehouse, read_only=True) as con:
        return collect(con, k, "now")


def page_text(sentence: str) -> str:
    """A finding's sentence as the page holds it (escaped; bold tags aside)."""
    return html.escape(sentence)


def plain(fragment: str) -> str:
    return re.sub(r"</?b>", "", fragment)


def test_findings_open_the_page_and_the_data_details_close_it(built: Built) -> None:
    """In both languages the banner and the findings come before every other section, and the
    data and ingest details come after all the analysis sections."""
    for lang in LANGS:
        page = page_without_library(built.reports / built.run_id / f"{lang}.html")
        starts = [m.start() for m in re.finditer(r'<section id="', page)]
        ids = [page[s + len('<section id="') :].split('"', 1)[0] for s in starts]
        assert ids[0] == "findings", (lang, ids)
        assert ids[-1] == "data", (lang, ids)
        assert page.index('id="simulated-banner"') < page.index('<section id="findings">')
        assert page.index('<section id="findings">') < page.index('<section id="data">')
        assert text("sec_findings", lang) in section(page, "findings")


def test_findings_are_the_stored_contrasts_with_their_own_intervals(built: Built) -> None:
    """Every clear headline contrast is a finding whose sentence carries the level's adjusted
    rate and the difference's own stored interval; each finding links to a part of the page."""
    content = content_at(built, built.settings.k)
    computed = findings.contrast_findings(content.effects, content.sensitivity)
    stored = {(r["treatment"], r["level"]): r for r in content.sensitivity or []}
    clear = [f for f in computed if f.direction != findings.NO_CLEAR_DIFFERENCE]
    assert clear, "the fixture has clear contrasts"
    for f in clear:
        row = stored[(f.treatment, f.level)]
        assert (f.difference_low, f.difference_high) == (row["ci_low"], row["ci_high"])
        assert (row["ci_low"] > 0) == (f.direction == findings.CLEARLY_HIGHER)
    for lang in LANGS:
        part = plain(
            section(page_without_library(built.reports / built.run_id / f"{lang}.html"), "findings")
        )
        for f in clear:
            sentence = contrast_finding_text(f, lang)
            assert page_text(sentence) in part, sentence
            assert f"{f.difference_low * 100:+.1f}" in sentence
            assert f"{f.rate:.1%}" in sentence
        for f in findings.subgroup_findings(content.effects):
            assert page_text(subgroup_finding_text(f, lang)) in part
        page = page_without_library(built.reports / built.run_id / f"{lang}.html")
        targets = re.findall(r'class="evidence" href="#([^"]+)"', section(page, "findings"))
        assert targets
        for target in set(targets):
            assert f'id="{target}"' in page, target


def test_the_simulated_banner_shows_on_simulated_data_only(built: Built) -> None:
    """Training records whether its source files were written by the simulator (as the bundled
    sample was): the report shows the banner for such a run in both languages, not otherwise."""
    assert is_simulated_file(SAMPLE)
    content = content_at(built, built.settings.k)
    assert content.simulated is True
    assert content.sources and all(set(s) >= {"file", "sha256"} for s in content.sources)
    for lang in LANGS:
        page = page_without_library(built.reports / built.run_id / f"{lang}.html")
        assert html.escape(text("simulated_banner", lang)) in page
        real = render_report(dataclasses.replace(content, simulated=False), lang, None)
        assert 'id="simulated-banner"' not in real
        assert html.escape(text("simulated_banner", lang)) not in real


def test_a_suppressed_cell_is_never_a_finding(built: Built, tmp_path: Path) -> None:
    """Raising k hides more cells: a finding resting on a newly hidden cell drops out of the
    page, and every finding left rests on cells shown under the higher k."""
    low = content_at(built, built.settings.k)
    high = content_at(built, HIGH_K)
    assert high.effects is not None and low.effects is not None
    shown = {
        (r["treatment"], r["level"], r["subgroup"])
        for r in high.effects.iter_rows(named=True)
        if not r["suppressed"]
    }
    high_contrasts = findings.contrast_findings(high.effects, high.sensitivity)
    high_groups = findings.subgroup_findings(high.effects)
    for f in high_contrasts:
        assert (f.treatment, f.level, "population") in shown
    for g in high_groups:
        assert (g.treatment, g.level, g.high["subgroup"]) in shown
        assert (g.treatment, g.level, g.low["subgroup"]) in shown
    dropped = [
        f
        for f in findings.contrast_findings(low.effects, low.sensitivity)
        if (f.treatment, f.level, "population") not in shown
        and f.direction != findings.NO_CLEAR_DIFFERENCE
    ]
    assert dropped, "some finding at the default k rests on a cell hidden under the higher k"
    report = build_report(built.warehouse, tmp_path, k=HIGH_K)
    for lang in LANGS:
        part = plain(section(page_without_library(report.files[lang]), "findings"))
        for f in dropped:
            assert page_text(contrast_finding_text(f, lang)) not in part
        for f in high_contrasts:
            if f.direction != findings.NO_CLEAR_DIFFERENCE:
                assert page_text(contrast_finding_text(f, lang)) in part


def test_a_thin_overlap_cell_is_never_a_subgroup_finding_and_a_contrast_says_so(
    built: Built,
) -> None:
    """With every cell's overlap marked thin, no subgroup difference is a finding; each clear
    contrast still shows, with the thin-overlap caveat linked to the overlap warnings."""
    content = content_at(built, built.settings.k)
    assert content.effects is not None
    assert findings.subgroup_findings(content.effects)  # some, with overlap as it is
    thin = dataclasses.replace(
        content, effects=content.effects.with_columns(overlap_flag=pl.lit(True))
    )
    assert findings.subgroup_findings(thin.effects) == []
    contrasts = findings.contrast_findings(thin.effects, thin.sensitivity)
    assert contrasts and all(f.thin_overlap for f in contrasts)
    for lang in LANGS:
        page = render_report(thin, lang, None)
        part = section(page, "findings")
        clear = [f for f in contrasts if f.direction != findings.NO_CLEAR_DIFFERENCE]
        assert part.count('href="#overlap"') == len(clear) > 0
        assert text("findings_whom_none", lang) in html.unescape(part)


def test_the_first_run_says_there_is_no_previous_run(built: Built) -> None:
    """The report built after the first training run says so where the changes are listed."""
    folder = built.reports / built.first_run
    for page_path in folder.glob("*.html"):
        if page_path.name == "index.html":
            continue
        lang: Lang = "zh" if page_path.stem == "zh" else "en"
        part = section(page_without_library(page_path), "changes")
        assert html.escape(text("no_previous", lang)) in part
        assert "moved-effects" not in part


def test_the_second_run_lists_the_sources_it_added(built: Built) -> None:
    """The fixture's second run learnt from two more files: both listed as added, by name and
    hash, with no case counts; no effect moved by more than its width."""
    content = content_at(built, built.settings.k)
    changes = findings.source_changes(content.sources, content.previous_sources)
    assert changes is not None
    added, removed = changes
    assert [s["file"] for s in added] == ["b.parquet", "bad.parquet"]
    assert removed == []
    page = page_without_library(built.reports / built.run_id / "en.html")
    part = section(page, "changes")
    for s in added:
        assert f'<td>{s["file"]}</td><td title="{s["sha256"]}"><code>{s["sha256"][:16]}' in part
    assert 'data-source="removed"' not in part


def test_source_changes_by_hash() -> None:
    """A file whose content changed is removed under its old hash and added under its new."""
    before = [{"file": "a.csv", "sha256": "1", "cases": 50}, {"file": "b.csv", "sha256": "2"}]
    after = [{"file": "a.csv", "sha256": "3", "cases": 60}, {"file": "c.csv", "sha256": "4"}]
    added, removed = findings.source_changes(after, before) or ([], [])
    assert added == [{"file": "a.csv", "sha256": "3"}, {"file": "c.csv", "sha256": "4"}]
    assert removed == [{"file": "a.csv", "sha256": "1"}, {"file": "b.csv", "sha256": "2"}]
    assert findings.source_changes(after, None) is None


@pytest.fixture(scope="module")
def moved(built: Built, tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, Path]:
    """The fixture's warehouse copied, 3,000 cases of a world where lenders agree a fifth of
    the time added, a third training run and its report."""
    folder = tmp_path_factory.mktemp("moved")
    settings = Settings(
        warehouse=folder / "w.duckdb",
        models_dir=folder / "models",
        reports_dir=folder / "reports",
        model_threads=1,
        self_check=False,  # its changes, not its self-check, are read here
    )
    shutil.copy(built.warehouse, settings.warehouse)
    rare = folder / "rare.parquet"
    write_simulation(
        rare, rows=3_000, seed=33, as_of=settings.as_of, world=WORLDS["rare_agreement"]
    )
    ingest_paths([rare], settings.warehouse)
    run = train(settings.warehouse, settings)
    report = build_report(settings.warehouse, settings.reports_dir, k=settings.k)
    assert report.run_id == run.run_id
    return Built(
        folder, settings.warehouse, settings.reports_dir, settings, built.run_id, run.run_id
    ), rare


def test_what_changed_lists_the_moved_effects_and_the_added_source(
    moved: tuple[Built, Path],
) -> None:
    """Data from a world with far fewer agreements move effects by more than their width: each
    is listed with its old and new estimate and interval, and the new file by name and hash."""
    run, rare = moved
    content = content_at(run, run.settings.k)
    assert content.effects is not None and content.previous_effects is not None
    table = findings.moved_effects(content.effects, content.previous_effects)
    assert table.height > 0
    population = table.filter(table["subgroup"] == "population")
    assert population.height > 0
    for r in table.iter_rows(named=True):
        width = max(r["new_ci_high"] - r["new_ci_low"], r["old_ci_high"] - r["old_ci_low"])
        assert abs(r["new_estimate"] - r["old_estimate"]) > width
    added, removed = findings.source_changes(content.sources, content.previous_sources) or ([], [])
    assert [s["file"] for s in added] == [rare.name] and removed == []
    for lang in LANGS:
        page = page_without_library(run.reports / run.run_id / f"{lang}.html")
        part = section(page, "changes")
        assert part.count("data-moved=") == table.height
        first = table.row(0, named=True)
        row = part[
            part.index(f'data-moved="{first["treatment"]}|{first["level"]}|{first["subgroup"]}"') :
        ]
        row = row[: row.index("</tr>")]
        assert (
            f"{first['old_estimate']:.1%} ({first['old_ci_low']:.1%} - {first['old_ci_high']:.1%})"
            in row
        )
        assert (
            f"{first['new_estimate']:.1%} ({first['new_ci_low']:.1%} - {first['new_ci_high']:.1%})"
            in row
        )
        assert 'data-source="added"' in part and rare.name in part


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGS)
def test_the_browser_shows_the_findings_first(
    built: Built, browser: BrowserContext, lang: Lang
) -> None:
    """In Chromium, offline, the first section of the page is the findings, under the banner,
    and the data section is the last one."""
    seen = visit(
        browser, (built.reports / built.run_id / f"{lang}.html").as_uri(), allowed="file://"
    )
    page = seen.page
    ids = page.evaluate("Array.from(document.querySelectorAll('main section')).map(s => s.id)")
    assert ids[0] == "findings" and ids[-1] == "data"
    first = page.locator("main > *").first
    assert first.get_attribute("id") == "simulated-banner"
    heading = page.locator("#findings h2").inner_text()
    assert heading == text("sec_findings", lang)
    box = page.locator("#findings").bounding_box()
    data = page.locator("#data").bounding_box()
    assert box is not None and data is not None and box["y"] < data["y"]
    assert page.locator("#findings li[data-finding='contrast']").count() > 0
    assert not seen.outside_requests
