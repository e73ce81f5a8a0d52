"""Notifications on a real Prefect server (the session's, whose triggers and actions services
run as in ``prefect server start``): a nightly run that refuses a file, or fails, makes the
server's automation post to a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pipelines.notify import NAME, NOTIFICATION
from prefect.client.orchestration import get_client
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_API_URL

from overdue.i18n import entries_missing_a_language
from settings_support import settings_in

ROOT = Path(__file__).resolve().parents[2]
PHONE = "13812345678"
"""A mobile number in file names: it must never reach the webhook."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[dict[str, Any]]]]:
    """A webhook on a free loopback port: its URL and the JSON bodies POSTed to it."""
    received: queue.Queue[dict[str, Any]] = queue.Queue()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.put(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:  # keep the test's output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The session's Prefect server (a real server process whose triggers and actions services
    run), every path of the settings in ``tmp_path``; the env to reach it. The notification is
    removed afterwards, so later tests' failing runs notify nobody."""
    api = str(PREFECT_API_URL.value())
    with settings_in(tmp_path) as paths:
        yield {**os.environ, **paths, "PREFECT_API_URL": api, "COLUMNS": "200"}
    with get_client(sync_client=True) as client:
        for made in client.read_automations_by_name(NAME):
            client.delete_automation(made.id)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from the repository root, as an operator runs it."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def next_message(received: queue.Queue[dict[str, Any]]) -> dict[str, Any]:
    """The next message the webhook got, waiting at most 60 s."""
    try:
        return received.get(timeout=60)
    except queue.Empty:
        raise AssertionError("the webhook got no notification within 60 s") from None


def latest_run() -> tuple[str, str]:
    """The name and id of the newest flow run on the server."""
    with get_client(sync_client=True) as client:
        (latest,) = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
    return latest.name, str(latest.id)


@pytest.mark.slow
def test_a_refusing_or_failing_run_notifies_the_webhook(
    server: dict[str, str],
    receiver: tuple[str, queue.Queue[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    """Set up twice (one automation), then a run that refuses a file and a run that fails each
    post one message naming the run and its state, with no file name in it."""
    url, received = receiver
    for _ in range(2):  # the operator may run it again: it replaces, never doubles
        done = run(server, "-m", "pipelines.notify", "--webhook", url)
        assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as client:
        assert len(client.read_automations_by_name(NAME)) == 1

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / f"张三_{PHONE}.txt").write_text("周一回电话 / call back on Monday\n", "utf-8")
    refused = run(server, "-m", "overdue", "run", str(inbox))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    name, run_id = latest_run()
    first = message = next_message(received)
    assert message["subject"] == f"overdue: the nightly run {name} ended Completed with refusals"
    assert (
        f"The run {name} of flow nightly ended in state Completed with refusals"
        in (message["text"])
    )
    assert "1 file(s) refused, 0 row(s) quarantined" in message["text"]
    assert run_id in message["text"]

    blocker = tmp_path / f"reports_{PHONE}"  # a file where the reports folder should be
    blocker.write_text("not a folder", encoding="utf-8")
    (inbox / f"张三_{PHONE}_2.txt").write_text("another note\n", "utf-8")
    failed = run({**server, "OVERDUE_REPORTS_DIR": str(blocker)}, "-m", "overdue", "run",
                 str(inbox))  # fmt: skip
    assert failed.returncode == 2, failed.stdout + failed.stderr
    name, run_id = latest_run()
    message = next_message(received)
    assert message["subject"] == f"overdue: the nightly run {name} ended Failed"
    assert "the service keeps serving the previous snapshot" in message["text"]
    assert run_id in message["text"]
    sent = json.dumps([first, message], ensure_ascii=False)
    assert PHONE not in sent and "张三" not in sent


def test_the_notification_speaks_both_languages() -> None:
    """Every text of the notification has its Chinese and its English."""
    assert entries_missing_a_language(NOTIFICATION) == []


def test_setting_up_without_a_server_says_which_one(tmp_path: Path) -> None:
    """Without PREFECT_API_URL there is no server to keep the automation: a usage error."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = run({**env, "PREFECT_HOME": str(tmp_path)}, "-m", "pipelines.notify", "--webhook", "x")
    assert done.returncode == 2 and "set PREFECT_API_URL" in done.stderr
