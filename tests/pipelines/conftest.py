"""Real Prefect runs against a temporary local server, started once per test session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pipelines/` lives at the repository root, beside `src/`
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server and database for the whole session (it is slow to start)."""
    from prefect.testing.utilities import prefect_test_harness

    # None: wait as long as PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (set to 120).
    with prefect_test_harness(server_startup_timeout=None):
        yield
