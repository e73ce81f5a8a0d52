"""Helpers of the ingest tests: a valid record, CSV text, ingesting and querying real files."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from overdue import warehouse
from overdue.contract import FIELD_BY_NAME, zh_value
from overdue.ingest import IngestSummary, ingest_paths

AS_OF = dt.date(2026, 6, 30)

VALID: dict[str, str] = {
    "case_id": "C-0001",
    "overdue_since": "2024-01-05",
    "first_contact_on": "2024-03-05",
    "closed_on": "2024-04-01",
    "age_band": "25-34",
    "employment": "employed",
    "monthly_income": "12000",
    "monthly_essential_expenses": "5000",
    "lenders_in_arrears": "2",
    "hardship_reason": "illness",
    "lender_type": "bank_loan",
    "principal": "50000",
    "outstanding_balance": "52000",
    "annual_rate": "0.24",
    "monthly_payment_due": "2000",
    "days_overdue_at_contact": "60",
    "collection_stage": "reminders",
    "contact_initiated_by": "debtor",
    "channel": "phone",
    "approach": "installment",
    "repayment_plan_prepared": "true",
    "doc_loan_contract": "true",
    "doc_income_proof": "false",
    "doc_expense_statement": "false",
    "doc_bank_statement": "true",
    "doc_medical_report": "false",
    "doc_household_finances": "false",
    "professional_help": "none",
    "outcome": "refused",
}
"""One case record that meets every check of the contract (as CSV text)."""


def record(**changes: str) -> dict[str, str]:
    """A copy of ``VALID`` with some cells changed (``""`` empties a cell)."""
    return {**VALID, **changes}


def csv_text(rows: Sequence[Mapping[str, str]], header: Sequence[str] | None = None) -> str:
    """Rows as CSV text (quoted where needed) under ``header`` (default: the first row's keys)."""
    columns = list(header or rows[0].keys())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue()


def chinese(row: Mapping[str, str]) -> dict[str, str]:
    """A row with Chinese headers and Chinese category values, as a counselor's Excel writes it."""
    out = {}
    for name, value in row.items():
        f = FIELD_BY_NAME[name]
        if f.values and value in f.values:
            out[f.zh] = zh_value(name, value)
        elif f.kind == "bool":
            out[f.zh] = {"true": "是", "false": "否"}.get(value, value)
        else:
            out[f.zh] = value
    return out


def ingest(paths: Sequence[Path | str], wh: Path) -> IngestSummary:
    """Ingest ``paths`` into ``wh`` with the tests' as-of date."""
    return ingest_paths([str(p) for p in paths], wh, as_of=AS_OF)


def query(wh: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the warehouse (read-only)."""
    with warehouse.open_warehouse(wh, read_only=True) as con:
        return con.execute(sql).fetchall()


def one(wh: Path, sql: str) -> Any:
    """The single value of ``sql`` on the warehouse."""
    rows = query(wh, sql)
    assert len(rows) == 1
    return rows[0][0]


def snapshot(wh: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ingest table, sorted, to compare warehouse states."""
    with warehouse.open_warehouse(wh, read_only=True) as con:
        return {
            table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("batches", "cases", "quarantine", "schema_migrations")
        }
