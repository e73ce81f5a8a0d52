"""Figures of a report: each takes already-protected frames and returns a ``go.Figure`` (no I/O).

Data go into figures as plain Python lists (never numpy arrays, which Plotly would pack into
base64): every number a reader can reach is readable in the page, and tests can check it.
Suppressed cells are drawn as grey crosses on the axis with a 'suppressed' hover.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl

from overdue.contract import APPROACHES, FIELD_BY_NAME
from overdue.reports.i18n import (
    Lang,
    driver_label,
    field_label,
    subgroup_label,
    text,
    value_label,
)
from overdue.reports.queries import ALL, DIMENSION_LEVELS

PALETTE: Final = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf")
APPROACH_COLOUR: Final = {a: PALETTE[i] for i, a in enumerate(APPROACHES)}
SUPPRESSED_COLOUR: Final = "#9e9e9e"
TEMPLATE: Final = "plotly_white"
FONT: Final = "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, Helvetica, Arial, sans-serif"


def _layout(fig: go.Figure, title: str, height: int = 420, **kwargs: Any) -> go.Figure:
    settings: dict[str, Any] = {
        "margin": {"l": 60, "r": 20, "t": 60, "b": 60},
        "legend": {"itemclick": "toggle", "itemdoubleclick": "toggleothers"},
        **kwargs,
    }
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        template=TEMPLATE,
        height=height,
        font={"family": FONT, "size": 13},
        hoverlabel={"font": {"family": FONT}},
        **settings,
    )
    return fig


def _suppressed_trace(
    labels: list[str], lang: Lang, *, horizontal: bool = False, base: float = 0.0
) -> go.Scatter:
    """Grey crosses where numbers are suppressed, with a hover saying why."""
    where = [base] * len(labels)
    return go.Scatter(
        x=where if horizontal else labels,
        y=labels if horizontal else where,
        mode="markers",
        marker={
            "symbol": "x-thin-open",
            "size": 12,
            "color": SUPPRESSED_COLOUR,
            "line": {"width": 2},
        },
        name=text("suppressed", lang),
        hovertemplate="%{"
        + ("y" if horizontal else "x")
        + "}<br>"
        + text("suppressed", lang)
        + "<extra></extra>",
        showlegend=bool(labels),
    )


def open_marker_legend(lang: Lang, shown: bool) -> go.Scatter:
    """A legend entry (no point) saying what an open marker means, when the chart has one."""
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        marker={"size": 11, "symbol": "diamond-open", "color": "#555"},
        name=text("open_marker", lang),
        hoverinfo="skip",
        showlegend=shown,
    )


def n_text(n: int | None) -> str:
    """'n = 1,234' for a hover, or nothing where the count is not published (a null would
    read as 0 in Plotly's number format)."""
    return "" if n is None else f"n = {n:,}"


def level_order(dimension: str) -> list[str]:
    """Levels of a dimension in the order readers expect (the contract's order for fields)."""
    if dimension in DIMENSION_LEVELS:
        return list(DIMENSION_LEVELS[dimension])
    return list(FIELD_BY_NAME[dimension].values)


def success_levels(frame: pl.DataFrame, dimension: str) -> list[str]:
    """Levels present in ``frame``, in reading order."""
    present = {lv for lv in frame["level"] if lv != ALL}
    order = level_order(dimension)
    return [lv for lv in order if lv in present] + sorted(present - set(order))


def success_traces(
    frame: pl.DataFrame, dimension: str, lang: Lang, levels: list[str]
) -> list[go.Bar | go.Scatter]:
    """The traces of one success chart for one lender/period slice (see ``success_figure``)."""
    rows = {r["level"]: r for r in frame.iter_rows(named=True) if r["level"] != ALL}
    shown = [rows[lv] for lv in levels if lv in rows and not rows[lv]["suppressed"]]
    hidden = [lv for lv in levels if lv in rows and rows[lv]["suppressed"]]
    bars = go.Bar(
        x=[value_label(dimension, r["level"], lang) for r in shown],
        y=[r["rate"] for r in shown],
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [round(r["high"] - r["rate"], 4) for r in shown],
            "arrayminus": [round(r["rate"] - r["low"], 4) for r in shown],
            "color": "#444",
        },
        customdata=[[r["n"], r["low"], r["high"]] for r in shown],
        hovertemplate="%{x}<br>"
        + text("success_rate", lang)
        + " %{y:.1%}<br>"
        + text("interval", lang)
        + " %{customdata[1]:.1%} - %{customdata[2]:.1%}<br>n = %{customdata[0]:,}"
        + "<extra></extra>",
        marker={"color": PALETTE[0]},
        name=text("success_rate", lang),
    )
    return [bars, _suppressed_trace([value_label(dimension, lv, lang) for lv in hidden], lang)]


def success_figure(
    frame: pl.DataFrame, dimension: str, lang: Lang, levels: list[str] | None = None
) -> go.Figure:
    """Agreement rate per level of one dimension (one lender/period slice) with Wilson intervals.

    ``frame``: level, n, rate, low, high, suppressed (the rows of one slice, margins excluded);
    ``levels`` fixes the axis so every slice of a chart shares it.
    """
    levels = success_levels(frame, dimension) if levels is None else levels
    fig = go.Figure(success_traces(frame, dimension, lang, levels))
    return _layout(
        fig,
        field_label(dimension, lang),
        height=380,
        yaxis={"title": text("success_rate", lang), "range": [0, 1], "tickformat": ".0%"},
        xaxis={
            "categoryorder": "array",
            "categoryarray": [value_label(dimension, lv, lang) for lv in levels],
        },
        showlegend=False,
    )


def coverage_figure(coverage: pl.DataFrame, lang: Lang) -> go.Figure:
    """Share of cases with a value, per contract field."""
    shown = coverage.filter(~pl.col("suppressed"))
    hidden = coverage.filter(pl.col("suppressed"))
    fig = go.Figure(
        go.Bar(
            y=[field_label(f, lang) for f in shown["field"]],
            x=shown["share"].to_list(),
            orientation="h",
            marker={"color": PALETTE[0]},
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
            name=text("coverage_axis", lang),
        )
    )
    fig.add_trace(
        _suppressed_trace([field_label(f, lang) for f in hidden["field"]], lang, horizontal=True)
    )
    order = [field_label(f, lang) for f in coverage["field"]]
    return _layout(
        fig,
        text("coverage", lang),
        height=max(400, 18 * coverage.height + 80),
        xaxis={"title": text("coverage_axis", lang), "range": [0, 1.02], "tickformat": ".0%"},
        yaxis={"categoryorder": "array", "categoryarray": order[::-1]},
        showlegend=False,
    )


def months_figure(months: pl.DataFrame, lang: Lang) -> go.Figure:
    """Cases per month of first contact (``n`` None where suppressed)."""
    shown = months.filter(pl.col("n").is_not_null())
    hidden = months.filter(pl.col("n").is_null())
    fig = go.Figure(
        go.Bar(
            x=shown["month"].to_list(),
            y=shown["n"].to_list(),
            marker={"color": PALETTE[0]},
            hovertemplate="%{x}: n = %{y:,}<extra></extra>",
            name=text("cases", lang),
        )
    )
    fig.add_trace(_suppressed_trace(hidden["month"].to_list(), lang))
    return _layout(
        fig,
        text("by_month", lang),
        height=320,
        xaxis={
            "title": text("month", lang),
            "type": "category",
            "categoryorder": "category ascending",
        },
        yaxis={"title": text("cases", lang)},
        showlegend=False,
    )


def display_width(label: str) -> int:
    """Columns a label takes: a Chinese character (East Asian wide or full-width) counts two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in label)


def wrapped(label: str, width: int = 16) -> str:
    """A long 'lever: level' label on two lines, so a phone's narrow chart keeps it whole."""
    if display_width(label) <= width or ": " not in label:
        return label
    return label.replace(": ", ":<br>", 1)


def row_height(labels: list[str]) -> int:
    """Pixels per row of a chart with one category per row: room for two lines when a label
    was ``wrapped``."""
    return 48 if any("<br>" in label for label in labels) else 34


def treatment_label(treatment: str, level: str, lang: Lang) -> str:
    """An approach, or a lever and its level, as a reader sees it."""
    if treatment == "approach":
        return value_label("approach", level, lang)
    return f"{field_label(treatment, lang)}: {value_label(treatment, level, lang)}"


def forest_figure(frame: pl.DataFrame, title: str, lang: Lang) -> go.Figure:
    """Estimates with 95% intervals, one row each; open markers where overlap is thin.

    ``frame``: treatment, level, estimate, ci_low, ci_high, n, overlap_flag, suppressed.
    """
    rows = list(frame.iter_rows(named=True))
    labels = [wrapped(treatment_label(r["treatment"], r["level"], lang)) for r in rows]
    fig = go.Figure()
    for flagged in (False, True):
        part = [(lb, r) for lb, r in zip(labels, rows, strict=True)
                if not r["suppressed"] and r["overlap_flag"] == flagged]  # fmt: skip
        if not part:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r["estimate"] for _, r in part],
                y=[lb for lb, _ in part],
                mode="markers",
                marker={
                    "size": 11,
                    "symbol": "diamond-open" if flagged else "diamond",
                    "color": "#d62728" if flagged else PALETTE[0],
                },
                error_x=_interval_bars([r for _, r in part]),
                customdata=[[r["ci_low"], r["ci_high"], n_text(r["n"])] for _, r in part],
                hovertemplate="%{y}<br>"
                + text("estimate", lang)
                + " %{x:.1%}<br>"
                + text("interval", lang)
                + " %{customdata[0]:.1%} - %{customdata[1]:.1%}<br>%{customdata[2]}"
                + "<extra></extra>",
                name=text("open_marker", lang) if flagged else text("estimate", lang),
            )
        )
    hidden = [lb for lb, r in zip(labels, rows, strict=True) if r["suppressed"]]
    fig.add_trace(_suppressed_trace(hidden, lang, horizontal=True))
    return _layout(
        fig,
        title,
        height=max(300, row_height(labels) * len(rows) + 150),
        xaxis={"title": text("success_rate", lang), "range": [0, 1], "tickformat": ".0%"},
        yaxis={"categoryorder": "array", "categoryarray": labels[::-1], "automargin": True},
        # the legend below, under the axis title: a phone's narrow chart keeps its width
        legend={"orientation": "h", "x": 0, "y": 0, "yref": "container", "yanchor": "bottom"},
        margin={"b": 110},
    )


def _interval_bars(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Plotly error bars from each row's estimate to its 95% interval's ends."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [round(r["ci_high"] - r["estimate"], 4) for r in rows],
        "arrayminus": [round(r["estimate"] - r["ci_low"], 4) for r in rows],
    }


def naive_figure(frame: pl.DataFrame, lang: Lang) -> go.Figure:
    """Observed and adjusted rate of each approach and lever level on one axis: a circle for
    the observed rate, a diamond with its 95% interval for the adjusted one (open where
    overlap is thin); grey crosses where suppressed.

    ``frame``: treatment, level, estimate, ci_low, ci_high, naive, overlap_flag, suppressed.
    """
    rows = list(frame.iter_rows(named=True))
    labels = [wrapped(treatment_label(r["treatment"], r["level"], lang)) for r in rows]
    shown = [(lb, r) for lb, r in zip(labels, rows, strict=True) if not r["suppressed"]]
    observed = [(lb, r) for lb, r in shown if r["naive"] is not None]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[r["naive"] for _, r in observed],
            y=[lb for lb, _ in observed],
            mode="markers",
            marker={"size": 10, "symbol": "circle", "color": PALETTE[1]},
            hovertemplate="%{y}<br>" + text("naive_rate", lang) + " %{x:.1%}<extra></extra>",
            name=text("naive_rate", lang),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[r["estimate"] for _, r in shown],
            y=[lb for lb, _ in shown],
            mode="markers",
            marker={
                "size": 11,
                "symbol": ["diamond-open" if r["overlap_flag"] else "diamond" for _, r in shown],
                "color": PALETTE[0],
            },
            error_x=_interval_bars([r for _, r in shown]),
            customdata=[[r["ci_low"], r["ci_high"]] for _, r in shown],
            hovertemplate="%{y}<br>"
            + text("adjusted", lang)
            + " %{x:.1%}<br>"
            + text("interval", lang)
            + " %{customdata[0]:.1%} - %{customdata[1]:.1%}<extra></extra>",
            name=text("adjusted", lang),
        )
    )
    hidden = [lb for lb, r in zip(labels, rows, strict=True) if r["suppressed"]]
    fig.add_trace(_suppressed_trace(hidden, lang, horizontal=True))
    fig.add_trace(open_marker_legend(lang, any(r["overlap_flag"] for _, r in shown)))
    return _layout(
        fig,
        "",
        height=max(320, row_height(labels) * len(rows) + 150),
        xaxis={"title": text("success_rate", lang), "range": [0, 1], "tickformat": ".0%"},
        yaxis={"categoryorder": "array", "categoryarray": labels[::-1], "automargin": True},
        legend={"orientation": "h", "x": 0, "y": -0.08, "yanchor": "top"},
        margin={"l": 10, "r": 20, "t": 20, "b": 60},
    )


def subgroup_forest_figure(frame: pl.DataFrame, family: str, lang: Lang) -> go.Figure:
    """Approach estimates in each subgroup of one family; the legend toggles approaches.

    ``frame``: the approach rows of one family (level, subgroup, estimate, ci_low, ci_high, n,
    overlap_flag, suppressed).
    """
    subgroups = list(dict.fromkeys(frame["subgroup"].to_list()))
    labels = [subgroup_label(s, lang) for s in subgroups]
    position = {s: i for i, s in enumerate(subgroups)}
    approaches = [a for a in APPROACHES if a in set(frame["level"])]
    width = 0.8 / max(len(approaches), 1)
    fig = go.Figure()
    hidden_y: list[float] = []
    for j, approach in enumerate(approaches):
        part = frame.filter(pl.col("level") == approach)
        offset = -0.4 + width * (j + 0.5)
        shown = part.filter(~pl.col("suppressed"))
        hidden_y += [position[s] + offset for s in part.filter(pl.col("suppressed"))["subgroup"]]
        fig.add_trace(
            go.Scatter(
                x=shown["estimate"].to_list(),
                y=[round(position[s] + offset, 3) for s in shown["subgroup"]],
                mode="markers",
                marker={
                    "size": 9,
                    "color": APPROACH_COLOUR[approach],
                    "symbol": ["diamond-open" if f else "diamond" for f in shown["overlap_flag"]],
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (shown["ci_high"] - shown["estimate"]).round(4).to_list(),
                    "arrayminus": (shown["estimate"] - shown["ci_low"]).round(4).to_list(),
                },
                customdata=[
                    [subgroup_label(s, lang), lo, hi, n_text(n)]
                    for s, lo, hi, n in shown.select("subgroup", "ci_low", "ci_high", "n").rows()
                ],
                hovertemplate="%{customdata[0]}<br>"
                + value_label("approach", approach, lang)
                + ": %{x:.1%}<br>"
                + text("interval", lang)
                + " %{customdata[1]:.1%} - %{customdata[2]:.1%}<br>%{customdata[3]}"
                + "<extra></extra>",
                name=value_label("approach", approach, lang),
                legendgroup=approach,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0.0] * len(hidden_y),
            y=[round(y, 3) for y in hidden_y],
            mode="markers",
            marker={
                "symbol": "x-thin-open",
                "size": 9,
                "color": SUPPRESSED_COLOUR,
                "line": {"width": 2},
            },
            name=text("suppressed", lang),
            hovertemplate=text("suppressed", lang) + "<extra></extra>",
            showlegend=bool(hidden_y),
        )
    )
    fig.add_trace(
        open_marker_legend(lang, bool(frame.filter(~pl.col("suppressed"))["overlap_flag"].any()))
    )
    return _layout(
        fig,
        f"{text('effects_subgroups', lang)}: {field_label(family, lang)}",
        height=max(360, 60 * len(subgroups) + 140),
        xaxis={"title": text("success_rate", lang), "range": [0, 1], "tickformat": ".0%"},
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(len(subgroups))),
            "ticktext": labels,
            "autorange": "reversed",
            "zeroline": False,
        },
    )


def heatmap_figure(frame: pl.DataFrame, lang: Lang) -> go.Figure:
    """Adjusted agreement rate: approaches across, subgroups down, the rate written in each
    cell on a colour-blind-safe diverging scale (purple high, orange low); × = suppressed,
    ! = thin overlap."""
    approaches = [a for a in APPROACHES if a in set(frame["level"])]
    subgroups = list(dict.fromkeys(frame["subgroup"].to_list()))
    cell = {(r["subgroup"], r["level"]): r for r in frame.iter_rows(named=True)}
    z: list[list[float | None]] = []
    custom: list[list[list[float | str | None]]] = []  # interval low, high and n per cell
    marks: list[list[str]] = []
    for s in subgroups:
        z_row: list[float | None] = []
        c_row: list[list[float | str | None]] = []
        m_row: list[str] = []
        for a in approaches:
            r = cell.get((s, a))
            if r is None or r["suppressed"]:
                z_row.append(None)
                c_row.append([None, None, None])
                m_row.append("×")
                continue
            z_row.append(r["estimate"])
            c_row.append([r["ci_low"], r["ci_high"], n_text(r["n"])])
            m_row.append(f"{r['estimate']:.0%}" + ("!" if r["overlap_flag"] else ""))
        z.append(z_row)
        custom.append(c_row)
        marks.append(m_row)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[value_label("approach", a, lang) for a in approaches],
            y=[subgroup_label(s, lang) for s in subgroups],
            customdata=custom,
            text=marks,
            texttemplate="%{text}",
            colorscale="PuOr",
            zmin=0,
            zmax=1,
            colorbar={
                "title": {"text": text("success_rate", lang), "side": "top"},
                "tickformat": ".0%",
                "orientation": "h",
                "x": 0,
                "xanchor": "left",
                "y": -0.02,
                "yanchor": "top",
                "len": 0.6,
                "thickness": 12,
            },
            hovertemplate="%{y}<br>%{x}<br>"
            + text("heatmap_value", lang)
            + ": %{z:.1%}<br>"
            + text("interval", lang)
            + ": %{customdata[0]:.1%} - %{customdata[1]:.1%}<br>%{customdata[2]}"
            + "<extra></extra>",
            hoverongaps=False,
        )
    )
    return _layout(
        fig,
        "",
        height=max(420, 26 * len(subgroups) + 200),
        xaxis={"side": "top", "automargin": True},
        yaxis={"autorange": "reversed", "automargin": True},
        margin={"l": 10, "r": 10, "t": 10, "b": 90},
    )


def survival_figure(survival: pl.DataFrame, lang: Lang) -> go.Figure:
    """Kaplan-Meier curves of kept plans by approach; the legend toggles approaches."""
    fig = go.Figure()
    for approach in [a for a in APPROACHES if a in set(survival["approach"])]:
        part = survival.filter(pl.col("approach") == approach).sort("month")
        fig.add_trace(
            go.Scatter(
                x=part["month"].to_list(),
                y=part["survival"].to_list(),
                mode="lines+markers",
                line={"shape": "hv", "color": APPROACH_COLOUR[approach]},
                customdata=part.select("low", "high", "at_risk").rows(),
                hovertemplate=value_label("approach", approach, lang)
                + "<br>%{x} "
                + text("months", lang)
                + ": %{y:.1%}<br>"
                + text("interval", lang)
                + " %{customdata[0]:.1%} - %{customdata[1]:.1%}<br>"
                + text("at_risk", lang)
                + " %{customdata[2]:,}<extra></extra>",
                name=value_label("approach", approach, lang),
            )
        )
    for month in (6, 12):
        fig.add_vline(x=month, line={"dash": "dot", "color": "#888"})
    return _layout(
        fig,
        text("survival_title", lang),
        height=440,
        xaxis={"title": text("months_since", lang)},
        yaxis={"title": text("kept", lang), "tickformat": ".0%"},
    )


def sustained_figure(at: dict[int, pl.DataFrame], lang: Lang) -> go.Figure:
    """Share of plans still kept at each horizon (read off the published curves)."""
    fig = go.Figure()
    for i, (horizon, frame) in enumerate(sorted(at.items())):
        rows = {r["approach"]: r for r in frame.iter_rows(named=True)}
        order = [a for a in APPROACHES if a in rows]
        fig.add_trace(
            go.Bar(
                x=[value_label("approach", a, lang) for a in order],
                y=[rows[a]["survival"] for a in order],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [round(rows[a]["high"] - rows[a]["survival"], 4) for a in order],
                    "arrayminus": [round(rows[a]["survival"] - rows[a]["low"], 4) for a in order],
                },
                customdata=[[rows[a]["low"], rows[a]["high"], rows[a]["month"]] for a in order],
                hovertemplate="%{x}: %{y:.1%}<br>"
                + text("interval", lang)
                + " %{customdata[0]:.1%} - %{customdata[1]:.1%}<br>"
                + text("as_of_month", lang)
                + " %{customdata[2]}<extra></extra>",
                name=f"{text('sustained_at', lang)} {horizon} {text('months', lang)}",
                marker={"color": PALETTE[i]},
            )
        )
    return _layout(
        fig,
        text("sec_sustained", lang),
        height=380,
        barmode="group",
        yaxis={"range": [0, 1], "tickformat": ".0%", "title": text("kept", lang)},
    )


def roc_figure(roc: dict[str, dict[str, list[float]]], lang: Lang) -> go.Figure:
    """ROC curves of our model and the baseline on the test set."""
    fig = go.Figure()
    names = {"ours": text("our_model", lang), "baseline": text("baseline", lang)}
    for i, (key, curve) in enumerate(roc.items()):
        fig.add_trace(
            go.Scatter(
                x=curve["fpr"],
                y=curve["tpr"],
                mode="lines",
                name=names.get(key, key),
                line={"color": PALETTE[i]},
                hovertemplate=text("fpr", lang)
                + " %{x:.2f}<br>"
                + text("tpr", lang)
                + " %{y:.2f}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(x=[0.0, 1.0], y=[0.0, 1.0], mode="lines", line={"dash": "dot", "color": "#999"},
                   showlegend=False, hoverinfo="skip")
    )  # fmt: skip
    return _layout(
        fig,
        text("roc", lang),
        height=420,
        xaxis={"title": text("fpr", lang), "range": [0, 1]},
        yaxis={"title": text("tpr", lang), "range": [0, 1]},
    )


def reliability_figure(bins: dict[str, list[dict[str, Any]]], lang: Lang) -> go.Figure:
    """Mean prediction against observed rate per bin, ours and the baseline; n in the hover."""
    fig = go.Figure()
    names = {"ours": text("our_model", lang), "baseline": text("baseline", lang)}
    for i, (key, table) in enumerate(bins.items()):
        fig.add_trace(
            go.Scatter(
                x=[b["predicted"] for b in table],
                y=[b["observed"] for b in table],
                mode="lines+markers",
                name=names.get(key, key),
                line={"color": PALETTE[i]},
                customdata=[[b["n"]] for b in table],
                hovertemplate=text("predicted", lang)
                + " %{x:.1%}<br>"
                + text("observed", lang)
                + " %{y:.1%}<br>n = %{customdata[0]:,}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(x=[0.0, 1.0], y=[0.0, 1.0], mode="lines", line={"dash": "dot", "color": "#999"},
                   showlegend=False, hoverinfo="skip")
    )  # fmt: skip
    return _layout(
        fig,
        text("reliability", lang),
        height=420,
        xaxis={"title": text("predicted", lang), "range": [0, 1], "tickformat": ".0%"},
        yaxis={"title": text("observed", lang), "range": [0, 1], "tickformat": ".0%"},
    )


def drivers_figure(drivers: pl.DataFrame, lang: Lang) -> go.Figure:
    """Permutation importance of each group of features (no counts)."""
    frame = drivers.sort("log_loss_increase")
    fig = go.Figure(
        go.Bar(
            x=frame["log_loss_increase"].to_list(),
            y=[driver_label(d, lang) for d in frame["driver"]],
            orientation="h",
            marker={"color": PALETTE[2]},
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    return _layout(
        fig,
        text("drivers_title", lang),
        height=max(320, 26 * frame.height + 120),
        xaxis={"title": text("log_loss_increase", lang)},
        margin={"l": 200, "r": 20, "t": 60, "b": 60},
    )


def psi_figure(psi: pl.DataFrame, lang: Lang) -> go.Figure:
    """Population stability index per feature, with the usual 0.1 and 0.25 marks."""
    frame = psi.sort("psi")
    fig = go.Figure(
        go.Bar(
            x=frame["psi"].to_list(),
            y=[field_label(f, lang) for f in frame["feature"]],
            orientation="h",
            marker={"color": ["#d62728" if v > 0.25 else "#ff7f0e" if v > 0.1 else PALETTE[0]
                              for v in frame["psi"]]},
            hovertemplate="%{y}: PSI %{x:.3f}<extra></extra>",
        )
    )  # fmt: skip
    for mark in (0.1, 0.25):
        fig.add_vline(x=mark, line={"dash": "dot", "color": "#888"})
    return _layout(
        fig,
        text("psi_title", lang),
        height=max(360, 20 * frame.height + 120),
        xaxis={"title": "PSI"},
        margin={"l": 220, "r": 20, "t": 60, "b": 60},
    )


def shift_figure(shifts: pl.DataFrame, lang: Lang) -> go.Figure:
    """Previous and latest population estimates, joined by a line per approach or lever."""
    rows = list(shifts.iter_rows(named=True))
    labels = [treatment_label(r["treatment"], r["level"], lang) for r in rows]
    fig = go.Figure()
    for label, r in zip(labels, rows, strict=True):
        fig.add_trace(
            go.Scatter(x=[r["previous"], r["latest"]], y=[label, label], mode="lines",
                       line={"color": "#bbb"}, showlegend=False, hoverinfo="skip")
        )  # fmt: skip
    for key, colour in (("previous", "#9e9e9e"), ("latest", PALETTE[0])):
        fig.add_trace(
            go.Scatter(
                x=[r[key] for r in rows],
                y=labels,
                mode="markers",
                marker={"size": 10, "color": colour},
                name=text(key, lang),
                customdata=[[r["shift"]] for r in rows],
                hovertemplate="%{y}<br>%{x:.1%} ("
                + text("shift", lang)
                + " %{customdata[0]:+.1%})<extra></extra>",
            )
        )
    return _layout(
        fig,
        text("shift_title", lang),
        height=max(320, 30 * len(rows) + 120),
        xaxis={"title": text("success_rate", lang), "tickformat": ".0%"},
        yaxis={"categoryorder": "array", "categoryarray": labels[::-1]},
        margin={"l": 220, "r": 20, "t": 60, "b": 60},
    )
