"""Running the ``overdue`` command as a user does: a fresh process from the project root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def overdue(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``overdue ARGS`` in a fresh process; wide output so tables do not wrap."""
    return subprocess.run(
        [sys.executable, "-m", "overdue", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=ROOT,
        check=False,
    )
