"""Property: for any mix of good and bad rows, every row read is loaded, quarantined or replaced."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_cases import VALID, csv_text, ingest, one, record

FAULTS: dict[str, dict[str, str]] = {
    "good": {},
    "range": {"monthly_income": "-5"},
    "enum": {"lender_type": "bank"},
    "parse": {"annual_rate": "lots"},
    "required": {"outcome": ""},
    "rule": {"first_contact_on": "2023-01-01"},
    "pii": {"debtor_ref": "13812345678"},
    "several": {"monthly_income": "-5", "debtor_ref": "me@example.com"},
}
HEADER = [*VALID, "debtor_ref", "record_updated_at"]

_row = st.tuples(
    st.sampled_from(sorted(FAULTS)),
    st.integers(0, 5),  # case id: few ids, so duplicates are common
    st.none() | st.integers(1, 4),  # version time
    st.booleans(),  # a record with a missing cell count (parse:columns)
)


def _line(fault: str, case: int, version: int | None, batch: int) -> dict[str, str]:
    stamp = "" if version is None else f"2024-0{version}-01 00:00:00"
    row = record(case_id=f"C-{case}", record_updated_at=stamp, **FAULTS[fault])
    return {**row, f"batch_{batch}": "x"}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_row, min_size=0, max_size=12), min_size=1, max_size=2))
def test_accounting_balances_for_any_mix(
    batches: list[list[tuple[str, int, int | None, bool]]],
) -> None:
    """Per batch: read = loaded + quarantined + replaced; cases hold one row per good id."""
    with tempfile.TemporaryDirectory() as tmp:
        wh = Path(tmp) / "w.duckdb"
        good_ids: set[str] = set()
        for number, rows in enumerate(batches):
            header = [*HEADER, f"batch_{number}"]  # an unknown column: batches never repeat
            text = ",".join(header) + "\n"
            broken = 0
            for fault, case, version, short in rows:
                if short:
                    text += f"C-{case},2024-01-05\n"
                    broken += 1
                    continue
                text += csv_text([_line(fault, case, version, number)], header=header).split(
                    "\n", 1
                )[1]
                if fault == "good":
                    good_ids.add(f"C-{case}")
            path = Path(tmp) / f"b{number}.csv"
            path.write_text(text, encoding="utf-8")
            report = ingest([path], wh).batches[0]
            assert report.rows_read == len(rows)
            assert report.rows_read == (
                report.rows_loaded + report.rows_quarantined + report.rows_replaced
            )
            bad = sum(1 for fault, _, _, short in rows if short or fault != "good")
            assert report.rows_quarantined == bad
            assert report.reasons.get("parse:columns", 0) == broken
        assert one(wh, "SELECT count(*) FROM cases") == len(good_ids)
        assert one(wh, "SELECT count(DISTINCT case_id) FROM cases") == len(good_ids)
        assert one(wh, "SELECT sum(rows_read) FROM batches") == sum(len(b) for b in batches)
