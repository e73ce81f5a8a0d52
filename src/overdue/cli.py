"""The ``overdue`` command line (Typer)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from overdue.config import get_settings

app = typer.Typer(
    help="Which approaches work when an overdue debtor negotiates with a lender, for whom, "
    "and how sure we are.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold case rows: never print them
)
console = Console()

WarehouseOption = Annotated[
    Path | None,
    typer.Option("--warehouse", help="DuckDB warehouse file [default: settings.warehouse]"),
]


@app.command()
def simulate(
    rows: Annotated[int, typer.Option(min=1, help="number of case records")] = 20_000,
    seed: Annotated[int | None, typer.Option(min=0, help="random seed [default: settings]")] = None,
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
        typer.Option(formats=["%Y-%m-%d"], help="the simulated 'today' [default: settings]"),
    ] = None,
) -> None:
    """Write realistic synthetic case records with their ground truth beside them."""
    from overdue.simulate import OutputFormat, write_simulation

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
    )
    console.print(
        f"wrote {result.rows:,} cases to {result.cases_path} "
        f"(ground truth: {result.truth_cases_path}, {result.truth_summary_path})"
    )


@app.command()
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


@app.command()
def run(
    sample: Annotated[
        Path | None, typer.Option(help="case records to run on [default: settings.sample]")
    ] = None,
) -> None:
    """Run the main job on the bundled sample and print a summary."""
    from overdue.summary import summarize_cases

    settings = get_settings()
    source = sample or settings.sample
    if not source.exists():
        raise typer.BadParameter(f"{source} does not exist", param_hint="--sample")
    summary = summarize_cases(source, k=settings.k)
    table = Table(title=f"{summary.cases:,} cases in {source} ({summary.first} .. {summary.last})")
    for column in ("approach", "cases", "labelled", "agreed", "agreement rate"):
        table.add_column(column, justify="left" if column == "approach" else "right")
    for row in summary.by_approach:
        table.add_row(*row)
    console.print(table)
    console.print(f"pending (not yet labelled): {summary.pending:,}")


if __name__ == "__main__":
    app()
