"""Latency and throughput of the counselor service on 127.0.0.1, against /healthz in the same run.

Starts ``overdue serve`` on a free local port (rate limit off), then for 1, 8 and 32 concurrent
clients sends a bounded number of requests: ``GET /healthz`` (the baseline: HTTP and framework
cost only) and ``POST /api/v1/estimate`` with distinct cases (no answer can be reused). Prints
p50/p99 latency, requests/s and errors. Targets on a 2-core machine: p99 <= 50 ms at 8 clients,
>= 200 requests/s without errors at 32 clients.

The load generator is a small asyncio HTTP/1.1 keep-alive client: the machine has 2 cores and a
heavier client (threads, a full HTTP library) would take CPU from the server it measures.

    python benchmarks/serve.py [--published DIR] [--requests 1200] [--workers 1]

Without ``--published`` a snapshot is built first (simulate 4,000 cases, ingest, train, publish:
about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

LEVELS = (1, 8, 32)
TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_snapshot(folder: Path) -> Path:
    """simulate -> ingest -> train -> publish into ``folder``; returns the published dir."""
    env = {**os.environ, "OVERDUE_MODELS_DIR": str(folder / "models"), "OMP_NUM_THREADS": "1"}
    overdue = [sys.executable, "-m", "overdue"]
    cases, warehouse = folder / "cases.parquet", folder / "w.duckdb"
    steps = [
        [*overdue, "simulate", "--rows", "4000", "--seed", "3", "--out", str(cases)],
        [*overdue, "ingest", str(cases), "--warehouse", str(warehouse)],
        [*overdue, "train", "--warehouse", str(warehouse)],
    ]
    for step in steps:
        subprocess.run(step, env=env, check=True, capture_output=True, timeout=600)
    from overdue.models.run import latest_bundle_folder
    from overdue.publish import publish_snapshot

    version = latest_bundle_folder(folder / "models").name
    publish_snapshot(warehouse, folder / "models", folder / "published", "bench", version)
    return folder / "published"


def cases(count: int, seed: int = 7) -> list[bytes]:
    """Distinct valid cases (contract codes), as JSON bodies."""
    from overdue.contract import FIELD_BY_NAME
    from overdue.serve.page import DEFAULTS

    rng = random.Random(seed)
    bodies = []
    for i in range(count):
        case = {k: v for k, v in DEFAULTS.items() if v not in (None, "")}
        for name in (
            "age_band",
            "employment",
            "hardship_reason",
            "lender_type",
            "collection_stage",
            "channel",
            "approach",
            "professional_help",
        ):
            case[name] = rng.choice(list(FIELD_BY_NAME[name].values))
        case["monthly_income"] = rng.randrange(0, 30_000, 100)
        case["outstanding_balance"] = 1000 + rng.randrange(0, 200_000, 500)
        case["principal"] = case["outstanding_balance"]
        case["penalty_accrued"] = 0
        case["days_overdue_at_contact"] = rng.randrange(0, 720)
        case["case_id"] = f"bench-{i}"
        for doc in ("doc_income_proof", "doc_bank_statement", "doc_expense_statement"):
            case[doc] = rng.random() < 0.5
        bodies.append(json.dumps(case).encode())
    return bodies


async def _client(
    port: int, requests: list[bytes], latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            start = time.perf_counter()
            writer.write(request)
            status_line = await asyncio.wait_for(reader.readline(), TIMEOUT)
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            status = int(status_line.split()[1])
            if status != 200:
                errors.append(str(status))
    except (OSError, TimeoutError, asyncio.IncompleteReadError, IndexError) as exc:
        errors.append(type(exc).__name__)
    finally:
        writer.close()


def _request(path: str, body: bytes | None) -> bytes:
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def run_level(port: int, clients: int, requests: list[bytes]) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    share = [requests[i::clients] for i in range(clients)]
    start = time.perf_counter()
    await asyncio.gather(*(_client(port, part, latencies, errors) for part in share))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0

    return {
        "clients": clients,
        "requests": len(latencies),
        "p50_ms": q(0.50),
        "p99_ms": q(0.99),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0.0,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
    }


def wait_ready(port: int, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as error:  # e.g. 503: no snapshot in --published
            last = f"{error.code} {error.read().decode(errors='replace')[:300]}"
            time.sleep(0.3)
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"the server did not become ready in {seconds:.0f} s; last /healthz: {last}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--published",
        type=Path,
        help="the published directory to serve (the snapshots' parent: data/published after "
        "`make run`); by default a 4,000-case snapshot built here",
    )
    parser.add_argument("--requests", type=int, default=1200, help="estimates per level")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    args = parser.parse_args()
    requests_per_level = max(50, min(args.requests, 5000))  # bounded load
    with tempfile.TemporaryDirectory(prefix="overdue-bench-") as tmp:
        published = args.published or build_snapshot(Path(tmp))
        port = free_port()
        env = {
            **os.environ,
            "OVERDUE_PUBLISHED_DIR": str(published),
            "OVERDUE_RATE_LIMIT_PER_MINUTE": "0",
            "OMP_NUM_THREADS": "1",
        }
        env.pop("OVERDUE_API_TOKEN", None)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "overdue",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            try:
                wait_ready(port, server)
            except (TimeoutError, RuntimeError) as error:
                print(f"serve.py: {error}", file=sys.stderr)
                return 2
            bodies = cases(requests_per_level)
            estimate = [_request("/api/v1/estimate", b) for b in bodies]
            health = [_request("/healthz", None)] * requests_per_level
            asyncio.run(run_level(port, 4, estimate[:100]))  # warm up
            print(
                f"overdue serve on 127.0.0.1, {args.workers} worker(s), "
                f"{requests_per_level} requests per level; {os.cpu_count()} cores"
            )
            header = ("endpoint", "clients", "p50 ms", "p99 ms", "req/s", "errors")
            print(f"{header[0]:<10}" + "".join(f"{h:>9}" for h in header[1:]))
            results = {}
            for clients in LEVELS:
                for name, requests in (("healthz", health), ("estimate", estimate)):
                    r = asyncio.run(run_level(port, clients, requests))
                    results[(name, clients)] = r
                    print(
                        f"{name:<10}{clients:>9}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
                        f"{r['rps']:>9.0f}{r['errors']:>9}"
                        + (f"  {r['error_kinds']}" if r["errors"] else "")
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
    p99_8 = results[("estimate", 8)]["p99_ms"]
    at_32 = results[("estimate", 32)]
    ok = p99_8 <= 50 and at_32["rps"] >= 200 and at_32["errors"] == 0
    print(
        f"targets: p99 at 8 clients {p99_8:.1f} ms (<= 50), {at_32['rps']:.0f} req/s at 32 "
        f"clients (>= 200) with {at_32['errors']} errors: {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
