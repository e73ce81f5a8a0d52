"""One report build: read the warehouse (read-only), protect every number, write the pages.

``reports/<run_id>/`` gets ``zh.html`` and/or ``en.html`` (each self-contained), an
``index.html`` that links them and ``report.json`` (provenance, no data); ``reports/latest/``
becomes a copy of it and ``reports/index.html`` lists every report in the folder.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
import polars as pl

from overdue.models.bundle_file import METADATA_FILE, simulated
from overdue.reports import queries
from overdue.reports.content import (
    ALL,
    STAR,
    ReportContent,
    batch_tables,
    coverage_table,
    data_cells,
    effect_shifts,
    effects_table,
    metrics_shown,
    policy_shown,
    psi_table,
    refutations_shown,
    reliability_shown,
    roc_shown,
    self_check_shown,
    sensitivity_shown,
    success_cells,
    success_table,
    survival_table,
    test_counts,
)
from overdue.reports.i18n import LANGS, Lang
from overdue.reports.pages import render_chooser, render_index, render_report
from overdue.reports.suppression import protect
from overdue.warehouse import open_warehouse, snapshot_hash

EXPECTED_TABLES: Final = (
    "batches",
    "cases",
    "quarantine",
    "features",
    "model_runs",
    "approach_effects",
)
SURVIVAL_HORIZON: Final = 36
MANIFEST: Final = "report.json"
LATEST: Final = "latest"


@dataclass(frozen=True)
class ReportBuild:
    """What one build wrote."""

    run_id: str
    folder: Path
    files: dict[str, Path]
    seconds: float

    def sizes(self) -> dict[str, int]:
        """Bytes of each page."""
        return {lang: path.stat().st_size for lang, path in self.files.items()}


def collect(con: duckdb.DuckDBPyConnection, k: int, generated_at: str) -> ReportContent:
    """Everything a report shows, from a read-only connection, already protected."""
    present = queries.tables(con)
    runs = queries.model_runs(con)
    latest = runs[0] if runs else None
    previous = runs[1] if len(runs) > 1 else None
    snapshot = snapshot_hash(con) if "cases" in present else ""
    content = ReportContent(
        run_id=latest["run_id"] if latest else uuid.uuid4().hex,
        snapshot_hash=snapshot,
        model_version=latest["model_version"] if latest else None,
        generated_at=generated_at,
        k=k,
        missing=[t for t in EXPECTED_TABLES if t not in present],
        trained_at=str(latest["trained_at"])[:19] if latest else None,
    )
    success_protection = None
    if "cases" in present:
        totals = queries.case_totals(con)
        months = queries.cases_by_month(con)
        cubes = {d: queries.success_cube(con, d) for d in queries.DIMENSIONS}
        cells, lines = success_cells(cubes)
        more_cells, more_lines = data_cells(totals, months)
        success_protection = protect({**cells, **more_cells}, [*lines, *more_lines], k)
        keys = {"cases": ("cases",), "labelled": (STAR, ALL, ALL, ALL), "pending": ("pending",)}
        content.totals = {
            name: totals[name] if success_protection.count_shown(key) else None
            for name, key in keys.items()
        }
        content.months = months.with_columns(
            pl.Series(
                "n",
                [
                    int(n) if success_protection.count_shown(("month", m)) else None
                    for m, n in months.iter_rows()
                ],
                dtype=pl.Int64,
            )
        )
        content.coverage = coverage_table(queries.field_coverage(con), k)
        content.success = success_table(cubes, success_protection)
        content.lenders = sorted(set(cubes["approach"]["lender"]) - {ALL})
        content.periods = sorted(set(cubes["approach"]["period"]) - {ALL})
        content.survival = survival_table(queries.survival_counts(con, SURVIVAL_HORIZON), k)
    if "batches" in present:
        reasons = (
            queries.quarantine_reasons(con)
            if "quarantine" in present
            else pl.DataFrame(schema={"reason": pl.String, "rows": pl.Int64})
        )
        content.batches, content.reasons = batch_tables(queries.batches(con), reasons, k)
    if latest is not None and "approach_effects" in present:
        content.snapshot_matches = latest["snapshot_hash"] == snapshot
        effects = queries.approach_effects(con, latest["model_version"], latest["run_id"])
        content.effects = effects_table(
            effects, k, success_protection, show_counts=content.snapshot_matches
        )
        content.naive_stored = bool(effects["n_agreed"].is_not_null().any())
        content.sensitivity = sensitivity_shown(latest["sensitivity"], content.effects, k)
        content.sources = training_sources(latest["bundle_path"])
        content.model_sample = training_sample(latest["bundle_path"])
        content.simulated = simulated(content.sources)
        content.refutations = refutations_shown(latest["refutations"], k)
        content.policy = policy_shown(latest["policy_value"], k)
        _model_quality(content, latest, k)
        if previous is not None:
            content.previous_run = {
                "run_id": previous["run_id"],
                "model_version": previous["model_version"],
                "trained_at": str(previous["trained_at"])[:19],
            }
            before = queries.approach_effects(con, previous["model_version"], previous["run_id"])
            content.previous_effects = effects_table(before, k, None, show_counts=False)
            content.shifts = effect_shifts(content.effects, content.previous_effects)
            content.previous_sources = training_sources(previous["bundle_path"])
            distributions = previous["diagnostics"].get("feature_distributions", {})
            if "features" in present and distributions:
                content.psi = psi_table(distributions, queries.feature_shares(con, distributions))
    return content


def training_sample(bundle_path: str) -> tuple[int, int] | None:
    """(cases the models learnt from, labelled cases) when a training run learnt from a sample
    of its labelled cases, as its bundle's metadata records them; None when it learnt from all
    of them, or the bundle is gone or predates the record."""
    try:
        metadata = json.loads((Path(bundle_path) / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    used = metadata.get("model_cases") if isinstance(metadata, dict) else None
    labelled = metadata.get("labelled") if isinstance(metadata, dict) else None
    if not isinstance(used, int) or not isinstance(labelled, int) or used >= labelled:
        return None
    return used, labelled


def training_sources(bundle_path: str) -> list[dict[str, Any]] | None:
    """The source files a training run learnt from, as its bundle's metadata records them (file
    name, SHA-256, ``simulated``); None when the bundle is gone or predates the record."""
    try:
        metadata = json.loads((Path(bundle_path) / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    sources = metadata.get("sources") if isinstance(metadata, dict) else None
    return sources if isinstance(sources, list) else None


def _model_quality(content: ReportContent, run: dict[str, Any], k: int) -> None:
    metrics = run["metrics"]
    diagnostics = run["diagnostics"]
    content.metrics = metrics_shown(metrics)
    content.self_check = self_check_shown(run["self_check"], k)
    content.test_period = {
        key: str(v) for key, v in run["period"].items() if key.startswith("test")
    }
    if not metrics:
        return
    positives, negatives = test_counts(metrics)
    total = positives + negatives
    content.roc = {
        name: roc_shown(diagnostics[key], positives, negatives, k)
        for name, key in (("ours", "roc"), ("baseline", "roc_baseline"))
        if key in diagnostics
    }
    content.reliability = {
        name: reliability_shown(diagnostics[key], total, k)
        for name, key in (("ours", "reliability"), ("baseline", "reliability_baseline"))
        if key in diagnostics
    }
    drivers = diagnostics.get("drivers") or []
    content.drivers = pl.DataFrame(
        drivers, schema={"driver": pl.String, "log_loss_increase": pl.Float64}
    )


def _write_index(out_dir: Path) -> None:
    runs = []
    for manifest in out_dir.glob(f"*/{MANIFEST}"):
        if manifest.parent.name == LATEST:
            continue
        try:
            runs.append(json.loads(manifest.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    runs.sort(key=lambda r: str(r.get("generated_at", "")), reverse=True)
    (out_dir / "index.html").write_text(render_index(runs), encoding="utf-8")


def build_report(
    warehouse: Path,
    out_dir: Path,
    langs: tuple[Lang, ...] = LANGS,
    *,
    k: int,
    memory_limit: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ReportBuild:
    """Build the report of the warehouse's latest run into ``out_dir``; ``on_stage`` is told
    the name of each stage as it starts (progress)."""
    started = time.perf_counter()
    generated_at = dt.datetime.now().isoformat(timespec="seconds")
    tell = on_stage or (lambda stage: None)
    tell("reading the warehouse")
    with open_warehouse(warehouse, read_only=True, memory_limit=memory_limit) as con:
        content = collect(con, k, generated_at)
    folder = out_dir / content.run_id
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[Lang, str] = {lang: f"{lang}.html" for lang in langs}
    files: dict[str, Path] = {}
    for lang in langs:
        other = next((names[o] for o in langs if o != lang), None)
        path = folder / names[lang]
        tell(f"writing {names[lang]}")
        path.write_text(render_report(content, lang, other), encoding="utf-8")
        files[lang] = path
    (folder / "index.html").write_text(render_chooser(content, names), encoding="utf-8")
    manifest = {
        "run_id": content.run_id,
        "generated_at": generated_at,
        "snapshot_hash": content.snapshot_hash,
        "model_version": content.model_version,
        "trained_at": content.trained_at,
        "k": k,
        "files": names,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    latest = out_dir / LATEST
    if latest.exists():
        shutil.rmtree(latest)
    shutil.copytree(folder, latest)
    _write_index(out_dir)
    return ReportBuild(content.run_id, folder, files, time.perf_counter() - started)
