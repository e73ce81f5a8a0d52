"""Real `overdue serve` processes and the published snapshot, shared by the service tests.

The snapshot (``published``) and the open ``server`` are in tests/conftest.py, shared with
tests/test_pii_property.py: 2,000 simulated cases ingested into a warehouse, one training run,
published as ``run-1`` into two published folders (one per server). A second training run with
another seed starts in the background at once (`overdue train` in its own process, on a copy of
the warehouse); the reload test publishes it and waits for the server to pick it up.

Servers are started with ``python -m overdue serve`` on free ports of 127.0.0.1 and stopped at
the end of the session; every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serve_support import TOKEN, Published, Server, start_server, stop

from overdue.publish import Snapshot, current_snapshot_path, load_snapshot


@pytest.fixture(scope="session")
def guarded(published: Published) -> Iterator[Server]:
    """A server with a token, a small rate limit and a fast look at newly published snapshots."""
    running = start_server(
        published.folder,
        published.published_reload,
        "guarded",
        OVERDUE_API_TOKEN=TOKEN,
        OVERDUE_RATE_LIMIT_PER_MINUTE="30",
        OVERDUE_RATE_LIMIT_BURST="8",
        OVERDUE_SNAPSHOT_CHECK_SECONDS="0.2",
    )
    yield running
    stop(running)


@pytest.fixture(scope="module")
def snapshot(published: Published) -> Snapshot:
    """The published snapshot, loaded."""
    return load_snapshot(current_snapshot_path(published.published))
