"""Sortable tables of a report's numbers, each with a CSV download of the same aggregates.

One helper (``data_table``) renders any protected polars frame: the HTML table (every cell
carries its raw value in ``data-value`` for sorting; a suppressed cell is blank there and says
so) and a ``data:`` link to a UTF-8 CSV with a byte-order mark (so Excel reads Chinese), built
from the same frame: suppressed numbers are empty in both. Rows may carry filter attributes
(``data-lender``, ``data-period``) that the page's filters show and hide.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Literal
from urllib.parse import quote

import polars as pl

from overdue.reports import figures
from overdue.reports.i18n import (
    Lang,
    driver_label,
    field_label,
    model_label,
    subgroup_label,
    text,
    value_label,
)
from overdue.reports.queries import ALL

Kind = Literal["text", "rate", "pp", "count", "number"]
BOM: Final = "\ufeff"
FILTERS: Final = ("lender", "period")
"""Frame columns that, when a table has them, tie its rows to the page's filters."""


@dataclass(frozen=True)
class Column:
    """One column of a table: the frame's column, its header (as shown) and how its numbers
    read (``rate`` 45.3%, ``pp`` +3.2 percentage points, ``count`` 1,234, ``number`` 0.123)."""

    name: str
    header: str
    kind: Kind = "text"
    digits: int = 3


def cell_text(value: object, column: Column, lang: Lang) -> str:
    """A value as the table shows it (the CSV keeps the raw value)."""
    if value is None:
        return text("suppressed", lang)
    if column.kind == "rate":
        return f"{float(value):.1%}"  # type: ignore[arg-type]
    if column.kind == "pp":
        return f"{100 * float(value):+.1f} {text('pp', lang)}"  # type: ignore[arg-type]
    if column.kind == "count":
        return f"{int(value):,}"  # type: ignore[call-overload]
    if column.kind == "number":
        return f"{float(value):.{column.digits}f}"  # type: ignore[arg-type]
    return str(value)


def filter_label(name: str, code: str, lang: Lang) -> str:
    """A lender type or period of a filter as a reader sees it."""
    if code == ALL:
        return text("all", lang)
    return value_label("lender_type", code, lang) if name == "lender" else code


def csv_text(frame: pl.DataFrame, columns: Sequence[Column], lang: Lang) -> str:
    """The CSV of the table: translated headers, raw values, empty where suppressed; the
    lender type and period of each row when the table follows the filters."""
    renamed = frame.select([pl.col(c.name).alias(c.header) for c in columns]).with_columns(
        _labels(frame[f], partial(filter_label, f, lang=lang)).alias(
            text(f"{f}_filter", lang) + text("filter_suffix", lang)
        )
        for f in FILTERS
        if f in frame.columns
    )
    buffer = io.StringIO()
    renamed.write_csv(buffer)
    return BOM + buffer.getvalue()


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def data_table(
    frame: pl.DataFrame,
    columns: Sequence[Column],
    lang: Lang,
    table_id: str,
    *,
    stacked: bool = False,
    row_data: Sequence[str] = (),
) -> str:
    """A sortable table of ``frame`` and a link to download it as CSV.

    ``row_data``: frame columns each row also carries as a ``data-`` attribute.
    ``stacked``: on a phone each row becomes a small card of "header: value" lines (for tables
    with long text) instead of scrolling sideways.
    """
    numeric = {c.name for c in columns if c.kind != "text"}
    head = "".join(
        f'<th data-kind="{"num" if c.name in numeric else "text"}" aria-sort="none">'
        f'<button type="button">{_esc(c.header)}</button></th>'
        for c in columns
    )
    filters = [f for f in FILTERS if f in frame.columns]
    rows = []
    for r in frame.iter_rows(named=True):
        attrs = "".join(f' data-{f}="{_esc(r[f])}"' for f in [*filters, *row_data])
        if any(r[f] != ALL for f in filters):
            attrs += " hidden"
        cells = []
        for c in columns:
            value = r[c.name]
            css = ("count " if c.kind == "count" else "num " if c.name in numeric else "") + (
                "suppressed" if value is None else ""
            )
            raw = "" if value is None else value
            label = f' data-label="{_esc(c.header)}"' if stacked else ""
            cells.append(
                f'<td class="{css.strip()}" data-value="{_esc(raw)}"{label}>'
                f"{_esc(cell_text(value, c, lang))}</td>"
            )
        rows.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    href = "data:text/csv;charset=utf-8," + quote(csv_text(frame, columns, lang))
    css = "sortable stacked" if stacked else "sortable"
    return (
        f'<div class="table-box" id="table-{_esc(table_id)}">'
        f'<p class="table-tools"><a class="csv" download="{_esc(table_id)}.csv" '
        f'href="{href}">{_esc(text("download_csv", lang))}</a> '
        f'<span class="note">{_esc(text("sort_hint", lang))}</span></p>'
        f'<div class="table-scroll"><table class="{css}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></div>"
    )


# --- the frames behind each chart, ready for ``data_table`` ---------------------------------------

Table = tuple[pl.DataFrame, list[Column]]
"""A frame with its label columns in the page's language, and the columns to show."""


def _labels(values: pl.Series, label: Callable[[Any], str]) -> pl.Series:
    return pl.Series([label(v) for v in values.to_list()], dtype=pl.String)


def _choice_labels(frame: pl.DataFrame, lang: Lang) -> pl.Series:
    pairs = frame.select("treatment", "level").rows()
    return pl.Series("choice", [figures.treatment_label(t, lv, lang) for t, lv in pairs], pl.String)


def _interval(
    lang: Lang, low: str = "low", high: str = "high", kind: Kind = "rate"
) -> list[Column]:
    return [
        Column(low, text("interval_low", lang), kind),
        Column(high, text("interval_high", lang), kind),
    ]


def months_table(months: pl.DataFrame, lang: Lang) -> Table:
    """Cases per month of first contact, with its year (the period filter's value)."""
    frame = months.with_columns(pl.col("month").str.slice(0, 4).alias("year"))
    return frame, [Column("month", text("month", lang)), Column("n", text("cases", lang), "count")]


def coverage_rows(coverage: pl.DataFrame, lang: Lang) -> Table:
    """Share of cases with a value, per field."""
    frame = coverage.with_columns(
        _labels(coverage["field"], lambda f: field_label(f, lang)).alias("label")
    )
    return frame, [
        Column("label", text("field", lang)),
        Column("share", text("coverage_axis", lang), "rate"),
    ]


def success_rows(slices: dict[tuple[str, str], pl.DataFrame], dimension: str, lang: Lang) -> Table:
    """The rates of one success chart under every lender-type x period filter: the rows of
    each slice (``pages.slice_rows``, by lender and period) as the chart draws them, tagged
    with the slice (``lender``, ``period``)."""
    order = {lv: i for i, lv in enumerate(figures.level_order(dimension))}
    keys = [key for key, rows in slices.items() for _ in range(rows.height)]
    frame = (
        pl.concat([rows.select("level", "n", "rate", "low", "high") for rows in slices.values()])
        .with_columns(
            pl.Series("lender", [lender for lender, _ in keys], pl.String),
            pl.Series("period", [period for _, period in keys], pl.String),
            pl.Series(
                "slice", [i for i, rows in enumerate(slices.values()) for _ in range(rows.height)]
            ),
            pl.col("level").replace_strict(order, default=len(order)).alias("order"),
        )
        .sort("slice", "order", maintain_order=True)
    )
    frame = frame.with_columns(
        _labels(frame["level"], lambda v: value_label(dimension, v, lang)).alias("label")
    )
    return frame, [
        Column("label", field_label(dimension, lang)),
        Column("n", text("cases", lang), "count"),
        Column("rate", text("success_rate", lang), "rate"),
        *_interval(lang),
    ]


def effect_rows(effects: pl.DataFrame, lang: Lang) -> Table:
    """Adjusted rates with intervals per choice and subgroup, and the thin-overlap flag."""
    frame = effects.with_columns(
        _choice_labels(effects, lang),
        _labels(effects["subgroup"], lambda s: subgroup_label(s, lang)).alias("group"),
        _labels(
            effects["overlap_flag"], lambda f: text(f"flag_{'yes' if f else 'no'}", lang)
        ).alias("thin"),
    )
    return frame, [
        Column("choice", text("treatment", lang)),
        Column("group", text("subgroup", lang)),
        Column("estimate", text("adjusted", lang), "rate"),
        *_interval(lang, "ci_low", "ci_high"),
        Column("n", text("cases", lang), "count"),
        Column("thin", text("thin_overlap", lang)),
    ]


def naive_rows(population: pl.DataFrame, lang: Lang) -> Table:
    """Observed and adjusted rate of each choice, and what adjustment removed."""
    frame, _ = effect_rows(population, lang)
    return frame, [
        Column("choice", text("treatment", lang)),
        Column("naive", text("naive_rate", lang), "rate"),
        Column("estimate", text("adjusted", lang), "rate"),
        *_interval(lang, "ci_low", "ci_high"),
        Column("difference", text("removed", lang), "pp"),
    ]


def sensitivity_rows(rows: Sequence[dict[str, Any]], lang: Lang) -> Table:
    """Per headline contrast: estimate and interval, robustness values, benchmark, verdict."""
    frame = pl.DataFrame(
        [
            {
                "contrast": r["contrast"][lang],
                "estimate": r["estimate"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "rv": r["rv"],
                "rva": r["rva"],
                "benchmark": text("not_benchmarked", lang)
                if r["benchmark"] is None
                else f"{r['benchmark_label'][lang]} "
                f"({r['benchmark_cf_y']:.3f} / {r['benchmark_cf_d']:.3f})",
                "verdict_text": r["text"][lang],
                "verdict": r["verdict"],
            }
            for r in rows
        ],
        schema={
            "contrast": pl.String, "estimate": pl.Float64, "ci_low": pl.Float64,
            "ci_high": pl.Float64, "rv": pl.Float64, "rva": pl.Float64, "benchmark": pl.String,
            "verdict_text": pl.String, "verdict": pl.String,
        },
    )  # fmt: skip
    return frame, [
        Column("contrast", text("contrast", lang)),
        Column("estimate", text("contrast_difference", lang), "pp"),
        *_interval(lang, "ci_low", "ci_high", "pp"),
        Column("rv", text("rv", lang), "number"),
        Column("rva", text("rva", lang), "number"),
        Column("benchmark", text("benchmark", lang)),
        Column("verdict_text", text("verdict", lang)),
    ]


def refutation_rows(rows: Sequence[dict[str, Any]], lang: Lang) -> Table:
    """Each refutation test: its name, passed or failed, and why in words."""
    frame = pl.DataFrame(
        [
            {
                "name": r["name"][lang],
                "result": text("refutation_" + r["verdict"], lang),
                "text": r["text"][lang],
                "verdict": r["verdict"],
            }
            for r in rows
        ],
        schema={"name": pl.String, "result": pl.String, "text": pl.String, "verdict": pl.String},
    )
    return frame, [
        Column("name", text("refutation_test", lang)),
        Column("result", text("refutation_result", lang)),
        Column("text", text("verdict", lang)),
    ]


def policy_rows(rows: Sequence[dict[str, Any]], lang: Lang) -> Table:
    """The agreement rate under each policy beside the rate as asked, and their difference,
    with intervals: the population first, then each subgroup."""
    frame = pl.DataFrame(
        [
            {
                "group": subgroup_label(r["subgroup"], lang),
                "name": text("policy_" + r["policy"], lang),
                **{c: r[c] for c in ("value", "value_low", "value_high", "actual")},
                **{c: r[c] for c in ("difference", "difference_low", "difference_high")},
                "policy": r["policy"],
            }
            for r in sorted(rows, key=lambda r: r["subgroup"] != "population")
        ],
        schema={
            "group": pl.String, "name": pl.String, "value": pl.Float64, "value_low": pl.Float64,
            "value_high": pl.Float64, "actual": pl.Float64, "difference": pl.Float64,
            "difference_low": pl.Float64, "difference_high": pl.Float64, "policy": pl.String,
        },
    )  # fmt: skip
    return frame, [
        Column("group", text("policy_group", lang)),
        Column("name", text("policy_name", lang)),
        Column("value", text("policy_value", lang), "rate"),
        *_interval(lang, "value_low", "value_high"),
        Column("actual", text("policy_actual", lang), "rate"),
        Column("difference", text("policy_gain", lang), "pp"),
        Column("difference_low", text("policy_gain_low", lang), "pp"),
        Column("difference_high", text("policy_gain_high", lang), "pp"),
    ]


def survival_rows(survival: pl.DataFrame, lang: Lang) -> Table:
    """The published steps of each Kaplan-Meier curve."""
    frame = survival.with_columns(
        _labels(survival["approach"], lambda a: value_label("approach", a, lang)).alias("label")
    )
    return frame, [
        Column("label", text("approach", lang)),
        Column("month", text("months_since", lang), "number", 0),
        Column("survival", text("kept", lang), "rate"),
        *_interval(lang),
        Column("at_risk", text("at_risk", lang), "count"),
    ]


def sustained_rows(at: dict[int, pl.DataFrame], lang: Lang) -> Table:
    """The share still kept at each horizon, per approach."""
    frame = pl.concat(
        [f.with_columns(pl.lit(h).alias("horizon")) for h, f in sorted(at.items())]
    ).select("horizon", "approach", "month", "survival", "low", "high")
    frame = frame.with_columns(
        _labels(frame["approach"], lambda a: value_label("approach", a, lang)).alias("label")
    )
    return frame, [
        Column("horizon", text("horizon", lang), "number", 0),
        Column("label", text("approach", lang)),
        Column("month", text("as_of_month", lang), "number", 0),
        Column("survival", text("kept", lang), "rate"),
        *_interval(lang),
    ]


def _by_model(
    curves: dict[str, Any], rows: Callable[[Any], list[dict[str, Any]]], columns: dict[str, Any]
) -> pl.DataFrame:
    """One row per point of each model's curve, labelled in the page's language later."""
    return pl.DataFrame(
        [{"model": name, **row} for name, curve in curves.items() for row in rows(curve)],
        schema={"model": pl.String, **columns},
    )


def roc_rows(roc: dict[str, dict[str, list[float]]], lang: Lang) -> Table:
    """The published points of each ROC curve."""
    frame = _by_model(
        roc,
        lambda c: [{"fpr": f, "tpr": t} for f, t in zip(c["fpr"], c["tpr"], strict=True)],
        {"fpr": pl.Float64, "tpr": pl.Float64},
    )
    frame = _model_labels(frame, lang)
    return frame, [
        Column("label", text("model", lang)),
        Column("fpr", text("fpr", lang), "number"),
        Column("tpr", text("tpr", lang), "number"),
    ]


def reliability_rows(bins: dict[str, list[dict[str, Any]]], lang: Lang) -> Table:
    """The published bins of each reliability diagram."""
    frame = _model_labels(
        _by_model(bins, list, {"predicted": pl.Float64, "observed": pl.Float64, "n": pl.Int64}),
        lang,
    )
    return frame, [
        Column("label", text("model", lang)),
        Column("predicted", text("predicted", lang), "rate"),
        Column("observed", text("observed", lang), "rate"),
        Column("n", text("cases", lang), "count"),
    ]


def _model_labels(frame: pl.DataFrame, lang: Lang) -> pl.DataFrame:
    return frame.with_columns(
        _labels(frame["model"], lambda m: model_label(m, lang)).alias("label")
    )


def metrics_rows(metrics: dict[str, dict[str, float]], lang: Lang) -> Table:
    """Test-set metrics of each model against the baselines."""
    frame = _model_labels(
        pl.DataFrame(
            [{"model": name, **{k: m.get(k) for k in ("auc", "brier", "log_loss", "ece", "n")}}
             for name, m in metrics.items()],
            schema={"model": pl.String, "auc": pl.Float64, "brier": pl.Float64,
                    "log_loss": pl.Float64, "ece": pl.Float64, "n": pl.Float64},
        ),
        lang,
    )  # fmt: skip
    return frame, [
        Column("label", text("model", lang)),
        Column("auc", "AUC", "number"),
        Column("brier", "Brier", "number", 4),
        Column("log_loss", text("log_loss", lang), "number", 4),
        Column("ece", text("calibration_error", lang), "number", 4),
        Column("n", "n", "count"),
    ]


def drivers_rows(drivers: pl.DataFrame, lang: Lang) -> Table:
    """Permutation importance of each group of features."""
    frame = drivers.sort("log_loss_increase", descending=True)
    frame = frame.with_columns(
        _labels(frame["driver"], lambda d: driver_label(d, lang)).alias("label")
    )
    return frame, [
        Column("label", text("feature", lang)),
        Column("log_loss_increase", text("log_loss_increase", lang), "number", 4),
    ]


def psi_rows(psi: pl.DataFrame, lang: Lang) -> Table:
    """Population stability index per feature."""
    frame = psi.with_columns(_labels(psi["feature"], lambda f: field_label(f, lang)).alias("label"))
    return frame, [Column("label", text("feature", lang)), Column("psi", "PSI", "number")]


def shift_rows(shifts: pl.DataFrame, lang: Lang) -> Table:
    """Previous and latest population estimates and their change."""
    frame = shifts.with_columns(
        _choice_labels(shifts, lang)
    )  # fmt: skip
    return frame, [
        Column("choice", text("treatment", lang)),
        Column("previous", text("previous", lang), "rate"),
        Column("latest", text("latest", lang), "rate"),
        Column("shift", text("shift", lang), "pp"),
    ]
