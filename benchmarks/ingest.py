"""Speed and peak memory of `overdue ingest`, against a bare DuckDB load of the same file.

    python benchmarks/ingest.py [--rows 1000000] [--data benchmarks/out]

Builds (once, cached in ``--data``) a simulated CSV of ``--rows`` case records, then in the
same run times, each in its own fresh process into a fresh warehouse file:

- baseline: ``CREATE TABLE cases AS SELECT * FROM read_csv(file)`` in bare DuckDB (type
  sniffing, no validation, no de-duplication, no personal-data screening);
- overdue: ``ingest_paths``, the function behind ``overdue ingest`` (hash, encoding, typing,
  every contract check, PII screening, de-duplication, one transaction).

Each process reports its wall time and peak RSS. Targets: ratio <= 3 (aim 1.5), peak < 2 GB.
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
side, source, target = sys.argv[1], sys.argv[2], Path(sys.argv[3])
start = time.perf_counter()
if side == "overdue":
    import datetime as dt
    from overdue.config import get_settings
    from overdue.ingest import ingest_paths
    summary = ingest_paths([source], target, as_of=dt.date(2026, 6, 30),
                           memory_limit=get_settings().duckdb_memory_limit)
    batch = summary.batches[0]
    rows = {"read": batch.rows_read, "loaded": batch.rows_loaded,
            "quarantined": batch.rows_quarantined, "replaced": batch.rows_replaced}
else:
    import duckdb  # the baseline is bare DuckDB on purpose, not the product's warehouse module
    con = duckdb.connect(str(target))
    con.execute("SET enable_progress_bar = false")
    con.execute("CREATE TABLE cases AS SELECT * FROM read_csv(?)", [source])
    rows = {"loaded": con.execute("SELECT count(*) FROM cases").fetchone()[0]}
    con.close()
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "rows": rows}))
"""


def simulated_csv(rows: int, folder: Path) -> Path:
    """The simulated CSV of ``rows`` records, written once and reused."""
    path = folder / f"cases-{rows}.csv"
    if not path.exists():
        import datetime as dt

        from overdue.simulate import OutputFormat, write_simulation

        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.csv")
        write_simulation(
            partial, rows=rows, seed=1, as_of=dt.date(2026, 6, 30), fmt=OutputFormat.CSV
        )
        partial.rename(path)
    return path


def measure(side: str, source: Path, folder: Path) -> dict[str, float]:
    """Run one side in a fresh process into a fresh warehouse; its time, peak memory, rows."""
    target = folder / f"{side}.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, side, str(source), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print both timings, the ratio and the peak memory of each side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    source = simulated_csv(args.rows, args.data)
    size_mb = source.stat().st_size / 2**20
    with tempfile.TemporaryDirectory(dir=args.data) as tmp:
        base = measure("baseline", source, Path(tmp))
        ours = measure("overdue", source, Path(tmp))
    ratio = ours["seconds"] / base["seconds"]
    print(f"ingest {args.rows:,} rows ({size_mb:,.0f} MiB CSV): {source}")
    for name, result in (("duckdb CTAS read_csv", base), ("overdue ingest", ours)):
        print(
            f"  {name:22s} {result['seconds']:7.2f} s   "
            f"peak {result['peak_mb']:7.0f} MB   rows {result['rows']}"
        )
    print(
        f"  ratio {ratio:.2f} (target <= 3, aim 1.5); "
        f"peak memory {ours['peak_mb']:.0f} MB (target < 2048)"
    )


if __name__ == "__main__":
    main()
