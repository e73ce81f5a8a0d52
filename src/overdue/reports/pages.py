"""HTML pages of a report: one self-contained file per language, plotly.js inlined once.

Figures are embedded as JSON (``<script type="application/json" class="figure-spec">``) and
drawn by one small script; the success-rate charts also carry every lender type x period slice
(already protected) so the filters work offline without a server.
"""

from __future__ import annotations

import html
from functools import lru_cache
from typing import Any, Final

import plotly.graph_objects as go
import plotly.io.json as plotly_json
import polars as pl
from plotly.offline import get_plotlyjs

from overdue.reports import figures, findings, tables
from overdue.reports.content import (
    BATCH_COUNTS,
    FAMILIES,
    ReportContent,
    family_of,
    sustained_at,
)
from overdue.reports.i18n import (
    Lang,
    field_label,
    methods,
    reason_label,
    subgroup_label,
    text,
    value_label,
)
from overdue.reports.queries import ALL, DIMENSIONS
from overdue.reports.tables import data_table

LANGUAGE_NAMES: Final = {"zh": "中文", "en": "English"}
CSS: Final = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", Helvetica, Arial,
       sans-serif; margin: 0; color: #222; background: #fafafa; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 18px; }
header nav a { margin-right: 16px; }
h1 { font-size: 1.6em; margin: 0.4em 0; }
h2 { border-bottom: 2px solid #1f77b4; padding-bottom: 4px; margin-top: 2em; }
section { background: #fff; padding: 4px 20px 20px; margin: 16px 0; border-radius: 6px;
          box-shadow: 0 1px 3px rgba(0,0,0,0.08); }
.chart { min-height: 300px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 12px; }
.grid > * { min-width: 0; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; }
td.count, td.num { text-align: right; font-variant-numeric: tabular-nums; }
@media (max-width: 640px) { table:not(.sortable) { display: block; overflow-x: auto; }
  th { min-width: 5em; } }
td.suppressed { color: #9e9e9e; font-style: italic; }
.filters { position: sticky; top: 0; background: #fff; padding: 8px 12px; z-index: 5;
           box-shadow: 0 2px 4px rgba(0,0,0,0.12); border-radius: 0 0 6px 6px; }
.filters label { margin-right: 18px; }
.note { color: #555; font-size: 0.92em; }
.banner { background: #fff4ce; border-left: 6px solid #b7791f; padding: 10px 16px;
          margin: 16px 0; border-radius: 4px; font-weight: 600; }
#findings li { margin: 6px 0; line-height: 1.5; }
footer { font-size: 0.85em; color: #555; padding-bottom: 40px; }
footer dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 14px; }
footer dd { margin: 0; font-family: monospace; overflow-wrap: anywhere; }
.table-box { margin: 4px 0 18px; }
.table-tools { margin: 4px 0; }
.table-scroll { overflow-x: auto; max-height: 420px; overflow-y: auto; }
table.sortable th { padding: 0; position: sticky; top: 0; background: #f4f6f8; }
table.sortable td.num, table.sortable td.count { white-space: nowrap; }
.table-scroll:has(table.stacked) { max-height: none; }
table.sortable th button { all: unset; cursor: pointer; display: block; padding: 4px 18px 4px 8px;
  position: relative; }
table.sortable th button::after { content: "▲▼"; position: absolute; right: 3px; top: 50%;
  transform: translateY(-50%); font-size: 0.55em; color: #bbb; writing-mode: vertical-lr; }
table.sortable th[aria-sort="ascending"] button::after { content: "▲"; color: #222; }
table.sortable th[aria-sort="descending"] button::after { content: "▼"; color: #222; }
@media (max-width: 640px) {
  .wide-figure { overflow-x: auto; }
  .wide-figure > .chart { min-width: 600px; }
  header, main, footer { padding: 0 8px; }
  section { padding: 4px 10px 14px; }
  .grid { grid-template-columns: 1fr; }
  .filters { position: static; }
  .filters label { display: block; margin: 2px 0; }
  table.stacked, table.stacked tbody, table.stacked tr, table.stacked td { display: block; }
  table.stacked thead { display: none; }
  table.stacked tr { border: 1px solid #ddd; margin: 0 0 8px; }
  table.stacked td { border: none; border-bottom: 1px solid #eee; text-align: left;
    display: grid; grid-template-columns: 42% 58%; gap: 6px; }
  table.stacked td::before { content: attr(data-label); color: #555; font-size: 0.85em; }
  table.stacked td.num, table.stacked td.count { white-space: normal; }
  .table-box:has(table.stacked) .table-tools .note { display: none; }
  table.sortable:not(.stacked) td:not(.num):not(.count) { min-width: 8em; }
}
"""

SCRIPT: Final = """
(function () {
  var config = {displaylogo: false, responsive: true};
  var measure = document.createElement('canvas').getContext('2d');
  function fitTitle(layout, width) {
    // a title wider than its chart (a phone) goes on as many lines as it needs
    var title = layout.title;
    if (!title || !title.text || title.text.indexOf('<br>') >= 0) { return; }
    var size = (title.font && title.font.size) || 1.2 * ((layout.font && layout.font.size) || 13);
    measure.font = size + 'px ' + ((layout.font && layout.font.family) || 'sans-serif');
    var words = title.text.match(/[\\u2e80-\\u9fff]|[^\\s\\u2e80-\\u9fff]+\\s*/g);
    var lines = [''];
    words.forEach(function (word) {
      var line = lines[lines.length - 1];
      if (line && measure.measureText(line + word).width > width - 48) { lines.push(word); }
      else { lines[lines.length - 1] = line + word; }
    });
    if (lines.length === 1) { return; }
    title.text = lines.map(function (line) { return line.trim(); }).join('<br>');
    layout.margin = Object.assign({}, layout.margin);
    layout.margin.t = (layout.margin.t || 60) + (lines.length - 1) * size * 1.3;
  }
  document.querySelectorAll('script.figure-spec').forEach(function (node) {
    var spec = JSON.parse(node.textContent);
    var target = document.getElementById(node.dataset.target);
    fitTitle(spec.layout, target.clientWidth);
    Plotly.newPlot(target, spec.data, spec.layout, config);
  });
  function sortValue(cell, numeric) {
    var raw = cell.dataset.value;
    if (raw === '') { return null; }
    return numeric ? parseFloat(raw) : raw;
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var heads = table.querySelectorAll('thead th');
    heads.forEach(function (th, column) {
      th.querySelector('button').addEventListener('click', function () {
        var descending = th.getAttribute('aria-sort') === 'ascending';
        var numeric = th.dataset.kind === 'num';
        heads.forEach(function (other) { other.setAttribute('aria-sort', 'none'); });
        th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = sortValue(a.cells[column], numeric), y = sortValue(b.cells[column], numeric);
          if (x === null || y === null) { return (x === null) - (y === null); }
          var order = numeric ? x - y : String(x).localeCompare(String(y));
          return descending ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  var slicesNode = document.getElementById('success-slices');
  if (!slicesNode) { return; }
  var slices = JSON.parse(slicesNode.textContent);
  var lender = document.getElementById('filter-lender');
  var period = document.getElementById('filter-period');
  function update() {
    var key = lender.value + '|' + period.value;
    document.querySelectorAll('tr[data-lender]').forEach(function (row) {
      row.hidden = row.dataset.lender !== lender.value || row.dataset.period !== period.value;
    });
    document.querySelectorAll('tr[data-year]').forEach(function (row) {
      row.hidden = period.value !== '__all__' && row.dataset.year !== period.value;
    });
    var months = document.getElementById('fig-months');
    if (months && months.data) {
      months.allData = months.allData || JSON.parse(JSON.stringify(months.data));
      var inPeriod = function (x) {
        return period.value === '__all__' || x.indexOf(period.value) === 0;
      };
      var shown = months.allData.map(function (trace) {
        var keep = (trace.x || []).map(function (x) { return x === null || inPeriod(String(x)); });
        var pick = function (values) { return values.filter(function (_, i) { return keep[i]; }); };
        return Object.assign({}, trace, {x: pick(trace.x || []), y: pick(trace.y || [])});
      });
      Plotly.react(months, shown, months.layout, config);
      months.dataset.slice = period.value;
    }
    var active = key !== '__all__|__all__';
    document.querySelectorAll('.not-filtered').forEach(function (note) { note.hidden = !active; });
    Object.keys(slices).forEach(function (dimension) {
      var div = document.getElementById('success-' + dimension);
      var data = slices[dimension][key] || slices[dimension]['empty'];
      Plotly.react(div, data, div.layout, config);
      div.dataset.slice = key;
    });
  }
  lender.addEventListener('change', update);
  period.addEventListener('change', update);
})();
"""


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle that ships with the installed plotly (inlined once per page)."""
    return get_plotlyjs()


def _json_for_script(value: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    return plotly_json.to_json_plotly(value).replace("</", "<\\/")


class Page:
    """Collects the figures of one page and the JSON that draws them."""

    def __init__(self) -> None:
        self.specs: list[str] = []

    def figure(self, fig: go.Figure, element_id: str, css_class: str = "chart") -> str:
        """A placeholder ``div`` for ``fig``; its JSON goes to the end of the page."""
        spec = _json_for_script({"data": fig.data, "layout": fig.layout})
        self.specs.append(
            f'<script type="application/json" class="figure-spec" data-target="{element_id}">'
            f"{spec}</script>"
        )
        return f'<div id="{element_id}" class="{css_class}"></div>'


def _esc(value: object) -> str:
    return html.escape(str(value))


def _count_cell(value: int | None, lang: Lang) -> str:
    if value is None:
        return f'<td class="count suppressed">{_esc(text("suppressed", lang))}</td>'
    return f'<td class="count">{value:,}</td>'


def _table(headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    return (
        f'<div class="table-scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _note(message: str) -> str:
    return f'<p class="note">{_esc(message)}</p>'


# --- sections -----------------------------------------------------------------------------------


def data_section(content: ReportContent, page: Page, lang: Lang) -> str:
    """Batches, quarantine reasons, case counts, coverage of each field, the period."""
    parts = [f'<section id="data"><h2>{_esc(text("sec_data", lang))}</h2>']
    if content.missing:
        parts.append(_note(text("missing_tables", lang) + " " + ", ".join(content.missing)))
    totals = content.totals
    parts.append(f"<h3>{_esc(text('counts', lang))}</h3>")
    parts.append(
        _table(
            [text("cases", lang), text("labelled", lang), text("pending", lang)],
            [
                "<tr>"
                + "".join(
                    _count_cell(totals.get(c), lang) for c in ("cases", "labelled", "pending")
                )
                + "</tr>"
            ],
        )
    )
    if content.batches is not None:
        parts.append(f"<h3>{_esc(text('batches', lang))}</h3>")
        columns = list(BATCH_COUNTS)
        rows = []
        for r in content.batches.iter_rows(named=True):
            name = text("total", lang) if r["batch"] == "total" else r["batch"]
            rows.append(
                f"<tr><td>{_esc(name)}</td><td>{_esc(r['file'])}</td><td>{_esc(r['format'])}"
                f"</td><td>{_esc(value_label('status', r['status'], lang))}</td>"
                f"<td>{_esc(r['finished_at'])}</td>"
                + "".join(_count_cell(r[c], lang) for c in columns)
                + "</tr>"
            )
        headers = [text(h, lang) for h in ("batch", "file", "format", "status", "finished_at")]
        parts.append(_table(headers + [text(c, lang) for c in columns], rows))
    if content.reasons is not None:
        parts.append(f"<h3>{_esc(text('quarantine_reasons', lang))}</h3>")
        if content.reasons.height == 0:
            parts.append(_note(text("no_quarantine", lang)))
        else:
            rows = [
                f"<tr><td>{_esc(reason_label(r, lang))}</td>{_count_cell(n, lang)}</tr>"
                for r, n in content.reasons.iter_rows()
            ]
            parts.append(_table([text("reason", lang), text("rows", lang)], rows))
    if content.months is not None and content.months.height:
        shown = content.months.filter(pl.col("n").is_not_null())["month"]
        if shown.len():
            parts.append(
                f"<p><b>{_esc(text('period', lang))}:</b> {_esc(shown.min())} .. "
                f"{_esc(shown.max())}</p>"
            )
        parts.append(page.figure(figures.months_figure(content.months, lang), "fig-months"))
        months, month_columns = tables.months_table(content.months, lang)
        parts.append(data_table(months, month_columns, lang, "months", row_data=("year",)))
    if content.coverage is not None:
        parts.append(page.figure(figures.coverage_figure(content.coverage, lang), "fig-coverage"))
        parts.append(data_table(*tables.coverage_rows(content.coverage, lang), lang, "coverage"))
    parts.append(_note(text("suppressed_note", lang)))
    parts.append(f'<p class="note not-filtered" hidden>{_esc(text("data_filtered", lang))}</p>')
    parts.append("</section>")
    return "".join(parts)


def slice_rows(success: pl.DataFrame, dimension: str, lender: str, period: str) -> pl.DataFrame:
    """The rows of one chart under the lender-type and period filters (margins excluded)."""
    frame = success.filter(
        (pl.col("dimension") == dimension) & (pl.col("period") == period) & (pl.col("level") != ALL)
    )
    if dimension == "lender_type":
        return frame if lender == ALL else frame.filter(pl.col("level") == lender)
    return frame.filter(pl.col("lender") == lender)


def filters_bar(content: ReportContent, lang: Lang) -> str:
    """The lender-type and period filters, kept at the top of the screen while reading; the
    sections they cannot change say so while a filter is set (``unfiltered_note``)."""
    if content.success is None:
        return ""
    options_lender = "".join(
        f'<option value="{_esc(v)}">{_esc(text("all", lang) if v == ALL else value_label("lender_type", v, lang))}</option>'  # noqa: E501
        for v in [ALL, *content.lenders]
    )
    options_period = "".join(
        f'<option value="{_esc(v)}">{_esc(text("all", lang) if v == ALL else v)}</option>'
        for v in [ALL, *content.periods]
    )
    return (
        '<div class="filters">'
        f'<label>{_esc(text("lender_filter", lang))} <select id="filter-lender">'
        f"{options_lender}</select></label>"
        f'<label>{_esc(text("period_filter", lang))} <select id="filter-period">'
        f"{options_period}</select></label></div>"
    )


def unfiltered_note(lang: Lang) -> str:
    """Said by a section the filters cannot change, while a filter is set."""
    return f'<p class="note not-filtered" hidden>{_esc(text("not_filtered", lang))}</p>'


def unfiltered_opening(section_id: str, title_key: str, lang: Lang) -> str:
    """A section the filters cannot change: its opening tag, heading and ``unfiltered_note``."""
    heading = f'<section id="{section_id}"><h2>{_esc(text(title_key, lang))}</h2>'
    return heading + unfiltered_note(lang)


def success_section(content: ReportContent, page: Page, lang: Lang) -> tuple[str, str]:
    """Agreement rates by each dimension, each chart with its table, following the filters."""
    if content.success is None:
        return f'<section id="success"><h2>{_esc(text("sec_success", lang))}</h2></section>', ""
    parts = [
        f'<section id="success"><h2>{_esc(text("sec_success", lang))}</h2>',
        _note(text("filtered", lang)),
        '<div class="grid">',
    ]
    slices: dict[str, dict[str, Any]] = {}
    for dimension in DIMENSIONS:
        everything = slice_rows(content.success, dimension, ALL, ALL)
        levels = figures.success_levels(everything, dimension)
        fig = figures.success_figure(everything, dimension, lang, levels)
        slices[dimension] = {
            "empty": figures.success_traces(everything.clear(), dimension, lang, levels)
        }
        frames = {
            (lender, period): slice_rows(content.success, dimension, lender, period)
            for lender in [ALL, *content.lenders]
            for period in [ALL, *content.periods]
        }
        for (lender, period), rows in frames.items():
            traces = figures.success_traces(rows, dimension, lang, levels)
            slices[dimension][f"{lender}|{period}"] = traces
        table = data_table(
            *tables.success_rows(frames, dimension, lang), lang, f"success-{dimension}"
        )
        parts.append(f"<div>{page.figure(fig, f'success-{dimension}')}{table}</div>")
    parts.append("</div>")
    parts.append(_note(text("suppressed_note", lang)) + "</section>")
    slices_json = (
        f'<script type="application/json" id="success-slices">{_json_for_script(slices)}</script>'
    )
    return "".join(parts), slices_json


def _no_model(section_id: str, title_key: str, lang: Lang) -> str:
    return (
        f'<section id="{section_id}"><h2>{_esc(text(title_key, lang))}</h2>'
        f"{_note(text('no_model', lang))}</section>"
    )


def model_sample_note(content: ReportContent, lang: Lang) -> str:
    """Says how many of the labelled cases the models and effects learnt from, when a sample
    (``Settings.model_max_cases``); nothing when they learnt from every one."""
    if content.model_sample is None:
        return ""
    used, labelled = content.model_sample
    return f"<p>{_esc(text('model_sample', lang).format(used=used, labelled=labelled))}</p>"


def effects_section(content: ReportContent, page: Page, lang: Lang) -> str:
    """Forest plots overall, for the levers and per subgroup; the heatmap; overlap warnings."""
    if content.effects is None:
        return "".join(
            _no_model(s, t, lang)
            for s, t in (
                ("effects", "sec_effects"),
                ("heatmap", "sec_heatmap"),
                ("overlap", "sec_overlap"),
            )
        )
    effects = content.effects
    parts = [f'<section id="effects"><h2>{_esc(text("sec_effects", lang))}</h2>']
    parts.append(unfiltered_note(lang))
    parts.append(model_sample_note(content, lang))
    if not content.snapshot_matches:
        parts.append(_note(text("snapshot_differs", lang)))
    population = effects.filter(pl.col("subgroup") == "population")
    approaches = population.filter(pl.col("treatment") == "approach")
    levers = population.filter(pl.col("treatment") != "approach")
    parts.append(
        page.figure(
            figures.forest_figure(approaches, text("effects_overall", lang), lang), "fig-forest"
        )
    )
    if levers.height:
        parts.append(
            page.figure(
                figures.forest_figure(levers, text("effects_levers", lang), lang), "fig-levers"
            )
        )
    by_family = effects.filter(pl.col("treatment") == "approach").with_columns(
        pl.col("subgroup").map_elements(family_of, return_dtype=pl.String).alias("family")
    )
    for family in FAMILIES:
        part = by_family.filter(pl.col("family") == family)
        if part.height:
            forest = page.figure(
                figures.subgroup_forest_figure(part, family, lang), f"fig-forest-{family}"
            )
            parts.append(f'<div class="wide-figure">{forest}</div>')  # on a phone: scrolls
    subgroups = by_family.filter(pl.col("family").is_not_null())
    charted = pl.concat([population, subgroups.drop("family")])
    parts.append(data_table(*tables.effect_rows(charted, lang), lang, "effects"))
    parts.append(_note(text("open_marker_note", lang)) + _note(text("suppressed_note", lang)))
    parts.append("</section>")
    parts.append(f'<section id="heatmap"><h2>{_esc(text("sec_heatmap", lang))}</h2>')
    parts.append(unfiltered_note(lang))
    if subgroups.height:
        heatmap = page.figure(figures.heatmap_figure(subgroups, lang), "fig-heatmap")
        parts.append(f'<div class="wide-figure">{heatmap}</div>')  # on a phone: scrolls
        parts.append(data_table(*tables.effect_rows(subgroups, lang), lang, "heatmap"))
    parts.append(_note(text("heatmap_note", lang)) + "</section>")
    parts.append(f'<section id="overlap"><h2>{_esc(text("sec_overlap", lang))}</h2>')
    parts.append(unfiltered_note(lang))
    flagged = effects.filter(pl.col("overlap_flag"))
    if flagged.height == 0:
        parts.append(_note(text("overlap_none", lang)))
    else:
        parts.append(_note(text("overlap_intro", lang)))
        rows = [
            f"<tr><td>{_esc(figures.treatment_label(r['treatment'], r['level'], lang))}</td>"
            f"<td>{_esc(subgroup_label(r['subgroup'], lang))}</td>"
            + (
                f'<td class="suppressed">{_esc(text("suppressed", lang))}</td>'
                if r["share_low_propensity"] is None
                else f'<td class="num">{r["share_low_propensity"]:.1%}</td>'
            )
            + (
                f'<td class="suppressed">{_esc(text("suppressed", lang))}</td>'
                if r["suppressed"]
                else f'<td class="num">{r["estimate"]:.1%} ({r["ci_low"]:.1%} - '
                f"{r['ci_high']:.1%})</td>"
            )
            + "</tr>"
            for r in flagged.iter_rows(named=True)
        ]
        parts.append(
            _table(
                [
                    text("treatment", lang),
                    text("subgroup", lang),
                    text("low_propensity", lang),
                    text("estimate", lang),
                ],
                rows,
            )
        )
    parts.append("</section>")
    return "".join(parts)


def naive_section(content: ReportContent, page: Page, lang: Lang) -> str:
    """Observed beside adjusted for every approach and lever level (population): one chart
    with both on one axis and one table with the difference."""
    if content.effects is None:
        return _no_model("naive", "sec_naive", lang)
    parts = [f'<section id="naive"><h2>{_esc(text("sec_naive", lang))}</h2>']
    parts.append(unfiltered_note(lang))
    if not content.naive_stored:
        return "".join([*parts, _note(text("naive_missing", lang)), "</section>"])
    population = content.effects.filter(pl.col("subgroup") == "population")
    parts.append(f"<h3>{_esc(text('naive_title', lang))}</h3>")
    parts.append(page.figure(figures.naive_figure(population, lang), "fig-naive"))
    parts.append(data_table(*tables.naive_rows(population, lang), lang, "naive"))
    parts.append(_note(text("naive_note", lang)) + _note(text("suppressed_note", lang)))
    parts.append("</section>")
    return "".join(parts)


def sensitivity_section(content: ReportContent, lang: Lang) -> str:
    """Per headline contrast: the estimate, its robustness values, the strongest observed
    covariate group it is read against and the verdict in words."""
    if content.effects is None:
        return _no_model("sensitivity", "sec_sensitivity", lang)
    parts = [f'<section id="sensitivity"><h2>{_esc(text("sec_sensitivity", lang))}</h2>']
    parts.append(unfiltered_note(lang))
    if content.sensitivity is None:
        return "".join([*parts, _note(text("sensitivity_missing", lang)), "</section>"])
    if not content.sensitivity:
        return "".join([*parts, _note(text("sensitivity_empty", lang)), "</section>"])
    frame, columns = tables.sensitivity_rows(content.sensitivity, lang)
    parts.append(
        data_table(frame, columns, lang, "sensitivity", stacked=True, row_data=("verdict",))
    )
    parts.append(_note(text("sensitivity_note", lang)))
    parts.append("</section>")
    return "".join(parts)


def refutations_section(content: ReportContent, lang: Lang) -> str:
    """Each refutation test of the approach effects: passed or failed, and why, in words."""
    if content.effects is None:
        return _no_model("refutations", "sec_refutations", lang)
    parts = [unfiltered_opening("refutations", "sec_refutations", lang)]
    if content.refutations is None:
        return "".join([*parts, _note(text("refutations_missing", lang)), "</section>"])
    table = tables.refutation_rows(content.refutations, lang)
    parts.append(data_table(*table, lang, "refutations", stacked=True, row_data=("verdict",)))
    parts.append(_note(text("refutations_note", lang)))
    return "".join([*parts, "</section>"])


def policy_section(content: ReportContent, lang: Lang) -> str:
    """The agreement rate had the test period's cases asked for the model's best approach,
    beside what they asked for, overall and per subgroup (no counts but the population's)."""
    if content.effects is None:
        return _no_model("policy", "sec_policy", lang)
    parts = [unfiltered_opening("policy", "sec_policy", lang)]
    if content.policy is None:
        return "".join([*parts, _note(text("policy_missing", lang)), "</section>"])
    if not content.policy:
        return "".join([*parts, _note(text("policy_empty", lang)), "</section>"])
    table = tables.policy_rows(content.policy, lang)
    parts.append(data_table(*table, lang, "policy", stacked=True, row_data=("policy",)))
    cases = next((r["n"] for r in content.policy if r["subgroup"] == "population"), None)
    parts.append(_note(text("policy_note", lang).format(cases=f"{cases:,}" if cases else "-")))
    return "".join([*parts, "</section>"])


def sustained_section(content: ReportContent, page: Page, lang: Lang) -> str:
    """Kaplan-Meier curves by approach and the share kept at 6 and 12 months."""
    parts = [f'<section id="sustained"><h2>{_esc(text("sec_sustained", lang))}</h2>']
    parts.append(unfiltered_note(lang))
    survival = content.survival
    if survival is None or survival.height == 0:
        parts.append(_note(text("suppressed_note", lang)))
    else:
        parts.append(page.figure(figures.survival_figure(survival, lang), "fig-survival"))
        parts.append(data_table(*tables.survival_rows(survival, lang), lang, "survival"))
        at = {h: sustained_at(survival, h) for h in (6, 12)}
        parts.append(page.figure(figures.sustained_figure(at, lang), "fig-sustained"))
        parts.append(data_table(*tables.sustained_rows(at, lang), lang, "sustained"))
        parts.append(_note(text("sustained_note", lang)))
    parts.append("</section>")
    return "".join(parts)


def quality_section(content: ReportContent, page: Page, lang: Lang) -> str:
    """Metrics against the baselines, ROC and reliability diagram, and drivers."""
    if not content.metrics:
        return _no_model("quality", "sec_quality", lang) + _no_model("drivers", "sec_drivers", lang)
    parts = [f'<section id="quality"><h2>{_esc(text("sec_quality", lang))}</h2>']
    parts.append(unfiltered_note(lang))
    parts.append(model_sample_note(content, lang))
    if content.test_period:
        parts.append(
            f"<p>{_esc(text('test_period', lang))}: {_esc(content.test_period.get('test_from'))}"
            f" .. {_esc(content.test_period.get('test_to'))}</p>"
        )
    parts.append(data_table(*tables.metrics_rows(content.metrics, lang), lang, "metrics"))
    roc = data_table(*tables.roc_rows(content.roc, lang), lang, "roc")
    reliability = data_table(*tables.reliability_rows(content.reliability, lang), lang, "rel")
    parts.append('<div class="grid">')
    parts.append(f"<div>{page.figure(figures.roc_figure(content.roc, lang), 'fig-roc')}{roc}</div>")
    parts.append(
        f"<div>{page.figure(figures.reliability_figure(content.reliability, lang), 'fig-rel')}"
        f"{reliability}</div>"
    )
    parts.append("</div>")
    parts.append(self_check_part(content.self_check, lang))
    parts.append("</section>")
    parts.append(f'<section id="drivers"><h2>{_esc(text("sec_drivers", lang))}</h2>')
    parts.append(unfiltered_note(lang))
    if content.drivers is not None and content.drivers.height:
        parts.append(page.figure(figures.drivers_figure(content.drivers, lang), "fig-drivers"))
        parts.append(data_table(*tables.drivers_rows(content.drivers, lang), lang, "drivers"))
    parts.append("</section>")
    return "".join(parts)


def _share_cell(value: float | None) -> str:
    return "<td class='num'>-</td>" if value is None else f"<td class='num'>{value:.1%}</td>"


def _number_cell(value: float | None) -> str:
    return "<td class='num'>-</td>" if value is None else f"<td class='num'>{value:.3f}</td>"


COVERAGE_GROUPS: Final = {
    "coverage_by_lender": ("lender_type", "sc_by_lender", "lender_filter"),
    "coverage_by_approach": ("approach", "sc_by_approach", "approach"),
}
"""The self-check's coverage per group: the field whose values the groups are, the sentence
above its table and its first column's heading."""


def coverage_groups(check: dict[str, Any], by: str, lang: Lang) -> str:
    """A table of the self-check's coverage per group (``by``, a key of ``COVERAGE_GROUPS``):
    each group's test cases, the three surfaces together and each alone; nothing when there is
    none (runs before 2026-12-07 have none per approach)."""
    groups = check["pooled"].get(by) or {}
    if not groups:
        return ""
    field, title, column = COVERAGE_GROUPS[by]
    rows = [
        f"<tr><td>{_esc(value_label(field, name, lang))}</td>"
        f"{_count_cell(group['test_cases'], lang)}{_share_cell(group['coverage'])}"
        + "".join(
            _share_cell(s.get(by, {}).get(name, {}).get("coverage")) for s in check["surfaces"]
        )
        + "</tr>"
        for name, group in groups.items()
    ]
    headers = [text(column, lang), text("sc_test_cases", lang)] + [
        text(f"sc_{key}", lang) for key in ("pooled", *(s["surface"] for s in check["surfaces"]))
    ]
    return f"<p>{_esc(text(title, lang))}</p>" + _table(headers, rows)


def self_check_part(check: dict[str, Any] | None, lang: Lang) -> str:
    """The self-check of the training run: one row per planted surface and all together, the
    coverage per lender type and per approach, and what the numbers can and cannot say."""
    parts = [f'<h3 id="self-check">{_esc(text("sc_title", lang))}</h3>']
    if check is None:
        return "".join(parts) + _note(text("sc_none", lang))
    parts.append(_note(text("sc_intro", lang)))
    rows = []
    for key, row in [*((s["surface"], s) for s in check["surfaces"]), ("pooled", check["pooled"])]:
        rows.append(
            f"<tr><td>{_esc(text(f'sc_{key}', lang))}</td>{_number_cell(row['case_mae'])}"
            f"{_share_cell(row.get('case_coverage_unwidened'))}{_number_cell(row['spread_needed'])}"
            f"{_number_cell(row.get('spread_applied'))}{_share_cell(row['case_coverage'])}"
            f"{_number_cell(row['interval_width'])}{_number_cell(row['effect_max_error'])}"
            f"<td class='num'>{row['effects_covered']}/{row['effects_checked']}</td></tr>"
        )
    keys = ("sc_surface", "sc_case_error", "sc_case_coverage_unwidened", "sc_spread",
            "sc_spread_applied", "sc_case_coverage", "sc_width", "sc_effect_error",
            "sc_effect_coverage")  # fmt: skip
    parts.append(_table([text(key, lang) for key in keys], rows))
    parts.extend(coverage_groups(check, by, lang) for by in COVERAGE_GROUPS)
    width, full = check["pooled"]["interval_width"], check["full_model_interval_width"]
    counted = check.get("spread_surfaces", [s["surface"] for s in check["surfaces"]])
    share = check.get("spread_share")  # older runs: none
    parts.append(
        _note(
            text("sc_size", lang).format(
                rows_used=check["rows_used"],
                rows_available=check["rows_available"],
                test_cases=check["test_cases"],
                seconds=check["seconds"],
                surfaces=("、" if lang == "zh" else ", ").join(
                    text(f"sc_{name}", lang) for name in counted
                ),
                share="-" if share is None else f"{share:.0%}",
                spread=f"{check.get('interval_spread', 0.0):.3f}",
                width="-" if width is None else f"{width:.3f}",
                full="-" if full is None else f"{full:.3f}",
            )
        )
    )
    return "".join(parts)


def changes_section(content: ReportContent, page: Page, lang: Lang) -> str:
    """PSI per feature and the shift of each effect against the previous run."""
    parts = [f'<section id="changes"><h2>{_esc(text("sec_changes", lang))}</h2>']
    parts.append(unfiltered_note(lang))
    if content.effects is None:
        parts.append(_note(text("no_model", lang)))
    elif content.previous_run is None:
        parts.append(_note(text("no_previous", lang)))
    else:
        previous = content.previous_run
        parts.append(
            f"<p>{_esc(text('previous_run', lang))}: {_esc(previous['run_id'])} "
            f"({_esc(previous['model_version'])}, {_esc(previous['trained_at'])})</p>"
        )
        if content.psi is not None and content.psi.height:
            parts.append(page.figure(figures.psi_figure(content.psi, lang), "fig-psi"))
            parts.append(data_table(*tables.psi_rows(content.psi, lang), lang, "psi"))
        else:
            parts.append(_note(text("psi_unavailable", lang)))
        if content.shifts is not None and content.shifts.height:
            parts.append(page.figure(figures.shift_figure(content.shifts, lang), "fig-shift"))
            parts.append(data_table(*tables.shift_rows(content.shifts, lang), lang, "shift"))
        parts.append(moved_part(content, lang) + sources_part(content, lang))
    parts.append("</section>")
    return "".join(parts)


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _points(value: float, lang: Lang) -> str:
    return text("points", lang).format(value=f"{value * 100:+.1f}")


def _group_value(subgroup: str, lang: Lang) -> str:
    """A subgroup's level without its family's name (the sentence names the family); an
    overdue band (``90<=days_overdue_at_contact<180``) by its label."""
    if "=" in subgroup and family_of(subgroup) != "overdue_band":
        name, code = subgroup.split("=", 1)
        return value_label(name, code, lang)
    return subgroup_label(subgroup, lang)


def _evidence(anchor: str, lang: Lang) -> str:
    return f' <a class="evidence" href="#{_esc(anchor)}">{_esc(text("evidence", lang))}</a>'


def _bold_label(sentence: str, treatment: str, level: str, lang: Lang) -> str:
    """The escaped sentence with the approach or lever it opens with in bold."""
    label = _esc(figures.treatment_label(treatment, level, lang))
    return _esc(sentence).replace(label, f"<b>{label}</b>", 1)


def contrast_finding_text(f: findings.ContrastFinding, lang: Lang) -> str:
    """One headline contrast in plain words (clearly higher or lower only)."""
    against = (
        text("against_average", lang)
        if f.against == "average"
        else figures.treatment_label(f.treatment, f.against, lang)
    )
    key = "finding_higher" if f.direction == findings.CLEARLY_HIGHER else "finding_lower"
    return text(key, lang).format(
        label=figures.treatment_label(f.treatment, f.level, lang),
        rate=_pct(f.rate),
        low=_pct(f.rate_low),
        high=_pct(f.rate_high),
        against=against,
        diff=_points(f.difference, lang),
        dlow=f"{f.difference_low * 100:+.1f}",
        dhigh=f"{f.difference_high * 100:+.1f}",
        sure=text(f"sure_{f.verdict}", lang),
    )


def subgroup_finding_text(f: findings.SubgroupFinding, lang: Lang) -> str:
    """Two subgroups whose adjusted rates differ beyond their intervals, in plain words."""
    return text("finding_subgroup", lang).format(
        label=figures.treatment_label(f.treatment, f.level, lang),
        family=field_label(f.family, lang),
        high_group=_group_value(f.high["subgroup"], lang),
        high=_pct(f.high["estimate"]),
        high_low=_pct(f.high["ci_low"]),
        high_high=_pct(f.high["ci_high"]),
        low_group=_group_value(f.low["subgroup"], lang),
        low=_pct(f.low["estimate"]),
        low_low=_pct(f.low["ci_low"]),
        low_high=_pct(f.low["ci_high"]),
    )


def simulated_banner(content: ReportContent, lang: Lang) -> str:
    """A banner when the latest run learnt from the simulator's cases (the bundled sample)."""
    if not content.simulated:
        return ""
    return f'<div id="simulated-banner" class="banner">{_esc(text("simulated_banner", lang))}</div>'


def findings_section(content: ReportContent, lang: Lang) -> str:
    """The page's opening: which approaches and levers make agreement more likely (with the
    difference's own interval and how sure), for whom they differ; each line links to its
    evidence. Computed by ``overdue.reports.findings`` from what the sections below show."""
    title = unfiltered_opening("findings", "sec_findings", lang)
    if content.effects is None:
        return (
            title + _note(text("no_model", lang)) + _note(text("data_at_end", lang)) + "</section>"
        )
    parts = [title, _note(text("findings_intro", lang))]
    contrasts = findings.contrast_findings(content.effects, content.sensitivity)
    parts.append(f"<h3>{_esc(text('findings_what', lang))}</h3>")
    clear = [f for f in contrasts if f.direction != findings.NO_CLEAR_DIFFERENCE]
    unclear = [f for f in contrasts if f.direction == findings.NO_CLEAR_DIFFERENCE]
    if not contrasts:
        parts.append(_note(text("findings_no_contrasts", lang)))
    elif not clear:
        parts.append(_note(text("findings_none_clear", lang)))
    items = [
        f'<li data-finding="contrast" data-treatment="{_esc(f.treatment)}" '
        f'data-level="{_esc(f.level)}" data-direction="{_esc(f.direction)}" '
        f'data-verdict="{_esc(f.verdict)}">'
        f"{_bold_label(contrast_finding_text(f, lang), f.treatment, f.level, lang)}"
        f"{_thin(f.thin_overlap, lang)}{_evidence('sensitivity', lang)}</li>"
        for f in clear
    ]
    if unclear:
        labels = ("、" if lang == "zh" else ", ").join(
            figures.treatment_label(f.treatment, f.level, lang) for f in unclear
        )
        items.append(
            f'<li data-finding="unclear">{_esc(text("findings_unclear", lang))} {_esc(labels)}'
            f"{_evidence('sensitivity', lang)}</li>"
        )
    if items:
        parts.append(f"<ul>{''.join(items)}</ul>")
    parts.append(f"<h3>{_esc(text('findings_whom', lang))}</h3>")
    whom = findings.subgroup_findings(content.effects)
    if whom:
        rows = "".join(
            f'<li data-finding="subgroup" data-treatment="{_esc(f.treatment)}" '
            f'data-level="{_esc(f.level)}" data-high="{_esc(f.high["subgroup"])}" '
            f'data-low="{_esc(f.low["subgroup"])}">'
            f"{_bold_label(subgroup_finding_text(f, lang), f.treatment, f.level, lang)}"
            f"{_evidence(f'fig-forest-{f.family}', lang)}</li>"
            for f in whom
        )
        parts.append(f"<ul>{rows}</ul>{_note(text('findings_whom_note', lang))}")
    else:
        parts.append(_note(text("findings_whom_none", lang)))
    parts.append(_note(text("data_at_end", lang)) + "</section>")
    return "".join(parts)


def _thin(thin: bool, lang: Lang) -> str:
    """The thin-overlap caveat of a finding, linked to the overlap warnings."""
    if not thin:
        return ""
    return f' <a class="thin" href="#overlap">({_esc(text("thin_overlap", lang))})</a>'


def _interval_cell(estimate: float, low: float, high: float) -> str:
    return f'<td class="num">{estimate:.1%} ({low:.1%} - {high:.1%})</td>'


def moved_part(content: ReportContent, lang: Lang) -> str:
    """Effects whose estimate moved by more than its interval's width since the previous run:
    the population's in a table, the subgroups' in a folded one below it."""
    if content.effects is None or content.previous_effects is None:
        return ""
    parts = [f'<h3 id="moved-effects">{_esc(text("moved_title", lang))}</h3>']
    moved = findings.moved_effects(content.effects, content.previous_effects)
    if moved.height == 0:
        parts.append(_note(text("moved_none", lang)))
    population = moved.filter(pl.col("subgroup") == "population")
    subgroups = moved.filter(pl.col("subgroup") != "population")
    if population.height:
        parts.append(_moved_table(population, lang, with_subgroup=False))
    if subgroups.height:
        summary = text("moved_subgroups", lang).format(n=subgroups.height)
        parts.append(
            f"<details><summary>{_esc(summary)}</summary>"
            f"{_moved_table(subgroups, lang, with_subgroup=True)}</details>"
        )
    parts.append(_note(text("moved_note", lang)))
    return "".join(parts)


def _moved_table(moved: pl.DataFrame, lang: Lang, with_subgroup: bool) -> str:
    keys = ["treatment", "subgroup", "previous_estimate", "latest_estimate", "shift"]
    if not with_subgroup:
        keys.remove("subgroup")
    rows = [
        f'<tr data-moved="{_esc(r["treatment"])}|{_esc(r["level"])}|{_esc(r["subgroup"])}">'
        f"<td>{_esc(figures.treatment_label(r['treatment'], r['level'], lang))}</td>"
        + (f"<td>{_esc(subgroup_label(r['subgroup'], lang))}</td>" if with_subgroup else "")
        + _interval_cell(r["old_estimate"], r["old_ci_low"], r["old_ci_high"])
        + _interval_cell(r["new_estimate"], r["new_ci_low"], r["new_ci_high"])
        + f'<td class="num">{_points(r["shift"], lang)}</td></tr>'
        for r in moved.iter_rows(named=True)
    ]
    return _table([text(key, lang) for key in keys], rows)


def sources_part(content: ReportContent, lang: Lang) -> str:
    """Source files (name and SHA-256) the latest run added or dropped against the previous."""
    parts = [f'<h3 id="source-changes">{_esc(text("sources_title", lang))}</h3>']
    changes = findings.source_changes(content.sources, content.previous_sources)
    if changes is None:
        return "".join([*parts, _note(text("sources_unknown", lang))])
    added, removed = changes
    if not added and not removed:
        return "".join([*parts, _note(text("sources_same", lang))])
    rows = [
        f'<tr data-source="{kind}"><td>{_esc(text(f"sources_{kind}", lang))}</td>'
        f"<td>{_esc(s['file'])}</td>"
        f'<td title="{_esc(s["sha256"])}"><code>{_esc(s["sha256"][:16])}</code></td></tr>'
        for kind, files in (("added", added), ("removed", removed))
        for s in files
    ]
    parts.append(_table([text("shift", lang), text("file", lang), "SHA-256"], rows))
    return "".join(parts)


def methods_section(lang: Lang) -> str:
    """Plain-language methods and caveats (fixed text)."""
    items = "".join(f"<li>{item}</li>" for item in methods(lang))
    title = _esc(text("sec_methods", lang))
    return f'<section id="methods"><h2>{title}</h2><ul>{items}</ul></section>'


def provenance(content: ReportContent, lang: Lang) -> str:
    """The footer every report carries: run id, data snapshot, model version, generated at."""
    items = [
        ("run_id", content.run_id),
        ("snapshot", content.snapshot_hash),
        ("model_version", content.model_version or "-"),
        ("generated_at", content.generated_at),
        ("k_rule", str(content.k)),
    ]
    body = "".join(f"<dt>{_esc(text(key, lang))}</dt><dd>{_esc(v)}</dd>" for key, v in items)
    return (
        f'<footer id="provenance"><h2>{_esc(text("provenance", lang))}</h2><dl>{body}</dl></footer>'
    )


SECTIONS: Final = (
    ("findings", "sec_findings"),
    ("success", "sec_success"),
    ("effects", "sec_effects"),
    ("heatmap", "sec_heatmap"),
    ("overlap", "sec_overlap"),
    ("naive", "sec_naive"),
    ("sensitivity", "sec_sensitivity"),
    ("refutations", "sec_refutations"),
    ("policy", "sec_policy"),
    ("sustained", "sec_sustained"),
    ("quality", "sec_quality"),
    ("drivers", "sec_drivers"),
    ("changes", "sec_changes"),
    ("methods", "sec_methods"),
    ("data", "sec_data"),
)


def render_report(content: ReportContent, lang: Lang, other: str | None) -> str:
    """The whole report page in ``lang``; ``other`` is the file name of the other language."""
    page = Page()
    success_html, slices_json = success_section(content, page, lang)
    body = [
        simulated_banner(content, lang),
        findings_section(content, lang),
        filters_bar(content, lang),  # below the findings, which no filter changes
        success_html,
        effects_section(content, page, lang),
        naive_section(content, page, lang),
        sensitivity_section(content, lang),
        refutations_section(content, lang),
        policy_section(content, lang),
        sustained_section(content, page, lang),
        quality_section(content, page, lang),
        changes_section(content, page, lang),
        methods_section(lang),
        data_section(content, page, lang),
    ]
    links = [f'<a href="../index.html">{_esc(text("all_reports", lang))}</a>']
    if other:
        links.append(f'<a href="{_esc(other)}">{_esc(text("other_language", lang))}</a>')
    toc = "".join(f'<a href="#{sid}">{_esc(text(key, lang))}</a> · ' for sid, key in SECTIONS)
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(text('title', lang))} · {_esc(content.run_id)}</title>"
        f"<style>{CSS}</style><script>{plotly_js()}</script></head><body>"
        f"<header><nav>{''.join(links)}</nav><h1>{_esc(text('title', lang))}</h1>"
        f'<p class="note">{toc}</p></header>'
        f"<main>{''.join(body)}</main>"
        f"{provenance(content, lang)}{''.join(page.specs)}{slices_json}"
        f"<script>{SCRIPT}</script></body></html>"
    )


def render_chooser(content: ReportContent, files: dict[Lang, str]) -> str:
    """The run's ``index.html``: provenance and a link per language (no plotly.js)."""
    links = "".join(
        f'<li><a href="{_esc(name)}">{LANGUAGE_NAMES[lang]}</a></li>'
        for lang, name in files.items()
    )
    first: Lang = next(iter(files))
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{_esc(text('title', 'zh'))} / {_esc(text('title', 'en'))}</title>"
        f"<style>{CSS}</style></head><body><header><nav>"
        f'<a href="../index.html">{_esc(text("all_reports", "zh"))} / '
        f"{_esc(text('all_reports', 'en'))}</a></nav>"
        f"<h1>{_esc(text('title', 'zh'))} / {_esc(text('title', 'en'))}</h1></header>"
        f"<main><section><ul>{links}</ul></section></main>{provenance(content, first)}"
        "</body></html>"
    )


def render_index(runs: list[dict[str, Any]]) -> str:
    """``reports/index.html``: every report with its date, data snapshot and model version."""
    rows = []
    for run in runs:
        links = " ".join(
            f'<a href="{_esc(run["run_id"])}/{_esc(name)}">{LANGUAGE_NAMES[lang]}</a>'
            for lang, name in run.get("files", {}).items()
        )
        rows.append(
            f"<tr><td>{_esc(run.get('generated_at', ''))}</td><td>{_esc(run['run_id'])}</td>"
            f"<td>{_esc(run.get('snapshot_hash', ''))[:16]}</td>"
            f"<td>{_esc(run.get('model_version') or '-')}</td><td>{links}</td></tr>"
        )
    headers = [
        f"{text('date', 'zh')} / {text('date', 'en')}",
        f"{text('run_id', 'zh')} / {text('run_id', 'en')}",
        f"{text('snapshot', 'zh')} / {text('snapshot', 'en')}",
        f"{text('model_version', 'zh')} / {text('model_version', 'en')}",
        f"{text('open', 'zh')} / {text('open', 'en')}",
    ]
    latest = '<p><a href="latest/index.html">latest</a></p>' if runs else ""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{_esc(text('runs_title', 'zh'))} / {_esc(text('runs_title', 'en'))}</title>"
        f"<style>{CSS}</style></head><body><header>"
        f"<h1>{_esc(text('runs_title', 'zh'))} / {_esc(text('runs_title', 'en'))}</h1></header>"
        f"<main><section>{latest}{_table(headers, rows)}</section></main></body></html>"
    )
