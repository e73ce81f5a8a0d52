"""The contract in code matches the written contract and its rules catch what they should."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from overdue import contract
from overdue.case_input import INPUT_FIELDS
from overdue.contract import FIELD_BY_NAME, FIELDS, RULES, Kind, Role

WRITTEN = Path(__file__).resolve().parents[2] / "shared" / "contract" / "case-records.md"
AS_OF = dt.date(2026, 6, 30)


def written_fields() -> dict[str, list[str]]:
    """The rows of the field table in the shared contract, by field name."""
    if not WRITTEN.exists():
        pytest.skip(f"the written contract is not beside this checkout ({WRITTEN})")
    rows = {}
    for line in WRITTEN.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and re.fullmatch(r"[a-z_]+", cells[0]) and cells[0] != "field":
            rows[cells[0]] = cells
    return rows


def test_every_written_field_is_in_code_in_the_same_order() -> None:
    """Field names and their order are those of the written contract."""
    assert list(written_fields()) == [f.name for f in FIELDS]


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_field_alias_kind_role_and_required_match_the_written_contract(
    field: contract.Field,
) -> None:
    """Each field's Chinese alias, type, role and required flag are as written."""
    _, zh, kind, role, required, allowed, _ = written_fields()[field.name]
    assert field.zh == zh
    assert kind.startswith(field.kind.value)
    assert field.role == Role(role)
    assert field.required == (required == "yes")
    if field.values and field.name != "granted_approach":
        for code, alias in field.values.items():
            assert code in allowed, code
            assert alias in allowed, alias


def test_value_aliases_are_unique_within_each_field() -> None:
    """A Chinese alias maps back to exactly one code."""
    for f in FIELDS:
        if f.values:
            assert len(set(f.values.values())) == len(f.values), f.name
            assert contract.code_from_alias(f.name)[next(iter(f.values.values()))] in f.values


def test_advising_roles_exclude_process_and_outcome() -> None:
    """Only context and action fields may feed advice."""
    advising = contract.fields_with_role(*contract.ADVISING_ROLES)
    assert "negotiation_rounds" not in advising
    assert "outcome" not in advising
    assert "approach" in advising
    assert "monthly_income" in advising


def valid_row() -> dict[str, object]:
    """One case that obeys every rule."""
    return {
        "case_id": "C1-0001",
        "overdue_since": dt.date(2024, 1, 1),
        "first_contact_on": dt.date(2024, 3, 1),
        "closed_on": dt.date(2024, 4, 1),
        "age_band": "25-34",
        "employment": "employed",
        "monthly_income": 8000.0,
        "monthly_essential_expenses": 3000.0,
        "lenders_in_arrears": 2,
        "hardship_reason": "illness",
        "lender_type": "online_platform",
        "principal": 20000.0,
        "outstanding_balance": 21000.0,
        "penalty_accrued": 500.0,
        "annual_rate": 0.24,
        "monthly_payment_due": 1900.0,
        "days_overdue_at_contact": 60,
        "collection_stage": "reminders",
        "contact_initiated_by": "debtor",
        "channel": "phone",
        "approach": "installment",
        "upfront_payment": 0.0,
        "repayment_plan_prepared": True,
        "doc_loan_contract": True,
        "doc_income_proof": False,
        "doc_expense_statement": False,
        "doc_bank_statement": False,
        "doc_medical_report": True,
        "doc_household_finances": False,
        "professional_help": "none",
        "outcome": "agreed_as_requested",
        "granted_approach": "installment",
        "relief_amount": 0.0,
        "plan_status": "broken",
        "followup_months": 10,
        "months_to_redefault": 4,
    }


def frame_of(**changes: object) -> pl.DataFrame:
    """A one-row typed frame: the valid row with some values changed."""
    row = valid_row() | changes
    schema = {name: FIELD_BY_NAME[name].dtype for name in row}
    return pl.DataFrame([row], schema=schema)


def test_a_valid_row_breaks_nothing() -> None:
    """The reference row is clean, so each case below isolates one fault."""
    assert contract.violations(frame_of(), AS_OF).is_empty()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"first_contact_on": dt.date(2023, 12, 31)}, "rule:first_contact_before_overdue"),
        ({"closed_on": dt.date(2024, 2, 1)}, "rule:closed_before_first_contact"),
        (
            {
                "outcome": "pending",
                "granted_approach": None,
                "relief_amount": None,
                "plan_status": None,
                "months_to_redefault": None,
            },
            "rule:pending_has_closed_on",
        ),
        ({"closed_on": None}, "rule:closed_on_missing"),
        (
            {"outcome": "refused", "plan_status": "not_applicable", "months_to_redefault": None},
            "rule:granted_without_agreement",
        ),
        ({"months_to_redefault": 11}, "rule:broken_without_redefault"),
        ({"plan_status": "on_track"}, "rule:redefault_without_broken"),
        ({"penalty_accrued": 30000.0}, "rule:penalty_exceeds_balance"),
        ({"upfront_payment": 30000.0}, "rule:upfront_exceeds_balance"),
        ({"relief_amount": 30000.0}, "rule:relief_exceeds_balance"),
        ({"days_to_first_contact": 61}, "rule:contact_after_days_overdue"),
        ({"monthly_income": 2_000_000.0}, "range:monthly_income"),
        ({"principal": 0.0}, "range:principal"),
        (
            {"overdue_since": dt.date(2009, 12, 31), "first_contact_on": dt.date(2010, 1, 5)},
            "range:overdue_since",
        ),
        (
            {
                "overdue_since": dt.date(2026, 7, 1),
                "first_contact_on": dt.date(2026, 7, 2),
                "closed_on": dt.date(2026, 7, 3),
            },
            "range:overdue_since",
        ),
        ({"lender_type": "loan_shark"}, "enum:lender_type"),
        ({"case_id": "C 1"}, "format:case_id"),
        ({"employment": None}, "required:employment"),
    ],
)
def test_each_fault_is_reported_with_its_field_and_rule(
    changes: dict[str, object], reason: str
) -> None:
    """One fault, one reason naming its field or rule."""
    found = contract.violations(frame_of(**changes), AS_OF)["reason"].to_list()
    assert found == [reason]


def test_missing_required_column_is_reported_on_every_row() -> None:
    """A file without a required column fails every row on that field."""
    frame = pl.concat([frame_of(), frame_of(case_id="C2")]).drop("approach")
    found = contract.violations(frame, AS_OF)
    assert found.to_dicts() == [
        {"row": 0, "reason": "required:approach"},
        {"row": 1, "reason": "required:approach"},
    ]


def test_every_rule_names_only_contract_fields() -> None:
    """Rules refer to fields that exist, so reasons are always meaningful."""
    for rule in RULES:
        assert set(rule.fields) <= set(FIELD_BY_NAME), rule.code
    assert {f.kind for f in FIELDS} == set(Kind)


def test_every_number_a_case_gives_has_an_upper_bound() -> None:
    """Bounded numbers fit the typed frame (Int32, finite) and hide no identifier: an input
    without a bound would need its own check in the service."""
    numbers = [n for n in INPUT_FIELDS if FIELD_BY_NAME[n].kind in (Kind.INT, Kind.DECIMAL)]
    assert numbers
    assert [n for n in numbers if not isinstance(FIELD_BY_NAME[n].high, int | float)] == []
    assert all(FIELD_BY_NAME[n].high < 2**31 for n in numbers)
