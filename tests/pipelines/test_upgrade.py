"""Upgrading a deployment whose model, warehouse and snapshot were made by the previous format.

A real nightly run trains and publishes with this code; the result is then turned into what the
code before bundle formats wrote: bundle.json without ``bundle_format``, the estimators under the
old ``ensemble`` key, and every record (model_runs, approach_effects, latest.json, the report and
the published snapshot with a consistent manifest) carrying the version computed with the old
code version ``models-1``. The next nightly run must retrain and publish a loadable model, and the
service must refuse the old snapshot until then.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import skops.io as sio
from pipelines.nightly import nightly

from cli_support import overdue
from overdue.config import get_settings
from overdue.models.registry import BUNDLE_FORMAT, ESTIMATORS_FILE, METADATA_FILE
from overdue.models.run import LATEST_FILE, model_version
from overdue.publish import CURRENT, MODEL_DIR, load_snapshot
from overdue.reports.build import LATEST, MANIFEST
from overdue.simulate import write_simulation
from overdue.warehouse import open_warehouse, snapshot_hash
from serve.serve_support import CASE_EN, Server, get_json, start_server, stop
from settings_support import settings_in

PREVIOUS_CODE_VERSION = "models-1"
"""The hand-set code version every model before derived versions was made with."""
pytestmark = pytest.mark.slow  # real pipeline runs: `make check` starts them first


@dataclass(frozen=True)
class Deployment:
    """An upgraded deployment: its folder, its settings and the old model version it holds."""

    folder: Path
    env: dict[str, str]
    old_version: str
    current_version: str


def _rewrite_json(path: Path, **changes: object) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    document.update(changes)
    document = {k: v for k, v in document.items() if v is not None}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def as_previous_format(bundle: Path, old_version: str) -> None:
    """Rewrite a bundle as the code before bundle formats wrote it."""
    _rewrite_json(
        bundle / METADATA_FILE,
        model_version=old_version,
        model_code_version=PREVIOUS_CODE_VERSION,
        bundle_format=None,
        libraries=None,
        estimators_bytes=None,  # not recorded before bundle formats
        estimators_sha256=None,
    )
    path = bundle / ESTIMATORS_FILE
    estimators = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    estimators["ensemble"] = estimators.pop("covariance")  # the old layout's key
    sio.dump(estimators, path)


def make_previous_deployment(folder: Path) -> tuple[str, str]:
    """Turn the trained deployment in ``folder`` into the previous format; (old, new) versions."""
    models = folder / "models"
    current = json.loads((models / LATEST_FILE).read_text(encoding="utf-8"))["model_version"]
    with open_warehouse(folder / "warehouse.duckdb", read_only=True) as con:
        snapshot = snapshot_hash(con)
    old = model_version(snapshot, get_settings().seed, code=PREVIOUS_CODE_VERSION)
    (models / current).rename(models / old)
    as_previous_format(models / old, old)
    (models / LATEST_FILE).write_text(
        json.dumps({"model_version": old, "path": str(models / old)}) + "\n", encoding="utf-8"
    )
    with open_warehouse(folder / "warehouse.duckdb") as con:
        con.execute(
            "UPDATE model_runs SET model_version = ?, bundle_path = ?", [old, str(models / old)]
        )
        con.execute("UPDATE approach_effects SET model_version = ?", [old])
    for report in (folder / "reports").glob(f"*/{MANIFEST}"):
        _rewrite_json(report, model_version=old)
    published = folder / "published" / (folder / "published" / CURRENT).read_text().strip()
    shutil.rmtree(published / MODEL_DIR)
    shutil.copytree(models / old, published / MODEL_DIR)
    _rewrite_json(published / "effects.json", model_version=old)
    _rewrite_json(published / "model_card.json", model_version=old)
    manifest = json.loads((published / "manifest.json").read_text(encoding="utf-8"))
    files = {
        name: hashlib.sha256((published / name).read_bytes()).hexdigest()
        for name in manifest["files"]
    }
    _rewrite_json(published / "manifest.json", model_version=old, files=files)
    return old, current


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """2,000 cases run through the nightly pipeline, then turned into the previous format."""
    folder = tmp_path_factory.mktemp("upgrade")
    with settings_in(folder) as env:
        simulated = write_simulation(
            folder / "simulated" / "cases.parquet", rows=2_000, seed=41, as_of=get_settings().as_of
        )
        (folder / "inbox").mkdir()
        simulated.cases_path.rename(folder / "inbox" / "cases.parquet")
        first = nightly()
        assert not first["train"]["skipped"] and not first["publish"]["skipped"]
        old, current = make_previous_deployment(folder)
        yield Deployment(folder, env, old, current)


@pytest.fixture(scope="module")
def service(deployment: Deployment) -> Iterator[Server]:
    """`overdue serve` started on the old deployment's published folder (it answers 503)."""
    published = Path(deployment.env["OVERDUE_PUBLISHED_DIR"])
    server = start_server(deployment.folder, published, "serve", ready=503)
    yield server
    stop(server)


def post_case(url: str) -> int:
    """POST the English example case to the estimate API; the status code."""
    request = urllib.request.Request(
        f"{url}/api/v1/estimate",
        data=json.dumps(CASE_EN).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_previous_format_is_refused_by_the_cli_and_the_service(
    deployment: Deployment, service: Server
) -> None:
    """Before the upgrade run: `overdue estimate` says to retrain (no traceback) and the
    service does not serve the old snapshot."""
    case = deployment.folder / "case.json"
    case.write_text(json.dumps(CASE_EN), encoding="utf-8")
    refused = overdue("estimate", "--case", str(case), "--json", env=deployment.env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "no bundle_format" in refused.stdout and "overdue train" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr
    status, health = get_json(f"{service.url}/healthz")
    assert (status, health["status"]) == (503, "no_snapshot")
    assert post_case(service.url) == 503
    assert "StaleBundleError" in service.log.read_text(encoding="utf-8", errors="replace")


def test_the_nightly_run_retrains_the_old_model_and_publishes_a_loadable_one(
    deployment: Deployment, service: Server
) -> None:
    """Nothing new in the inbox, yet the old model is retrained under the new version, the
    report rebuilt, a loadable bundle published and served; `overdue estimate` works again."""
    result = nightly()
    assert result["ingest"] == []  # the first run filed the inbox's file into processed/
    train = result["train"]
    assert not train["skipped"]
    assert train["reason"] == "the model code, library versions, seed or self-check setting changed"
    assert train["model_version"] == deployment.current_version != deployment.old_version
    assert not result["report"]["skipped"] and not result["publish"]["skipped"]
    published = Path(result["publish"]["folder"])
    snapshot = load_snapshot(published)
    assert snapshot.bundle.version == deployment.current_version
    assert snapshot.bundle.metadata["bundle_format"] == BUNDLE_FORMAT
    assert snapshot.manifest["model_version"] == deployment.current_version
    report = deployment.folder / "reports" / LATEST / MANIFEST
    assert json.loads(report.read_text(encoding="utf-8"))["model_version"] == train["model_version"]

    case = deployment.folder / "case.json"
    case.write_text(json.dumps(CASE_EN), encoding="utf-8")
    estimated = overdue("estimate", "--case", str(case), "--json", env=deployment.env)
    assert estimated.returncode == 0, estimated.stdout + estimated.stderr
    assert json.loads(estimated.stdout)["model_version"] == deployment.current_version

    deadline, health = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        status, health = get_json(f"{service.url}/healthz")
        if status == 200:
            break
        time.sleep(0.5)
    assert health.get("model_version") == deployment.current_version, health
    assert post_case(service.url) == 200
