"""What a report publishes: aggregates after small-cell suppression (pure functions of frames).

Every function takes the small frames ``queries`` returns and gives back what may be shown,
with ``None`` where a number is suppressed. Figures and pages only ever see these outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import polars as pl

from overdue.reports.queries import ALL
from overdue.reports.stats import kaplan_meier, psi_from_shares, wilson_interval
from overdue.reports.suppression import Cell, Key, Line, Protection, protect
from overdue.segments import OVERDUE_BANDS

STAR: Final = "*"
"""Dimension of the margin cells shared by every success table (all levels together)."""
FAMILIES: Final[dict[str, str]] = {
    "lender_type": "lender_type",
    "overdue_band": "overdue_band",
    "hardship_reason": "hardship_reason",
    "collection_stage": "collection_stage",
}
"""Subgroup families of the effects table and the success dimension each matches."""


def floor_to_k(n: int, k: int) -> int:
    """A count rounded down to a multiple of k (0 for fewer than k)."""
    return (n // k) * k


# --- success rates ------------------------------------------------------------------------------


def success_key(dimension: str, level: str, lender: str, period: str) -> Key:
    """The cell of one success-rate number; margins are shared across dimensions."""
    if level == ALL:
        return (STAR, ALL, lender, period)
    if dimension == "lender_type":
        return (STAR, ALL, level, period)
    return (dimension, level, lender, period)


def success_cells(cubes: dict[str, pl.DataFrame]) -> tuple[dict[Key, Cell], list[Line]]:
    """Cells and lines of every success cube (level x lender x period with margins)."""
    cells: dict[Key, Cell] = {}
    lines: set[Line] = set()
    for dimension, cube in cubes.items():
        rows = list(cube.iter_rows(named=True))
        for r in rows:
            cells[success_key(dimension, r["level"], r["lender"], r["period"])] = Cell(
                int(r["n"]), int(r["x"])
            )
        levels = sorted({r["level"] for r in rows} - {ALL})
        lenders = sorted({r["lender"] for r in rows} - {ALL})
        periods = sorted({r["period"] for r in rows} - {ALL})
        if dimension == "lender_type":
            levels, lenders = [ALL], lenders or levels
        key = lambda v, ln, p, d=dimension: success_key(d, v, ln, p)  # noqa: E731
        for p in [ALL, *periods]:
            for ln in [ALL, *lenders]:
                if dimension != "lender_type":
                    lines.add(Line(key(ALL, ln, p), tuple(key(v, ln, p) for v in levels)))
            for v in [ALL, *levels]:
                lines.add(Line(key(v, ALL, p), tuple(key(v, ln, p) for ln in lenders)))
        for v in [ALL, *levels]:
            for ln in [ALL, *lenders]:
                lines.add(Line(key(v, ln, ALL), tuple(key(v, ln, p) for p in periods)))
    return cells, sorted(lines, key=repr)


def success_table(cubes: dict[str, pl.DataFrame], protection: Protection) -> pl.DataFrame:
    """Every success number that may be shown: n, rate and Wilson interval (None = hidden)."""
    records = []
    for dimension, cube in cubes.items():
        for r in cube.iter_rows(named=True):
            if dimension == "lender_type" and r["level"] == ALL and r["lender"] != ALL:
                continue
            key = success_key(dimension, r["level"], r["lender"], r["period"])
            n, x = int(r["n"]), int(r["x"])
            shown_n = protection.count_shown(key)
            shown_rate = protection.rate_shown(key) and n > 0
            low, high = wilson_interval(x, n) if shown_rate else (None, None)
            records.append(
                {
                    "dimension": dimension,
                    "level": r["level"],
                    "lender": r["lender"],
                    "period": r["period"],
                    "n": n if shown_n else None,
                    "rate": round(x / n, 4) if shown_rate else None,
                    "low": round(low, 4) if low is not None else None,
                    "high": round(high, 4) if high is not None else None,
                    "suppressed": not (shown_n and shown_rate),
                }
            )
    schema = {
        "dimension": pl.String, "level": pl.String, "lender": pl.String, "period": pl.String,
        "n": pl.Int64, "rate": pl.Float64, "low": pl.Float64, "high": pl.Float64,
        "suppressed": pl.Boolean,
    }  # fmt: skip
    return pl.DataFrame(records, schema=schema)


# --- data section -------------------------------------------------------------------------------


def data_cells(totals: dict[str, int], months: pl.DataFrame) -> tuple[dict[Key, Cell], list[Line]]:
    """Case totals and cases per month: cases = labelled + pending = sum of the months."""
    cells: dict[Key, Cell] = {
        ("cases",): Cell(totals["cases"]),
        ("pending",): Cell(totals["pending"]),
    }
    month_keys = []
    for month, n in months.iter_rows():
        cells[("month", month)] = Cell(int(n))
        month_keys.append(("month", month))
    labelled = (STAR, ALL, ALL, ALL)
    lines = [
        Line(("cases",), (labelled, ("pending",))),
        Line(("cases",), tuple(month_keys)),
    ]
    return cells, lines


def coverage_table(coverage: pl.DataFrame, k: int) -> pl.DataFrame:
    """Share of cases with a value per field; hidden when the filled or the missing are 1..k-1."""
    rows = []
    for name, filled, total in coverage.iter_rows():
        missing = total - filled
        small = 0 < filled < k or 0 < missing < k or total < k
        rows.append(
            {
                "field": name,
                "share": None if small or total == 0 else round(filled / total, 4),
                "suppressed": small,
            }
        )
    return pl.DataFrame(
        rows, schema={"field": pl.String, "share": pl.Float64, "suppressed": pl.Boolean}
    )


PARTS_OF_READ: Final = ("rows_loaded", "rows_quarantined", "rows_replaced", "rows_skipped")
BATCH_COUNTS: Final = (
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "rows_replaced",
    "rows_skipped",
    "cases_superseded",
)
TOTAL: Final = "total"


def batch_tables(
    batches: pl.DataFrame, reasons: pl.DataFrame, k: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Batch row counts (with a total row) and quarantine reasons, protected together.

    Lines: read = loaded + quarantined + replaced + skipped for each batch; each count adds up over
    batches to the total row; reasons add up to the quarantined total (a row can have several
    reasons, but treating them as a partition only hides more).
    """
    cells: dict[Key, Cell] = {}
    lines: list[Line] = []
    ids = [str(b) for b in batches["batch_id"]]
    for row in batches.iter_rows(named=True):
        for column in BATCH_COUNTS:
            cells[("batch", str(row["batch_id"]), column)] = Cell(int(row[column]))
        b = str(row["batch_id"])
        lines.append(
            Line(
                ("batch", b, "rows_read"),
                tuple(
                    ("batch", b, c) for c in ("rows_loaded", "rows_quarantined", "rows_replaced")
                ),
            )
        )
    for column in BATCH_COUNTS:
        cells[("batch", TOTAL, column)] = Cell(int(batches[column].sum()) if batches.height else 0)
        lines.append(Line(("batch", TOTAL, column), tuple(("batch", b, column) for b in ids)))
    lines.append(
        Line(
            ("batch", TOTAL, "rows_read"),
            tuple(
                ("batch", TOTAL, c) for c in ("rows_loaded", "rows_quarantined", "rows_replaced")
            ),
        )
    )
    for reason, n in reasons.iter_rows():
        cells[("reason", reason)] = Cell(int(n))
    lines.append(
        Line(("batch", TOTAL, "rows_quarantined"), tuple(("reason", r) for r in reasons["reason"]))
    )
    protection = protect(cells, lines, k)
    table_rows = []
    for row in [*batches.iter_rows(named=True), {"batch_id": TOTAL}]:
        b = str(row["batch_id"])
        shown: dict[str, Any] = {
            "batch": b,
            "file": row.get("file") or "",
            "format": row.get("format") or "",
            "status": row.get("status") or "",
            "finished_at": str(row["finished_at"])[:19] if row.get("finished_at") else "",
        }
        for column in BATCH_COUNTS:
            key = ("batch", b, column)
            shown[column] = cells[key].n if protection.count_shown(key) else None
        table_rows.append(shown)
    batch_schema = {
        "batch": pl.String, "file": pl.String, "format": pl.String, "status": pl.String,
        "finished_at": pl.String, **{c: pl.Int64 for c in BATCH_COUNTS},
    }  # fmt: skip
    reason_rows = [
        {"reason": r, "rows": int(n) if protection.count_shown(("reason", r)) else None}
        for r, n in reasons.iter_rows()
    ]
    return (
        pl.DataFrame(table_rows, schema=batch_schema),
        pl.DataFrame(reason_rows, schema={"reason": pl.String, "rows": pl.Int64}),
    )


# --- effects ------------------------------------------------------------------------------------


def share_shown(share: float, n: int, k: int) -> float | None:
    """A share of n cases, hidden when it or its complement stands for 1..k-1 cases."""
    part = round(share * n)
    if 0 < part < k or 0 < n - part < k:
        return None
    return round(share, 3)


def family_of(subgroup: str) -> str | None:
    """The family (lender_type, overdue_band, ...) of a subgroup key; None for population."""
    if subgroup in OVERDUE_BANDS:
        return "overdue_band"
    if "=" in subgroup:
        return subgroup.split("=", 1)[0]
    return None


def subgroup_success_key(subgroup: str) -> Key:
    """The success-table cell holding the labelled cases of a subgroup."""
    family = family_of(subgroup)
    if family is None:
        return (STAR, ALL, ALL, ALL)
    if family == "overdue_band":
        return success_key("overdue_band", subgroup, ALL, ALL)
    return success_key(family, subgroup.split("=", 1)[1], ALL, ALL)


def effects_protection(effects: pl.DataFrame, k: int) -> Protection:
    """Which effect cells (treatment, level, subgroup) publish no rate, interval or count of
    askers (``count_shown``), and which no observed rate (``rate_shown``): hidden where fewer
    than k asked, and complementary along each subgroup family, whose case-weighted mean is
    the population's estimate (one hidden subgroup would follow from the others)."""
    cells: dict[Key, Cell] = {}
    forced: list[Key] = []
    for r in effects.iter_rows(named=True):
        key = (r["treatment"], r["level"], r["subgroup"])
        agreed = r["n_agreed"] if r["naive"] is not None else None
        cells[key] = Cell(int(r["n_treated"]), None if agreed is None else int(agreed))
        if r["suppressed"] or r["estimate"] is None or r["n"] < k or r["n_treated"] < k:
            forced.append(key)
    lines: list[Line] = []
    for treatment, level in sorted({(t, lv) for t, lv, _ in cells}):
        for family in FAMILIES:
            parts = tuple(
                key
                for key in cells
                if key[0] == treatment and key[1] == level and family_of(str(key[2])) == family
            )
            if parts:
                lines.append(Line((treatment, level, "population"), parts))
    return protect(cells, lines, k, hidden=forced)


def subgroup_sizes_shown(effects: pl.DataFrame, k: int) -> set[str]:
    """The subgroups whose number of cases may be published: not under k, and complementary
    along each family (its sizes add up to the population's)."""
    sizes: dict[Key, Cell] = {
        (str(s),): Cell(int(n)) for s, n in effects.select("subgroup", "n").unique().iter_rows()
    }
    lines = [
        Line(("population",), tuple(key for key in sizes if family_of(str(key[0])) == family))
        for family in FAMILIES
    ]
    protection = protect(sizes, [line for line in lines if line.parts], k)
    return {str(key[0]) for key in sizes if protection.count_shown(key)}


def effects_table(
    effects: pl.DataFrame,
    k: int,
    success_protection: Protection | None,
    show_counts: bool,
) -> pl.DataFrame:
    """Effects that may be shown: hidden where few asked, and complementary along families.

    The population estimate of an approach is the case-weighted mean of its estimates in the
    subgroups of one family, so one hidden subgroup estimate would follow from the others:
    each family line keeps at least two hidden, holding at least k cases who asked.
    ``n`` (cases of the subgroup) is shown only when the same count is shown in the success
    tables (``show_counts``: the data did not change since training). The observed rate
    (``naive``, with ``difference`` = naive - adjusted) follows the rate rule as well: hidden
    where its agreements or their complement are under k, and complementary along families.
    """
    protection = effects_protection(effects, k)
    rows = []
    for r in effects.iter_rows(named=True):
        key = (r["treatment"], r["level"], r["subgroup"])
        shown = protection.count_shown(key)
        naive = r["naive"] if shown and protection.rate_shown(key) else None
        n_key = subgroup_success_key(r["subgroup"])
        n_shown = (
            show_counts
            and success_protection is not None
            and success_protection.count_shown(n_key)
            and r["n"] >= k
        )
        rows.append(
            {
                "treatment": r["treatment"],
                "level": r["level"],
                "subgroup": r["subgroup"],
                "estimate": round(r["estimate"], 4) if shown else None,
                "ci_low": round(r["ci_low"], 4) if shown else None,
                "ci_high": round(r["ci_high"], 4) if shown else None,
                "naive": round(naive, 4) if naive is not None else None,
                "difference": round(naive - r["estimate"], 4) if naive is not None else None,
                "n": int(r["n"]) if n_shown else None,
                "share_low_propensity": share_shown(r["share_low_propensity"], int(r["n"]), k),
                "overlap_flag": bool(r["overlap_flag"]),
                "suppressed": not shown,
            }
        )
    schema = {
        "treatment": pl.String, "level": pl.String, "subgroup": pl.String,
        "estimate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
        "naive": pl.Float64, "difference": pl.Float64, "n": pl.Int64,
        "share_low_propensity": pl.Float64, "overlap_flag": pl.Boolean, "suppressed": pl.Boolean,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def sensitivity_shown(
    rows: list[dict[str, Any]] | None, effects: pl.DataFrame, k: int
) -> list[dict[str, Any]] | None:
    """The stored sensitivity rows (``overdue.models.sensitivity``) the report may show: only
    contrasts resting on at least k cases of every level they weigh, and only where every such
    level's adjusted rate is shown (a contrast with the average and the shown rates would give
    a hidden one away). None for a run trained before sensitivity was stored."""
    if rows is None:
        return None
    population = effects.filter(pl.col("subgroup") == "population")
    shown = {
        (t, lv) for t, lv, s in population.select("treatment", "level", "suppressed").iter_rows()
        if not s
    }  # fmt: skip
    levels: dict[str, set[str]] = {}
    for t, lv in population.select("treatment", "level").iter_rows():
        levels.setdefault(t, set()).add(lv)

    def weighed(r: dict[str, Any]) -> set[str]:
        if r["against"] == "average":
            return levels.get(r["treatment"], {r["level"]})
        return {r["level"], r["against"]}

    return [
        r
        for r in rows
        if r["n_min"] >= k and all((r["treatment"], lv) in shown for lv in weighed(r))
    ]


def effect_shifts(latest: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Change of each population estimate shown in both runs (no counts)."""
    keys = ["treatment", "level"]
    a = latest.filter(pl.col("subgroup") == "population").select(
        *keys, pl.col("estimate").alias("latest")
    )
    b = previous.filter(pl.col("subgroup") == "population").select(
        *keys, pl.col("estimate").alias("previous")
    )
    return (
        a.join(b, on=keys, how="inner")
        .filter(pl.col("latest").is_not_null() & pl.col("previous").is_not_null())
        .with_columns((pl.col("latest") - pl.col("previous")).round(4).alias("shift"))
    )


# --- sustained success --------------------------------------------------------------------------


def survival_table(counts: pl.DataFrame, k: int) -> pl.DataFrame:
    """Kaplan-Meier curves by approach, coarsened so every step rests on at least k failures.

    A month is published only when at least k plans broke since the last published month and at
    least k plans were still followed (and kept) then; the at-risk count is shown rounded down
    to a multiple of k.
    """
    rows = []
    for (approach,), part in counts.sort("month").group_by(["approach"], maintain_order=True):
        at_risk = [int(v) for v in part["at_risk"]]
        events = [int(v) for v in part["events"]]
        months = [int(v) for v in part["month"]]
        curve = kaplan_meier(at_risk, events)
        if not at_risk or at_risk[0] < k:
            continue
        rows.append(
            {
                "approach": approach,
                "month": 0.0,
                "survival": 1.0,
                "low": 1.0,
                "high": 1.0,
                "at_risk": floor_to_k(at_risk[0], k),
            }
        )
        since = 0
        for month, n, d, (s, low, high) in zip(months, at_risk, events, curve, strict=True):
            since += d
            if since >= k and n >= k and n - d >= k:
                rows.append(
                    {"approach": approach, "month": float(month), "survival": round(s, 4),
                     "low": round(low, 4), "high": round(high, 4), "at_risk": floor_to_k(n, k)}
                )  # fmt: skip
                since = 0
    schema = {
        "approach": pl.String, "month": pl.Float64, "survival": pl.Float64, "low": pl.Float64,
        "high": pl.Float64, "at_risk": pl.Int64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def sustained_at(survival: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """The published curve's last step at or before ``horizon`` months, per approach.

    An approach with no published step by then (fewer than k plans broke) gets no value: a
    share of 100% would only mean that the failures were too few to show.
    """
    return (
        survival.filter((pl.col("month") <= horizon) & (pl.col("month") > 0))
        .sort("month")
        .group_by("approach", maintain_order=True)
        .agg(
            pl.col("month").last(),
            pl.col("survival").last(),
            pl.col("low").last(),
            pl.col("high").last(),
        )
    )


# --- model quality ------------------------------------------------------------------------------


def roc_shown(roc: dict[str, list[float]], positives: int, negatives: int, k: int) -> dict:
    """ROC points whose true/false positive counts (and their complements) are 0 or >= k."""
    fpr, tpr = [], []
    for f, t in zip(roc["fpr"], roc["tpr"], strict=True):
        counts = (
            round(t * positives),
            round(f * negatives),
            positives - round(t * positives),
            negatives - round(f * negatives),
        )
        if all(c == 0 or c >= k for c in counts):
            fpr.append(float(f))
            tpr.append(float(t))
    return {"fpr": fpr, "tpr": tpr}


def reliability_shown(table: list[dict[str, Any]], total: int, k: int) -> list[dict[str, Any]]:
    """Reliability bins whose successes and failures are at least k; a bin's count is shown
    only when the hidden bins (and the bins training left out) together hold at least k cases."""
    visible, hidden_n = [], total - sum(int(b["n"]) for b in table)
    for b in sorted(table, key=lambda b: b["predicted"]):
        n = int(b["n"])
        x = round(float(b["observed"]) * n)
        if n < k or x < k or n - x < k:
            hidden_n += n
        else:
            visible.append(b)
    while visible and 0 < hidden_n < k:
        smallest = min(visible, key=lambda b: int(b["n"]))
        visible.remove(smallest)
        hidden_n += int(smallest["n"])
    return [
        {
            "predicted": round(float(b["predicted"]), 4),
            "observed": round(float(b["observed"]), 4),
            "n": int(b["n"]),
        }
        for b in visible
    ]


DECILE_EDGES: Final = 9
"""Training stores the 9 inner decile edges of each number feature
(``overdue.models.diagnostics.DISTRIBUTION_BINS`` - 1); a test keeps the two in step."""


def psi_table(
    distributions: dict[str, dict[str, Any]], current: dict[str, dict[str, float]]
) -> pl.DataFrame:
    """Population stability index of each feature: previous run's distribution vs now.

    Categories compare their stored shares. Numbers compare against the stored decile edges,
    where each bin held a tenth of the cases; a number feature with tied deciles (a flag, a
    small count) stored fewer edges and unknown shares, so it is left out rather than compared
    against a wrong expectation.
    """
    rows = []
    for name, before in distributions.items():
        if name not in current:
            continue
        if before["kind"] == "category":
            expected = {str(level): float(s) for level, s in before["shares"].items()}
        elif len(before["edges"]) < DECILE_EDGES:
            continue
        else:
            bins = len(before["edges"]) + 1
            expected = {str(i): 1 / bins for i in range(bins)}
        rows.append({"feature": name, "psi": round(psi_from_shares(expected, current[name]), 4)})
    frame = pl.DataFrame(rows, schema={"feature": pl.String, "psi": pl.Float64})
    return frame.sort("psi", descending=True)


@dataclass
class ReportContent:
    """Everything one report shows, already protected; the pages render it in each language."""

    run_id: str
    snapshot_hash: str
    model_version: str | None
    generated_at: str
    k: int
    missing: list[str] = field(default_factory=list)
    totals: dict[str, int | None] = field(default_factory=dict)
    months: pl.DataFrame | None = None
    coverage: pl.DataFrame | None = None
    batches: pl.DataFrame | None = None
    reasons: pl.DataFrame | None = None
    success: pl.DataFrame | None = None
    lenders: list[str] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)
    effects: pl.DataFrame | None = None
    snapshot_matches: bool = True
    survival: pl.DataFrame | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    test_period: dict[str, str] = field(default_factory=dict)
    model_sample: tuple[int, int] | None = None
    """(cases the models learnt from, labelled cases) when the models learnt from a sample
    (``Settings.model_max_cases``); None when they learnt from every labelled case."""
    roc: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    reliability: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    drivers: pl.DataFrame | None = None
    previous_run: dict[str, Any] | None = None
    psi: pl.DataFrame | None = None
    shifts: pl.DataFrame | None = None
    trained_at: str | None = None
    self_check: dict[str, Any] | None = None
    sensitivity: list[dict[str, Any]] | None = None
    refutations: list[dict[str, Any]] | None = None
    policy: list[dict[str, Any]] | None = None
    naive_stored: bool = True
    """False for a run trained before observed (naive) rates were stored."""
    previous_effects: pl.DataFrame | None = None
    sources: list[dict[str, Any]] | None = None
    """Source files of the latest and previous runs as training recorded them (None: unknown)."""
    previous_sources: list[dict[str, Any]] | None = None
    simulated: bool | None = None
    """Whether the latest run learnt from the simulator's cases (``bundle_file.simulated``)."""


def refutations_shown(rows: list[dict[str, Any]] | None, k: int) -> list[dict[str, Any]] | None:
    """The stored refutation tests (``overdue.models.refute``): each test's verdict in words,
    never on fewer than k cases (a test on fewer shows as not run). None for a run trained
    before they were stored."""
    if rows is None:
        return None
    return [r if r["rows"] >= k or r["passed"] is None else {**r, "passed": None} for r in rows]


def policy_shown(rows: list[dict[str, Any]] | None, k: int) -> list[dict[str, Any]] | None:
    """The stored policy values (``overdue.models.policy``) the report may show: rows resting
    on at least k cases, k that followed the advice, k agreements and k refusals. None for a
    run trained before they were stored."""
    if rows is None:
        return None

    def enough(r: dict[str, Any]) -> bool:
        agreed = round(r["actual"] * r["n"])
        return min(r["n"], r["n_followed"], agreed, r["n"] - agreed) >= k

    return [r for r in rows if not r["suppressed"] and enough(r)]


def metrics_shown(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Model metrics without the base rate (which with n would give the count of successes)."""
    keep = ("auc", "brier", "log_loss", "ece", "n")
    return {
        name: {key: float(value) for key, value in m.items() if key in keep}
        for name, m in metrics.items()
    }


def test_counts(metrics: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """Positives and negatives of the test set (to check ROC points; never published)."""
    any_model = next(iter(metrics.values()))
    n = int(any_model["n"])
    positives = round(float(any_model["base_rate"]) * n)
    return positives, n - positives


def self_check_shown(check: dict[str, Any] | None, k: int) -> dict[str, Any] | None:
    """The training run's self-check (``overdue.models.selfcheck``) as the report may show it:
    nothing when its test period holds fewer than k cases, and no lender type with fewer than
    k test cases (the report's k may be larger than the one training used)."""
    if check is None or check["test_cases"] < k:
        return None

    def kept(groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {name: g for name, g in groups.items() if g["test_cases"] >= k}

    return {
        **check,
        "pooled": {
            **check["pooled"],
            "coverage_by_lender": kept(check["pooled"]["coverage_by_lender"]),
        },
        "surfaces": [
            {**s, "coverage_by_lender": kept(s["coverage_by_lender"])} for s in check["surfaces"]
        ],
    }


def mean_or_none(values: list[float]) -> float | None:
    """Mean of a list, None when empty."""
    return float(np.mean(values)) if values else None
