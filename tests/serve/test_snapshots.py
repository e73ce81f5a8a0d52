"""Published snapshots are served only when they match their manifest and sit inside the
published folder: real snapshot folders on disk and real `overdue serve` processes."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_support import (
    Published,
    Server,
    get_json,
    log_text,
    point_current,
    start_server,
    stop,
)

from overdue.i18n import LANGS
from overdue.publish import SnapshotError, current_snapshot_path, load_snapshot
from overdue.serve.snapshot import REFUSED, UNAVAILABLE

TAMPERED_VERSION = "m-TAMPERED"


def _edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text("utf-8")))), encoding="utf-8")


def _every_estimate(value: Any, estimate: float) -> Any:
    if isinstance(value, dict):
        return {
            k: estimate if k == "estimate" and v is not None else _every_estimate(v, estimate)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_every_estimate(v, estimate) for v in value]
    return value


def tampered_copy(source: Path, folder: Path) -> Path:
    """A copy of a published snapshot with every estimate 0.999 and the model version
    ``m-TAMPERED``; its manifest (with the original hashes) names it as its own run."""
    shutil.copytree(source, folder)
    _edit_json(folder / "effects.json", lambda e: _every_estimate(e, 0.999))
    _edit_json(folder / "model" / "bundle.json", lambda b: {**b, "model_version": TAMPERED_VERSION})
    _edit_json(folder / "manifest.json", lambda m: {**m, "run_id": folder.name})
    return folder


@pytest.fixture(scope="module")
def published_dir(published: Published) -> Path:
    """A published folder of this module's own: run-1 (genuine) and run-tampered."""
    folder = published.folder / "published-snapshots"
    shutil.copytree(published.published, folder)
    tampered_copy(folder / "run-1", folder / "run-tampered")
    return folder


@pytest.fixture(scope="module")
def snapshot_server(published_dir: Path, published: Published) -> Iterator[Server]:
    """A server over ``published_dir`` that looks at CURRENT every 0.2 s."""
    running = start_server(
        published.folder, published_dir, "snapshots", OVERDUE_SNAPSHOT_CHECK_SECONDS="0.2"
    )
    yield running
    stop(running)


def wait_for_error(server: Server, present: bool) -> dict[str, Any]:
    """/healthz once its error is set (``present``) or cleared; bounded."""
    deadline = time.monotonic() + 30
    health = get_json(f"{server.url}/healthz")[1]
    while time.monotonic() < deadline and (health.get("error") is not None) != present:
        time.sleep(0.2)
        health = get_json(f"{server.url}/healthz")[1]
    return health


@pytest.mark.parametrize(
    "tamper",
    [
        "effects edited",
        "bundle edited",
        "model file added",
        "file removed",
        "link added",
        "manifest removed",
    ],
)
def test_a_snapshot_that_does_not_match_its_manifest_is_refused(
    published: Published, tmp_path: Path, tamper: str
) -> None:
    """An edited, added, removed or linked file (or no manifest) refuses the whole snapshot."""
    folder = tmp_path / "run-x"
    shutil.copytree(published.published / "run-1", folder)
    assert load_snapshot(folder).manifest["run_id"] == "run-1", "the genuine copy loads"
    if tamper == "effects edited":
        _edit_json(folder / "effects.json", lambda e: _every_estimate(e, 0.999))
    elif tamper == "bundle edited":
        _edit_json(
            folder / "model" / "bundle.json", lambda b: {**b, "model_version": TAMPERED_VERSION}
        )
    elif tamper == "model file added":
        (folder / "model" / "extra.skops").write_bytes(b"not listed")
    elif tamper == "file removed":
        (folder / "model_card.json").unlink()
    elif tamper == "link added":
        (folder / "model" / "more.json").symlink_to(folder / "effects.json")
    else:
        (folder / "manifest.json").unlink()
    with pytest.raises(SnapshotError) as refused:
        load_snapshot(folder)
    assert "run-x" in str(refused.value) and str(tmp_path) not in str(refused.value)


@pytest.mark.parametrize(
    "pointer", ["../../../../etc", "/etc", "../outside/run-1", "run-1/model", "..", ""]
)
def test_current_names_only_a_folder_inside_the_published_folder(
    published: Published, tmp_path: Path, pointer: str
) -> None:
    """CURRENT holding a path (relative, absolute, nested) or nothing is refused."""
    published_dir = tmp_path / "published"
    shutil.copytree(published.published, published_dir)
    shutil.copytree(published.published / "run-1", tmp_path / "outside" / "run-1")
    point_current(published_dir, pointer)
    with pytest.raises(SnapshotError):
        current_snapshot_path(published_dir)
    point_current(published_dir, "run-1")
    assert current_snapshot_path(published_dir) == published_dir / "run-1"


def test_a_tampered_snapshot_is_refused_and_the_old_one_keeps_serving(
    snapshot_server: Server, published_dir: Path
) -> None:
    """Pointing CURRENT at the tampered copy changes nothing that is served: same run, model
    and effects; /healthz reports a refusal without a path; the log says why in one line."""
    before = get_json(f"{snapshot_server.url}/healthz")[1]
    effects_before = get_json(f"{snapshot_server.url}/api/v1/effects")[1]
    point_current(published_dir, "run-tampered")
    try:
        health = wait_for_error(snapshot_server, present=True)
        assert health["status"] == "ok"
        assert health["run_id"] == "run-1" == before["run_id"]
        assert health["model_version"] == before["model_version"] != TAMPERED_VERSION
        assert health["error"] == REFUSED
        effects = get_json(f"{snapshot_server.url}/api/v1/effects")[1]
        assert effects == effects_before
        assert effects["population"]["installment"]["estimate"] != 0.999
        lines = [line for line in log_text(snapshot_server).splitlines() if "run-tampered" in line]
        assert lines == [
            "ERROR:    did not load the published snapshot: snapshot run-tampered: "
            "effects.json does not match its SHA-256 in manifest.json; refused"
        ]
    finally:
        point_current(published_dir, "run-1")
    assert wait_for_error(snapshot_server, present=False)["run_id"] == "run-1"


@pytest.mark.parametrize("pointer", ["../../../../etc", "../outside/run-1", "/etc"])
def test_current_pointing_outside_is_not_followed(
    snapshot_server: Server, published_dir: Path, pointer: str
) -> None:
    """A CURRENT naming a folder outside (a genuine snapshot there included) is refused; the
    open /healthz shows a generic error, never the path or the exception."""
    outside = published_dir.parent / "outside" / "run-1"
    if not outside.exists():
        shutil.copytree(published_dir / "run-1", outside)
        _edit_json(outside / "manifest.json", lambda m: {**m, "run_id": "run-outside"})
    point_current(published_dir, pointer)
    try:
        health = wait_for_error(snapshot_server, present=True)
        assert health["run_id"] == "run-1"
        text = json.dumps(health)
        for leak in ("etc", "outside", str(published_dir.parent), "Error", "Errno"):
            assert leak not in text
    finally:
        point_current(published_dir, "run-1")
    assert wait_for_error(snapshot_server, present=False)["run_id"] == "run-1"


def test_a_server_starting_on_a_tampered_snapshot_serves_nothing(published: Published) -> None:
    """With only a tampered snapshot published, the service starts, answers 503 and /healthz
    says there is no snapshot; the estimate route refuses too."""
    published_dir = published.folder / "published-only-tampered"
    published_dir.mkdir()
    tampered_copy(published.published / "run-1", published_dir / "run-tampered")
    point_current(published_dir, "run-tampered")
    server = start_server(published.folder, published_dir, "only-tampered", ready=503)
    try:
        status, health = get_json(f"{server.url}/healthz")
        assert status == 503
        assert health["status"] == "no_snapshot" and health.get("model_version") is None
        assert health["error"] == REFUSED
        # the refusal says why in the asked language, without a path
        for lang in LANGS:
            status, body = get_json(f"{server.url}/api/v1/model?lang={lang}")
            assert status == 503
            assert body["detail"][0]["message"] == UNAVAILABLE["refused"][lang]
            assert str(published_dir) not in json.dumps(body, ensure_ascii=False)
        assert "does not match its SHA-256" in log_text(server)
        assert "Traceback" not in log_text(server)
    finally:
        stop(server)
