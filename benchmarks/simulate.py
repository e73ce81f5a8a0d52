"""Speed and peak memory of `overdue simulate`, against a plain polars write in the same run.

    python benchmarks/simulate.py [--rows 1000000] [--format csv]

Each side runs in its own process, which reports its wall time and peak RSS. The baseline
draws the same number of rows of random numbers (52 columns, as many as a case record) and
writes them with polars: the floor of "make a table this size and write it".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
rows, fmt, out, side = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4]
start = time.perf_counter()
if side == "overdue":
    import datetime as dt
    from overdue.simulate import OutputFormat, write_simulation
    write_simulation(out, rows=rows, seed=1, as_of=dt.date(2026, 6, 30), fmt=OutputFormat(fmt))
else:
    import numpy as np, polars as pl
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({f"c{i}": rng.random(rows) for i in range(52)})
    {"csv": frame.write_csv, "parquet": frame.write_parquet, "jsonl": frame.write_ndjson}[fmt](out)
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "bytes": out.stat().st_size}))
"""


def measure(side: str, rows: int, fmt: str, folder: Path) -> dict[str, float]:
    """Run one side in a fresh process and return its time, peak memory and file size."""
    out = folder / f"{side}.{fmt}"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(rows), fmt, str(out), side],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print rows/s, peak memory and the ratio to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", default="csv", choices=["csv", "parquet", "jsonl"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = measure("baseline", args.rows, args.format, Path(tmp))
        ours = measure("overdue", args.rows, args.format, Path(tmp))
    print(f"simulate {args.rows:,} rows as {args.format}")
    for name, m in (("baseline (random table, polars write)", base), ("overdue simulate", ours)):
        print(
            f"  {name:40s} {m['seconds']:7.1f} s  {args.rows / m['seconds']:>10,.0f} rows/s"
            f"  peak {m['peak_mb']:7.0f} MB  file {m['bytes'] / 1e6:7.1f} MB"
        )
    print(f"  time ratio overdue/baseline: {ours['seconds'] / base['seconds']:.2f}")
    print(
        f"  targets: 1M rows under 60 s ({'met' if ours['seconds'] < 60 else 'MISSED'}), "
        f"peak under 1 GB ({'met' if ours['peak_mb'] < 1024 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
