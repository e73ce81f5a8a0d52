"""What the service tests share besides fixtures: cases, the server process, small helpers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from overdue.case_input import INPUT_FIELDS, validated_cases

TOKEN = "test-token-7f3a"
START_SECONDS = 120
CASE_ZH: dict[str, Any] = {
    "年龄段": "35-44",
    "地区": "广东",
    "城市等级": 2,
    "就业状况": "在职",
    "月收入": "12,000",
    "月必要支出": 6000,
    "供养人数": 2,
    "备用金月数": 1,
    "逾期机构数": 3,
    "逾期原因": "收入下降",
    "机构类型": "信用卡",
    "借款本金": 50000,
    "欠款总额": 62000,
    "罚息": 4000,
    "年化利率": "18%",
    "原月供": 3000,
    "逾期天数": 75,
    "催收阶段": "电话短信催收",
    "发起方": "债务人",
    "协商渠道": "电话",
    "协商方案": "停息分期",
    "已制定还款计划": "是",
    "借款合同": "是",
    "收入证明": "是",
    "支出明细": "否",
    "银行流水": "是",
    "医疗证明": "否",
    "家庭财务状况": "否",
    "专业协助": "无",
    "沟通态度评分": 4,
}
"""A case as a Chinese counselor's export writes it: Chinese field names and values."""
CASE_EN: dict[str, Any] = {
    "case_id": "C-serve-1",
    "age_band": "55-64",
    "employment": "self_employed",
    "monthly_income": 4500,
    "monthly_essential_expenses": 3900,
    "lenders_in_arrears": 5,
    "hardship_reason": "business_failure",
    "lender_type": "online_platform",
    "principal": 30000,
    "outstanding_balance": 41000,
    "annual_rate": 0.24,
    "monthly_payment_due": 2100,
    "days_overdue_at_contact": 200,
    "collection_stage": "lawyer_letter",
    "contact_initiated_by": "helper",
    "channel": "in_person",
    "approach": "principal_discount",
    "repayment_plan_prepared": False,
    "doc_loan_contract": True,
    "doc_income_proof": False,
    "doc_expense_statement": False,
    "doc_bank_statement": False,
    "doc_medical_report": False,
    "doc_household_finances": False,
    "professional_help": "paid_agent",
}
"""A case with English names and codes."""

COURT_WITH_AGENT: dict[str, Any] = {
    **CASE_EN,
    "employment": "self_employed",
    "lender_type": "bank_loan",
    "principal": 200_000,
    "outstanding_balance": 236_000,
    "collection_stage": "lawsuit_filed",
    "professional_help": "paid_agent",
}
"""The issue's second client: self-employed, a 200,000 CNY bank loan in court, a paid agent."""


@dataclass(frozen=True)
class Published:
    """The session's data: warehouse, models, published folders, the second run in progress."""

    folder: Path
    warehouse: Path
    models_dir: Path
    published: Path  # served by the main server
    published_reload: Path  # served by the guarded server; the reload test publishes here
    second_models_dir: Path
    second_warehouse: Path
    second_training: subprocess.Popen[bytes]


@dataclass(frozen=True)
class Server:
    """A running `overdue serve` process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without OVERDUE_* settings, one OpenMP thread, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERDUE_")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET a URL; (status, parsed JSON body)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def start_server(
    folder: Path, published_dir: Path, name: str, ready: int = 200, **env: str
) -> Server:
    """Start `overdue serve` on a free port and wait (bounded) until /healthz answers ``ready``
    (200; 503 for a server that has no snapshot to serve)."""
    port = free_port()
    log = folder / f"{name}.log"
    with log.open("wb") as output:  # the server holds its own copy of the file
        process = subprocess.Popen(
            [sys.executable, "-m", "overdue", "serve", "--port", str(port)],
            env=clean_env(OVERDUE_PUBLISHED_DIR=str(published_dir), **env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if get_json(f"{url}/healthz")[0] == ready:
                return Server(url, process, log)
        except OSError:
            pass
        time.sleep(0.25)
    process.kill()
    raise TimeoutError(f"server not ready in {START_SECONDS} s: {log.read_text()[-2000:]}")


def stop(server: Server) -> None:
    """Stop a server (SIGTERM, then kill after a bounded wait)."""
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


def point_current(published_dir: Path, name: str) -> None:
    """Make ``<published_dir>/CURRENT`` hold ``name`` (atomically, as publishing does)."""
    pointer = published_dir / ".CURRENT.tmp"
    pointer.write_text(name + "\n", encoding="utf-8")
    pointer.replace(published_dir / "CURRENT")


def log_text(server: Server) -> str:
    """Everything the server process has logged so far."""
    return server.log.read_text(encoding="utf-8", errors="replace")


JOBLESS_PLATFORM: dict[str, Any] = {
    **CASE_EN,
    "age_band": "25-34",
    "employment": "unemployed",
    "monthly_income": 1500,
    "monthly_essential_expenses": 4500,
    "emergency_fund_months": 0,
    "hardship_reason": "job_loss",
    "lender_type": "online_platform",
    "principal": 20_000,
    "outstanding_balance": 24_000,
    "days_overdue_at_contact": 45,
    "collection_stage": "reminders",
    "contact_initiated_by": "debtor",
    "channel": "phone",
    "approach": "installment",
    "professional_help": "none",
}
"""The issue's first client: 28, lost her job, a platform loan 45 days overdue; income 1,500
and essential expenses 4,500."""
RETIREE_CARD: dict[str, Any] = {
    **CASE_EN,
    "age_band": "65+",
    "employment": "retired",
    "monthly_income": 3200,
    "monthly_essential_expenses": 2400,
    "hardship_reason": "illness",
    "lender_type": "bank_credit_card",
    "days_overdue_at_contact": 400,
    "collection_stage": "lawyer_letter",
    "approach": "installment",
    "professional_help": "none",
}
"""The issue's third client: a retiree with card debt 400 days overdue, a 3,200 pension."""


def entered_cases(published: Published, rows: int) -> pl.DataFrame:
    """The first ``rows`` simulated cases as a counselor would enter them (contract input
    fields only), validated."""
    cases = pl.read_parquet(published.folder / "cases.parquet").head(rows)
    records = [
        {k: v for k, v in row.items() if k in INPUT_FIELDS and v is not None}
        for row in cases.to_dicts()
    ]
    return validated_cases(records)
