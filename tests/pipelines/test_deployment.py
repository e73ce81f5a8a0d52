"""A real Prefect server on 127.0.0.1: deploy the nightly pipeline, trigger it, check outputs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from overdue.config import get_settings
from overdue.publish import CURRENT
from overdue.simulate import write_simulation
from prefect_server_support import PREFECT, prefect_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`prefect server start` with its own database and every path in ``tmp_path``; its env."""
    env = {
        "OVERDUE_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "OVERDUE_INBOX": str(tmp_path / "inbox"),
        "OVERDUE_MODELS_DIR": str(tmp_path / "models"),
        "OVERDUE_REPORTS_DIR": str(tmp_path / "reports"),
        "OVERDUE_PUBLISHED_DIR": str(tmp_path / "published"),
        "OVERDUE_SELF_CHECK": "false",  # the deployment's run, not the self-check, is tested
        "OMP_NUM_THREADS": "1",
    }
    with prefect_server(tmp_path / "prefect-home", env) as server_env:
        yield server_env


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
