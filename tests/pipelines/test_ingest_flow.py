"""The ingest flow: Prefect around overdue.ingest, with retries on I/O."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.ingest import filed_state, ingest_flow

from overdue.casestore import CaseStore, store_cases
from overdue.warehouse import open_warehouse, scratch
from settings_support import settings_in

HEADER = "case_id,overdue_since,first_contact_on,closed_on,age_band,employment,monthly_income,"
ROW = "C-1,2024-01-05,2024-03-05,2024-04-01,25-34,employed,12000,"
REST_HEADER = (
    "monthly_essential_expenses,lenders_in_arrears,hardship_reason,lender_type,principal,"
    "outstanding_balance,annual_rate,monthly_payment_due,days_overdue_at_contact,"
    "collection_stage,contact_initiated_by,channel,approach,repayment_plan_prepared,"
    "doc_loan_contract,doc_income_proof,doc_expense_statement,doc_bank_statement,"
    "doc_medical_report,doc_household_finances,professional_help,outcome\n"
)
REST_ROW = (
    "5000,2,illness,bank_loan,50000,52000,24%,2000,60,reminders,debtor,phone,installment,"
    "是,否,Y,N,true,false,1,none,refused\n"
)


def _files(tmp_path: Path) -> list[str]:
    good = tmp_path / "good.csv"
    good.write_text(HEADER + REST_HEADER + ROW + REST_ROW, encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + REST_HEADER + ROW.replace("C-1", "C 2") + REST_ROW, encoding="utf-8")
    return [str(good), str(bad)]


def test_the_flow_ingests_each_file_and_returns_counts_only(tmp_path: Path) -> None:
    """One task per file; results are counts and hashes, the warehouse holds the rows; a
    quarantined row leaves the run failed, its records still its result."""
    wh = tmp_path / "w.duckdb"
    state = ingest_flow(_files(tmp_path), str(wh), return_state=True)
    assert state.is_failed() and "1 row(s) quarantined" in str(state.message)
    results = state.result(raise_on_failure=False)
    assert [(r["status"], r["rows_loaded"], r["rows_quarantined"]) for r in results] == [
        ("loaded", 1, 0),
        ("loaded", 0, 1),
    ]
    assert all(len(r["sha256"]) == 64 for r in results)
    assert set(results[0]) == {
        "path",
        "status",
        "batch_id",
        "sha256",
        "rows_read",
        "rows_loaded",
        "rows_quarantined",
        "rows_replaced",
        "cases_superseded",
        "message",
        "filed_to",
    }
    with open_warehouse(wh, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM cases").fetchone() == (1,)


def test_a_locked_warehouse_is_retried(tmp_path: Path) -> None:
    """While another process holds the warehouse, the task fails on I/O and is retried."""
    wh = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "time.sleep(1.0)",
            str(wh),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "open"
    started = time.monotonic()
    results = ingest_flow(_files(tmp_path)[:1], str(wh))
    holder.wait(timeout=30)
    assert results[0]["status"] == "loaded"
    assert time.monotonic() - started >= 1.0  # it waited for the lock to go


def test_the_flow_adds_the_committed_batches_to_the_case_store(tmp_path: Path) -> None:
    """With OVERDUE_CASE_STORE set, the flow's one writer writes each committed batch's file
    after the ingest; read from the store alone, the cases are the warehouse's."""
    wh, store = tmp_path / "w.duckdb", tmp_path / "store"
    with settings_in(tmp_path, OVERDUE_CASE_STORE=str(store)):
        ingest_flow(_files(tmp_path), str(wh), return_state=True)
    assert sorted(p.name for p in store.iterdir()) == ["batch_id=1"]  # batch 2: all quarantined
    with scratch() as con:
        stored = store_cases(con, CaseStore(str(store))).fetchall()
    with open_warehouse(wh, read_only=True) as con:
        assert stored == con.execute("SELECT * FROM cases").fetchall()


def test_a_file_still_uploading_is_left_in_the_inbox_and_named(tmp_path: Path) -> None:
    """A file changed within inbox_settle_seconds is neither read nor filed away, and the run
    logs it; a file that settled is loaded and filed to processed/."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settled, uploading = inbox / "settled.csv", inbox / "uploading.csv"
    settled.write_text(HEADER + REST_HEADER + ROW + REST_ROW, encoding="utf-8")
    uploading.write_text(HEADER + REST_HEADER + ROW.replace("C-1", "C-2"), encoding="utf-8")
    an_hour_ago = time.time() - 3600
    os.utime(settled, (an_hour_ago, an_hour_ago))
    with settings_in(tmp_path, OVERDUE_INBOX_SETTLE_SECONDS="60"):
        state = ingest_flow([str(inbox)], return_state=True)
    results = state.result()
    assert [(Path(r["path"]).name, r["status"]) for r in results] == [("settled.csv", "loaded")]
    assert results[0]["filed_to"].endswith("settled.csv") and not settled.exists()
    assert uploading.exists()


def test_a_file_changed_since_it_was_read_stays_in_the_inbox_with_why(tmp_path: Path) -> None:
    """filed_state leaves a file whose SHA-256 is not the one read in the inbox, and the
    record says so (the run logs and prints it)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "upload.csv"
    path.write_text(HEADER + REST_HEADER + ROW + REST_ROW, encoding="utf-8")
    read = hashlib.sha256((HEADER + REST_HEADER).encode()).hexdigest()  # what was there then
    record = {"path": str(path), "status": "loaded", "sha256": read, "rows_read": 1,
              "rows_quarantined": 0}  # fmt: skip
    state = filed_state(path, record, str(inbox), dt.date(2026, 12, 7))
    assert state.is_completed() and path.exists() and not (inbox / "processed").exists()
    assert record["filed_to"] is None
    assert "changed while it was read" in record["left_in_inbox"]
