"""A real ``prefect server start`` on a free loopback port, for tests that need the server's
own services (deployments, automations) rather than the session's temporary server."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

PREFECT = str(Path(sys.executable).with_name("prefect"))


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


@contextlib.contextmanager
def prefect_server(home: Path, env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """``prefect server start`` with its own database under ``home``; yields the environment
    (``os.environ``, ``env``, ``PREFECT_HOME`` and ``PREFECT_API_URL``) that reaches it."""
    port = free_port()
    server_env = {
        **os.environ,
        **(env or {}),
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
    }
    process = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", 180)
        yield server_env
    finally:
        process.terminate()
        process.wait(timeout=60)
