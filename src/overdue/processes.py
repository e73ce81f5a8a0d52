"""Processes on this machine: whether the owner of a temporary folder still runs."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from pathlib import Path


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (another user's process counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def claim(folder: Path, owner_file: str) -> None:
    """Write ``owner_file`` in ``folder``: this machine and this process own it."""
    owner = {"host": socket.gethostname(), "pid": os.getpid()}
    (folder / owner_file).write_text(json.dumps(owner), encoding="utf-8")


def abandoned(folders: Iterable[Path], owner_file: str) -> list[Path]:
    """The ``folders`` whose ``owner_file`` (JSON: ``host``, ``pid``) names this machine and a
    process that is gone. A folder without its owner, or another machine's, is left alone."""
    host, found = socket.gethostname(), []
    for folder in folders:
        try:
            owner = json.loads((folder / owner_file).read_text(encoding="utf-8"))
            mine, pid = owner["host"] == host, int(owner["pid"])
        except (OSError, ValueError, KeyError, TypeError):  # no owner, or an unreadable one
            continue
        if mine and not process_alive(pid):
            found.append(folder)
    return found
