"""A real Prefect server on 127.0.0.1: deploy the nightly pipeline, trigger it, check outputs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from overdue.config import get_settings
from overdue.publish import CURRENT
from overdue.simulate import write_simulation

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
pytestmark = pytest.mark.slow  # real pipeline runs: `make check` starts them first


def free_port() -> int:
    """A port nobody listens on, on the loopback address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float) -> None:
    """Poll ``url`` until it answers 200, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`prefect server start` on a free loopback port with its own database; yields the env."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "OVERDUE_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "OVERDUE_INBOX": str(tmp_path / "inbox"),
        "OVERDUE_MODELS_DIR": str(tmp_path / "models"),
        "OVERDUE_REPORTS_DIR": str(tmp_path / "reports"),
        "OVERDUE_PUBLISHED_DIR": str(tmp_path / "published"),
        "OVERDUE_SELF_CHECK": "false",  # the deployment's run, not the self-check, is tested
        "OMP_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", 180)
        yield env
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_a_deployment_run_completes_and_publishes(server: dict[str, str], tmp_path: Path) -> None:
    """Serve the deployment, trigger a run by hand, and find the published snapshot."""
    result = write_simulation(
        tmp_path / "simulated" / "cases.parquet", rows=2_000, seed=41, as_of=get_settings().as_of
    )
    (tmp_path / "inbox").mkdir()
    result.cases_path.rename(tmp_path / "inbox" / "cases.parquet")
    serve = subprocess.Popen(
        [sys.executable, "-m", "pipelines.deploy", "--name", "ci", "--no-schedule"],
        cwd=ROOT,
        env=server,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            listed = subprocess.run(
                [PREFECT, "deployment", "inspect", "nightly/ci"],
                env=server,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if listed.returncode == 0:
                break
            assert time.monotonic() < deadline, "the deployment was never registered"
            time.sleep(2)
        run = subprocess.run(
            [PREFECT, "deployment", "run", "nightly/ci", "--watch", "--watch-timeout", "600"],
            env=server,
            capture_output=True,
            text=True,
            timeout=700,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert "Completed" in run.stdout
    finally:
        serve.terminate()
        serve.wait(timeout=60)
    published = tmp_path / "published"
    assert (published / (published / CURRENT).read_text().strip() / "manifest.json").exists()
    assert (tmp_path / "reports" / "index.html").exists()
