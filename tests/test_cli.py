"""The ``overdue`` command line, run as a user runs it: a real process."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from cli_support import overdue
from overdue.cli import app
from overdue.simulate import truth_paths

COMMANDS = sorted(typer.main.get_group(app).commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    """``overdue COMMAND --help`` explains the command."""
    result = overdue(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: overdue " + command in result.stdout


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
