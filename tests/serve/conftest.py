"""A real published snapshot and real `overdue serve` processes, shared by the service tests.

Made once per session: 2,000 simulated cases ingested into a warehouse, one training run,
published as ``run-1`` into two published folders (one per server). A second training run with
another seed starts in the background at once (`overdue train` in its own process, on a copy of
the warehouse); the reload test publishes it and waits for the server to pick it up.

Servers are started with ``python -m overdue serve`` on free ports of 127.0.0.1 and stopped at
the end of the session; every wait is bounded.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from serve_support import TOKEN, Published, Server, clean_env, start_server, stop

from overdue.config import Settings
from overdue.ingest import ingest_paths
from overdue.models.run import train
from overdue.publish import Snapshot, current_snapshot_path, load_snapshot, publish_snapshot
from overdue.simulate import write_simulation


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """One training run published twice; a second run (another seed) training meanwhile."""
    folder = tmp_path_factory.mktemp("serve")
    settings = Settings(warehouse=folder / "w.duckdb", models_dir=folder / "models")
    cases = folder / "cases.parquet"
    write_simulation(cases, rows=2_000, seed=3, as_of=settings.as_of)
    ingest_paths([cases], settings.warehouse)
    train(settings.warehouse, settings, run_id="train-1")
    second_warehouse = folder / "w2.duckdb"
    shutil.copyfile(settings.warehouse, second_warehouse)
    second_models = folder / "models2"
    log = (folder / "train2.log").open("wb")
    second = subprocess.Popen(
        [sys.executable, "-m", "overdue", "train", "--warehouse", str(second_warehouse)],
        env=clean_env(
            OVERDUE_MODELS_DIR=str(second_models), OVERDUE_SEED="11", OVERDUE_SELF_CHECK="false"
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    main = folder / "published"
    publish_snapshot(settings.warehouse, settings.models_dir, main, "run-1")
    reload = folder / "published-reload"
    shutil.copytree(main, reload)
    yield Published(
        folder,
        settings.warehouse,
        settings.models_dir,
        main,
        reload,
        second_models,
        second_warehouse,
        second,
    )
    if second.poll() is None:
        second.kill()
    second.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def server(published: Published) -> Iterator[Server]:
    """The open server: no token, a rate limit no test reaches."""
    running = start_server(
        published.folder,
        published.published,
        "server",
        OVERDUE_RATE_LIMIT_PER_MINUTE="60000",
        OVERDUE_RATE_LIMIT_BURST="10000",
    )
    yield running
    stop(running)


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
