"""Every shell command in the README names what exists and is run: by a named test, or here."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
import typer

from overdue.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# How each README command is run: "tests/<file>::<test>" names the test that runs it (that test
# must exist), "make check: <target>" a target `make check` runs (CI runs `make check`, .ci/run),
# "here" a test in this file that runs it on a slice of the sample. A new README command must be
# added here, or this test fails.
RUN_PIPELINE = (
    "tests/ingest/test_hostile.py::test_run_finishes_the_pipeline_and_exits_with_the_ingest_status"
)
RUN_BY: dict[str, str] = {
    "make run": RUN_PIPELINE,
    "make check": ".ci/run",
    "make serve": "here",
    "make lint": "make check: lint",
    "make docs": "make check: docs",
    ".venv/bin/overdue run": RUN_PIPELINE,
    ".venv/bin/overdue report --lang both": (
        "tests/reports/test_report_build.py::test_report_writes_both_languages_latest_and_index"
    ),
    ".venv/bin/overdue effects --json": (
        "tests/models/test_cli_models.py::test_effects_json_has_the_published_shape"
    ),
    ".venv/bin/overdue ingest data/inbox/": "here",
    ".venv/bin/overdue quarantine": "here",
}


def readme_commands(text: str) -> list[str]:
    """The commands of the README's ```bash blocks: comments, prompts and blank lines dropped."""
    blocks = re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    commands = (re.sub(r"\s+#.*$", "", line).strip().removeprefix("$ ") for line in lines)
    return [" ".join(c.split()) for c in commands if c and not c.startswith("#")]


def make_targets() -> dict[str, list[str]]:
    """The Makefile's targets and their prerequisites."""
    rules = re.findall(
        r"^([A-Za-z][\w-]*):(?!=)([^#\n]*)", (ROOT / "Makefile").read_text("utf-8"), re.M
    )
    return {name: prereqs.split() for name, prereqs in rules}


def overdue_options() -> dict[str, set[str]]:
    """Each `overdue` subcommand with the options it takes."""
    group = typer.main.get_command(app)
    assert hasattr(group, "commands")
    return {
        name: {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for name, command in group.commands.items()
    }


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def test_the_readme_has_the_quick_start_commands() -> None:
    """The first two commands are the quick start's, as CI runs them."""
    assert COMMANDS[:2] == ["make run", "make check"]


def test_the_extractor_reads_fenced_commands_only() -> None:
    """Commands come from bash blocks, without comments; other blocks and prose are ignored."""
    text = (
        "make nope\n```bash\nmake run   # the job\n# a note\n\nx \\\n  --y\n```\n"
        "```yaml\na: b\n```\n"
    )
    assert readme_commands(text) == ["make run", "x --y"]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_names_what_exists(command: str) -> None:
    """A make target in the Makefile; an `overdue` subcommand with its options."""
    words = shlex.split(command)
    if words[0] == "make":
        assert words[1] in make_targets(), f"README: `{command}`: no such Makefile target"
    else:
        assert words[0] == ".venv/bin/overdue", (
            f"README: `{command}`: not a make or overdue command"
        )
        options = overdue_options()
        assert words[1] in options, f"README: `{command}`: no such overdue command"
        for word in words[2:]:
            if word.startswith("-"):
                assert word.split("=")[0] in options[words[1]], f"README: `{command}`: {word}?"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_is_run_by_a_test(command: str) -> None:
    """Each README command is listed with what runs it, and that test or target exists."""
    assert command in RUN_BY, f"README: `{command}`: say in RUN_BY which test runs it"
    how = RUN_BY[command]
    if how.startswith("tests/"):
        path, name = how.split("::")
        assert re.search(rf"^def {name}\(", (ROOT / path).read_text("utf-8"), re.M), how
    elif how.startswith("make check: "):
        assert how.removeprefix("make check: ") in make_targets()["check"]
        assert "make check" in (ROOT / ".ci/run").read_text("utf-8")
    elif how == ".ci/run":
        assert command in (ROOT / ".ci/run").read_text("utf-8")
    else:
        assert how == "here", how


def test_make_serve_runs_the_service_on_the_address_the_readme_gives() -> None:
    """`make serve` runs `overdue serve` on 127.0.0.1:8000 (the URLs of the README)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    recipe = subprocess.run(
        ["make", "--dry-run", "--always-make", "serve"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert recipe.returncode == 0, recipe.stderr
    assert ".venv/bin/overdue serve --host 127.0.0.1 --port 8000" in recipe.stdout.splitlines()
    readme = README.read_text(encoding="utf-8")
    assert "<http://127.0.0.1:8000/>" in readme and "<http://127.0.0.1:8000/docs>" in readme


def run_as_written(
    command: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """A README `.venv/bin/overdue ...` command, word for word, by this Python, in ``cwd``."""
    words = shlex.split(command)
    assert words[0] == ".venv/bin/overdue"
    return subprocess.run(
        [sys.executable, "-m", "overdue", *words[1:]],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_ingest_and_quarantine_run_as_written_on_the_sample(tmp_path: Path) -> None:
    """The README's `overdue ingest data/inbox/` and `overdue quarantine`, in a folder whose
    inbox holds 500 rows of the sample, load them all and list the (empty) quarantine."""
    inbox = tmp_path / "data" / "inbox"
    inbox.mkdir(parents=True)
    sample = pl.read_parquet(ROOT / "data" / "sample" / "cases.parquet").head(500)
    sample.write_parquet(inbox / "cases.parquet")
    env = {"OVERDUE_WAREHOUSE": str(tmp_path / "data" / "warehouse.duckdb")}
    loaded = run_as_written(".venv/bin/overdue ingest data/inbox/", tmp_path, env)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    listed = run_as_written(".venv/bin/overdue quarantine", tmp_path, env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    with duckdb.connect(env["OVERDUE_WAREHOUSE"], read_only=True) as con:
        counts = con.execute("SELECT count(*), count(DISTINCT batch_id) FROM cases").fetchone()
    assert counts == (500, 1)


def test_readme_links_point_at_files_that_exist() -> None:
    """Every relative link of the README names a file of the repository (docs pages included)."""
    readme = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "the README links into docs/"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing
