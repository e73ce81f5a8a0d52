"""Source mappings: LendingClub's real export as case records, and mappings with mistakes."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from overdue.cli import app
from overdue.ingest import ingest_paths
from overdue.ingest.expr import ExprError, Scope, compile_expression
from overdue.ingest.load import ALREADY_LOADED, LOADED
from overdue.ingest.sources import (
    KIND_EXTRA,
    PLACEHOLDER_EXTRA,
    MappingError,
    find_mapping,
    map_frame,
    parse_mapping,
    read_source_frame,
    strptime_format,
)
from overdue.warehouse import migrate, open_warehouse
from warehouse_support import schema_up_to

ROOT = Path(__file__).resolve().parents[2]
EXTRACT = Path(__file__).parent / "data" / "lendingclub_extract.csv"
FULL_SAMPLE = ROOT.parent / "shared" / "realdata" / "lendingclub_whylogs_1000.csv"
AS_OF = dt.date(2026, 6, 30)
USD_TO_CNY = 6.7


@pytest.fixture(scope="module")
def lendingclub():
    """The committed LendingClub mapping."""
    return find_mapping("lendingclub", ROOT / "sources")


@pytest.fixture(scope="module")
def mapped(lendingclub) -> pl.DataFrame:
    """The real extract mapped to case records, indexed by LC loan id."""
    result = map_frame(read_source_frame(EXTRACT, "csv"), lendingclub)
    assert result.rows_read == 68
    return result.frame


def case(frame: pl.DataFrame, case_id: str) -> dict[str, str | None]:
    """One mapped case as text, by case id."""
    rows = frame.filter(pl.col("case_id") == case_id).to_dicts()
    assert len(rows) == 1, case_id
    return rows[0]


# --- the LendingClub mapping on real rows ---------------------------------------------------


def test_hardship_plans_and_settlements_become_cases_and_the_rest_is_skipped(lendingclub) -> None:
    """38 real loans have a hardship plan or a settlement; the 30 others are skipped, with why."""
    result = map_frame(read_source_frame(EXTRACT, "csv"), lendingclub)
    kinds = result.frame[KIND_EXTRA].value_counts().sort(KIND_EXTRA).rows()
    assert kinds == [("hardship", 8), ("settlement", 30)]
    assert result.skipped == {"no_hardship_or_settlement": 30}
    assert result.rows_read == result.frame.height + result.rows_skipped


def test_a_completed_deferral_whose_loan_later_went_late_is_a_broken_plan(mapped) -> None:
    """Loan 90795163: a natural-disaster deferral from Oct-2017, 26 days past due at the start,
    completed, and the loan 31-120 days late by the Mar-2019 export."""
    row = case(mapped, "LC-90795163-H")
    assert row["approach"] == row["granted_approach"] == "deferral"
    assert row["outcome"] == "agreed_as_requested"
    assert row["hardship_reason"] == "other"  # NATURAL_DISASTER has no contract code
    assert row["first_contact_on"] == row["closed_on"] == "2017-10-01"
    assert row["overdue_since"] == "2017-09-05"  # 26 days before the plan started
    assert float(row["days_overdue_at_contact"] or "nan") == 26
    assert row["collection_stage"] == "reminders"  # Late (16-30 days) at the start
    assert float(row["proposed_term_months"] or "nan") == 3
    assert float(row["proposed_monthly_payment"] or "nan") == pytest.approx(194.59 * USD_TO_CNY)
    assert float(row["outstanding_balance"] or "nan") == pytest.approx(10797.54 * USD_TO_CNY)
    assert row["relief_amount"] == "0" and row["interest_waived"] == "false"
    assert row["plan_status"] == "broken"
    assert row["followup_months"] == "17"  # Oct-2017 .. Mar-2019
    assert row["months_to_redefault"] == "15"  # last payment Dec-2018, 14 months after the start
    assert row["contact_initiated_by"] == "debtor"


def test_an_active_deferral_is_on_track(mapped) -> None:
    """Loan 90291289 started its plan in Jan-2019 and is still on it."""
    row = case(mapped, "LC-90291289-H")
    assert (row["plan_status"], row["followup_months"]) == ("on_track", "2")
    assert row["months_to_redefault"] is None
    assert row["hardship_reason"] == "income_reduction"


def test_a_settlement_is_a_principal_discount_through_a_paid_agent(mapped) -> None:
    """Loan 90511897 settled in Jul-2018 for 45% of its payoff balance, over 24 months, done."""
    row = case(mapped, "LC-90511897-S")
    assert row["approach"] == "principal_discount"
    assert (row["contact_initiated_by"], row["professional_help"]) == ("helper", "paid_agent")
    assert row["plan_status"] == "completed"
    balance = 12366.6 / 0.45 * USD_TO_CNY
    assert float(row["outstanding_balance"] or "nan") == pytest.approx(balance)
    assert float(row["relief_amount"] or "nan") == pytest.approx(balance - 12366.6 * USD_TO_CNY)
    assert row["first_contact_on"] == "2018-07-01"
    assert row["overdue_since"] is not None and row["overdue_since"] <= "2018-07-01"
    assert float(row["granted_term_months"] or "nan") == 24


def test_a_broken_settlement_never_paid_redefaults_in_its_first_month(mapped) -> None:
    """Loan 90250955 agreed a settlement in Sep-2018; its last payment was before that."""
    row = case(mapped, "LC-90250955-S")
    assert (row["plan_status"], row["months_to_redefault"], row["followup_months"]) == (
        "broken",
        "1",
        "6",
    )


def test_every_case_names_its_placeholders_and_source_line(mapped) -> None:
    """Fields LC cannot know are listed on each case; the raw line holds the loan."""
    raw_lines = EXTRACT.read_text(encoding="utf-8").split("\n")
    for row in mapped.iter_rows(named=True):
        assert "age_band" in (row[PLACEHOLDER_EXTRA] or "").split(",")
        line = raw_lines[row["_ordinal"]]  # the header is line 1
        assert line.startswith(f"{row['lc_loan_id']},")
        assert row["original_currency"] == "USD"


def test_the_extract_ingests_with_every_row_accounted_for(tmp_path: Path) -> None:
    """read 68 = 38 loaded + 0 quarantined + 0 replaced + 30 skipped, recorded in batches;
    the same file with the same mapping is not read twice."""
    mapping = find_mapping("lendingclub", ROOT / "sources")
    wh = tmp_path / "w.duckdb"
    report = ingest_paths([EXTRACT], wh, as_of=AS_OF, mapping=mapping).batches[0]
    assert report.status == LOADED
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (68, 38, 0)
    assert (report.rows_replaced, report.rows_skipped) == (0, 30)
    assert report.skip_reasons == {"no_hardship_or_settlement": 30}
    assert report.balanced and report.source == "lendingclub"
    with open_warehouse(wh, read_only=True) as con:
        row = con.execute(
            "SELECT rows_read, rows_skipped, skip_reasons, source, mapping_sha256 FROM batches"
        ).fetchall()[0]
        lines = con.execute("SELECT source_line, extra->>'lc_loan_id' FROM cases").fetchall()
    assert row[:2] == (68, 30)
    assert json.loads(row[2]) == {"no_hardship_or_settlement": 30}
    assert row[3:] == ("lendingclub", mapping.sha256)
    raw_lines = EXTRACT.read_text(encoding="utf-8").split("\n")
    assert all(raw_lines[line - 1].startswith(f"{loan},") for line, loan in lines)
    again = ingest_paths([EXTRACT], wh, as_of=AS_OF, mapping=mapping).batches[0]
    assert again.status == ALREADY_LOADED


def _with_row_changed(tmp_path: Path, loan_id: str, old: str, new: str) -> Path:
    """The extract with one cell of one real row changed (the rest byte-identical)."""
    lines = EXTRACT.read_text(encoding="utf-8").split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{loan_id},"))
    assert lines[index].count(old) == 1
    lines[index] = lines[index].replace(old, new)
    path = tmp_path / "changed.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_a_reason_the_mapping_does_not_know_is_quarantined_not_guessed(tmp_path: Path) -> None:
    """A hardship reason LC may send that the mapping has no code for stays visible."""
    path = _with_row_changed(tmp_path, "90631543", "INCOME_CURTAILMENT", "MEDICAL")
    mapping = find_mapping("lendingclub", ROOT / "sources")
    report = ingest_paths([path], tmp_path / "w.duckdb", as_of=AS_OF, mapping=mapping).batches[0]
    assert (report.rows_loaded, report.rows_quarantined, report.rows_skipped) == (37, 1, 30)
    assert report.reasons == {"enum:hardship_reason": 1}
    with open_warehouse(tmp_path / "w.duckdb", read_only=True) as con:
        line, record = con.execute("SELECT line, record FROM quarantine").fetchall()[0]
    assert json.loads(record)["hardship_reason"] == "MEDICAL"
    raw = path.read_text(encoding="utf-8").split("\n")[line - 1]
    assert raw.startswith("90631543,")


def test_a_cancelled_settlement_is_skipped_with_its_own_reason(tmp_path: Path) -> None:
    """CANCELLED says neither yes nor no: not a case, counted as settlement_cancelled."""
    path = _with_row_changed(tmp_path, "90250955", "BROKEN", "CANCELLED")
    mapping = find_mapping("lendingclub", ROOT / "sources")
    result = map_frame(read_source_frame(path, "csv"), mapping)
    assert result.skipped == {"no_hardship_or_settlement": 30, "settlement_cancelled": 1}
    assert result.frame.height == 37


def test_the_full_real_sample_balances(tmp_path: Path) -> None:
    """All 998 real loans: read = cases + skipped + quarantined, every skip with its reason."""
    if not FULL_SAMPLE.exists():
        pytest.skip(f"{FULL_SAMPLE} is not here (CI has ../shared beside the clone)")
    mapping = find_mapping("lendingclub", ROOT / "sources")
    summary = ingest_paths([FULL_SAMPLE], tmp_path / "w.duckdb", as_of=AS_OF, mapping=mapping)
    report = summary.batches[0]
    assert report.rows_read == 998
    assert report.rows_read == (
        report.rows_loaded + report.rows_quarantined + report.rows_replaced + report.rows_skipped
    )
    assert (report.rows_loaded, report.rows_quarantined, report.rows_skipped) == (38, 0, 960)
    assert report.skip_reasons == {"no_hardship_or_settlement": 960}


def test_the_models_refuse_and_the_report_suppresses_small_cells(tmp_path: Path) -> None:
    """38 real cases: training refuses with a clear message; the report hides every cell that
    rests on fewer than k cases."""
    from overdue.config import get_settings
    from overdue.models.run import train
    from overdue.models.train import TooFewCasesError
    from overdue.reports.build import build_report, collect

    wh = tmp_path / "w.duckdb"
    ingest_paths([EXTRACT], wh, as_of=AS_OF, mapping=find_mapping("lendingclub", ROOT / "sources"))
    settings = get_settings().model_copy(update={"models_dir": tmp_path / "models"})
    with pytest.raises(TooFewCasesError, match=r"only 38 labelled cases.*at least 200"):
        train(wh, settings)
    k = 10
    built = build_report(wh, tmp_path / "reports", ("en",), k=k)
    assert built.files["en"].exists()
    with open_warehouse(wh, read_only=True) as con:
        content = collect(con, k, "now")
    assert content.model_version is None
    success = content.success
    assert success is not None and success.height > 0
    shown = success.filter(pl.col("n").is_not_null())
    assert shown.filter(pl.col("n") < k).height == 0
    assert success.filter(pl.col("rate").is_not_null() & pl.col("suppressed")).height == 0
    by_approach = success.filter(
        (pl.col("dimension") == "approach") & (pl.col("level") == "deferral")
    )
    assert by_approach["suppressed"].all()  # 8 deferrals < k


def test_cli_ingest_with_a_source_prints_the_balance(tmp_path: Path) -> None:
    """`overdue ingest --source lendingclub FILE` shows skipped rows and their reasons."""
    result = CliRunner().invoke(
        app,
        ["ingest", "--source", "lendingclub", "--warehouse", str(tmp_path / "w.duckdb"),
         str(EXTRACT)],
        env={"COLUMNS": "200", "OVERDUE_SOURCES_DIR": str(ROOT / "sources")},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "rows read 68 = loaded 38 + quarantined 0 + replaced duplicates 0 + skipped 30" in (
        result.output
    )
    assert "no_hardship_or_settlement (30)" in result.output


def test_cli_names_a_source_it_does_not_know(tmp_path: Path) -> None:
    """An unknown source name fails before anything is read, listing the known ones."""
    result = CliRunner().invoke(
        app,
        ["ingest", "--source", "lendinclub", "--warehouse", str(tmp_path / "w.duckdb"),
         str(EXTRACT)],
        env={"COLUMNS": "200", "OVERDUE_SOURCES_DIR": str(ROOT / "sources")},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no source mapping 'lendinclub'" in result.output
    assert "lendingclub" in result.output
    assert not (tmp_path / "w.duckdb").exists()


# --- mappings with mistakes -----------------------------------------------------------------

MINIMAL = """
name: tiny
description: a tiny export
date_format: Mon-YYYY
columns: [loan, opened, status, reason, balance]
constants:
  rate: {value: 0.2, why: every loan of this lender has this rate}
otherwise: not_a_case
cases:
  - kind: plan
    when: not is_empty(status)
    fields:
      case_id: concat("T-", loan)
      overdue_since: date(opened)
      first_contact_on: out.overdue_since
      closed_on: out.first_contact_on
      age_band: {value: 25-34, placeholder: true, why: not recorded}
      employment: {value: other, placeholder: true, why: not recorded}
      monthly_income: {value: 1000, placeholder: true, why: not recorded}
      monthly_essential_expenses: {value: 500, placeholder: true, why: not recorded}
      lenders_in_arrears: {value: 1, placeholder: true, why: not recorded}
      hardship_reason:
        column: reason
        map: {SICK: illness, LOST_JOB: job_loss}
      lender_type: {value: bank_loan, why: the lender is a bank}
      principal: balance
      outstanding_balance: number(balance) * 1.1
      annual_rate: const.rate
      monthly_payment_due: number(balance) / 12
      days_overdue_at_contact: {value: 0, placeholder: true, why: not recorded}
      collection_stage: {value: none, placeholder: true, why: not recorded}
      contact_initiated_by: {value: debtor, why: borrowers ask}
      channel: {value: phone, placeholder: true, why: not recorded}
      approach: {value: deferral, why: the lender offers only deferrals}
      repayment_plan_prepared: {value: false, placeholder: true, why: not recorded}
      doc_loan_contract: {value: false, placeholder: true, why: not recorded}
      doc_income_proof: {value: false, placeholder: true, why: not recorded}
      doc_expense_statement: {value: false, placeholder: true, why: not recorded}
      doc_bank_statement: {value: false, placeholder: true, why: not recorded}
      doc_medical_report: {value: false, placeholder: true, why: not recorded}
      doc_household_finances: {value: false, placeholder: true, why: not recorded}
      professional_help: {value: none, placeholder: true, why: not recorded}
      outcome:
        column: status
        map: {OK: agreed_as_requested, DENIED: refused}
"""


def _fails(text: str, *expected: str) -> str:
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, Path("sources/tiny.yaml"))
    message = str(caught.value)
    assert message.startswith("sources/tiny.yaml")
    for part in expected:
        assert part in message, message
    return message


def test_the_minimal_mapping_loads_and_maps() -> None:
    """The mistake-free base of the tests below works on a tiny frame."""
    mapping = parse_mapping(MINIMAL, Path("sources/tiny.yaml"))
    raw = pl.DataFrame(
        {
            "_ordinal": [1, 2, 3],
            "loan": ["1", "2", "3"],
            "opened": ["Mar-2021", "Apr-2021", "May-2021"],
            "status": ["OK", None, "DENIED"],
            "reason": ["SICK", "SICK", "LOST_JOB"],
            "balance": ["1000", "2000", "3000"],
        }
    )
    result = map_frame(raw, mapping)
    assert result.skipped == {"not_a_case": 1}
    assert result.frame["case_id"].to_list() == ["T-1", "T-3"]
    assert result.frame["first_contact_on"].to_list() == ["2021-03-01", "2021-05-01"]
    assert result.frame["outcome"].to_list() == ["agreed_as_requested", "refused"]
    assert result.frame["annual_rate"].to_list() == ["0.2", "0.2"]


def test_an_unknown_source_column_is_named_with_a_suggestion() -> None:
    """A typo in a column name fails when the mapping is loaded, not on the data."""
    _fails(
        MINIMAL.replace("column: reason", "column: reasn"),
        "cases[0].fields.hardship_reason.column",
        "unknown source column 'reasn'",
        "did you mean 'reason'?",
    )
    _fails(
        MINIMAL.replace("number(balance) * 1.1", "number(balanse) * 1.1"),
        "cases[0].fields.outstanding_balance",
        "unknown source column 'balanse'",
    )


def test_a_value_map_onto_a_value_the_contract_does_not_allow_fails() -> None:
    """`sick` is not a hardship_reason code: the error names the key and the allowed codes."""
    _fails(
        MINIMAL.replace("SICK: illness", "SICK: sick"),
        "cases[0].fields.hardship_reason.map['SICK']",
        "'sick' is not an allowed value of hardship_reason",
        "allowed: illness, job_loss",
    )


def test_a_bad_date_format_fails() -> None:
    """Only known date tokens are accepted."""
    _fails(MINIMAL.replace("Mon-YYYY", "Mon-YY"), "date_format", "'Mon-YY' is not a date format")
    assert strptime_format("Mon-YYYY") == "%b-%Y"
    assert strptime_format("DD.MM.YYYY") == "%d.%m.%Y"


def test_an_unknown_target_field_and_a_missing_required_field_fail() -> None:
    """A misspelt contract field is an unknown field, and the required one is then missing."""
    _fails(
        MINIMAL.replace("      principal: balance", "      principle: balance"),
        "cases[0].fields.principle: unknown contract field; did you mean 'principal'?",
        "does not map required contract fields: principal",
    )


def test_a_constant_needs_a_reason_and_unknown_keys_are_typos() -> None:
    """A value used for every row must say why; a misspelt key is not ignored."""
    _fails(
        MINIMAL.replace("{value: bank_loan, why: the lender is a bank}", "{value: bank_loan}"),
        "cases[0].fields.lender_type: a constant needs `why`",
    )
    _fails(MINIMAL.replace("otherwise:", "otherwize:"), "otherwize: unknown key (a typo?)")


def test_a_mapping_holding_personal_data_is_refused_without_repeating_it() -> None:
    """A value or a key of the mapping that holds personal data (it would reach the warehouse
    as a skip reason, a column name or a value) refuses the mapping, naming where and what."""
    mobile, email = "13812345678", "zs@example.cn"
    message = _fails(
        MINIMAL.replace("otherwise: not_a_case", f"otherwise: not_a_case_{mobile}").replace(
            "SICK: illness", f"SICK: illness, '{email}': job_loss"
        ),
        "the mapping holds personal data",
        "otherwise: mobile",
        "cases[0].fields.hardship_reason.map: key 2: email",
    )
    assert mobile not in message and email not in message


def test_expressions_cannot_run_code() -> None:
    """Only the listed functions and operators exist; nothing reaches Python's eval."""
    _fails(
        MINIMAL.replace('concat("T-", loan)', "__import__('os').getcwd()"),
        "cases[0].fields.case_id",
        "is not allowed",
    )
    _fails(
        MINIMAL.replace('concat("T-", loan)', "concatenate(loan)"),
        "unknown function 'concatenate'",
    )


@pytest.mark.parametrize(
    ("expression", "limit"),
    [
        ("-" * 5_000 + "balance", "2,000 allowed"),
        (" + ".join(["balance"] * 100_000), "2,000 allowed"),
        ("not " * 5_000 + "is_empty(balance)", "2,000 allowed"),
        ("-" * 150 + "balance", "more than 100 levels deep"),
        ("(" * 300 + "balance" + ")" * 300, "more than 100 levels deep"),
    ],
)
def test_expressions_nested_or_long_beyond_the_limits_are_mapping_errors(
    expression: str, limit: str
) -> None:
    """Thousands of -, not or + are refused while parsing, naming the field and the limit."""
    _fails(
        MINIMAL.replace("number(balance) * 1.1", expression),
        "cases[0].fields.outstanding_balance",
        limit,
    )


def test_yaml_booleans_as_map_keys_are_refused() -> None:
    """YAML reads an unquoted yes as true: the map key must be quoted."""
    _fails(
        MINIMAL.replace("DENIED: refused", "NO: refused"),
        "quote the source value",
    )


def test_fields_that_need_each_other_in_a_circle_fail() -> None:
    """out.<field> references must have an order."""
    _fails(
        MINIMAL.replace("overdue_since: date(opened)", "overdue_since: out.first_contact_on"),
        "in a circle",
    )


def test_a_file_without_a_column_the_mapping_uses_is_refused(tmp_path: Path) -> None:
    """The batch is refused with a message naming the mapping and the missing column."""
    mapping = find_mapping("lendingclub", ROOT / "sources")
    text = EXTRACT.read_text(encoding="utf-8")
    path = tmp_path / "renamed.csv"
    path.write_text(text.replace("settlement_status", "settlement_state", 1), encoding="utf-8")
    report = ingest_paths([path], tmp_path / "w.duckdb", as_of=AS_OF, mapping=mapping).batches[0]
    assert report.status == "refused"
    assert report.message is not None
    assert re.search(r"lacks columns the mapping 'lendingclub'.*settlement_status", report.message)


# --- the expression language ----------------------------------------------------------------


def _eval(text: str, frame: pl.DataFrame) -> list[object]:
    scope = Scope(frame.columns, {"d": dt.date(2019, 3, 1)}, {}, "%b-%Y", lambda n: n)
    return frame.select(compile_expression(text, scope).expr.alias("v"))["v"].to_list()


def test_month_arithmetic_on_mon_yyyy_dates() -> None:
    """Months between Oct-2017 and Mar-2019 are 17; add_months goes back and forth."""
    frame = pl.DataFrame({"a": ["Oct-2017", "bad", None]})
    assert _eval("months_between(date(a), const.d)", frame) == [17.0, None, None]
    assert _eval("add_months(date(a), 0 - 1)", frame)[0] == dt.date(2017, 9, 1)


def test_conditions_with_in_and_when() -> None:
    """`in` lists and when() choose per row; an empty cell is not in any list."""
    frame = pl.DataFrame({"s": ["Charged Off", "Current", None]})
    assert _eval('when(s in ["Charged Off", "Default"], "bad", "ok")', frame) == [
        "bad",
        "ok",
        "ok",
    ]


def test_a_text_cell_in_arithmetic_is_read_as_a_number() -> None:
    """' 36 months' needs first_number; '12000.0' is a number; 'n/a' is empty."""
    frame = pl.DataFrame({"t": [" 36 months", "12000.0", "n/a"]})
    assert _eval("first_number(t)", frame)[0] == 36.0
    assert _eval("t * 2", frame) == [None, 24000.0, None]


def test_a_condition_must_be_true_or_false() -> None:
    """A column is not a condition by itself."""
    frame = pl.DataFrame({"t": ["x"]})
    with pytest.raises(ExprError, match="not a condition"):
        _eval("not t", frame)


@pytest.mark.parametrize("values", ["[1, 'x']", "[None]", "[1, None]"])
def test_a_numeric_in_list_with_a_non_number_is_an_expression_error(values: str) -> None:
    """`n in [...]` names the value that is not a number instead of raising from float()."""
    frame = pl.DataFrame({"n": [1.0]})
    with pytest.raises(ExprError, match="is not a number"):
        _eval(f"n in {values}", frame)


# --- the warehouse migration ----------------------------------------------------------------


def test_migration_3_keeps_existing_batches_and_counts_them_as_unskipped(tmp_path: Path) -> None:
    """A warehouse made before source mappings keeps its batches; they skipped nothing."""
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        schema_up_to(con, 2)
        con.execute(
            "INSERT INTO batches VALUES (1, 'r', 'a.csv', 'abc', 10, 'csv', 'utf-8', 5, 3, 1, 1, "
            "0, [], now(), now(), 'loaded', NULL)"
        )
        assert migrate(con)[0] == 3  # and every later step
        rows = con.execute(
            "SELECT batch_id, rows_read, rows_skipped, source, mapping_sha256 FROM batches"
        ).fetchall()
        assert rows == [(1, 5, 0, None, None)]
        with pytest.raises(duckdb.ConstraintException):
            con.execute(
                "INSERT INTO batches BY NAME SELECT 2 AS batch_id, 'r' AS run_id, 'b' AS path, "
                "'d' AS sha256, 1 AS bytes, 10 AS rows_read, 3 AS rows_loaded, "
                "0 AS rows_quarantined, 0 AS rows_replaced, 0 AS cases_superseded, "
                "[]::VARCHAR[] AS unknown_columns, now() AS started_at, now() AS finished_at, "
                "'loaded' AS status, 6 AS rows_skipped"
            )
    finally:
        con.close()


# --- the documented example -----------------------------------------------------------------


def test_the_example_mapping_in_the_docs_works_as_written() -> None:
    """The minimal mapping of docs/mappings.md loads and maps rows, skips included."""
    page = (ROOT / "docs" / "mappings.md").read_text(encoding="utf-8")
    text = page[page.index("## A minimal mapping") :]
    block = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert block is not None
    mapping = parse_mapping(block.group(1), Path("docs/mappings.md"))
    raw = pl.DataFrame(
        {
            "_ordinal": [1, 2, 3, 4],
            "loan": ["7", "8", "9", "10"],
            "opened": ["Jan-2024", "Feb-2024", "Mar-2024", "Apr-2024"],
            "status": ["OK", "WITHDRAWN", None, "OPEN"],
            "reason": ["SICK", "SICK", "SICK", "LOST_JOB"],
            "balance": ["12000", "5000", "100", "9000"],
        }
    )
    result = map_frame(raw, mapping)
    assert result.skipped == {"request_withdrawn": 1, "no_request": 1}
    rows = result.frame.to_dicts()
    assert [r["case_id"] for r in rows] == ["ACME-7", "ACME-10"]
    assert rows[0]["first_contact_on"] == "2024-02-01"
    assert rows[0]["days_overdue_at_contact"] == "31"
    assert (rows[1]["outcome"], rows[1]["closed_on"]) == ("pending", None)


def test_a_broken_raw_line_is_quarantined_not_skipped(tmp_path: Path) -> None:
    """A line with too few cells could hide a case: it is quarantined as parse:columns, with
    its raw line number, and the lines after it keep theirs."""
    lines = EXTRACT.read_text(encoding="utf-8").split("\n")
    lines.insert(3, "12345,678,9")  # becomes line 4 of the file
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    mapping = find_mapping("lendingclub", ROOT / "sources")
    report = ingest_paths([path], tmp_path / "w.duckdb", as_of=AS_OF, mapping=mapping).batches[0]
    assert (report.rows_read, report.rows_quarantined) == (69, 1)
    assert (report.rows_loaded, report.rows_skipped) == (38, 30)
    assert report.reasons == {"parse:columns": 1}
    with open_warehouse(tmp_path / "w.duckdb", read_only=True) as con:
        assert con.execute("SELECT line FROM quarantine").fetchall() == [(4,)]
        cases = con.execute("SELECT source_line, extra->>'lc_loan_id' FROM cases").fetchall()
    assert all(lines[line - 1].startswith(f"{loan},") for line, loan in cases)
