"""The ``overdue`` command line, run as a user runs it: a real process."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import typer.main
from rich.cells import cell_len
from typer.testing import CliRunner

from cli_support import overdue
from overdue.cli import app
from overdue.simulate import truth_paths
from overdue.warehouse import pipeline_lock

COMMANDS = sorted(typer.main.get_group(app).commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    """``overdue COMMAND --help`` explains the command on an 80-column terminal, with no
    ``<bool>`` type beside flags."""
    result = overdue(command, "--help", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert "Usage: overdue " + command in result.stdout
    assert "<bool>" not in result.stdout
    assert all(cell_len(line) <= 80 for line in result.stdout.splitlines()), result.stdout


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("ingest", "--13812345678", "x"), "No such option: --[mobile]"),
        (("zs@example.cn",), "No such command"),
        (("quarantine", "--warehouse", "13812345678.duckdb", "--batch", "x"), "--batch"),
    ],
)
def test_usage_errors_never_repeat_personal_data(args: tuple[str, ...], shown: str) -> None:
    """click's own usage errors repeat what was typed: the command masks personal data in
    them, with click's exit status for a usage error."""
    result = overdue(*args)
    assert result.returncode == 2
    assert shown in result.stderr
    assert "13812345678" not in result.stdout + result.stderr
    assert "zs@example.cn" not in result.stdout + result.stderr


def test_run_refuses_a_path_holding_personal_data_before_prefect_keeps_it(
    tmp_path: Path,
) -> None:
    """A flow's parameters are kept in Prefect's run history: `overdue run` refuses a named
    path holding personal data before its flow starts, without repeating it."""
    named = tmp_path / "13812345678.csv"
    named.write_text("case_id\n", encoding="utf-8")
    result = overdue("run", str(named), "--warehouse", str(tmp_path / "w.duckdb"))
    assert result.returncode == 2
    assert "a path holds personal data" in result.stdout
    assert "13812345678" not in result.stdout + result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def help_text(*command: str) -> str:
    """``overdue COMMAND --help`` at 80 columns, its lines joined (wrapping undone)."""
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_the_command_list_shows_every_summary_whole() -> None:
    """``overdue --help`` lists every command with its summary, none cut short."""
    listed = help_text()
    assert "<bool>" not in listed and "..." not in listed.split("Commands:")[1]
    for command in COMMANDS:
        summary = typer.main.get_group(app).commands[command].short_help
        assert f"{command} {summary}" in listed


def test_help_shows_the_defaults_the_settings_give() -> None:
    """Options whose default comes from the settings say it, and the variable that changes it;
    flags read --x/--no-x with their default."""
    assert "[default: data/warehouse.duckdb, or OVERDUE_WAREHOUSE]" in help_text("train")
    run = help_text("run")
    assert "[default: 10, or OVERDUE_K]" in run
    assert "the sample (data/sample/cases.parquet) and the inbox (data/inbox)" in run
    simulate = help_text("simulate")
    assert "--chinese / --no-chinese" in simulate and "[default: no-chinese]" in simulate
    assert "[default: 20261128, or OVERDUE_SEED]" in simulate
    assert "[default: reports, or OVERDUE_REPORTS_DIR]" in help_text("report")
    assert "[default: 8000; 1<=x<=65535]" in help_text("serve")


def test_simulate_writes_a_chinese_gb18030_csv_with_truth(tmp_path: Path) -> None:
    """The simulate command writes the file and both ground-truth files."""
    out = tmp_path / "export.csv"
    result = overdue(
        "simulate",
        "--rows",
        "500",
        "--seed",
        "4",
        "--out",
        str(out),
        "--chinese",
        "--encoding",
        "gb18030",
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().decode("gb18030").startswith("案件编号")
    assert all(p.exists() for p in truth_paths(out))
    assert "500 cases" in result.stdout


def test_simulate_refuses_gb18030_parquet_with_a_clear_message(tmp_path: Path) -> None:
    """Only CSV has an encoding: asking for GB18030 Parquet is a usage error naming the option."""
    result = overdue(
        "simulate", "--rows", "5", "--out", str(tmp_path / "x.parquet"), "--encoding", "gb18030"
    )
    assert result.returncode == 2
    assert "--encoding" in result.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_simulate_refuses_an_unknown_file_type(tmp_path: Path) -> None:
    """A file name without a known format asks for --format."""
    result = overdue("simulate", "--rows", "5", "--out", str(tmp_path / "x.xlsx"))
    assert result.returncode == 2
    assert "--format" in result.stderr


def test_dictionary_prints_every_field() -> None:
    """The data dictionary command lists every contract field."""
    result = overdue("dictionary")
    assert result.returncode == 0
    assert "| `months_to_redefault` | 再次逾期月数 |" in result.stdout


def test_train_on_an_unreachable_cluster_says_so(tmp_path: Path) -> None:
    """``overdue train --cluster`` with no scheduler at the address: exit 2 (could not run)
    and a sentence naming the address, no traceback (Dask's connect timeout cut to 2 s)."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{free.getsockname()[1]}"
    result = overdue(
        "train",
        "--warehouse",
        str(tmp_path / "warehouse.duckdb"),
        "--cluster",
        address,
        env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert f"the Dask cluster at {address} cannot be reached" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "command",
    [("train",), ("ingest", "{cases}"), ("store", "export", "--store", "{store}")],
    ids=["train", "ingest", "store export"],
)
def test_a_writer_waits_for_the_lock_a_run_holds_and_stops_in_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Every command that writes the warehouse, the models or the case store takes the lock an
    `overdue run` takes; while another process holds it: one line, exit 2, nothing written."""
    warehouse, cases, store = tmp_path / "w.duckdb", tmp_path / "cases.csv", tmp_path / "store"
    cases.write_text("case_id\n", encoding="utf-8")
    args = [a.format(cases=cases, store=store) for a in command]
    with pipeline_lock(warehouse, wait_seconds=0):
        result = overdue(
            *args, "--warehouse", str(warehouse), env={"OVERDUE_LOCK_WAIT_SECONDS": "0.5"}
        )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert output.strip() == (
        f"error: another command is writing {warehouse} (a pipeline run, `overdue ingest` or "
        "`overdue train`); waited 0.5 s. Try again when it finishes"
    )
    assert not warehouse.exists() and not store.exists()
