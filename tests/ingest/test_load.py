"""Ingest into real DuckDB warehouse files: every fault of the issue, one by one and mixed."""

from __future__ import annotations

import codecs
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from ingest_cases import (
    VALID,
    chinese,
    csv_text,
    ingest,
    one,
    query,
    record,
    snapshot,
)

Write = Callable[..., Path]


def test_a_valid_row_is_loaded_typed(write: Write, wh: Path) -> None:
    """A valid row lands in cases with contract types and its batch and line."""
    ingest([write("a.csv", csv_text([VALID]))], wh)
    row = query(
        wh,
        "SELECT case_id, overdue_since, monthly_income, lenders_in_arrears, annual_rate, "
        "repayment_plan_prepared, batch_id, source_line FROM cases",
    )
    assert row == [("C-0001", dt.date(2024, 1, 5), 12000.0, 2, 0.24, True, 1, 2)]


def test_the_batch_row_records_the_file(write: Write, wh: Path) -> None:
    """batches holds path, sha256, bytes, counts, run id and status of the file."""
    path = write("a.csv", csv_text([VALID, record(case_id="C-0002")]))
    summary = ingest([path], wh)
    row = query(
        wh,
        "SELECT path, bytes, rows_read, rows_loaded, rows_quarantined, rows_replaced, run_id, "
        "status, length(sha256), finished_at >= started_at FROM batches",
    )
    assert row == [(str(path), path.stat().st_size, 2, 2, 0, 0, summary.run_id, "loaded", 64, True)]


def test_gb18030_file_with_chinese_headers_and_values(write: Write, wh: Path) -> None:
    """An Excel export in GB18030 with Chinese headers, 是/否 and Chinese categories loads."""
    row = chinese(record(employment="self_employed", annual_rate="24%", monthly_income="12,000"))
    path = write("zh.csv", csv_text([row]), encoding="gb18030")
    report = ingest([path], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (1, 0)
    assert query(
        wh,
        "SELECT employment, annual_rate, monthly_income, repayment_plan_prepared, "
        "hardship_reason FROM cases",
    ) == [("self_employed", 0.24, 12000.0, True, "illness")]
    assert one(wh, "SELECT encoding FROM batches") == "gb18030"


def test_utf8_file_with_bom(write: Write, wh: Path) -> None:
    """A UTF-8 file with a byte-order mark reads its first header correctly."""
    path = write("bom.csv", codecs.BOM_UTF8 + csv_text([VALID]).encode())
    assert ingest([path], wh).batches[0].rows_loaded == 1
    assert one(wh, "SELECT case_id FROM cases") == "C-0001"
    assert one(wh, "SELECT encoding FROM batches") == "utf-8-sig"


def test_utf8_guess_corrected_when_gb18030_appears_late(write: Write, wh: Path) -> None:
    """A file whose first 64 KiB are ASCII but later rows are GB18030 is read as GB18030."""
    rows = [record(case_id=f"C-{i:05d}", region="Guangdong") for i in range(700)]
    rows.append(record(case_id="C-99999", region="广东"))
    path = write("late.csv", csv_text(rows), encoding="gb18030")
    assert path.stat().st_size > 1 << 16
    report = ingest([path], wh).batches[0]
    assert report.rows_loaded == 701
    assert one(wh, "SELECT region FROM cases WHERE case_id = 'C-99999'") == "广东"


def test_quoted_cells_with_commas_and_newlines(write: Write, wh: Path) -> None:
    """Quoted cells keep their commas and line breaks; the next record's line follows Excel."""
    rows = [record(region="Guang,dong", notes="first\nsecond"), record(case_id="C-0002")]
    ingest([write("nl.csv", csv_text(rows))], wh)
    assert query(
        wh, "SELECT case_id, region, extra->>'notes', source_line FROM cases ORDER BY source_line"
    ) == [
        ("C-0001", "Guang,dong", "first\nsecond", 2),
        ("C-0002", None, None, 3),
    ]


def test_wrong_number_of_columns_is_parse_columns_with_its_line(write: Write, wh: Path) -> None:
    """A record with too few cells is quarantined as parse:columns at its line; others load."""
    text = (
        csv_text([VALID])
        + "C-0002,2024-01-05\n"
        + csv_text([record(case_id="C-0003")]).split("\n", 1)[1]
    )
    report = ingest([write("cols.csv", text)], wh).batches[0]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 2, 1)
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(3, ["parse:columns"])]
    assert query(wh, "SELECT case_id, source_line FROM cases ORDER BY 2") == [
        ("C-0001", 2),
        ("C-0003", 4),
    ]


def test_every_fault_of_a_row_is_listed(write: Write, wh: Path) -> None:
    """A row with several faults carries all of them, each naming field and rule."""
    bad = record(
        monthly_income="-5",
        lender_type="bank",
        first_contact_on="2023-12-01",
        outcome="",
        annual_rate="abc",
    )
    ingest([write("bad.csv", csv_text([bad]))], wh)
    reasons = one(wh, "SELECT reasons FROM quarantine")
    assert sorted(reasons) == [
        "enum:lender_type",
        "parse:annual_rate",
        "range:monthly_income",
        "required:outcome",
        "rule:first_contact_before_overdue",
    ]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"monthly_income": "2000000"}, "range:monthly_income"),
        ({"lender_type": "bank"}, "enum:lender_type"),
        ({"employment": "个体"}, "enum:employment"),
        ({"age_band": ""}, "required:age_band"),
        ({"days_overdue_at_contact": "1.5"}, "parse:days_overdue_at_contact"),
        ({"overdue_since": "05.01.2024"}, "parse:overdue_since"),
        ({"repayment_plan_prepared": "maybe"}, "parse:repayment_plan_prepared"),
        ({"case_id": "C 0001"}, "format:case_id"),
        (
            {
                "overdue_since": "2027-01-01",
                "first_contact_on": "2027-01-02",
                "closed_on": "2027-01-03",
            },
            "range:overdue_since",
        ),
        ({"closed_on": ""}, "rule:closed_on_missing"),
        ({"first_contact_on": "2023-01-01"}, "rule:first_contact_before_overdue"),
        ({"granted_term_months": "12"}, "rule:granted_without_agreement"),
        ({"penalty_accrued": "60000"}, "rule:penalty_exceeds_balance"),
        ({"monthly_income": "nan"}, "parse:monthly_income"),
    ],
)
def test_each_fault_is_named(write: Write, wh: Path, changes: dict[str, str], reason: str) -> None:
    """Each kind of fault quarantines the row with a reason naming field and rule."""
    ingest([write("f.csv", csv_text([record(**changes)]))], wh)
    assert one(wh, "SELECT reasons FROM quarantine") == [reason]
    assert one(wh, "SELECT count(*) FROM cases") == 0


def test_spellings_of_numbers_dates_and_booleans_are_read(write: Write, wh: Path) -> None:
    """12,000, 24%, 2024/3/5, Y/N, 1/0, TRUE and padded cells all parse."""
    row = record(
        monthly_income=" 12,000 ",
        annual_rate="24.00%",
        overdue_since="2024/1/5",
        first_contact_on="2024/3/5",
        doc_loan_contract="Y",
        doc_income_proof="n",
        doc_expense_statement="1",
        doc_bank_statement="TRUE",
        dependents="3.0",
        record_updated_at="2024-03-05T10:11:12",
    )
    report = ingest([write("s.csv", csv_text([row]))], wh).batches[0]
    assert report.rows_loaded == 1
    assert query(
        wh,
        "SELECT monthly_income, annual_rate, overdue_since, first_contact_on, "
        "doc_loan_contract, doc_income_proof, doc_expense_statement, "
        "doc_bank_statement, dependents, record_updated_at FROM cases",
    ) == [
        (
            12000.0,
            0.24,
            dt.date(2024, 1, 5),
            dt.date(2024, 3, 5),
            True,
            False,
            True,
            True,
            3,
            dt.datetime(2024, 3, 5, 10, 11, 12),
        )
    ]


def test_percent_is_only_read_for_rates(write: Write, wh: Path) -> None:
    """'50%' is no amount of money: a percent outside a rate field fails to parse."""
    ingest([write("p.csv", csv_text([record(monthly_income="50%")]))], wh)
    assert one(wh, "SELECT reasons FROM quarantine") == ["parse:monthly_income"]


def test_duplicates_within_a_batch_keep_the_latest_version(write: Write, wh: Path) -> None:
    """Within one file the latest record_updated_at wins; the others are replaced duplicates."""
    rows = [
        record(record_updated_at="2024-05-01 00:00:00", monthly_income="1000"),
        record(record_updated_at="2024-06-01 00:00:00", monthly_income="2000"),
        record(record_updated_at="2024-04-01 00:00:00", monthly_income="3000"),
    ]
    report = ingest([write("d.csv", csv_text(rows))], wh).batches[0]
    assert (report.rows_loaded, report.rows_replaced) == (1, 2)
    assert query(wh, "SELECT monthly_income, source_line FROM cases") == [(2000.0, 3)]


def test_duplicates_without_times_keep_the_later_line(write: Write, wh: Path) -> None:
    """Without record_updated_at the later line of the file wins."""
    rows = [record(monthly_income="1000"), record(monthly_income="2000")]
    ingest([write("d.csv", csv_text(rows))], wh)
    assert query(wh, "SELECT monthly_income FROM cases") == [(2000.0,)]


def test_a_newer_batch_replaces_an_older_case(write: Write, wh: Path) -> None:
    """A later version in a new batch replaces the stored one and says it superseded one."""
    ingest([write("old.csv", csv_text([record(record_updated_at="2024-05-01 00:00:00")]))], wh)
    newer = record(record_updated_at="2024-06-01 00:00:00", monthly_income="9000")
    report = ingest([write("new.csv", csv_text([newer]))], wh).batches[0]
    assert (report.rows_loaded, report.rows_replaced, report.cases_superseded) == (1, 0, 1)
    assert query(wh, "SELECT monthly_income, batch_id FROM cases") == [(9000.0, 2)]


def test_an_older_version_in_a_new_batch_is_a_replaced_duplicate(write: Write, wh: Path) -> None:
    """A version older than the stored one does not replace it and is counted as replaced."""
    ingest([write("new.csv", csv_text([record(record_updated_at="2024-06-01 00:00:00")]))], wh)
    older = record(record_updated_at="2024-05-01 00:00:00", monthly_income="9000")
    report = ingest([write("old.csv", csv_text([older]))], wh).batches[0]
    assert (report.rows_loaded, report.rows_replaced, report.cases_superseded) == (0, 1, 0)
    assert query(wh, "SELECT monthly_income, batch_id FROM cases") == [(12000.0, 1)]


def test_equal_times_go_to_the_later_batch(write: Write, wh: Path) -> None:
    """Ties on record_updated_at are won by the later batch."""
    stamp = "2024-06-01 00:00:00"
    ingest([write("a.csv", csv_text([record(record_updated_at=stamp)]))], wh)
    ingest([write("b.csv", csv_text([record(record_updated_at=stamp, dependents="1")]))], wh)
    assert query(wh, "SELECT dependents, batch_id FROM cases") == [(1, 2)]


def test_the_same_file_again_changes_nothing(write: Write, wh: Path) -> None:
    """Re-ingesting a file with the same content is reported as already loaded."""
    path = write("a.csv", csv_text([VALID, record(case_id="C 9")]))
    ingest([path], wh)
    before = snapshot(wh)
    again = ingest([path], wh).batches[0]
    assert (again.status, again.batch_id) == ("already_loaded", 1)
    assert snapshot(wh) == before


def test_unknown_columns_are_kept_aside(write: Write, wh: Path) -> None:
    """Columns not in the contract go to cases.extra and are reported, not dropped."""
    row = {**VALID, "counselor_note": "called twice", "branch": "Shenzhen"}
    report = ingest([write("x.csv", csv_text([row]))], wh).batches[0]
    assert report.unknown_columns == ("counselor_note", "branch")
    assert json.loads(one(wh, "SELECT extra FROM cases")) == {
        "counselor_note": "called twice",
        "branch": "Shenzhen",
    }
    assert one(wh, "SELECT unknown_columns FROM batches") == ["counselor_note", "branch"]


def test_a_missing_required_column_fails_every_row(write: Write, wh: Path) -> None:
    """Without an outcome column every row is quarantined as required:outcome; the batch stays."""
    rows = [{k: v for k, v in VALID.items() if k != "outcome"}] * 2
    report = ingest([write("m.csv", csv_text(rows))], wh).batches[0]
    assert (report.status, report.rows_read, report.rows_quarantined) == ("loaded", 2, 2)
    assert query(wh, "SELECT reasons FROM quarantine") == [(["required:outcome"],)] * 2


def test_parquet_with_native_types(tmp_path: Path, wh: Path) -> None:
    """A typed Parquet file (dates, floats, booleans) loads like its CSV."""
    frame = pl.DataFrame([VALID]).with_columns(
        pl.col("overdue_since", "first_contact_on", "closed_on").str.to_date(),
        pl.col("monthly_income", "annual_rate").cast(pl.Float64),
        pl.col("repayment_plan_prepared").eq("true"),
    )
    frame.write_parquet(tmp_path / "a.parquet")
    report = ingest([tmp_path / "a.parquet"], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (1, 0)
    assert query(
        wh, "SELECT overdue_since, annual_rate, repayment_plan_prepared, source_line FROM cases"
    ) == [(dt.date(2024, 1, 5), 0.24, True, 1)]


def test_json_lines_with_a_broken_line(write: Write, wh: Path) -> None:
    """JSON Lines load with numbers and booleans as JSON values; a broken line is parse:json."""
    good = {**VALID, "monthly_income": 12000, "repayment_plan_prepared": True}
    text = json.dumps(good) + "\n\n{broken\n" + json.dumps({**VALID, "case_id": "C-2"}) + "\n"
    report = ingest([write("a.jsonl", text)], wh).batches[0]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 2, 1)
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(3, ["parse:json"])]
    assert query(wh, "SELECT case_id, source_line FROM cases ORDER BY 2") == [
        ("C-0001", 1),
        ("C-2", 4),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("book.xlsx", b"PK\x03\x04rest-of-a-zip", "Excel workbook"),
        ("data.parquet", b"not parquet at all", "not a Parquet file"),
        ("blob.bin", b"\x00\x01\x02\x00binary", "binary content"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(
    write: Write, wh: Path, name: str, content: bytes, message: str
) -> None:
    """A file ingest cannot read is refused, named in the message, recorded, nothing loaded."""
    path = write(name, content)
    report = ingest([path], wh).batches[0]
    assert report.status == "refused"
    assert report.message is not None
    assert message in report.message
    assert str(path) in report.message
    assert query(wh, "SELECT status, rows_read FROM batches") == [("refused", 0)]


def test_a_missing_path_is_an_error_naming_it(wh: Path, tmp_path: Path) -> None:
    """A path that matches nothing stops the run before anything is written."""
    from overdue.ingest import SourceError

    with pytest.raises(SourceError, match="nothing-here"):
        ingest([tmp_path / "nothing-here.csv"], wh)
    assert not wh.exists()


def test_folders_and_globs_are_expanded(write: Write, wh: Path, tmp_path: Path) -> None:
    """A folder is searched for data files; a glob matches files; each file is a batch."""
    write("in/a.csv", csv_text([record(case_id="A")]))
    write("in/sub/b.jsonl", json.dumps(record(case_id="B")) + "\n")
    write("in/readme.md", "not data")
    write("other/c.csv", csv_text([record(case_id="C")]))
    summary = ingest([tmp_path / "in", str(tmp_path / "other" / "*.csv")], wh)
    assert [b.path.name for b in summary.batches] == ["a.csv", "b.jsonl", "c.csv"]
    assert one(wh, "SELECT count(*) FROM cases") == 3


def test_a_mixed_file_balances_and_keeps_every_good_row(write: Write, wh: Path) -> None:
    """Good, bad, duplicate and personal-data rows in one file: every row is accounted for."""
    rows = [
        record(case_id="A"),
        record(case_id="B", monthly_income="-1"),
        record(case_id="C", debtor_ref="13812345678"),
        record(case_id="A", record_updated_at="2024-01-01 00:00:00"),
        record(case_id="D", employment="在职", annual_rate="18%"),
    ]
    report = ingest(
        [write("mix.csv", csv_text(rows, header=[*VALID, "debtor_ref", "record_updated_at"]))], wh
    )
    batch = report.batches[0]
    assert (batch.rows_read, batch.rows_loaded, batch.rows_quarantined, batch.rows_replaced) == (
        5,
        2,
        2,
        1,
    )
    assert batch.balanced
    assert query(wh, "SELECT case_id FROM cases ORDER BY 1") == [("A",), ("D",)]
