"""Ingest's temporary folders, and the removal of those a killed ingest left behind.

A file that is not UTF-8 is transcoded into a temporary folder (``overdue-ingest-*`` or
``overdue-source-*`` in the temporary directory, ``TMPDIR``) before it is read: a full copy of
its case records. A process killed while reading (``kill -9``, the out-of-memory killer) cannot
remove it. Each folder holds ``owner.json`` (host and pid), as training's ``models/.training-*``
do, and every ingest first removes the folders of processes on this machine that are gone; a
live ingest's folder, another machine's and one without an owner are left alone.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from overdue.processes import abandoned, claim

PREFIXES: Final = ("overdue-ingest-", "overdue-source-")
"""Name prefixes of ingest's temporary folders."""
OWNER: Final = "owner.json"


def abandoned_folders(parent: Path) -> list[Path]:
    """Ingest's temporary folders in ``parent`` whose process on this machine is gone."""
    return abandoned(
        (folder for prefix in PREFIXES for folder in sorted(parent.glob(f"{prefix}*"))), OWNER
    )


def remove_abandoned(parent: Path | None = None) -> list[Path]:
    """Remove the folders ``abandoned_folders`` finds in ``parent`` (default: the temporary
    directory); the folders removed."""
    found = abandoned_folders(Path(parent or tempfile.gettempdir()))
    for folder in found:
        shutil.rmtree(folder, ignore_errors=True)
    return found


@contextmanager
def ingest_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder named ``prefix*`` with this process as its owner, removed at the
    end (``ingest_file`` removes those of killed ingests first)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        claim(Path(tmp), OWNER)
        yield Path(tmp)
