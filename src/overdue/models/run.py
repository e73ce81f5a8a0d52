"""Train from the warehouse: features, outcome models, effects, the bundle and its tables."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import inspect
import json
import pkgutil
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, NamedTuple

import duckdb
import numpy as np
import polars as pl

from overdue.config import Settings
from overdue.features import FEATURE_SET_VERSION, build_features
from overdue.models.diagnostics import (
    driver_importance,
    feature_distributions,
    reliability_table,
    roc_points,
)
from overdue.models.effects import EffectFit, EffectRow, effect_fits, effect_rows
from overdue.models.estimate import reference_values, similar_case_counts
from overdue.models.parallel import (
    alongside,
    fit_threads,
    fits_on_cluster_at,
    return_freed_memory,
)
from overdue.models.policy import policy_document, policy_values
from overdue.models.refute import refutations, refutations_document
from overdue.models.registry import (
    BUNDLE_FORMAT,
    Bundle,
    StaleBundleError,
    bundle_incomplete,
    load_bundle,
    read_bundle_metadata,
    save_bundle,
)
from overdue.models.sample import model_cases
from overdue.models.selfcheck import PlantedRefits, SelfCheck, planted_refits, run_self_check
from overdue.models.sensitivity import train_sensitivity
from overdue.models.sustain import FOLLOW_UP_COLUMNS, fit_sustain_model
from overdue.models.train import OutcomeModel, fit_outcome_model, time_split
from overdue.plans import budget_rules, typical_plans
from overdue.processes import abandoned, claim
from overdue.simulate import is_simulated_file
from overdue.warehouse import open_warehouse, snapshot_hash, transaction, write_failure

MODEL_SOURCES: Final = (
    "overdue.contract",
    "overdue.features",
    "overdue.models",
    "overdue.plans",
    "overdue.segments",
)
"""The code that defines a model, hashed into its version: the case contract (approaches,
fields and their roles), the features, every module of ``overdue.models`` (design, training,
calibration, effects, diagnostics, the bundle registry, this module), the subgroups effects
are reported for and the typical plans stored with a model (``overdue.plans``). A package
counts with all its modules, so a new module is covered at once. Whole modules, not chosen
functions: a needless retrain costs minutes, a missed change serves a stale model."""
NOT_MODEL_SOURCES: Final = (
    "overdue.config",
    "overdue.i18n",
    "overdue.processes",
    "overdue.reports.i18n",
    "overdue.simulate",
    "overdue.warehouse",
)
"""Modules the model code imports that do not change what a model means: settings (the seed
enters the version on its own), the words shown beside an estimate (and in the sensitivity
verdicts a run stores), the simulator (read only to
tell whether it wrote a file the cases came from), storage and whether the process that owns a
temporary folder still runs."""
OUTCOME: Final = "agreement"
CASE_COLUMNS: Final = "* EXCLUDE (batch_id, source_line, extra)"
"""The contract columns of the ``cases`` table, as DuckDB selects them."""
LATEST_FILE: Final = "latest.json"
SPILL_PREFIX: Final = ".training-"
"""Training's folder of Parquet files beside the models (``_train``), removed when it ends."""
SPILL_OWNER: Final = "owner.json"


def module_sources(names: Iterable[str]) -> dict[str, str]:
    """The source text of each named module, a package's modules included, by module name."""
    sources: dict[str, str] = {}
    for name in names:
        module = importlib.import_module(name)
        sources[name] = inspect.getsource(module)
        for sub in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=f"{name}."):
            sources[sub.name] = inspect.getsource(importlib.import_module(sub.name))
    return sources


def code_version(sources: Mapping[str, str], bundle_format: str) -> str:
    """A short hash of the model code and the bundle format. Module names and text with
    normalised line endings only (no paths, times or order), so every checkout agrees."""
    digest = hashlib.sha256(bundle_format.encode())
    for name in sorted(sources):
        text = sources[name].replace("\r\n", "\n").replace("\r", "\n")
        digest.update(f"\0{name}\0{len(text)}\0".encode() + text.encode())
    return "c-" + digest.hexdigest()[:12]


MODEL_CODE_VERSION: Final = code_version(module_sources(MODEL_SOURCES), BUNDLE_FORMAT)
"""What a model version means on the code side; derived from ``MODEL_SOURCES`` and the bundle
format (which holds the library versions), never bumped by hand."""


@dataclass(frozen=True)
class TrainingReport:
    """What a training run produced (no case rows)."""

    model_version: str
    run_id: str
    snapshot_hash: str
    cases: int
    labelled: int
    bundle_path: str
    metrics: dict[str, dict[str, float]]
    self_check: dict[str, Any] | None = None
    """The self-check's result (``SelfCheck.as_json``); None when switched off."""
    model_cases: int | None = None
    """The labelled cases the models learnt from (all of them up to ``model_max_cases``)."""


def model_version(
    snapshot: str,
    seed: int,
    code: str = MODEL_CODE_VERSION,
    sample: int | None = None,
    self_check: bool = True,
) -> str:
    """Same data, code and seed (and ``sample``, the cases a model learnt from when it learnt
    from a sample: ``sample_cap``; and whether the self-check set its intervals' spread) give
    the same version."""
    key = f"{snapshot}|{FEATURE_SET_VERSION}|{code}|{OUTCOME}|{seed}"
    if sample is not None:
        key += f"|sample={sample}"
    if not self_check:  # intervals without the self-check's spread: another model
        key += "|self_check=off"
    return "m-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def training_version(
    snapshot: str, cases: int, seed: int, max_cases: int | None, self_check: bool
) -> str:
    """The ``model_version`` a training of a warehouse of ``cases`` cases gives with these
    settings: what training records and ``model_state`` looks for, derived in one place."""
    return model_version(snapshot, seed, sample=sample_cap(cases, max_cases), self_check=self_check)


def sample_cap(cases: int, max_cases: int | None) -> int | None:
    """``max_cases`` when the models may learn from a sample of ``cases`` (more cases than
    it), else None: the version of a model of every case does not depend on the setting."""
    return max_cases if max_cases is not None and cases > max_cases else None


def export_cases(
    warehouse: Path, path: Path, memory_limit: str | None = None
) -> tuple[int, str, list[dict[str, Any]]]:
    """All current cases (contract columns) written to the Parquet file ``path`` by DuckDB
    (streamed, within ``memory_limit``, in stored order); their count, the snapshot hash and
    ``data_sources``, read-only."""
    with open_warehouse(warehouse, read_only=True) as con:
        # one thread writes the rows in stored order as it reads them, within the limit;
        # several would hold the rows read ahead until their turn. The snapshot hash below
        # aggregates every case id into one string: it keeps DuckDB's default limit.
        con.execute("SET threads = 1")
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(
            f"COPY (SELECT {CASE_COLUMNS} FROM cases) TO '{_quoted(path)}' (FORMAT parquet)"
        )
        con.execute("RESET threads")
        con.execute("RESET memory_limit")
        count = int(con.execute("SELECT count(*) FROM cases").fetchall()[0][0])
        return count, snapshot_hash(con), _sources(con)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _sources(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT b.path, b.sha256, count(*) FROM cases c JOIN batches b USING (batch_id) "
        "GROUP BY b.path, b.sha256 ORDER BY b.path"
    ).fetchall()
    return data_sources(rows)


def data_sources(batches: Iterable[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """The files the current cases came from, as (path, sha256, cases) rows: each by its file
    name (never a folder, which could name a person), its SHA-256, its case count and whether
    the simulator wrote it (``is_simulated_file``), so the page can say so."""
    return [
        {
            "file": Path(path).name,
            "sha256": sha256,
            "cases": int(count),
            "simulated": is_simulated_file(Path(path)),
        }
        for path, sha256, count in batches
    ]


def _effect_frame(rows: list[EffectRow], version: str, run_id: str) -> pl.DataFrame:
    schema = {
        "model_version": pl.String, "run_id": pl.String, "outcome": pl.String,
        "treatment": pl.String, "level": pl.String, "subgroup": pl.String,
        "estimate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "n": pl.Int64,
        "n_treated": pl.Int64, "share_low_propensity": pl.Float64, "overlap_flag": pl.Boolean,
        "suppressed": pl.Boolean, "naive": pl.Float64, "n_agreed": pl.Int64,
    }  # fmt: skip
    records = [
        {"model_version": version, "run_id": run_id, "outcome": OUTCOME, **asdict(r)} for r in rows
    ]
    return pl.DataFrame(records, schema=schema)


def train(
    warehouse: Path,
    settings: Settings,
    run_id: str | None = None,
    on_stage: Callable[[str], None] | None = None,
    cluster: str | None = None,
) -> TrainingReport:
    """Features, models and effects from the warehouse; bundle saved, tables written.
    ``on_stage`` is told the name of each stage as it starts (progress); ``cluster``: a Dask
    scheduler's address, where the independent fits then run (the same results)."""
    return_freed_memory()
    with fit_threads(settings.model_threads), fits_on_cluster_at(cluster):
        return _train(warehouse, settings, run_id or uuid.uuid4().hex, on_stage or _quiet)


def _quiet(stage: str) -> None:
    """No progress."""


def _train(
    warehouse: Path, settings: Settings, run_id: str, on_stage: Callable[[str], None]
) -> TrainingReport:
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    for folder in abandoned_spills(settings.models_dir):
        shutil.rmtree(folder, ignore_errors=True)
    for folder in incomplete_model_folders(settings.models_dir):
        shutil.rmtree(folder, ignore_errors=True)
    try:
        with tempfile.TemporaryDirectory(prefix=SPILL_PREFIX, dir=settings.models_dir) as spill:
            claim(Path(spill), SPILL_OWNER)
            return _train_from(warehouse, settings, run_id, on_stage, Path(spill))
    except OSError as error:
        if isinstance(error, ModelWriteError) or not (what := write_failure(error)):
            raise
        raise ModelWriteError(
            f"could not write in the models folder {settings.models_dir} ({what}); nothing of "
            "this training was kept. Free disk space there and run `overdue train` again"
        ) from None


def abandoned_spills(models_dir: Path) -> list[Path]:
    """Spill folders of trainings on this machine whose process is gone: a training killed
    (by the out-of-memory killer, say) leaves its cases and features on disk, 1.5 GB at 10M
    cases. A folder without its owner, or another machine's, is left alone."""
    return abandoned(sorted(models_dir.glob(f"{SPILL_PREFIX}*")), SPILL_OWNER)


def incomplete_model_folders(models_dir: Path) -> list[Path]:
    """Model folders without a whole bundle, which a killed training or a full disk leaves:
    none while another training may be writing one (a spill folder remains beside them)."""
    if any(models_dir.glob(f"{SPILL_PREFIX}*")):
        return []
    return [
        folder
        for folder in sorted(models_dir.glob("m-*"))
        if folder.is_dir() and bundle_incomplete(folder) is not None
    ]


class ModelWriteError(OSError):
    """The bundle or the models folder could not be written (disk full, quota, read-only)."""


def _train_from(
    warehouse: Path,
    settings: Settings,
    run_id: str,
    on_stage: Callable[[str], None],
    spill: Path,
) -> TrainingReport:
    """``_train`` with every case and every case's features in Parquet files in ``spill``,
    streamed, never all in memory: the models hold only the cases they learn from
    (``model_cases``), the summaries read one column at a time."""
    cases_file, features_file = spill / "cases.parquet", spill / "features.parquet"
    on_stage("reading cases")
    count, snapshot, sources = export_cases(warehouse, cases_file, settings.duckdb_memory_limit)
    on_stage("features and plans")
    build_features(pl.scan_parquet(cases_file)).sink_parquet(features_file, engine="streaming")
    plans = typical_plans(pl.scan_parquet(cases_file), settings.k)
    everyone = pl.scan_parquet(features_file).filter(pl.col("y_agreement").is_not_null())
    described = {
        "similar_cases": similar_case_counts(everyone),
        "reference": reference_values(everyone),
        "typical_plans": plans,
    }
    distributions = feature_distributions(everyone, settings.k)
    n_labelled = int(everyone.select(pl.len()).collect().item())
    labelled = model_cases(everyone, settings.model_max_cases, settings.seed)
    follow_up = pl.scan_parquet(cases_file).select(FOLLOW_UP_COLUMNS)
    if labelled.height < n_labelled:  # only the sampled cases' follow-up is read
        follow_up = follow_up.join(labelled.lazy().select("case_id"), on="case_id", how="semi")
    follow_up_cases = follow_up.collect()
    model, check, diagnostics, fits, effects, sensitivity, refuted = fit_models_and_effects(
        labelled, follow_up_cases, settings, described, distributions, on_stage
    )
    on_stage("policy value")
    policy = policy_document(
        policy_values(
            model,
            fits[0].frame,
            fits[0].fit,
            plans,
            budget_rules(settings),
            settings.k,
            settings.seed,
        )
    )
    del fits  # n x levels arrays per treatment: not kept through the bundle and tables
    version = training_version(
        snapshot, count, settings.seed, settings.model_max_cases, settings.self_check
    )
    folder = settings.models_dir / version
    metadata = {
        "model_version": version,
        "run_id": run_id,
        "trained_at": dt.datetime.now().isoformat(timespec="seconds"),
        "outcome": OUTCOME,
        "snapshot_hash": snapshot,
        "feature_set_version": FEATURE_SET_VERSION,
        "model_code_version": MODEL_CODE_VERSION,
        "k": settings.k,
        "cases": count,
        "labelled": n_labelled,
        "model_cases": labelled.height,
        "sources": sources,
    }
    on_stage("bundle and tables")
    document = check.as_json() if check else None
    try:
        save_bundle(model, {**metadata, "diagnostics": diagnostics, "self_check": document}, folder)
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        if what := write_failure(error):
            raise ModelWriteError(
                f"could not write the model bundle in {folder} ({what}); nothing of it was "
                f"kept. Free disk space in {settings.models_dir} and run `overdue train` again"
            ) from None
        raise
    effect_frame = _effect_frame(effects, version, run_id)
    with (
        open_warehouse(warehouse, memory_limit=settings.duckdb_memory_limit) as con,
        transaction(con),
    ):
        con.register("effects_frame", effect_frame)
        # the features table is only aggregated: its rows may be stored in any order, so
        # DuckDB writes them in parallel within its memory limit
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            "CREATE OR REPLACE TABLE features AS SELECT * FROM read_parquet(?)",
            [str(features_file)],
        )
        con.execute("RESET preserve_insertion_order")
        con.execute(
            "INSERT INTO model_runs VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                version, run_id, dt.datetime.now(), OUTCOME, snapshot, FEATURE_SET_VERSION,
                count, n_labelled, model.sizes["train"], model.sizes["calibration"],
                model.sizes["test"], json.dumps(model.period), json.dumps(model.metrics),
                json.dumps(diagnostics), str(folder), json.dumps(document) if document else None,
                json.dumps(sensitivity, ensure_ascii=False),
                json.dumps(refuted, ensure_ascii=False), json.dumps(policy),
            ],
        )  # fmt: skip
        con.execute("INSERT INTO approach_effects SELECT * FROM effects_frame")
    write_latest(settings.models_dir, version)
    return TrainingReport(
        version,
        run_id,
        snapshot,
        count,
        n_labelled,
        str(folder),
        model.metrics,
        document,
        labelled.height,
    )


class ModelsAndEffects(NamedTuple):
    """What training fits: the advising model (widened by its self-check, with the plan-kept
    model), its diagnostics, the effects with their rows, sensitivity and refutations."""

    model: OutcomeModel
    check: SelfCheck | None
    diagnostics: dict[str, Any]
    fits: list[EffectFit]
    effects: list[EffectRow]
    sensitivity: list[dict[str, object]]
    refuted: list[dict[str, Any]]


def fit_models_and_effects(
    labelled: pl.DataFrame,
    follow_up_cases: pl.DataFrame,
    settings: Settings,
    described: dict[str, Any],
    distributions: dict[str, dict[str, Any]],
    on_stage: Callable[[str], None],
) -> ModelsAndEffects:
    """Two independent chains at once: the advising model, and the effects with their
    sensitivity, refutations and the self-check's refits that need no fitted model
    (``planted_refits``); then, again side by side, the rest of the self-check and the
    plan-kept model with the diagnostics. ``described`` becomes the model's ``extra``."""
    seed, k = settings.seed, settings.k
    on_stage(
        f"outcome model{', self-check' if settings.self_check else ''} and effects, side by side"
    )

    def effects_and_checks() -> tuple[
        list[EffectFit],
        list[EffectRow],
        list[dict[str, object]],
        list[dict[str, Any]],
        PlantedRefits | None,
    ]:
        fits = effect_fits(labelled, "y_agreement", seed)
        sensitivity = train_sensitivity(fits, "y_agreement", seed, k)
        refuted = refutations_document(refutations(labelled, "y_agreement", seed, k))
        planted = (
            planted_refits(labelled, fit_outcome_model, seed, k) if settings.self_check else None
        )
        return fits, effect_rows(fits, k), sensitivity, refuted, planted

    model, (fits, effects, sensitivity, refuted, planted) = alongside(
        partial(fit_outcome_model, labelled, "y_agreement", seed), effects_and_checks
    )

    def self_check() -> SelfCheck | None:
        if planted is None:
            return None
        return run_self_check(labelled, model, fit_outcome_model, seed, k, planted=planted)

    def sustain_and_diagnostics() -> tuple[
        tuple[np.ndarray, np.ndarray, dict[str, Any]] | None, dict[str, Any]
    ]:
        return (
            fit_sustain_model(labelled, follow_up_cases, model, seed),
            model_diagnostics(model, labelled, settings, distributions),
        )

    on_stage(
        "self-check, plan-kept model and diagnostics, side by side"
        if planted
        else "plan-kept model and diagnostics"
    )
    check, (sustain, diagnostics) = alongside(self_check, sustain_and_diagnostics)
    model.extra = described
    if check is not None:
        model.interval_spread = check.interval_spread
    if sustain is not None:
        model.sustain, model.sustain_covariance, model.extra["sustain"] = sustain
    return ModelsAndEffects(model, check, diagnostics, fits, effects, sensitivity, refuted)


def model_diagnostics(
    model: OutcomeModel,
    labelled: pl.DataFrame,
    settings: Settings,
    distributions: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Aggregates for reports, on the test cases of ``labelled`` (the cases the model learnt
    from): reliability, ROC and drivers; and the features' distributions, ``distributions``
    when given (training's, of every labelled case), else those of ``labelled``."""
    test = labelled[time_split(labelled).test]
    y = test[model.label].to_numpy()
    ours = model.predict(test)
    baseline = model.baseline.predict_proba(model.design.matrix(test))[:, 1]
    return {
        "reliability": reliability_table(y, ours, settings.k),
        "reliability_baseline": reliability_table(y, baseline, settings.k),
        "roc": roc_points(y, ours),
        "roc_baseline": roc_points(y, baseline),
        "drivers": driver_importance(model, test, model.label, settings.seed),
        "feature_distributions": (
            feature_distributions(labelled, settings.k) if distributions is None else distributions
        ),
    }


class LatestPointerError(ValueError):
    """``latest.json`` is not readable or lacks what it must say."""


def write_latest(models_dir: Path, version: str) -> Path:
    """Point ``latest.json`` at the bundle ``version``: its path relative to ``models_dir``, so
    the pointer holds from any working directory and when the folder moves. Written whole
    (a temporary file renamed over it), or not at all."""
    pointer, staged = models_dir / LATEST_FILE, models_dir / f".{LATEST_FILE}.tmp"
    try:
        staged.write_text(
            json.dumps({"model_version": version, "path": version}) + "\n", encoding="utf-8"
        )
        staged.replace(pointer)
    except OSError as error:
        staged.unlink(missing_ok=True)
        if what := write_failure(error):
            raise ModelWriteError(
                f"could not write {pointer} ({what}). Free disk space in {models_dir} and run "
                "`overdue train` again"
            ) from None
        raise
    return pointer


def pointed_folder(models_dir: Path, path: str) -> Path:
    """The bundle folder a ``latest.json`` path names: relative to ``models_dir`` (as written
    now), or, as older versions wrote it, relative to their working directory or absolute:
    then the folder of that name in ``models_dir`` when it is there."""
    named = Path(path)
    first = (models_dir / named.name, named) if named.is_absolute() else (models_dir / named,)
    for candidate in (*first, models_dir / named.name):
        if candidate.is_dir():
            return candidate
    return models_dir / named.name


def latest_bundle_folder(models_dir: Path) -> Path:
    """The folder of the bundle the last successful training run saved."""
    pointer = models_dir / LATEST_FILE
    if not pointer.exists():
        raise FileNotFoundError(f"no trained model in {models_dir}; run `overdue train` first")
    try:
        document = json.loads(pointer.read_text(encoding="utf-8"))
        path = document["path"]
        if not isinstance(path, str):
            raise TypeError(path)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LatestPointerError(
            f"{pointer} is not readable JSON ({error}); run `overdue train` to write it again"
        ) from None
    except (KeyError, TypeError):
        raise LatestPointerError(
            f'{pointer} does not name a model folder ("path"); run `overdue train` to write '
            "it again"
        ) from None
    return pointed_folder(models_dir, path)


def latest_bundle(models_dir: Path) -> Bundle:
    """The bundle the last successful training run saved."""
    return load_bundle(latest_bundle_folder(models_dir))


def _latest_or_none(models_dir: Path) -> Path | None:
    """The resolved folder ``latest.json`` names; None when it cannot be read."""
    try:
        return latest_bundle_folder(models_dir).resolve()
    except (OSError, LatestPointerError):
        return None


@dataclass(frozen=True)
class ModelState:
    """The model the warehouse's data and this code imply, and why it must be trained (``None``
    when the saved one is current)."""

    snapshot_hash: str
    model_version: str
    train_reason: str | None


def model_state(
    warehouse: Path,
    models_dir: Path,
    seed: int,
    max_cases: int | None = None,
    self_check: bool = True,
) -> ModelState:
    """Train when no model of this data and code (and ``max_cases``, where the models would
    learn from a sample, and the ``self_check`` setting) exists, or its bundle is missing, is
    not the latest or is in another bundle format; otherwise reuse it."""
    with open_warehouse(warehouse, read_only=True) as con:
        snapshot = snapshot_hash(con)
        cases = int(con.execute("SELECT count(*) FROM cases").fetchall()[0][0])
        version = training_version(snapshot, cases, seed, max_cases, self_check)
        trained = con.execute(
            "SELECT count(*) FROM model_runs WHERE model_version = ?", [version]
        ).fetchall()[0][0]
        last = con.execute(
            "SELECT snapshot_hash FROM model_runs ORDER BY trained_at DESC LIMIT 1"
        ).fetchall()
    folder = models_dir / version
    pointer = models_dir / LATEST_FILE
    reason: str | None = None
    if not trained:
        if not last:
            reason = "no model trained yet"
        elif last[0][0] != snapshot:
            reason = "the data changed"
        else:
            reason = "the model code, library versions, seed or self-check setting changed"
    elif not folder.exists():
        reason = "its bundle is missing"
    elif bundle_incomplete(folder):
        reason = "its bundle is incomplete"
    elif not pointer.exists() or _latest_or_none(models_dir) != folder.resolve():
        reason = "the latest bundle is of another model"
    else:
        try:
            read_bundle_metadata(folder)
        except StaleBundleError:
            reason = "its bundle is in another bundle format"
    return ModelState(snapshot, version, reason)
