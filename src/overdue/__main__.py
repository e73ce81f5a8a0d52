"""``python -m overdue`` is the ``overdue`` command."""

from overdue.cli import main

main()
