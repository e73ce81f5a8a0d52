"""Personal data: found in any cell, verified, masked before it is stored, never printed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from ingest_cases import VALID, csv_text, ingest, one, query, record

from overdue.ingest.pii import PREFILTER, find_pii, mask_text

Write = Callable[..., Path]

RESIDENT_ID = "11010519491231002X"  # the standard's example: valid region, birth date, check digit
CARD = "6222021234567894"  # Luhn-valid


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"id {RESIDENT_ID}.", "id [resident_id]."),
        ("110105 19491231 002x", "[resident_id]"),
        ("call 13812345678 now", "call [mobile] now"),
        ("+86 138-1234-5678", "[mobile]"),
        ("8613812345678", "[mobile]"),
        (f"card {CARD}", "card [bank_card]"),
        ("6222 0212 3456 7894", "[bank_card]"),
        ("mail a.b-c@example.com.cn ok", "mail [email] ok"),
    ],
)
def test_personal_data_is_found_and_masked(text: str, masked: str) -> None:
    """Each kind of personal data is replaced by its kind in brackets."""
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "110105194912310021",  # wrong check digit
        "110105194913310029",  # no 13th month
        "12812345678",  # not a mobile prefix
        "6222021234567895",  # fails Luhn
        "0.2399999999999999",  # a fraction's digits
        "C1352908-0000001",  # a case id: short digit runs
        "2026-06-04 18:51:09",
        "1381234567890123456789012",  # 25 digits: no kind of personal data
        "user at example dot com",
    ],
)
def test_lookalikes_are_not_personal_data(text: str) -> None:
    """Numbers that only look like personal data are left alone."""
    assert find_pii(text) == []


@pytest.mark.parametrize("text", [RESIDENT_ID, "13812345678", "138 1234 5678", CARD, "a@b.cn"])
def test_the_prefilter_lets_every_kind_through(text: str) -> None:
    """DuckDB's cheap prefilter matches every kind the verifier accepts."""
    con = duckdb.connect()
    assert con.execute("SELECT regexp_matches(?, ?)", [f"x {text} y", PREFILTER]).fetchone() == (
        True,
    )


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("debtor_ref", RESIDENT_ID, "pii:resident_id:debtor_ref"),
        ("case_id", "13812345678", "pii:mobile:case_id"),
        ("notes", f"paid with card {CARD}", "pii:bank_card:notes"),
        ("region", "me@example.com", "pii:email:region"),
        ("monthly_payment_due", "13812345678", "pii:mobile:monthly_payment_due"),
        ("principal", "13812345678", "pii:mobile:principal"),
    ],
)
def test_a_row_with_personal_data_is_quarantined_masked(
    write: Write, wh: Path, column: str, value: str, reason: str
) -> None:
    """A hit anywhere in a row quarantines it with pii:<kind>:<column>, the value masked."""
    row = {**VALID, "notes": "", "debtor_ref": "", "region": "", column: value}
    ingest([write("p.csv", csv_text([row]))], wh)
    reasons = one(wh, "SELECT reasons FROM quarantine")
    assert reason in reasons
    stored = json.loads(one(wh, "SELECT record FROM quarantine"))
    assert value not in json.dumps(stored, ensure_ascii=False)
    assert "[" in stored[column]
    assert one(wh, "SELECT count(*) FROM cases") == 0


def test_personal_data_never_reaches_the_warehouse_file(write: Write, wh: Path) -> None:
    """The raw number is nowhere in the warehouse file's bytes after ingest."""
    rows = [record(case_id=f"C-{i}", debtor_ref="D-1") for i in range(3)]
    rows[1]["debtor_ref"] = "13987654321"
    ingest([write("p.csv", csv_text(rows))], wh)
    assert b"13987654321" not in wh.read_bytes()
    assert query(wh, "SELECT case_id FROM cases ORDER BY 1") == [("C-0",), ("C-2",)]


def test_case_ids_with_digits_are_not_mistaken(write: Write, wh: Path) -> None:
    """Simulator-style ids (C1352908-0000001) and long fractions load as they are."""
    row = record(
        case_id="C1352908-0000001", debtor_ref="D1352908-0000001", annual_rate="0.2399999999999999"
    )
    report = ingest([write("ok.csv", csv_text([row]))], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (1, 0)
