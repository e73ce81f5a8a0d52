"""Shared test settings, and the published snapshot and open server the service tests and
the PII tests share (made once per session, see tests/serve/conftest.py)."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from _pytest.nodeid import NodeId

# Helpers shared by test folders (browser_support) are imported as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))

# Prefect's local server is slow to start on these machines; settings also set this.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# One OpenMP thread per process: on 2 cores shared with other processes, OpenMP's spinning
# threads made a 3,600-row gradient-boosting fit take 25 s instead of 1.6 s.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tests drop a file into the inbox and run at once: no upload to wait for (the tests of
# inbox_settle_seconds set it themselves).
os.environ.setdefault("OVERDUE_INBOX_SETTLE_SECONDS", "0")


from overdue.config import Settings
from overdue.ingest import ingest_paths
from overdue.models.run import train
from overdue.publish import publish_snapshot
from overdue.simulate import write_simulation
from serve.serve_support import Published, Server, clean_env, start_server, stop

# The session fixtures that cost most, by the group of tests sharing them when `make check` runs
# the suite on two workers (pytest-xdist, --dist loadgroup): a group runs on one worker, so each
# is made once. Others (the Prefect server of tests/pipelines) each worker makes for itself.
SHARED_FIXTURES: Final = {
    "published": "published",  # here: a training run and its snapshot (service and PII tests)
    "trained": "trained",  # tests/models/conftest.py: `overdue` train and report processes
    "population": "population",  # tests/models/conftest.py: 6,000 cases, their model
    "built": "built",  # tests/reports/conftest.py: two training runs and their reports
    "ingest_only": "built",
}


def worker_groups(items: list[pytest.Item]) -> dict[str, str]:
    """Each test module's group: that of the first costly session fixture one of its tests
    uses, else the module itself (its module fixtures are made once either way)."""
    groups: dict[str, str] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        shared = [SHARED_FIXTURES[name] for name in item.fixturenames if name in SHARED_FIXTURES]
        if shared and groups.get(module, module) == module:
            groups[module] = shared[0]
        groups.setdefault(module, module)
    return groups


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On a pytest-xdist worker (`make check`: -n 2 --dist loadgroup --no-loadscope-reorder),
    each test's group; the groups around session fixtures queued first, then those with a test
    marked slow, so the heaviest work starts at once and the two workers end together."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    groups = worker_groups(items)
    group = {item.nodeid: groups[item.nodeid.split("::")[0]] for item in items}
    slow = {group[item.nodeid] for item in items if item.get_closest_marker("slow")}
    items.sort(
        key=lambda item: (group[item.nodeid].endswith(".py"), group[item.nodeid] not in slow)
    )
    for item in items:
        # What an xdist_group mark does: the controller groups ids by their "@" suffix. xdist
        # 3.8.0 writes the suffix to item._nodeid, which pytest 9.2 no longer reads.
        item._id = NodeId.parse(f"{item.nodeid}@{group[item.nodeid]}")


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """One training run published twice; a second run (another seed) training meanwhile."""
    folder = tmp_path_factory.mktemp("serve")
    settings = Settings(warehouse=folder / "w.duckdb", models_dir=folder / "models")
    cases = folder / "cases.parquet"
    write_simulation(cases, rows=2_000, seed=3, as_of=settings.as_of)
    ingest_paths([cases], settings.warehouse)
    trained = train(settings.warehouse, settings, run_id="train-1")
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
    publish_snapshot(settings.warehouse, settings.models_dir, main, "run-1", trained.model_version)
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
