"""Settings of a test run pointing into one temporary folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from overdue.config import get_settings


@contextlib.contextmanager
def settings_in(folder: Path, **extra: str) -> Iterator[dict[str, str]]:
    """Every path of the settings inside ``folder``, no retry or lock waits and no self-check
    (these tests read none of it; ``extra`` may switch it on), while inside the block (the
    process's settings restored after); yields the environment it set."""
    env = {
        "OVERDUE_WAREHOUSE": str(folder / "warehouse.duckdb"),
        "OVERDUE_INBOX": str(folder / "inbox"),
        "OVERDUE_MODELS_DIR": str(folder / "models"),
        "OVERDUE_REPORTS_DIR": str(folder / "reports"),
        "OVERDUE_PUBLISHED_DIR": str(folder / "published"),
        "OVERDUE_RETRY_DELAYS": "[0]",
        "OVERDUE_LOCK_WAIT_SECONDS": "0",
        "OVERDUE_SELF_CHECK": "false",
        **extra,
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
