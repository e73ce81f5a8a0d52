"""Text cells to typed values, evaluated by DuckDB as ingest evaluates them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from overdue.contract import FIELD_BY_NAME
from overdue.ingest.normalise import typed_sql
from overdue.warehouse import scratch


def typed(field: str, text: str | None) -> Any:
    """The typed value of one cell of ``field``."""
    with scratch() as con:
        sql = typed_sql(FIELD_BY_NAME[field], "t")
        row = con.execute(f"SELECT {sql} FROM (SELECT CAST(? AS VARCHAR) AS t)", [text]).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("monthly_income", "12,000", 12000.0),
        ("monthly_income", "1,234,567.5", 1234567.5),
        ("monthly_income", " 800 ", 800.0),
        ("monthly_income", "1e3", 1000.0),
        ("monthly_income", "1,2,3", None),
        ("monthly_income", "nan", None),
        ("monthly_income", "inf", None),
        ("annual_rate", "24%", 0.24),
        ("annual_rate", "24.00%", 0.24),
        ("annual_rate", "0.18", 0.18),
        ("monthly_income", "24%", None),
        ("dependents", "3", 3),
        ("dependents", "3.0", 3),
        ("days_overdue_at_contact", "1,200", 1200),
        ("dependents", "3.5", None),
        ("dependents", "99999999999", None),
        ("overdue_since", "2024-03-05", dt.date(2024, 3, 5)),
        ("overdue_since", "2024/3/5", dt.date(2024, 3, 5)),
        ("overdue_since", "5/3/2024", None),
        ("record_updated_at", "2024-03-05T10:11:12", dt.datetime(2024, 3, 5, 10, 11, 12)),
        ("record_updated_at", "2024-03-05 10:11:12.5", dt.datetime(2024, 3, 5, 10, 11, 12, 500000)),
        ("record_updated_at", "2024/3/5 10:11", dt.datetime(2024, 3, 5, 10, 11)),
        ("repayment_plan_prepared", "是", True),
        ("repayment_plan_prepared", "否", False),
        ("repayment_plan_prepared", "Y", True),
        ("repayment_plan_prepared", "n", False),
        ("repayment_plan_prepared", " True ", True),
        ("repayment_plan_prepared", "0", False),
        ("repayment_plan_prepared", "yes", None),
        ("employment", "个体/自雇", "self_employed"),
        ("employment", "self_employed", "self_employed"),
        ("employment", " 在职 ", "employed"),
        ("employment", "个体", None),
        ("lender_type", "网贷P2P", "p2p"),
        ("case_id", "  C-1 ", "C-1"),
        ("monthly_income", "", None),
        ("monthly_income", None, None),
    ],
)
def test_cells_are_typed(field: str, text: str | None, value: Any) -> None:
    """Each accepted spelling gives its value; anything else gives null."""
    assert typed(field, text) == value
