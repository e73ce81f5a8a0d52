"""The ingest flow names, logs and returns files with personal data in their names masked."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipelines.ingest import ingest_flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler
from test_ingest_flow import HEADER, REST_HEADER, REST_ROW, ROW

from overdue.warehouse import open_warehouse

MOBILE, RESIDENT_ID, HEADER_MOBILE = "13812345678", "420102198503121238", "13912345678"


def test_file_and_header_names_are_masked_in_runs_logs_and_results(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A file named 张三_<mobile>_<resident ID>.csv with a header that is a mobile: the task run
    name, the flow's logs and output, its result and the warehouse hold [mobile] and
    [resident_id], never the digits."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    header = HEADER + REST_HEADER.rstrip("\n") + f",{HEADER_MOBILE}\n"
    (inbox / f"张三_{MOBILE}_{RESIDENT_ID}.csv").write_text(
        header + ROW + REST_ROW.rstrip("\n") + ",call back\n", encoding="utf-8"
    )
    wh = tmp_path / "w.duckdb"
    state = ingest_flow([str(inbox)], str(wh), return_state=True)
    results = state.result()
    APILogHandler().flush()  # send the logs to the server before reading them back
    masked = str(inbox / "张三_[mobile]_[resident_id].csv")
    assert [(r["path"], r["status"], r["rows_loaded"]) for r in results] == [(masked, "loaded", 1)]

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
        parameters = client.read_flow_run(flow_run_id).parameters
    assert [run.name for run in runs] == [f"ingest {masked}"]
    messages = "\n".join(log.message for log in logs)
    assert masked in messages
    with open_warehouse(wh, read_only=True) as con:
        stored = repr(con.execute("SELECT * FROM batches").fetchall())
        stored += repr(con.execute("SELECT extra FROM cases").fetchall())
    assert "[mobile]" in stored
    printed = "".join(capfd.readouterr())
    seen = "\n".join([messages, printed, stored, repr(parameters), *(r.name for r in runs)])
    for raw in (MOBILE, RESIDENT_ID, HEADER_MOBILE):
        assert raw not in seen
