"""The published snapshot the service answers from, swapped when a newer one is published.

The service never opens the warehouse. A pipeline publishes a complete folder and then
atomically replaces ``<published_dir>/CURRENT``; here every request may glance at that pointer
(a ``stat``, at most once per ``check_seconds``), and when it names another folder a background
thread loads and checks the new snapshot while requests go on being answered from the old one.
The swap is one attribute assignment: a request sees the old snapshot or the new one, whole.
A snapshot that fails its checks (``overdue.publish.load_snapshot``) is refused with one log
line saying why; the old one goes on serving, and ``error`` (shown by ``/healthz``) says only
that something was refused, never a path or an exception's text.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from overdue.case_input import CaseInput, cases_frame
from overdue.i18n import Lang
from overdue.models.estimate import CaseEstimator
from overdue.publish import (
    CURRENT,
    MANIFEST,
    Snapshot,
    SnapshotError,
    current_snapshot_path,
    load_snapshot,
)
from overdue.serve.page import DEFAULTS

log = logging.getLogger(__name__)

NOT_PUBLISHED: Final = "nothing published yet; run the pipeline (overdue run)"
REFUSED: Final = "the published snapshot could not be loaded or failed its checks; see the log"
ONE_SNAPSHOT: Final = (
    "the published folder is one snapshot, not the folder of snapshots: set "
    "OVERDUE_PUBLISHED_DIR to the folder that holds CURRENT (the log names it)"
)
ONE_SNAPSHOT_AT: Final = (
    "the published folder {folder} is one snapshot, not the folder of snapshots: set "
    "OVERDUE_PUBLISHED_DIR to the folder that holds CURRENT (usually its parent, {parent})"
)
UNAVAILABLE: Final[dict[str, dict[Lang, str]]] = {
    "not_published": {
        "zh": "还没有发布的模型快照；请先运行流水线（overdue run）",
        "en": NOT_PUBLISHED,
    },
    "refused": {"zh": "已发布的模型快照无法载入或未通过检查；原因见服务日志", "en": REFUSED},
    "one_snapshot": {
        "zh": "发布目录是单个快照，而不是存放快照的目录：请把 OVERDUE_PUBLISHED_DIR "
        "设为包含 CURRENT 的目录（服务日志写明了它）",
        "en": ONE_SNAPSHOT,
    },
}
"""Why nothing can be served, by language, as ``/healthz`` (open to anyone) and a 503 say it:
never a path (a folder's name may be a person's)."""


def unavailable_reason(published_dir: Path) -> str:
    """Why nothing can be served from ``published_dir``: a key of ``UNAVAILABLE``."""
    if (published_dir / CURRENT).exists():
        return "refused"
    if (published_dir / MANIFEST).exists():  # a snapshot folder given for the folder of them
        return "one_snapshot"
    return "not_published"


def not_loaded(published_dir: Path) -> str:
    """Why nothing can be served from ``published_dir``, for the operator (the start-up line
    and the log): the folder to use named."""
    reason = unavailable_reason(published_dir)
    if reason == "one_snapshot":
        return ONE_SNAPSHOT_AT.format(folder=published_dir, parent=published_dir.parent)
    return UNAVAILABLE[reason]["en"]


@dataclass(frozen=True)
class Served:
    """A loaded snapshot with everything prepared for answering requests."""

    snapshot: Snapshot
    estimator: CaseEstimator
    loaded_at: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def model_version(self) -> str:
        """The model version of the snapshot."""
        return self.snapshot.bundle.version


def prepare(folder: Path, k: int) -> Served:
    """Load a snapshot folder and compile its models (seconds; never on a request's path)."""
    snapshot = load_snapshot(folder)
    probe = cases_frame([CaseInput(**{n: v for n, v in DEFAULTS.items() if v not in (None, "")})])
    estimator = CaseEstimator(snapshot.bundle, k)
    estimator.estimate_frame(probe)  # warm: the typical case's row, the feature query
    manifest = snapshot.manifest
    info = {
        "run_id": manifest.get("run_id", folder.name),
        "model_version": snapshot.bundle.version,
        "data_snapshot_hash": manifest.get("data_snapshot_hash"),
        "published_at": manifest.get("published_at"),
    }
    return Served(snapshot, estimator, time.time(), info)


def reason(error: Exception) -> str:
    """Why a snapshot was not loaded, on one line (for the log only)."""
    text = str(error) if isinstance(error, SnapshotError) else f"{type(error).__name__}: {error}"
    return " ".join(text.split())


class SnapshotHolder:
    """Holds the current ``Served`` snapshot and notices newly published ones."""

    def __init__(self, published_dir: Path, k: int, check_seconds: float = 1.0) -> None:
        self.published_dir = published_dir
        self.k = k
        self.check_seconds = check_seconds
        self.served: Served | None = None
        self.error: str | None = None
        self.unavailable = "not_published"  # why nothing is served (``UNAVAILABLE``)
        self._pointer: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._loading = threading.Lock()

    def _pointer_state(self) -> tuple[int, int, int] | None:
        try:
            stat = (self.published_dir / CURRENT).stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_ino, stat.st_size)

    def load_now(self) -> None:
        """Load the current snapshot in this thread (at start-up)."""
        state = self._pointer_state()
        self._load(state)

    def _load(self, state: tuple[int, int, int] | None) -> None:
        try:
            folder = current_snapshot_path(self.published_dir)
            if self.served is not None and self.served.snapshot.path == folder:
                self._pointer, self.error = state, None
                return
            served = prepare(folder, self.k)
        except Exception as error:  # a broken publication must not take the service down
            self.unavailable = unavailable_reason(self.published_dir)
            self.error = UNAVAILABLE[self.unavailable]["en"]
            why = not_loaded(self.published_dir) if self.unavailable == "one_snapshot" else None
            log.error("did not load the published snapshot: %s", why or reason(error))
            self._pointer = state  # retried when the pointer changes again
            return
        self.served = served  # the swap
        self.error = None
        # the new snapshot is long-lived, the old one garbage: collect once, then keep the
        # collector off the models again (see create_app)
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._pointer = state
        log.info("serving snapshot %s (model %s)", served.info["run_id"], served.model_version)

    def current(self) -> Served | None:
        """The snapshot to answer from; starts loading a newer one when the pointer moved."""
        now = time.monotonic()
        if now - self._checked >= self.check_seconds:
            self._checked = now
            state = self._pointer_state()
            if state != self._pointer and self._loading.acquire(blocking=False):
                threading.Thread(target=self._reload, args=(state,), daemon=True).start()
        return self.served

    def _reload(self, state: tuple[int, int, int] | None) -> None:
        try:
            self._load(state)
        finally:
            self._loading.release()
