"""Running a command whose file permissions apply, even when the tests run as root; a small
file system to fill."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

CAPSH = shutil.which("capsh")
DROPPED = "cap_dac_override,cap_dac_read_search"
"""Root's capabilities that bypass file permissions; without them chmod 000 applies."""


def without_root(
    command: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` so that file permissions apply to it: as it is for a user, under
    ``capsh`` without the capabilities that bypass them for root (skips without capsh)."""
    args = list(command)
    if os.geteuid() == 0:
        if CAPSH is None:
            pytest.skip("running as root without capsh: permissions cannot be made to apply")
        args = [CAPSH, f"--drop={DROPPED}", "--", "-c", shlex.join(args)]
    return subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size`` (``1m``) for the block, to fill up (root only; skips
    when the kernel refuses the mount)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"the kernel refused to mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
