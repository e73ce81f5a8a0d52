"""One frozen settings object; every value can be overridden with an ``OVERDUE_*`` variable."""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Prefect's temporary local server needs 13-28 s to start on our 2-core machines, longer than
# Prefect's default 20 s: give it room before anything imports Prefect. No telemetry: the
# machines have no internet, and its writes raced other processes for Prefect's database.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


class Settings(BaseSettings):
    """Paths, privacy threshold and seeds of one run of the product."""

    model_config = SettingsConfigDict(env_prefix="OVERDUE_", frozen=True, extra="ignore")

    data_dir: Path = Path("data")
    warehouse: Path = Path("data/warehouse.duckdb")
    inbox: Path = Path("data/inbox")
    sample: Path = Path("data/sample/cases.parquet")
    reports_dir: Path = Path("reports")
    models_dir: Path = Path("data/models")
    published_dir: Path = Path("data/published")
    k: int = Field(10, ge=1, description="no published number rests on fewer than k cases")
    seed: int = Field(20261128, ge=0, description="seed of every random choice the product makes")
    as_of: dt.date = Field(
        dt.date(2026, 6, 30),
        description="the simulator's 'today': cases are opened before it and followed up to it",
    )
    model_threads: int = Field(
        2,
        ge=1,
        description="model fits run side by side in this many threads, each fit on one OpenMP "
        "thread (overdue.models.parallel): two halve training on 2 cores and share them "
        "gracefully with other processes, where one OpenMP team over both lost 5-15x; "
        "training runs its two chains (the advising model, the effects) at once, each with "
        "this many",
    )
    self_check: bool = Field(
        True,
        description="during training, refit the procedure on planted outcomes of a subsample of "
        "the cases and measure its errors and interval coverage (overdue.models.selfcheck); "
        "off saves its time where nobody reads it",
    )
    model_max_cases: int = Field(
        1_000_000,
        ge=1_000,
        description="the models and effects learn from at most this many labelled cases: beyond "
        "it, a seeded sample stratified by approach and outcome (overdue.models.sample), so "
        "training memory stays bounded however many cases there are; counts and descriptive "
        "tables still use every case, and every estimate says how many cases it rests on",
    )
    retry_delays: tuple[int, ...] = Field(
        (2, 10, 30), description="seconds between retries of a pipeline stage that failed on I/O"
    )
    lock_wait_seconds: float = Field(
        60, ge=0, description="how long a pipeline run waits for another one to finish writing"
    )
    inbox_settle_seconds: float = Field(
        60,
        ge=0,
        description="a file in the inbox changed less than this many seconds ago may still be "
        "uploading: the run leaves it for the next one and says so (upload under a hidden name, "
        "then rename it); 0 reads every file",
    )
    nightly_cron: str = Field("0 2 * * *", description="when the nightly pipeline runs")
    dask_address: str | None = Field(
        None,
        description="a Dask scheduler (e.g. tcp://10.0.0.5:8786): the nightly pipeline prepares "
        "its files on that cluster and commits them here, and training runs its independent "
        "model fits there (docs/cluster.md); none: all runs here",
    )
    case_store: str | None = Field(
        None,
        description="a folder, or an s3:// or gs:// URL, every machine can read: each committed "
        "batch's cases are also written there as Hive-partitioned Parquet "
        "(docs/case-store.md); none: the warehouse file alone, as always",
    )
    case_store_key_id: str | None = Field(None, description="the object store's access key id")
    case_store_secret: SecretStr | None = Field(
        None, description="the object store's secret key (never printed)"
    )
    case_store_region: str | None = Field(None, description="the object store's region")
    case_store_endpoint: str | None = Field(
        None, description="an S3-compatible endpoint other than AWS (host[:port])"
    )
    part_rows: int = Field(
        250_000,
        ge=1,
        description="on a Dask cluster, a Parquet file of more rows is prepared in row ranges of "
        "this many rows, one task each, and committed as one batch (docs/cluster.md)",
    )
    duckdb_memory_limit: str = Field(
        "1GB",
        description="memory DuckDB may use before spilling to disk; keeps a 10M-row ingest bounded",
    )
    # --- affordability of a repayment plan (overdue.plans) ---
    plan_margin_share: float = Field(
        0.10,
        ge=0,
        description="a plan must leave at least this share of essential expenses each month "
        "for emergencies",
    )
    emergency_fund_target_months: float = Field(
        3.0,
        ge=0,
        description="savings a plan should let the debtor keep or rebuild, in months of "
        "essential expenses (the guide's 3-6 month emergency fund)",
    )
    emergency_fund_build_months: float = Field(
        24.0,
        gt=0,
        description="months in which a plan's margin should rebuild savings below that target",
    )
    # --- the counselor service (overdue serve) ---
    api_token: SecretStr | None = Field(
        None,
        description="when set (OVERDUE_API_TOKEN), /api/* needs 'Authorization: Bearer <token>' "
        "and the page asks for it; /healthz stays open",
    )
    rate_limit_per_minute: float = Field(
        600, ge=0, description="requests per client IP and minute (token bucket); 0 turns it off"
    )
    rate_limit_burst: int = Field(60, ge=1, description="requests a client may send at once")
    max_body_bytes: int = Field(
        65_536, ge=1024, description="larger request bodies are refused with 413 before parsing"
    )
    snapshot_check_seconds: float = Field(
        1.0, ge=0, description="how often the service looks for a newly published snapshot"
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="a client must send a request's line and headers within this time of "
        "connecting (or of a next request's first byte), else it is disconnected",
    )
    body_timeout_seconds: float = Field(
        15.0,
        gt=0,
        description="a client must send a request's body within this time after its headers",
    )
    keep_alive_seconds: float = Field(
        5.0, gt=0, description="an idle connection between requests is closed after this time"
    )
    max_connections: int = Field(
        1000, ge=1, description="open connections per server process; beyond it requests get 503"
    )
    page_poll_seconds: float = Field(
        30.0,
        gt=0,
        description="how often the open page asks /healthz which snapshot is served, to say "
        "when a newer one has been published since its results",
    )
    guidance_file: Path | None = Field(
        None,
        description="the risks-and-rights notes shown beside estimates (YAML, docs/guidance.md); "
        "default: the one installed with the service (overdue/serve/guidance.yaml)",
    )
    max_header_bytes: int = Field(
        16_384, ge=1024, description="a request line and headers larger than this are refused (400)"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (environment read once)."""
    return Settings()
