"""The case table as Hive-partitioned Parquet that many machines can read (docs/case-store.md).

The warehouse file stays the one truth and the one place written by the one writer. With a
case store set (``OVERDUE_CASE_STORE``: a folder, or an ``s3://`` / ``gs://`` URL), every
committed batch's case rows are also written to ``<store>/batch_id=<n>/part-0.parquet``:
files are only ever added, each whole (written under a temporary name, then renamed; an
object store shows an object only once its upload completed), so a reader never sees half a
batch. ``store_cases`` gives the current case table from the files: of each case, the version
of the newest batch, exactly as the warehouse's ``cases`` holds it (a batch stores a version
only when it wins over the stored one, so the newest batch's version is the current one).

``sync_store`` writes the partitions of the batches that have cases in the warehouse and no
file in the store yet: run after each ingest it writes the batches just committed; on an
existing warehouse and an empty store it moves the whole case table (``overdue store
export``); a re-run writes nothing; a rolled-back batch has no rows and so no file.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
from pydantic import SecretStr

from overdue.config import Settings
from overdue.contract import FIELDS
from overdue.ingest.normalise import quote_literal
from overdue.warehouse import DUCKDB_TYPE, open_warehouse, write_failure

REMOTE_SCHEMES: Final = ("s3://", "gs://", "gcs://")
PART: Final = "part-0.parquet"
_BATCH_IN_PATH: Final = re.compile(r"batch_id=(\d+)[/\\]" + re.escape(PART) + "$")

STORE_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    *((f.name, DUCKDB_TYPE[f.kind]) for f in FIELDS),
    ("batch_id", "BIGINT"),
    ("source_line", "BIGINT"),
    ("extra", "JSON"),
)
"""The columns of the warehouse's ``cases``, in its order, with their DuckDB types."""


class CaseStoreError(OSError):
    """The case store cannot be read or written (a missing extension, a failed write)."""


@dataclass(frozen=True)
class CaseStore:
    """Where the case store is, and the credentials of an object store (none for a folder)."""

    location: str
    key_id: str | None = None
    secret: SecretStr | None = None
    region: str | None = None
    endpoint: str | None = None

    @property
    def remote(self) -> bool:
        """On object storage (``s3://``, ``gs://``) rather than a folder."""
        return self.location.startswith(REMOTE_SCHEMES)

    def partition(self, batch_id: int) -> str:
        """The file of one batch's cases."""
        return f"{self.location.rstrip('/')}/batch_id={batch_id}/{PART}"

    @property
    def files(self) -> str:
        """The glob of every batch's file."""
        return f"{self.location.rstrip('/')}/batch_id=*/{PART}"


def case_store(settings: Settings) -> CaseStore | None:
    """The case store the settings name, if any (``OVERDUE_CASE_STORE`` and its credentials)."""
    if not settings.case_store:
        return None
    return CaseStore(
        settings.case_store,
        settings.case_store_key_id,
        settings.case_store_secret,
        settings.case_store_region,
        settings.case_store_endpoint,
    )


def _missing_httpfs(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
    ).fetchone()
    return not (row and row[0])


def _secret_sql(store: CaseStore) -> str:
    kind = "s3" if store.location.startswith("s3://") else "gcs"
    options = [f"TYPE {kind}"]
    for name, value in (
        ("KEY_ID", store.key_id),
        ("SECRET", store.secret.get_secret_value() if store.secret else None),
        ("REGION", store.region),
        ("ENDPOINT", store.endpoint),
    ):
        if value:
            options.append(f"{name} {quote_literal(value)}")
    return f"CREATE OR REPLACE TEMPORARY SECRET overdue_case_store ({', '.join(options)})"


def open_store(con: duckdb.DuckDBPyConnection, store: CaseStore) -> None:
    """Let ``con`` read and write ``store``: for an object store, load DuckDB's ``httpfs``
    (never downloaded: it must be installed beforehand) and its credentials as a secret."""
    # DuckDB would otherwise download a missing extension the first time a URL needs it.
    con.execute("SET autoinstall_known_extensions = false")
    if not store.remote:
        return
    if _missing_httpfs(con):
        raise CaseStoreError(
            f"the case store {store.location.split('://')[0]}://... needs DuckDB's httpfs "
            "extension, which is not installed and is never downloaded at run time: install it "
            "beforehand (docs/case-store.md), or set OVERDUE_CASE_STORE to a shared folder"
        )
    con.execute("LOAD httpfs")
    if store.key_id or store.secret or store.region or store.endpoint:
        con.execute(_secret_sql(store))


def stored_batches(con: duckdb.DuckDBPyConnection, store: CaseStore) -> set[int]:
    """The batches that have their file in ``store``."""
    files = con.execute("SELECT file FROM glob(?)", [store.files]).fetchall()
    return {int(m.group(1)) for (file,) in files if (m := _BATCH_IN_PATH.search(str(file)))}


def _write_batch(con: duckdb.DuckDBPyConnection, store: CaseStore, batch_id: int) -> None:
    """Write one batch's cases to its file, whole or not at all."""
    rows = f"SELECT * EXCLUDE (batch_id) FROM cases WHERE batch_id = {int(batch_id)}"
    target = store.partition(batch_id)
    if store.remote:  # an object appears only once its upload completed
        con.execute(f"COPY ({rows}) TO {quote_literal(target)} (FORMAT parquet)")
        return
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{PART}.*.tmp"):  # left by a writer killed mid-write
        stale.unlink(missing_ok=True)
    temporary = final.with_name(f".{PART}.{uuid.uuid4().hex}.tmp")
    try:
        con.execute(f"COPY ({rows}) TO {quote_literal(str(temporary))} (FORMAT parquet)")
        temporary.replace(final)
    finally:
        temporary.unlink(missing_ok=True)


def sync_store(con: duckdb.DuckDBPyConnection, store: CaseStore) -> list[int]:
    """Write the file of every batch with cases in the warehouse open on ``con`` and no file in
    ``store`` yet; the batches written, oldest first. Only the one writer calls it."""
    open_store(con, store)
    try:
        present = stored_batches(con, store)
        batches = [
            int(b)
            for (b,) in con.execute("SELECT DISTINCT batch_id FROM cases ORDER BY 1").fetchall()
        ]
        missing = [b for b in batches if b not in present]
        for batch_id in missing:
            _write_batch(con, store, batch_id)
    except (duckdb.IOException, OSError) as error:
        what = write_failure(error) or type(error).__name__
        raise CaseStoreError(
            f"could not write the case store ({what}); the warehouse keeps every batch, and "
            "the next ingest or `overdue store export` writes what the store lacks"
        ) from None
    return missing


def store_cases_sql(store: CaseStore, *, empty: bool = False) -> str:
    """SQL of the current case table from ``store``: each case's version of its newest batch,
    columns and types as the warehouse's ``cases``; ``empty``: no rows (a store without files)."""
    if empty:
        nulls = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in STORE_COLUMNS)
        return f"SELECT {nulls} WHERE false"
    columns = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in STORE_COLUMNS)
    return (
        f"SELECT {columns} FROM read_parquet({quote_literal(store.files)}, "
        "hive_partitioning = true, hive_types = {'batch_id': BIGINT}) "
        "QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY batch_id DESC) = 1"
    )


def store_cases(
    con: duckdb.DuckDBPyConnection, store: CaseStore, *, view: str = "store_cases"
) -> duckdb.DuckDBPyRelation:
    """The current case table from ``store`` as the temporary view ``view`` on ``con`` (any
    DuckDB connection, on any machine that sees the store), and that view as a relation."""
    open_store(con, store)
    empty = not stored_batches(con, store)
    con.execute(f'CREATE OR REPLACE TEMP VIEW "{view}" AS {store_cases_sql(store, empty=empty)}')
    return con.table(view)


def sync_warehouse(
    warehouse_path: Path, store: CaseStore, *, memory_limit: str | None = None
) -> list[int]:
    """``sync_store`` from the warehouse file at ``warehouse_path`` (opened read-only: the store
    is written from it, the warehouse is never changed); the batches written."""
    with open_warehouse(warehouse_path, read_only=True, memory_limit=memory_limit) as con:
        return sync_store(con, store)
