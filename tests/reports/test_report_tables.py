"""Every chart's numbers are also in a sortable table with a CSV of the same aggregates; the
filters change every section they claim to; the Chinese page speaks Chinese; all offline."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import BrowserContext
from report_scan import Built, leaves, page_without_library

from browser_support import Visit, chromium
from browser_support import visit as visit_url
from overdue.reports.i18n import text

TABLE_BOX = re.compile(r'<div class="table-box" id="table-([^"]+)">(.*?)</table></div></div>', re.S)
FIGURE_SPEC = re.compile(
    r'<script type="application/json" class="figure-spec" data-target="([^"]+)">(.*?)</script>',
    re.S,
)
ROW = re.compile(r"<tr([^>]*)>(.*?)</tr>", re.S)
VALUE = re.compile(r'data-value="([^"]*)"')
HEADER = re.compile(r'<button type="button">([^<]*)</button>')
CSV_PREFIX = "data:text/csv;charset=utf-8,"


@dataclass(frozen=True)
class Table:
    """A rendered table: headers, each row's attributes and raw cell values, and its CSV."""

    headers: list[str]
    rows: list[tuple[str, list[str]]]
    csv: str

    def visible(self) -> list[list[str]]:
        """Rows shown before any filter is touched."""
        return [values for attrs, values in self.rows if " hidden" not in attrs]


def read_tables(page: str) -> dict[str, Table]:
    """Every table of a page by id."""
    tables = {}
    for table_id, body in TABLE_BOX.findall(page):
        href = html.unescape(re.search(r'href="([^"]*)"', body).group(1))  # type: ignore[union-attr]
        assert href.startswith(CSV_PREFIX)
        tbody = body.split("<tbody>", 1)[1]
        rows = [
            (attrs, [html.unescape(v) for v in VALUE.findall(cells)])
            for attrs, cells in ROW.findall(tbody)
        ]
        headers = [html.unescape(h) for h in HEADER.findall(body)]
        tables[table_id] = Table(headers, rows, unquote(href[len(CSV_PREFIX) :]))
    return tables


def figure_specs(page: str) -> dict[str, dict[str, Any]]:
    """Every figure of a page by its element id."""
    return {t: json.loads(spec.replace("<\\/", "</")) for t, spec in FIGURE_SPEC.findall(page)}


def drawn(spec: dict[str, Any], axis: str, lang: str) -> list[float]:
    """The numbers a chart draws on ``axis`` (not its suppressed crosses, guide lines or
    legend-only entries)."""
    values: list[float] = []
    for trace in spec["data"]:
        if trace.get("hoverinfo") == "skip" or trace.get("name") == text("suppressed", lang):
            continue
        values += [v for v in leaves(trace.get(axis, [])) if isinstance(v, int | float)]
    return values


def crosses(spec: dict[str, Any], lang: str) -> int:
    """How many suppressed numbers a chart marks with a grey cross."""
    return sum(
        len(trace.get("y", []))
        for trace in spec["data"]
        if trace.get("name") == text("suppressed", lang)
    )


CHARTS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "fig-months": ("months", "y", (1,)),
    "fig-coverage": ("coverage", "x", (1,)),
    "fig-forest": ("effects", "x", (2,)),
    "fig-heatmap": ("heatmap", "z", (2,)),
    "fig-naive": ("naive", "x", (1, 2)),
    "fig-survival": ("survival", "y", (2,)),
    "fig-sustained": ("sustained", "y", (3,)),
    "fig-roc": ("roc", "x", (1,)),
    "fig-rel": ("rel", "x", (1,)),
    "fig-drivers": ("drivers", "x", (1,)),
    "fig-psi": ("psi", "x", (1,)),
    "fig-shift": ("shift", "x", (1, 2)),
}
"""Chart (or the prefix of its ids) -> its table, the chart's value axis, the table's columns."""


def chart_of(figure_id: str) -> tuple[str, str, tuple[int, ...]] | None:
    """The table a chart's numbers are in: by id, by prefix (the forests), or success-*."""
    if figure_id.startswith("success-"):
        return figure_id, "y", (2,)
    if figure_id == "fig-levers" or figure_id.startswith("fig-forest"):
        return CHARTS["fig-forest"]
    return CHARTS.get(figure_id)


def numbers(rows: list[list[str]], columns: tuple[int, ...]) -> Counter[float]:
    return Counter(float(r[c]) for r in rows for c in columns if r[c] != "")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_chart_has_a_table_whose_rows_equal_its_numbers(built: Built, lang: str) -> None:
    """Each chart's drawn numbers are exactly the table's shown numbers; the crosses of a chart
    are the table's blank cells; no chart without a table."""
    page = page_without_library(built.reports / built.run_id / f"{lang}.html")
    tables, specs = read_tables(page), figure_specs(page)
    drawn_by_table: dict[str, Counter[float]] = {}
    crosses_by_table: Counter[str] = Counter()
    for figure_id, spec in specs.items():
        found = chart_of(figure_id)
        assert found is not None, f"{figure_id} has no table"
        table_id, axis, _ = found
        assert table_id in tables, f"{figure_id}: table {table_id} missing"
        drawn_by_table.setdefault(table_id, Counter()).update(drawn(spec, axis, lang))
        crosses_by_table[table_id] += crosses(spec, lang)
    assert len(drawn_by_table) >= 15
    for figure_id in specs:
        table_id, _, columns = chart_of(figure_id)  # type: ignore[misc]
        shown = tables[table_id].visible()
        assert drawn_by_table[table_id] == numbers(shown, columns), (lang, table_id)
        blanks = sum(1 for r in shown if r[columns[-1]] == "")
        if table_id != "heatmap":  # a heatmap leaves a suppressed cell empty, no cross
            assert crosses_by_table[table_id] == blanks, (lang, table_id)
    assert any(crosses_by_table.values()), "the fixture should suppress something"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_each_csv_holds_the_tables_rows_with_a_byte_order_mark(built: Built, lang: str) -> None:
    """The CSV of every table starts with a BOM (Excel reads Chinese), has the table's headers
    and exactly its rows and raw values, empty where suppressed, and no case identifier."""
    page = page_without_library(built.reports / built.run_id / f"{lang}.html")
    for table_id, table in read_tables(page).items():
        assert table.csv.startswith("\ufeff"), table_id
        header, *rows = list(csv.reader(io.StringIO(table.csv[1:])))
        assert header[: len(table.headers)] == table.headers, table_id
        assert len(rows) == len(table.rows), table_id
        for row, (_, values) in zip(rows, table.rows, strict=True):
            for got, want in zip(row, values, strict=False):
                assert got == want or float(got) == float(want), (table_id, got, want)
        assert "case_id" not in table.csv


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_differences_are_in_percentage_points(built: Built, lang: str) -> None:
    """A difference of two rates reads in percentage points, never with a % sign."""
    page = page_without_library(built.reports / built.run_id / f"{lang}.html")
    for section in ("naive", "sensitivity", "policy"):
        start = page.index(f'<section id="{section}">')
        body = page[start : page.index("</section>", start)]
        assert re.search(rf"[+-]\d+\.\d {text('pp', lang)}<", body), section
        assert not re.search(r">[+-]\d+\.\d%", body), section


# --- in Chromium ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile."""
    with chromium(tmp_path_factory.mktemp("chromium-tables")) as context:
        yield context


def open_page(context: BrowserContext, path: Path) -> Visit:
    """The page from disk, every chart drawn; any request that is not file:// fails."""
    seen = visit_url(context, path.as_uri(), allowed="file://")
    specs = seen.page.locator("script.figure-spec").count()
    seen.page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length === {specs}", timeout=60_000
    )
    return seen


COLUMN_VALUES = """([id, column]) => Array.from(
  document.querySelectorAll('#table-' + id + ' tbody tr:not([hidden])')
).map(row => row.cells[column].dataset.value)"""


def as_numbers(values: list[str]) -> list[float | None]:
    return [None if v == "" else float(v) for v in values]


@pytest.mark.slow
def test_clicking_a_header_sorts_the_rows(built: Built, browser: BrowserContext) -> None:
    """A click sorts a column ascending (blanks last), a second click descending; text columns
    sort too."""
    seen = open_page(browser, built.reports / built.run_id / "en.html")
    page = seen.page
    for table_id, column in (("naive", 1), ("effects", 2), ("success-approach", 2)):
        before = as_numbers(page.evaluate(COLUMN_VALUES, [table_id, column]))
        header = page.locator(f"#table-{table_id} thead th").nth(column)
        header.locator("button").click()
        up = as_numbers(page.evaluate(COLUMN_VALUES, [table_id, column]))
        shown = [v for v in up if v is not None]
        assert shown == sorted(shown) and up[: len(shown)] == shown, table_id
        assert sorted(shown) == sorted(v for v in before if v is not None)
        assert header.get_attribute("aria-sort") == "ascending"
        header.locator("button").click()
        down = [v for v in as_numbers(page.evaluate(COLUMN_VALUES, [table_id, column])) if v]
        assert down == sorted(shown, reverse=True), table_id
    assert seen.outside_requests == []
    assert seen.console_errors == []
    page.close()


FILTERABLE = ("success",)
SUCCESS_TABLES = """() => Array.from(document.querySelectorAll('#success .table-box')).map(box => [
  box.id.slice('table-'.length),
  Array.from(box.querySelectorAll('tbody tr:not([hidden])')).map(r => r.cells[2].dataset.value)
])"""


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_filter_changes_every_section_it_claims_to(
    built: Built, browser: BrowserContext, lang: str
) -> None:
    """Under a lender-type filter each success chart and its table show the same, changed
    numbers; under a period filter the cases by month show that year alone, chart and table;
    every other section says it does not follow the filters; back to all, as before."""
    seen = open_page(browser, built.reports / built.run_id / f"{lang}.html")
    page = seen.page
    sections = page.evaluate("Array.from(document.querySelectorAll('main section')).map(s => s.id)")
    notes = "Array.from(document.querySelectorAll('.not-filtered')).filter(n => !n.hidden)"
    assert page.evaluate(f"{notes}.length") == 0
    before = dict(page.evaluate(SUCCESS_TABLES))
    page.select_option("#filter-lender", "p2p")
    page.wait_for_function(
        "document.getElementById('success-approach').dataset.slice === 'p2p|__all__'"
    )
    after = dict(page.evaluate(SUCCESS_TABLES))
    assert after["success-approach"] != before["success-approach"]
    for table_id, values in after.items():
        chart = page.evaluate(f"document.getElementById('{table_id}').data[0].y")
        assert Counter(chart) == Counter(float(v) for v in values if v != ""), table_id
    said = set(page.evaluate(f"{notes}.map(n => n.closest('section').id)"))
    unfiltered = {s for s in sections if s not in FILTERABLE and s != "methods"}
    assert said == unfiltered
    months = "document.getElementById('fig-months').data.flatMap(t => t.x).sort()"
    all_months = page.evaluate(months)
    year = page.locator("#filter-period option").all()[-1].get_attribute("value")
    page.select_option("#filter-period", year)
    page.wait_for_function(f"document.getElementById('fig-months').dataset.slice === '{year}'")
    in_year = page.evaluate(months)
    assert in_year and len(in_year) < len(all_months)
    assert all(m.startswith(year) for m in in_year)
    assert sorted(page.evaluate(COLUMN_VALUES, ["months", 0])) == in_year
    page.select_option("#filter-lender", "__all__")
    page.select_option("#filter-period", "__all__")
    page.wait_for_function(
        "document.getElementById('success-approach').dataset.slice === '__all__|__all__'"
    )
    assert page.evaluate(months) == all_months
    assert dict(page.evaluate(SUCCESS_TABLES)) == before
    assert page.evaluate(f"{notes}.length") == 0
    assert seen.outside_requests == []
    assert seen.console_errors == []
    page.close()


ALLOWED_ASCII = {
    "AIPW", "AUC", "Brier", "CSV", "ECE", "ROC", "PSI", "RV", "RVa", "Kaplan-Meier", "Wilson",
    "English", "k", "n", "parquet", "csv", "jsonl",
}  # fmt: skip
"""Codes, units and names the Chinese page may show in Latin letters."""
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_\-.]*")
VISIBLE_TEXT = """() => [document.body.innerText].concat(
  Array.from(document.querySelectorAll('svg text')).map(t => t.textContent)).join('\\n')"""
PLACEHOLDER = re.compile(r"%\{[^}]*\}|<[^>]*>")


def english_words(texts: list[str]) -> set[str]:
    """Latin words that are not codes (with a digit), file names (with a dot) or allowed."""
    return {
        w
        for t in texts
        for w in WORD.findall(t)
        if w not in ALLOWED_ASCII and not re.search(r"[\d.]", w)
    }


SHOWN_KEYS = {"text", "hovertemplate", "name", "ticktext", "x", "y", "customdata"}


def chart_texts(spec: Any) -> Iterator[str]:
    """Every string of a figure a reader can see or hover (titles, names, labels, hovers)."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in SHOWN_KEYS:
                yield from (PLACEHOLDER.sub(" ", v) for v in leaves(value) if isinstance(v, str))
            yield from chart_texts(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from chart_texts(value)


@pytest.mark.slow
def test_the_chinese_page_shows_no_english_word(built: Built, browser: BrowserContext) -> None:
    """No Latin word in the zh page's visible text, its charts' labels or their hovers, except
    codes, units and names; the English page does show English (the check can fail)."""
    path = built.reports / built.run_id / "zh.html"
    seen = open_page(browser, path)
    visible = seen.page.evaluate(VISIBLE_TEXT)
    specs = figure_specs(page_without_library(path))
    hovers = [t for spec in specs.values() for t in chart_texts(spec)]
    assert english_words([visible, *hovers]) == set()
    seen.page.goto((built.reports / built.run_id / "en.html").as_uri())
    assert len(english_words([seen.page.evaluate(VISIBLE_TEXT)])) > 100
    assert seen.outside_requests == []
    assert seen.console_errors == []
    seen.page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_chart_with_open_markers_says_what_they_mean(built: Built, lang: str) -> None:
    """A chart drawing an open marker has a legend entry saying it means thin overlap."""
    page = page_without_library(built.reports / built.run_id / f"{lang}.html")
    checked = 0
    for figure_id, spec in figure_specs(page).items():
        drawn_open = any(
            "open" in str(symbol) and "x-thin" not in str(symbol)
            for trace in spec["data"]
            if trace.get("x") != [None]
            for symbol in leaves(trace.get("marker", {}).get("symbol", []))
        )
        if drawn_open:
            checked += 1
            names = [t.get("name") for t in spec["data"] if t.get("showlegend", True)]
            assert text("open_marker", lang) in names, figure_id
    assert checked >= 3


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_heatmap_writes_each_rate_on_a_colour_blind_safe_scale(built: Built, lang: str) -> None:
    """Every shown cell carries its rate as text, the scale is purple-orange (no red-green),
    and the hover names the number in the page's language."""
    from plotly.colors import diverging

    page = page_without_library(built.reports / built.run_id / f"{lang}.html")
    heatmap = figure_specs(page)["fig-heatmap"]["data"][0]
    for z_row, text_row in zip(heatmap["z"], heatmap["text"], strict=True):
        for z, label in zip(z_row, text_row, strict=True):
            assert label == "×" if z is None else label.startswith(f"{z:.0%}")
    colours = [c for _, c in heatmap["colorscale"]]
    assert colours == list(diverging.PuOr)
    assert text("heatmap_value", lang) in heatmap["hovertemplate"]


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_on_a_phone_the_page_never_scrolls_sideways(
    built: Built, browser: BrowserContext, lang: str
) -> None:
    """At 390 px: no element reaches past the screen but inside a table's or a wide chart's own
    scroll box (the heatmap and the subgroup forests keep 600 px, enough to read, and scroll);
    the long-text tables are a card per row; a long chart title wraps."""
    seen = visit_url(browser, "about:blank", allowed="file://")
    page = seen.page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto((built.reports / built.run_id / f"{lang}.html").as_uri())
    specs = page.locator("script.figure-spec").count()
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length === {specs}", timeout=60_000
    )
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    beyond = page.evaluate(
        """Array.from(document.querySelectorAll('body *')).filter(e =>
          e.getBoundingClientRect().right > window.innerWidth + 1
          && !e.closest('.table-scroll') && !e.closest('.wide-figure')
        ).map(e => e.tagName + ': ' + e.textContent.slice(0, 60))"""
    )
    assert beyond == []
    wide = page.locator(".wide-figure")
    assert wide.count() >= 5  # the heatmap and the four subgroup forests
    for box in wide.all():
        assert box.evaluate("b => b.firstElementChild.getBoundingClientRect().width") >= 600
        assert box.evaluate("b => b.scrollWidth > b.clientWidth")
    for table_id in ("sensitivity", "refutations", "policy"):
        cell = page.locator(f"#table-{table_id} tbody td").first
        assert cell.evaluate("c => getComputedStyle(c).display") == "grid", table_id
        assert page.locator(f"#table-{table_id} thead").is_hidden()
    titles = "Array.from(document.querySelectorAll('text.gtitle'))"
    assert page.evaluate(
        f"{titles}.filter(t => t.querySelectorAll('tspan.line').length > 1).length"
    )
    assert seen.console_errors == []
    page.close()
