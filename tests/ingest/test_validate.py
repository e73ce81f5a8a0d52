"""Ingest checks rows in SQL; the SQL says exactly what the contract's polars checks say."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from overdue.contract import FIELDS, RULES, range_violation, range_violation_sql
from overdue.warehouse import scratch

AS_OF = dt.date(2026, 6, 30)

_OUTCOMES = ["agreed_as_requested", "agreed_modified", "refused", "pending", "escalated", "x"]
_PLAN = ["completed", "on_track", "broken", "not_applicable"]


def _maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy


_dates = st.dates(dt.date(2009, 12, 25), dt.date(2010, 1, 10))
_money = st.floats(0, 100, allow_nan=False)
_months = st.integers(0, 6)
_rows = st.fixed_dictionaries(
    {
        "overdue_since": _maybe(_dates),
        "first_contact_on": _maybe(_dates),
        "closed_on": _maybe(_dates),
        "outcome": _maybe(st.sampled_from(_OUTCOMES)),
        "granted_approach": _maybe(st.just("installment")),
        "granted_term_months": _maybe(_months),
        "granted_monthly_payment": _maybe(_money),
        "relief_amount": _maybe(_money),
        "plan_status": _maybe(st.sampled_from(_PLAN)),
        "months_to_redefault": _maybe(_months),
        "followup_months": _maybe(_months),
        "penalty_accrued": _maybe(_money),
        "upfront_payment": _maybe(_money),
        "outstanding_balance": _maybe(_money),
        "days_to_first_contact": _maybe(_months),
        "days_overdue_at_contact": _maybe(_months),
    }
)
_SCHEMA = {
    **{c: pl.Date for c in ("overdue_since", "first_contact_on", "closed_on")},
    **{c: pl.String for c in ("outcome", "granted_approach", "plan_status")},
    **{
        c: pl.Int32
        for c in (
            "granted_term_months",
            "months_to_redefault",
            "followup_months",
            "days_to_first_contact",
            "days_overdue_at_contact",
        )
    },
    **{
        c: pl.Float64
        for c in (
            "granted_monthly_payment",
            "relief_amount",
            "penalty_accrued",
            "upfront_payment",
            "outstanding_balance",
        )
    },
}


@settings(max_examples=60, deadline=None)
@given(st.lists(_rows, min_size=1, max_size=30))
def test_sql_rules_agree_with_the_contract(rows: list[dict[str, object]]) -> None:
    """For any rows, each rule's SQL and its Python check of one case flag exactly the rows its
    polars expression flags."""
    frame = pl.DataFrame(rows, schema=_SCHEMA)
    expected = frame.select(**{r.code: r.violated().fill_null(False) for r in RULES})
    with scratch() as con:
        con.register("frame", frame)
        got = con.execute(
            "SELECT " + ", ".join(f"{r.sql} AS {r.code}" for r in RULES) + " FROM frame"
        ).fetchall()
    assert got == expected.rows()
    assert [tuple(r.broken(row) for r in RULES) for row in rows] == expected.rows()


def test_sql_ranges_agree_with_the_contract() -> None:
    """Each field's range check in SQL flags what the polars check flags, at and beyond bounds."""
    samples: dict[str, list[object]] = {
        "string": ["C-1", "C 1", "", "x" * 65, None],
        "date": [dt.date(2009, 12, 31), dt.date(2010, 1, 1), AS_OF, dt.date(2026, 7, 1), None],
        "int": [-1, 0, 1, 4, 5, 15, 16, 100, 101, 120, 121, 3650, 3651, None],
        "decimal": [-0.1, 0.0, 0.5, 1.0, 1.5, 120.0, 1e6, 1e6 + 1, 1e7, 2e7 + 1, None],
        "enum": ["employed", "在职", "none", "65+", "x", None],
    }
    for f in FIELDS:
        polars_check = range_violation(f, AS_OF)
        sql_check = range_violation_sql(f, AS_OF)
        assert (polars_check is None) == (sql_check is None), f.name
        if polars_check is None or sql_check is None or f.kind in ("bool", "timestamp"):
            continue
        frame = pl.DataFrame({f.name: samples[str(f.kind)]}, schema={f.name: f.dtype})
        expected = frame.select(polars_check.fill_null(False)).to_series().to_list()
        with scratch() as con:
            con.register("frame", frame)
            got = [r[0] for r in con.execute(f"SELECT {sql_check} FROM frame").fetchall()]
        assert got == expected, f.name
