"""Aggregates for reports, computed in DuckDB: every function returns a small polars frame.

No function here returns a case row or a raw value of one case: counts, sums and bins only.
Callers pass a read-only connection from ``overdue.warehouse.open_warehouse``.
"""

from __future__ import annotations

import json
from typing import Any, Final

import duckdb
import polars as pl

from overdue.contract import AGREED, FIELDS, PENDING
from overdue.features import DOCS
from overdue.segments import OVERDUE_BANDS

ALL: Final = "__all__"
"""The margin of a dimension (every level together)."""
MISSING: Final = "missing"

_AGREED_SQL: Final = "outcome IN (" + ", ".join(f"'{a}'" for a in AGREED) + ")"
_LABELLED_SQL: Final = f"outcome <> '{PENDING}'"


def _band_sql() -> str:
    whens = []
    for key, (low, high) in OVERDUE_BANDS.items():
        conditions = []
        if low is not None:
            conditions.append(f"days_overdue_at_contact >= {low}")
        if high is not None:
            conditions.append(f"days_overdue_at_contact < {high}")
        whens.append(f"WHEN {' AND '.join(conditions)} THEN '{key}'")
    return f"CASE {' '.join(whens)} END"


def _documents_sql() -> str:
    count = " + ".join(f"coalesce({d}, false)::INTEGER" for d in DOCS)
    return (
        f"CASE WHEN ({count}) = 0 THEN '0' WHEN ({count}) <= 2 THEN '1-2' "
        f"WHEN ({count}) <= 4 THEN '3-4' ELSE '5-6' END"
    )


def _contact_days_sql() -> str:
    return "coalesce(days_to_first_contact, date_diff('day', overdue_since, first_contact_on))"


def _timing_sql() -> str:
    days = _contact_days_sql()
    return (
        f"CASE WHEN {days} <= 30 THEN '<=30 days' WHEN {days} <= 90 THEN '31-90 days' "
        f"WHEN {days} <= 180 THEN '91-180 days' ELSE '>180 days' END"
    )


DIMENSIONS: Final[dict[str, str]] = {
    "approach": "approach",
    "lender_type": "lender_type",
    "overdue_band": _band_sql(),
    "hardship_reason": "hardship_reason",
    "collection_stage": "collection_stage",
    "documents": _documents_sql(),
    "written_plan": "CASE WHEN repayment_plan_prepared THEN 'yes' ELSE 'no' END",
    "contact_timing": _timing_sql(),
    "professional_help": "professional_help",
}
"""Success rates are broken down by each of these (SQL expression of the level of a case)."""

DIMENSION_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "overdue_band": tuple(OVERDUE_BANDS),
    "documents": ("0", "1-2", "3-4", "5-6"),
    "written_plan": ("yes", "no"),
    "contact_timing": ("<=30 days", "31-90 days", "91-180 days", ">180 days"),
}
"""Order of the levels of derived dimensions (contract fields keep the contract's order)."""

PERIOD_SQL: Final = "strftime(first_contact_on, '%Y')"


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables the warehouse holds."""
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {str(r[0]) for r in rows}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {
        str(r[0]) for r in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()
    }


def model_runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every training run, newest first, with its JSON columns parsed (aggregates only).

    ``self_check``, ``sensitivity``, ``refutations`` and ``policy_value`` are None for runs
    without them and in warehouses older than the column (a report opens the warehouse
    read-only, so it is not migrated)."""
    if "model_runs" not in tables(con):
        return []
    present = _columns(con, "model_runs")
    stored = ("self_check", "sensitivity", "refutations", "policy_value")
    later = ", ".join(c if c in present else f"NULL AS {c}" for c in stored)
    frame = con.sql(
        "SELECT model_version, run_id, trained_at, outcome, snapshot_hash, cases, labelled, "
        f"test_rows, bundle_path, period, metrics, diagnostics, {later} FROM model_runs "
        "ORDER BY trained_at DESC"
    ).pl()
    runs = []
    for row in frame.iter_rows(named=True):
        for column in ("period", "metrics", "diagnostics", *stored):
            row[column] = json.loads(row[column]) if row[column] is not None else None
        runs.append(row)
    return runs


def batches(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per loaded file: its name (not its folder), format and row counts.

    ``rows_skipped`` (rows a source mapping left out on purpose) is 0 in warehouses older
    than the column.
    """
    skipped = (
        "rows_skipped"
        if "rows_skipped" in _columns(con, "batches")
        else "0::BIGINT AS rows_skipped"
    )
    return con.sql(
        "SELECT batch_id, regexp_extract(path, '[^/\\\\]+$') AS file, format, encoding, "
        f"status, rows_read, rows_loaded, rows_quarantined, rows_replaced, {skipped}, "
        "cases_superseded, finished_at FROM batches ORDER BY batch_id"
    ).pl()


def quarantine_reasons(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Quarantined rows per reason (a row with several reasons counts under each)."""
    return con.sql(
        "SELECT reason, count(*) AS rows FROM "
        "(SELECT unnest(reasons) AS reason FROM quarantine) GROUP BY reason ORDER BY rows DESC"
    ).pl()


def case_totals(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Cases, labelled (with a result) and pending."""
    row = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {_LABELLED_SQL}), "
        f"count(*) FILTER (WHERE outcome = '{PENDING}') FROM cases"
    ).fetchall()[0]
    return {"cases": int(row[0]), "labelled": int(row[1]), "pending": int(row[2])}


def field_coverage(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per contract field: how many cases have a value, of how many."""
    counts = ", ".join(f'count("{f.name}") AS "{f.name}"' for f in FIELDS)
    frame = con.sql(f"SELECT count(*) AS total, {counts} FROM cases").pl()
    total = int(frame["total"][0])
    return pl.DataFrame(
        {
            "field": [f.name for f in FIELDS],
            "filled": [int(frame[f.name][0]) for f in FIELDS],
            "total": [total] * len(FIELDS),
        }
    )


def cases_by_month(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Cases per month of first contact (the period the data covers)."""
    return con.sql(
        "SELECT strftime(first_contact_on, '%Y-%m') AS month, count(*) AS n "
        "FROM cases GROUP BY month ORDER BY month"
    ).pl()


def success_cube(con: duckdb.DuckDBPyConnection, dimension: str) -> pl.DataFrame:
    """Labelled cases and agreements by level x lender type x year, with every margin (ALL).

    Columns: level, lender, period, n, x. For ``lender_type`` the level is the lender.
    """
    level = DIMENSIONS[dimension]
    if dimension == "lender_type":
        select, group = "lender_type AS level, lender_type AS lender", "CUBE (level, period)"
    else:
        select, group = f"{level} AS level, lender_type AS lender", "CUBE (level, lender, period)"
    frame = con.sql(
        f"""
        SELECT {select}, {PERIOD_SQL} AS period,
               grouping(level) AS g_level, grouping(period) AS g_period,
               count(*) AS n, count(*) FILTER (WHERE {_AGREED_SQL}) AS x
        FROM cases WHERE {_LABELLED_SQL}
        GROUP BY {group}
        """
    ).pl()
    if dimension == "lender_type":
        frame = frame.with_columns(
            pl.when(pl.col("g_level") == 1).then(pl.lit(ALL)).otherwise(pl.col("lender"))
            .alias("lender")
        )  # fmt: skip
    return frame.select(
        pl.when(pl.col("g_level") == 1)
        .then(pl.lit(ALL))
        .otherwise(pl.col("level").fill_null(MISSING))
        .alias("level"),
        pl.col("lender").fill_null(ALL).alias("lender"),
        pl.when(pl.col("g_period") == 1)
        .then(pl.lit(ALL))
        .otherwise(pl.col("period").fill_null(MISSING))
        .alias("period"),
        pl.col("n").cast(pl.Int64),
        pl.col("x").cast(pl.Int64),
    )


def survival_counts(con: duckdb.DuckDBPyConnection, horizon: int) -> pl.DataFrame:
    """Agreed plans by approach and month: how many were still followed and how many broke.

    A broken plan fails at ``months_to_redefault``; a plan still on track is censored at
    ``followup_months``; a completed plan stays kept through the horizon.
    """
    return con.sql(
        f"""
        WITH plans AS (
            SELECT approach,
                   CASE WHEN plan_status = 'broken' THEN months_to_redefault
                        WHEN plan_status = 'completed' THEN {horizon}
                        ELSE least(coalesce(followup_months, 0), {horizon}) END AS months,
                   plan_status = 'broken' AS broke
            FROM cases WHERE {_AGREED_SQL}
        ), steps AS (SELECT unnest(range(1, {horizon} + 1)) AS month)
        SELECT p.approach, s.month,
               count(*) FILTER (WHERE p.months >= s.month) AS at_risk,
               count(*) FILTER (WHERE p.broke AND p.months = s.month) AS events
        FROM plans p CROSS JOIN steps s
        GROUP BY p.approach, s.month ORDER BY p.approach, s.month
        """
    ).pl()


def approach_effects(
    con: duckdb.DuckDBPyConnection, model_version: str, run_id: str
) -> pl.DataFrame:
    """The effects one training run wrote; ``naive`` and ``n_agreed`` (the observed rate and
    its numerator) are null for runs and warehouses older than them."""
    present = _columns(con, "approach_effects")
    later = ", ".join(
        c if c in present else f"NULL::{kind} AS {c}"
        for c, kind in (("naive", "DOUBLE"), ("n_agreed", "BIGINT"))
    )
    return con.sql(
        "SELECT treatment, level, subgroup, estimate, ci_low, ci_high, n, n_treated, "
        f"share_low_propensity, overlap_flag, suppressed, {later} FROM approach_effects "
        "WHERE model_version = ? AND run_id = ?",
        params=[model_version, run_id],
    ).pl()


def feature_shares(
    con: duckdb.DuckDBPyConnection, distributions: dict[str, dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """Current shares of each stored distribution's bins (numbers) or levels (categories).

    Read from the ``features`` table (the latest run's features), labelled cases only, as the
    stored distributions are; bins follow ``population_stability``: numbers fall into the
    stored edges (missing values left out), categories count missing as ``missing``.
    """
    columns = {
        str(row[0]) for row in con.execute("SELECT column_name FROM (DESCRIBE features)").fetchall()
    }
    out: dict[str, dict[str, float]] = {}
    for name, before in distributions.items():
        if name not in columns:
            continue
        if before["kind"] == "category":
            frame = con.sql(
                f"SELECT coalesce(CAST(\"{name}\" AS VARCHAR), 'missing') AS bin, count(*) AS n "
                "FROM features WHERE y_agreement IS NOT NULL GROUP BY bin"
            ).pl()
        else:
            edges = [float(e) for e in before["edges"]]
            # bin i holds edges[i-1] <= v < edges[i] (searchsorted, side="right")
            bin_sql = " + ".join(f'(CAST("{name}" AS DOUBLE) >= {e!r})::INTEGER' for e in edges)
            frame = con.sql(
                f"SELECT CAST({bin_sql or '0'} AS VARCHAR) AS bin, count(*) AS n FROM features "
                f'WHERE y_agreement IS NOT NULL AND "{name}" IS NOT NULL GROUP BY bin'
            ).pl()
        total = int(frame["n"].sum()) if frame.height else 0
        if total:
            out[name] = {str(b): int(n) / total for b, n in frame.iter_rows()}
    return out
