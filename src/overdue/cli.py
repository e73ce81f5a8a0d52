"""The ``overdue`` command line (Typer)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from overdue.config import Settings, get_settings

if TYPE_CHECKING:
    from overdue.ingest import IngestSummary
    from overdue.models.registry import Bundle

app = typer.Typer(
    help="Which approaches work when an overdue debtor negotiates with a lender, for whom, "
    "and how sure we are.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold case rows: never print them
    # click's plain help: flags as --x/--no-x with their default, no "<bool>" type column, and
    # "[default: ...]" in a help text shown as written (rich markup would swallow it)
    rich_markup_mode=None,
)
console = Console(emoji=False)  # `pii:email:body` is a reason, not an emoji


def _default(setting: str) -> str:
    """How help shows a default taken from the settings: its value and the variable that
    changes it."""
    return f"[default: {Settings.model_fields[setting].default}, or OVERDUE_{setting.upper()}]"


WarehouseOption = Annotated[
    Path | None,
    typer.Option("--warehouse", help=f"DuckDB warehouse file {_default('warehouse')}"),
]


def _fail(message: str) -> typer.Exit:
    """Print a clear error and give the exit code for a failed command."""
    console.print(f"[red]error:[/red] {_safe(message)}", soft_wrap=True)
    return typer.Exit(2)


@contextmanager
def _one_writer(warehouse: Path, settings: Settings) -> Iterator[None]:
    """Hold the lock a pipeline run holds (``overdue.warehouse.pipeline_lock``) while a command
    writes the warehouse, the models or the case store; another writer holding it is one line,
    exit 2, after ``settings.lock_wait_seconds``."""
    from overdue.warehouse import PipelineBusyError, pipeline_lock

    with ExitStack() as held:
        try:
            held.enter_context(pipeline_lock(warehouse, settings.lock_wait_seconds))
        except PipelineBusyError as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:  # the lock's folder cannot be made or written
            raise _fail(f"cannot take the lock beside {warehouse}: {exc}") from None
        yield


def _progress(command: str) -> Callable[[str], None]:
    """A printer of each stage of a long command as it starts, with the seconds since the
    command began, on standard error (the results stay alone on standard output)."""
    started = time.perf_counter()
    stderr = Console(stderr=True, emoji=False)

    def on_stage(stage: str) -> None:
        seconds = time.perf_counter() - started
        stderr.print(f"{command}: {stage}... ({seconds:.0f} s)", highlight=False)

    return on_stage


def _safe(text: object) -> str:
    """Text from a file or a message (a path, a header) as printed: personal data masked,
    brackets such as ``[mobile]`` shown as written rather than read as console markup."""
    from overdue.ingest.pii import mask_text

    return escape(mask_text(str(text)))


@app.command(short_help="Synthetic case records with their ground truth.")
def simulate(
    rows: Annotated[int, typer.Option(min=1, help="number of case records")] = 20_000,
    seed: Annotated[int | None, typer.Option(min=0, help=f"random seed {_default('seed')}")] = None,
    out: Annotated[Path, typer.Option(help="output file")] = Path("data/simulated/cases.parquet"),
    format: Annotated[
        str | None,
        typer.Option(help="csv, parquet or jsonl [default: from the file name]"),
    ] = None,
    chinese: Annotated[
        bool, typer.Option(help="Chinese headers and values, as a counselor's Excel export")
    ] = False,
    encoding: Annotated[str, typer.Option(help="utf-8 or gb18030 (CSV only)")] = "utf-8",
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help=f"the simulated 'today' {_default('as_of')}"),
    ] = None,
    world: Annotated[
        str,
        typer.Option(help="the simulated world (docs/worlds.md); 'list' prints every world"),
    ] = "baseline",
) -> None:
    """Write realistic synthetic case records with their ground truth beside them."""
    from overdue.simulate import OutputFormat, write_simulation
    from overdue.worlds import WORLDS, UnknownWorldError, world_named

    if world == "list":
        width = max(map(len, WORLDS))
        for name, w in WORLDS.items():
            typer.echo(f"{name:<{width}}  {'held out' if w.held_out else '':8}  {w.knobs()}")
        return
    try:
        chosen = world_named(world)
    except UnknownWorldError as exc:
        raise _fail(str(exc)) from None
    settings = get_settings()
    try:
        fmt = OutputFormat.from_path(out) if format is None else OutputFormat(format)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--format") from exc
    if encoding not in ("utf-8", "gb18030"):
        raise typer.BadParameter("use utf-8 or gb18030", param_hint="--encoding")
    if encoding != "utf-8" and fmt is not OutputFormat.CSV:
        raise typer.BadParameter(
            "only CSV files can be written in gb18030", param_hint="--encoding"
        )
    result = write_simulation(
        out,
        rows=rows,
        seed=settings.seed if seed is None else seed,
        fmt=fmt,
        chinese=chinese,
        encoding=encoding,
        as_of=settings.as_of if as_of is None else as_of.date(),
        world=chosen,
    )
    console.print(
        f"wrote {result.rows:,} cases of world {chosen.name} to {result.cases_path} "
        f"(ground truth: {result.truth_cases_path}, {result.truth_summary_path})"
    )


@app.command(short_help="The data dictionary, generated from the contract.")
def dictionary(
    out: Annotated[Path | None, typer.Option(help="write here instead of standard output")] = None,
) -> None:
    """Print the data dictionary generated from the contract (Markdown)."""
    from overdue.docs import data_dictionary_markdown

    text = data_dictionary_markdown()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")


def default_sources(settings: Settings) -> list[str]:
    """The bundled sample and the inbox, the inbox made first when missing: where new case
    files go, so there is a place to put them."""
    settings.inbox.mkdir(parents=True, exist_ok=True)
    return [str(settings.sample), str(settings.inbox)]


@app.command(short_help="The nightly pipeline: ingest, train, report, publish.")
def run(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATH",
            help="files, folders or globs to ingest [default: the sample "
            f"({Settings.model_fields['sample'].default}) and the inbox "
            f"({Settings.model_fields['inbox'].default})]",
        ),
    ] = None,
    warehouse: WarehouseOption = None,
    k: Annotated[
        int | None,
        typer.Option(min=1, help=f"no published number on fewer than K cases {_default('k')}"),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source", help="read the files through the source mapping sources/NAME.yaml"
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="ADDRESS",
            help="prepare the files and run the model fits on the Dask cluster whose scheduler "
            "is at ADDRESS (tcp://host:8786; docs/cluster.md) [default: OVERDUE_DASK_ADDRESS, "
            "else none]",
        ),
    ] = None,
) -> None:
    """Run the nightly pipeline locally: ingest, train, report, publish (skips what is done).

    \b
    Exit status (of its ingest part, set after the rest of the pipeline has run):
    0 every row loaded; 3 some rows quarantined; 1 some file refused;
    2 the pipeline could not run (another run, ingest or train is writing; disk
    full; bad mapping; an inbox it cannot list; a damaged warehouse or one this
    user may not write; the warehouse is missing but a model or snapshot of it
    is not).
    Files in the inbox changed within OVERDUE_INBOX_SETTLE_SECONDS, or
    while they were read, stay in the inbox for the next run, which says so.
    """
    from overdue.ingest.load import exit_status
    from overdue.ingest.read import SourceError
    from overdue.publish import SnapshotWriteError
    from overdue.stages import WarehouseMissingError, current_snapshot, flow_entry_point
    from overdue.warehouse import PipelineBusyError

    _refuse_personal_paths([*(paths or []), *([str(warehouse)] if warehouse else [])])
    try:
        nightly = flow_entry_point("nightly")  # pipelines/nightly.py, installed with the package
    except LookupError as exc:
        raise _fail(str(exc)) from None

    settings = get_settings()
    _check_source(source, paths)
    _console_logs_without_tracebacks()
    state = nightly(
        paths=paths or default_sources(settings),
        warehouse=str(warehouse) if warehouse else None,
        k=k,
        source=source,
        cluster=cluster,
        return_state=True,
    )
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):  # the run stopped: say what and what is still served
        served = current_snapshot(settings.published_dir)
        kept = f"the service keeps serving snapshot {served.name}" if served else "none is served"
        said = PipelineBusyError | WarehouseMissingError | SnapshotWriteError | SourceError
        what = str(result) if isinstance(result, said) else _stopped(result)  # one line already
        raise _fail(f"{what}; nothing new was published: {kept}")
    table = Table(title=f"nightly run {result['run_id']}")
    table.add_column("stage", no_wrap=True)
    for column in ("result", "where"):
        table.add_column(column, overflow="fold")  # a long path folds rather than being cut
    _ingest_rows(table, result)
    stages = (("model", "train", "bundle_path"), ("report", "report", "folder"),
              ("publish", "publish", "folder"))  # fmt: skip
    for name, key, where in stages:
        stage = result[key]
        done = "reused (inputs unchanged)" if stage["skipped"] else "done"
        if stage.get("refused") or (key == "publish" and not stage.get("folder")):
            done = "not done"  # too few cases: no model, so nothing to publish
        where_shown = stage.get(where) or stage.get("model_version") or stage.get("refused", "")
        table.add_row(name, done, str(where_shown))
    console.print(table)
    trained = result["train"]
    console.print(f"model: {trained['model_version'] or 'none: ' + trained.get('refused', '')}")
    console.print(f"report: {Path(result['report']['folder']) / 'index.html'}")
    console.print(f"published snapshot: {result['publish']['folder'] or 'unchanged'}")
    _ingest_notes(result)
    status = exit_status((item["status"], item["rows_quarantined"]) for item in result["ingest"])
    if status:
        raise typer.Exit(status)


def _ingest_rows(table: Table, result: Mapping[str, Any]) -> None:
    """A run's table rows of its files: counts, where each was filed, and the files left
    waiting in the inbox."""
    for item in result["ingest"]:
        skipped = item.get("rows_skipped", 0)
        table.add_row(
            "ingest",
            f"{_status(item['status'])}: read {item['rows_read']:,} = loaded "
            f"{item['rows_loaded']:,} + "
            f"quarantined {item['rows_quarantined']:,} + replaced {item['rows_replaced']:,}"
            + (f" + skipped {skipped:,}" if item.get("source") else ""),
            _safe(item["path"])
            + (f", filed to {_safe(item['filed_to'])}" if item.get("filed_to") else "")
            + (", left in the inbox: it changed while read" if item.get("left_in_inbox") else ""),
        )
    for item in result.get("waiting", []):
        table.add_row("ingest", "waiting (may still be uploading)", _safe(item["path"]))


def _ingest_notes(result: Mapping[str, Any]) -> None:
    """A line per file of a run that was refused, left in the inbox or left waiting."""
    for item in result["ingest"]:
        if item["status"] == "refused":
            console.print(f"[red]refused[/red] {_safe(item['message'])}", soft_wrap=True)
        if item.get("left_in_inbox"):
            console.print(f"[yellow]left[/yellow] {_safe(item['left_in_inbox'])}", soft_wrap=True)
    for item in result.get("waiting", []):
        console.print(f"[yellow]waiting[/yellow] {_safe(item['path'])}: {_safe(item['why'])}",
                      soft_wrap=True)  # fmt: skip


def _status(status: str) -> str:
    """A batch's status as printed: ``already loaded`` for the stored ``already_loaded``."""
    return status.replace("_", " ")


def _stopped(error: BaseException) -> str:
    """A stopped run's error in one line: what, and whether waiting could help."""
    from overdue.stages import can_heal
    from overdue.warehouse import WarehouseDamagedError, WarehouseDeniedError

    if isinstance(error, WarehouseDamagedError | WarehouseDeniedError):
        return f"the pipeline stopped: {error}"  # it says what to do; no wait helps
    hint = "retried, still failing" if can_heal(error) else "not retried: fix it and run again"
    return f"the pipeline stopped: {type(error).__name__}: {error} ({hint})"


def _console_logs_without_tracebacks() -> None:
    """Prefect's console lines keep their message but print no traceback (the run's logs in
    Prefect keep it): an operator reads one line per failure, not three tracebacks."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    def no_traceback(record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and no_traceback not in handler.filters:
            handler.addFilter(no_traceback)


def _check_source(source: str | None, paths: list[str] | None) -> None:
    """Stop ``overdue run --source`` before its flow starts without files or with a broken
    mapping."""
    from overdue.ingest.sources import MappingError, find_mapping

    if source is None:
        return
    if not paths:
        raise typer.BadParameter("--source needs the files of that source", param_hint="PATHS")
    try:
        find_mapping(source)
    except MappingError as exc:
        raise _fail(str(exc)) from None


def _refuse_personal_paths(paths: list[str]) -> None:
    """Stop ``overdue run`` before its flow starts when a path it was given holds personal
    data: a flow's parameters are kept in Prefect's run history, which masks nothing."""
    from overdue.ingest.pii import find_pii

    if any(find_pii(path) for path in paths):
        raise _fail(
            "a path holds personal data; Prefect would keep it in the run's history: rename "
            "the file or folder, or put the file in the inbox (its name is then never a "
            "parameter), or load it with `overdue ingest`"
        )


def _print_ingest_summary(summary: IngestSummary, target: Path) -> None:
    """The per-file table, the balance of the run, unknown columns and the top reasons."""
    # no borders, the file's path folded rather than cut: the table fits 80 columns
    table = Table(
        title=f"ingest run {summary.run_id} into {_safe(target)}", box=None, pad_edge=False
    )
    counts: tuple[str, ...] = (
        "rows_read", "rows_loaded", "rows_quarantined", "rows_replaced", "cases_superseded"
    )  # fmt: skip
    names = ["read", "loaded", "quarantined", "replaced", "superseded"]
    skipping = any(b.source for b in summary.batches)
    if skipping:  # files read through a source mapping: rows that are not cases are skipped
        counts = (*counts[:4], "rows_skipped", counts[4])
        names = [*names[:4], "skipped", names[4]]
    table.add_column("file", overflow="fold", min_width=12)
    table.add_column("batch", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for b in summary.batches:
        table.add_row(
            _safe(b.path),
            str(b.batch_id or ""),
            _status(b.status),
            *(f"{getattr(b, c):,}" for c in counts),
        )
    table.add_row("total", "", "", *(f"{summary.total(c):,}" for c in counts), end_section=True)
    console.print(table)
    console.print(
        f"rows read {summary.total('rows_read'):,} = loaded {summary.total('rows_loaded'):,} "
        f"+ quarantined {summary.total('rows_quarantined'):,} "
        f"+ replaced duplicates {summary.total('rows_replaced'):,}"
        + (f" + skipped {summary.total('rows_skipped'):,}" if skipping else "")
    )
    for b in summary.batches:
        path = _safe(b.path)
        if b.skip_reasons:
            reasons = ", ".join(f"{r} ({n:,})" for r, n in b.skip_reasons.items())
            console.print(f"{path}: skipped (not negotiation cases, source {b.source}): {reasons}")
        if b.unknown_columns:
            console.print(
                f"{path}: columns not in the contract kept in cases.extra: "
                + ", ".join(_safe(c) for c in b.unknown_columns)
            )
        if b.missing_required:
            console.print(
                f"[red]{path} lacks required columns[/red] (every row quarantined): "
                + ", ".join(b.missing_required)
            )
        if b.status == "loaded" and b.message:
            console.print(f"{path}: {_safe(b.message)}")
        if b.reasons:
            top = ", ".join(f"{_safe(r)} ({n:,})" for r, n in list(b.reasons.items())[:5])
            console.print(f"{path}: quarantined for {top}; see `overdue quarantine`")


def waiting_files(paths: list[str], inbox: Path) -> list[str]:
    """``paths`` with the inbox (when named and there) standing for the files waiting in it:
    not those ``overdue run`` filed away in its ``processed/`` and ``refused/`` folders. An
    inbox that cannot be listed stops the command (exit 2, one line)."""
    from overdue.ingest.read import SourceError, inbox_files, real_path

    found: list[str] = []
    for path in paths:
        is_inbox = real_path(path) == real_path(inbox) and inbox.is_dir()
        try:
            found += [str(p) for p in inbox_files(inbox)] if is_inbox else [path]
        except SourceError as exc:
            raise _fail(str(exc)) from None
    return found


@app.command(short_help="Load case records; bad rows go to quarantine.")
def ingest(
    paths: Annotated[
        list[str],
        typer.Argument(metavar="PATH", help="CSV, Parquet or JSON Lines files, folders or globs"),
    ],
    warehouse: WarehouseOption = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="the files are another organisation's export: read them through the mapping "
            "sources/NAME.yaml (or a path to a mapping file)",
        ),
    ] = None,
) -> None:
    """Load case records into the warehouse: good rows to cases, bad rows to quarantine.

    \b
    Exit status:
    0 every row of every file loaded (or the file was already loaded);
    3 some rows quarantined, the rest loaded;
    1 some file refused (this wins over 3);
    2 the command could not run (bad option or path, a folder it cannot list,
    warehouse locked by another process or a pipeline run, disk full, warehouse
    damaged or not writable): nothing of the file being loaded was stored.
    """
    from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

    from overdue.ingest import SourceError, ingest_paths
    from overdue.ingest.load import ALREADY_LOADED, REFUSED, BatchReport
    from overdue.ingest.read import real_path
    from overdue.ingest.sources import MappingError, find_mapping

    settings = get_settings()
    target = warehouse or settings.warehouse
    paths = waiting_files(paths, settings.inbox)
    try:
        mapping = find_mapping(source) if source else None
    except MappingError as exc:
        raise _fail(str(exc)) from None
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console
    )
    tasks: dict[Path, TaskID] = {}
    seen: set[tuple[Path, str]] = set()
    finished: list[BatchReport] = []

    def on_progress(path: Path, stage: str, done: float | None) -> None:
        if not console.is_terminal and (path, stage) not in seen:  # logs get one line a stage
            seen.add((path, stage))
            console.print(f"{_safe(path)}: {stage}")
        if path not in tasks:
            tasks[path] = progress.add_task(_safe(path.name), total=1.0)
        task = tasks[path]
        progress.update(task, description=f"{_safe(path.name)}: {stage}")
        if done is not None:
            progress.update(task, completed=done)

    def on_batch(report: BatchReport) -> None:
        finished.append(report)
        if report.status == REFUSED:
            progress.console.print(f"[red]refused[/red] {_safe(report.message)}", soft_wrap=True)
        elif report.status == ALREADY_LOADED:
            progress.console.print(
                f"{_safe(report.path)}: already loaded (batch {report.batch_id}); nothing changed"
            )

    try:
        with _one_writer(target, settings), progress:
            summary = ingest_paths(
                paths,
                target,
                memory_limit=settings.duckdb_memory_limit,
                on_progress=on_progress,
                on_batch=on_batch,
                mapping=mapping,
            )
    except SourceError as exc:
        inbox = real_path(settings.inbox)
        if not inbox.exists() and any(real_path(p) == inbox for p in paths):
            raise _fail(
                f"{exc} (the inbox, where new case files go: `overdue run` makes it, or "
                f"mkdir -p {settings.inbox})"
            ) from None
        raise _fail(str(exc)) from None
    except OSError as exc:  # the warehouse is open in another process, or the disk is full
        done = sum(b.status != REFUSED for b in finished)
        before = f" ({done} earlier file(s) of this run were loaded and stay)" if finished else ""
        raise _fail(str(exc) + before) from None
    _print_ingest_summary(summary, target)
    _sync_case_store(settings, target)
    if summary.exit_status:
        raise typer.Exit(summary.exit_status)


def _sync_case_store(settings: Settings, target: Path) -> None:
    """With a case store set, write the batches of the warehouse at ``target`` it lacks and
    say how many, holding the writer lock (a run writes the store too)."""
    from overdue.casestore import CaseStoreError, case_store, sync_warehouse

    store = case_store(settings)
    if store is None:
        return
    try:
        with _one_writer(target, settings):
            written = sync_warehouse(target, store, memory_limit=settings.duckdb_memory_limit)
    except (CaseStoreError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"case store: {len(written)} batch(es) written")


store_app = typer.Typer(
    help="The case table as Hive-partitioned Parquet many machines read (docs/case-store.md).",
    no_args_is_help=True,
)
app.add_typer(
    store_app, name="store", short_help="The case table as Parquet files other machines read."
)


@store_app.command("export", short_help="Write the warehouse's cases to the case store.")
def store_export(
    warehouse: WarehouseOption = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="a folder or s3:// / gs:// URL [default: OVERDUE_CASE_STORE]"),
    ] = None,
) -> None:
    """Write every batch of the warehouse's cases that the case store lacks (all of them into an
    empty store: an existing warehouse moves); a second export writes nothing."""
    settings = get_settings()
    if store is not None:
        settings = settings.model_copy(update={"case_store": store})
    if not settings.case_store:
        raise _fail("no case store: pass --store or set OVERDUE_CASE_STORE")
    _sync_case_store(settings, warehouse or settings.warehouse)


@app.command(short_help="Why rows were quarantined, per file; export them to fix.")
def quarantine(
    batch: Annotated[int | None, typer.Option(help="only this batch")] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="write the quarantined rows (masked) to this .csv/.parquet/.jsonl"),
    ] = None,
    warehouse: WarehouseOption = None,
) -> None:
    """List why rows were quarantined; export them for fixing and re-ingesting."""
    from overdue.ingest.quarantine import (
        export_quarantine,
        known_batch,
        quarantined_rows,
        reason_counts,
    )
    from overdue.warehouse import open_warehouse

    target = warehouse or get_settings().warehouse
    try:
        with open_warehouse(target, read_only=True) as con:
            if batch is not None:
                known_batch(con, batch)
            counts = reason_counts(con, batch)
            rows = quarantined_rows(con, batch)
            written = export_quarantine(con, export, batch) if export is not None else None
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    scope = f"batch {batch}" if batch is not None else "all batches"
    table = Table(title=f"{rows:,} quarantined rows in {scope}")
    table.add_column("batch", justify="right", no_wrap=True)
    table.add_column("file", overflow="fold")  # a long path folds rather than being cut
    table.add_column("reason", overflow="fold")
    table.add_column("rows with it", justify="right", no_wrap=True)
    for count in counts:
        table.add_row(
            str(count.batch_id), _safe(count.file), _safe(count.reason), f"{count.rows:,}"
        )
    console.print(table)
    if sum(count.rows for count in counts) > rows:
        console.print("(a row refused for several reasons counts under each of them)")
    if written is not None:
        console.print(
            f"wrote {written:,} rows to {_safe(export)}; fix the cells the reasons name, then "
            f"`overdue ingest {_safe(export)}`"
        )


@app.command(short_help="Features, outcome models and effects; save the bundle.")
def train(
    warehouse: WarehouseOption = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="ADDRESS",
            help="run the independent model fits on the Dask cluster whose scheduler is at "
            "ADDRESS (same results; docs/cluster.md) [default: OVERDUE_DASK_ADDRESS, else none]",
        ),
    ] = None,
) -> None:
    """Build features, fit the outcome models, estimate effects; save and register the bundle."""
    from overdue.models.run import train as train_models
    from overdue.models.selfcheck import summary_line
    from overdue.models.train import TooFewCasesError

    settings = get_settings()
    target = warehouse or settings.warehouse
    try:
        with _one_writer(target, settings):
            report = train_models(
                target,
                settings,
                on_stage=_progress("training"),
                cluster=cluster or settings.dask_address,
            )
    except (TooFewCasesError, FileNotFoundError, OSError) as exc:
        raise _fail(str(exc)) from None
    learnt = report.model_cases if report.model_cases is not None else report.labelled
    sampled = f"a sample of {learnt:,} of " if learnt < report.labelled else ""
    table = Table(
        title=f"model {report.model_version} on {sampled}{report.labelled:,} labelled cases"
    )
    for column in ("model", "AUC", "Brier", "log loss", "ECE"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, m in report.metrics.items():
        table.add_row(
            name, f"{m['auc']:.3f}", f"{m['brier']:.4f}", f"{m['log_loss']:.4f}", f"{m['ece']:.4f}"
        )
    console.print(table)
    console.print(summary_line(report.self_check), highlight=False, soft_wrap=True)
    console.print(f"bundle: {report.bundle_path}; run id {report.run_id}")


@app.command(short_help="Adjusted agreement rate per approach, with 95% intervals.")
def effects(
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    warehouse: WarehouseOption = None,
) -> None:
    """Adjusted agreement rate had every case asked for each approach, with 95% intervals."""
    import json

    from overdue.publish import effects_document

    try:
        settings = get_settings()
        document = effects_document(warehouse or settings.warehouse, settings.k)
    except (LookupError, OSError) as exc:
        raise _fail(str(exc)) from None
    if json_output:
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    version = document["model_version"]
    cases = next(iter(document["population"].values()))["n"]
    console.print(f"model {version}, {cases:,} cases", highlight=False)
    console.print(
        _effects_table("agreement rate had every case asked for it", "approach",
                       document["population"])
    )  # fmt: skip
    for lever, levels in document["levers"].items():
        console.print(_effects_table(f"preparation: {lever}", lever, levels))
    console.print(
        "observed: the rate among the cases that took it; adjusted: had every case taken it; "
        "removed: observed - adjusted, in percentage points (pp); asked: cases that took it; "
        "*: thin overlap (few comparable cases took it); -: suppressed, fewer than k cases",
        highlight=False,
    )
    rows = document["sensitivity"]
    if rows is None:
        console.print("sensitivity: none stored for this run (trained before); train again")
    for row in rows or []:
        rv, rva = (f"{row[key]:.3f}" if row[key] is not None else "n/a" for key in ("rv", "rva"))
        console.print(f"{row['text']['en']} (RV {rv}, RVa {rva})", highlight=False)


def _effects_table(title: str, name: str, entries: dict[str, Any]) -> Table:
    """One treatment's levels: observed, adjusted with its interval, what adjustment removed;
    narrow enough for 80 columns (the legend is printed below)."""
    table = Table(title=title, box=None, pad_edge=False)
    table.add_column(name, no_wrap=True)
    for column in ("observed", "adjusted", "95% interval", "removed", "asked"):
        table.add_column(column, justify="right", no_wrap=True)
    for code, e in entries.items():
        shown = e["estimate"] is not None
        table.add_row(
            code,
            f"{e['naive']:.1%}" if e["naive"] is not None else "-",
            (f"{e['estimate']:.1%}" + ("*" if e["overlap_warning"] else "")) if shown else "-",
            f"{100 * e['ci_low']:.1f}-{e['ci_high']:.1%}" if shown else "",
            _pp(e["difference"]),
            f"{e['n_asked']:,}" if shown else "",
        )
    return table


@app.command(short_help="P(agreement) under each approach, for one case or many.")
def estimate(
    case: Annotated[
        Path | None, typer.Option("--case", help="one case as JSON (contract field names)")
    ] = None,
    cases: Annotated[
        Path | None, typer.Option("--cases", help="many cases: CSV, Parquet or JSON Lines")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="CSV to write the estimates of --cases to")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """P(agreement) under each approach for one case (--case) or many (--cases --out)."""
    import json

    import polars as pl

    from overdue.case_input import read_case_json, read_cases_file
    from overdue.models.estimate import estimate_case, estimate_many
    from overdue.models.run import latest_bundle
    from overdue.serve.coverage import interval_check

    settings = get_settings()
    if (case is None) == (cases is None):
        raise typer.BadParameter("give exactly one of --case FILE.json or --cases FILE")
    if cases is not None and out is None:
        raise typer.BadParameter("--cases needs --out FILE.csv", param_hint="--out")
    try:
        bundle = latest_bundle(settings.models_dir)
    except (ValueError, OSError) as exc:  # the model's files, never the case's
        raise _fail(str(exc)) from None
    try:
        if case is not None:
            one, left_out = read_case_json(case)
            result = estimate_case(bundle, one, settings.k)
            result["interval_check"] = interval_check(
                bundle.metadata.get("self_check"), one["lender_type"][0], "en", settings.k
            )
            result |= advising_parts(result, one.row(0, named=True), bundle, settings)
            result |= {
                "trained_at": bundle.metadata.get("trained_at"),
                "data_snapshot_hash": bundle.metadata.get("snapshot_hash"),
            }
        elif cases is not None:  # always, given exactly one of the two
            frame, left_out = read_cases_file(cases)
    except FileNotFoundError:
        raise _fail(f"{case or cases}: no such file") from None
    except (ValueError, OSError, pl.exceptions.PolarsError) as exc:
        raise _fail(str(exc)) from None
    if left_out:
        Console(stderr=True, emoji=False).print(
            f"left out, not in the case-record contract: {_safe(', '.join(left_out))}",
            highlight=False,
        )
    if cases is not None:
        estimates = estimate_many(bundle, frame, settings.k)
        estimates.write_csv(out)
        console.print(f"wrote estimates for {estimates.height:,} cases to {_safe(out)}")
        return
    if json_output:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    print_estimate(result, bundle)


def print_estimate(result: dict[str, Any], bundle: Bundle) -> None:
    """One case's estimate as ``overdue estimate --case`` prints it: the model, the table, the
    plans, budget, recommendation, what-ifs, drivers, the self-check's sentence and the note."""
    from overdue.serve.i18n import driver_labels

    console.print(model_line(bundle), highlight=False)
    console.print(estimate_table(result))
    console.print(
        "estimate: the chance of an agreement; vs planned: against the planned approach, in "
        "percentage points (pp); *: thin data, few similar cases",
        highlight=False,
    )
    for row in result["approaches"]:
        plan = row["plan"]
        beyond = "" if plan["affordable"] else " (beyond the budget)"
        console.print(f"typical plan, {row['approach']}: {plan['text']}{beyond}", highlight=False)
    for line in (*result["budget"]["texts"], *(result["own_plan"] or {}).get("warning_texts", [])):
        console.print(line)
    console.print(result["recommendation"]["text"])
    for lever in result["what_if"]:
        console.print(f"what if: {lever['text']}")
    names = driver_labels("en")
    drivers = ", ".join(
        f"{names.get(d['driver'], d['driver'])} {_pp(d['change'])}" for d in result["drivers"]
    )
    console.print(f"main drivers against a typical case: {drivers}", highlight=False)
    if result["interval_check"]:
        console.print(result["interval_check"]["text"])
    console.print(result["note"])


def _pp(difference: float | None) -> str:
    """A difference of two rates in percentage points: ``+3.2 pp``."""
    return "" if difference is None else f"{100 * difference:+.1f} pp"


def model_line(bundle: Bundle) -> str:
    """Which model answered: its version, when it was trained, on which data snapshot."""
    meta = bundle.metadata
    trained = str(meta.get("trained_at", "?")).replace("T", " ")
    return (
        f"model {bundle.version}, trained {trained} on data snapshot "
        f"{str(meta.get('snapshot_hash', '?'))[:12]} ({meta.get('cases', 0):,} cases)"
    )


def estimate_table(result: dict[str, Any]) -> Table:
    """One case's estimate per approach, narrow enough for 80 columns: the plans and the legend
    are printed below it."""
    table = Table(
        title=f"case {result['case_id']}: chance of an agreement by approach",
        box=None,  # no borders: the columns and approach names fit 80 columns whole
        pad_edge=False,
    )
    table.add_column("approach", no_wrap=True)
    for column in ("estimate", "95% interval", "vs planned", "similar"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in result["approaches"]:
        table.add_row(
            f"{row['approach']} {row['approach_zh']}",
            f"{row['p']:.1%}" + ("*" if row["thin_data"] else ""),
            f"{100 * row['low']:.1f}-{row['high']:.1%}",
            _pp(row["difference_from_planned"]),
            str(row["similar_cases"]),
        )
    return table


def advising_parts(
    result: dict[str, Any], case: dict[str, Any], bundle: Bundle, settings: Settings
) -> dict[str, Any]:
    """The plans, budget, own plan, recommendation and what-if texts of one estimate, in
    English, by the functions the service uses."""
    from overdue.plans import budget_rules, plans_of
    from overdue.serve.advising import (
        approach_plans,
        budget_document,
        own_plan_document,
        recommendation,
        what_if_items,
    )

    rules = budget_rules(settings)
    plans = approach_plans(case, plans_of(bundle.model.extra), rules, "en", settings.k)
    approaches = [{**row, "plan": plans[row["approach"]]} for row in result["approaches"]]
    return {
        "approaches": approaches,
        "recommendation": recommendation(approaches, plans, "en"),
        "what_if": what_if_items(result["what_if"], case, "en"),
        "budget": budget_document(case, rules, "en"),
        "own_plan": own_plan_document(case, rules, "en"),
    }


@app.command(short_help="The researchers' interactive report, offline, zh and en.")
def report(
    warehouse: WarehouseOption = None,
    lang: Annotated[
        str, typer.Option("--lang", help="zh, en or both (one page per language)")
    ] = "both",
    out: Annotated[
        Path | None, typer.Option("--out", help=f"reports folder {_default('reports_dir')}")
    ] = None,
) -> None:
    """Write the interactive report of the latest run: reports/<run_id>/, latest/, index.html."""
    from overdue.reports.build import build_report
    from overdue.reports.i18n import LANGS

    if lang not in ("zh", "en", "both"):
        raise typer.BadParameter("use zh, en or both", param_hint="--lang")
    settings = get_settings()
    langs = tuple(code for code in LANGS if lang in (code, "both"))
    target = out or settings.reports_dir
    try:
        built = build_report(
            warehouse or settings.warehouse,
            target,
            langs,
            k=settings.k,
            memory_limit=settings.duckdb_memory_limit,
            on_stage=_progress("report"),
        )
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    for code, path in built.files.items():
        console.print(f"{code}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    console.print(
        f"report {built.run_id} in {built.seconds:.1f} s; latest: {target / 'latest'}; "
        f"all reports: {target / 'index.html'}"
    )


@app.command(short_help="The counselor page and API, from the published snapshot.")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="processes; each loads the snapshot and rate-limits alone")
    ] = 1,
) -> None:
    """The counselor service: page at /, API at /api/v1, from the latest published snapshot."""
    import os

    # one thread per model call: set before scikit-learn or polars load their thread pools
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    import uvicorn

    from overdue.serve.guidance import DEFAULT_GUIDANCE, GuidanceError, load_guidance
    from overdue.serve.server import server_options

    settings = get_settings()
    try:  # checked before the server starts: a bad file is one clear line, not a traceback
        load_guidance(settings.guidance_file or DEFAULT_GUIDANCE)
    except GuidanceError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    if not (settings.published_dir / "CURRENT").exists():
        from overdue.serve.snapshot import NOT_PUBLISHED, not_loaded

        why = not_loaded(settings.published_dir)
        console.print(
            f"[yellow]nothing published in {settings.published_dir} yet:[/yellow] the service "
            "answers 503 until a pipeline publishes a snapshot (`overdue run`)"
            if why == NOT_PUBLISHED
            else f"[yellow]{why}[/yellow]; the service answers 503 until then"
        )
    console.print(f"serving http://{host}:{port}/ from {settings.published_dir}")
    uvicorn.run(
        "overdue.serve.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        server_header=False,
        **server_options(settings),
    )


def main() -> None:
    """The ``overdue`` command: the Typer app, with personal data masked in click's own usage
    errors too (``No such option: --...`` repeats what was typed)."""
    import sys

    from overdue.ingest.pii import mask_text

    try:
        code = app(prog_name="overdue", standalone_mode=False)
    except typer.TyperException as error:  # click's errors (Typer's copy of click)
        error.message = mask_text(error.message)
        show = getattr(error, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"Error: {error.message}", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
