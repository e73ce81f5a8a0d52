"""Each report opens from disk in Debian's Chromium with the network blocked, and works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page
from report_scan import Built

from browser_support import Visit, chromium
from browser_support import visit as visit_url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def visit(context: BrowserContext, path: Path) -> Visit:
    """Open ``path`` from disk; every request that is not ``file://`` is recorded and aborted."""
    return visit_url(context, path.as_uri(), allowed="file://")


def chart_y(page: Page, element_id: str) -> list[float]:
    return page.evaluate(f"document.getElementById('{element_id}').data[0].y")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_renders_offline_and_filters(
    built: Built, browser: BrowserContext, lang: str
) -> None:
    """Every chart draws with no network and no console error; the filters change a chart."""
    path = built.reports / built.run_id / f"{lang}.html"
    seen = visit(browser, path)
    page = seen.page
    specs = page.locator("script.figure-spec").count()
    assert specs >= 20
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length === {specs}", timeout=60_000
    )
    assert page.locator(".js-plotly-plot .main-svg").count() >= specs
    before = chart_y(page, "success-approach")
    page.select_option("#filter-lender", "p2p")
    page.wait_for_function(
        "document.getElementById('success-approach').dataset.slice === 'p2p|__all__'"
    )
    after = chart_y(page, "success-approach")
    assert after != before
    periods = page.locator("#filter-period option").all()
    page.select_option("#filter-period", periods[-1].get_attribute("value"))
    page.wait_for_function(
        "document.getElementById('success-approach').dataset.slice.split('|')[1] !== '__all__'"
    )
    page.select_option("#filter-lender", "__all__")
    page.select_option("#filter-period", "__all__")
    page.wait_for_function(
        "document.getElementById('success-approach').dataset.slice === '__all__|__all__'"
    )
    assert chart_y(page, "success-approach") == before
    assert page.locator("#provenance").inner_text().count(built.run_id) == 1
    assert seen.outside_requests == []
    assert seen.console_errors == []
    page.close()


@pytest.mark.slow
def test_index_pages_open_offline(built: Built, browser: BrowserContext) -> None:
    """reports/index.html lists both runs; the run page and latest/ link to both languages."""
    seen = visit(browser, built.reports / "index.html")
    rows = seen.page.locator("tbody tr")
    assert rows.count() == 2
    assert built.run_id in rows.first.inner_text()
    for folder in (built.run_id, "latest"):
        seen.page.goto((built.reports / folder / "index.html").as_uri())
        assert seen.page.locator("a[href='zh.html']").count() == 1
        assert seen.page.locator("a[href='en.html']").count() == 1
    assert seen.outside_requests == []
    assert seen.console_errors == []
    seen.page.close()


@pytest.mark.slow
def test_ingest_only_report_renders_and_says_what_is_missing(
    ingest_only: Built, browser: BrowserContext
) -> None:
    """Without a model the report still draws the data sections and says training is missing."""
    seen = visit(browser, ingest_only.reports / ingest_only.run_id / "en.html")
    specs = seen.page.locator("script.figure-spec").count()
    seen.page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length === {specs}", timeout=60_000
    )
    assert "run `overdue train`" in seen.page.locator("#effects").inner_text()
    assert seen.outside_requests == []
    assert seen.console_errors == []
    seen.page.close()
