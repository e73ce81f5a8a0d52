"""``python -m overdue`` is the ``overdue`` command."""

from overdue.cli import app

app(prog_name="overdue")
