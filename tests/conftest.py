"""Shared test settings."""

import os

# Prefect's local server is slow to start on these machines; settings also set this.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
