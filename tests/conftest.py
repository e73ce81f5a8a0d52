"""Shared test settings."""

import os
import sys
from pathlib import Path

# Helpers shared by test folders (browser_support) are imported as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))

# Prefect's local server is slow to start on these machines; settings also set this.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# One OpenMP thread per process: on 2 cores shared with other processes, OpenMP's spinning
# threads made a 3,600-row gradient-boosting fit take 25 s instead of 1.6 s.
os.environ.setdefault("OMP_NUM_THREADS", "1")
