"""Serve the nightly pipeline as a Prefect deployment on its cron schedule.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m pipelines.deploy [--name nightly]

The process registers the deployment ``nightly/<name>`` with the server, runs it on
``settings.nightly_cron`` (default 02:00 every day) and executes runs triggered by hand
(``prefect deployment run nightly/nightly``) until it is stopped.
"""

from __future__ import annotations

import argparse

from overdue.config import get_settings
from pipelines.nightly import nightly


def main() -> None:
    """Register and serve the deployment."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="nightly")
    parser.add_argument("--no-schedule", action="store_true", help="only runs triggered by hand")
    args = parser.parse_args()
    cron = None if args.no_schedule else get_settings().nightly_cron
    nightly.serve(name=args.name, cron=cron)


if __name__ == "__main__":
    main()
