"""Slow and idle clients against a real `overdue serve` process with short, configured
timeouts: clients trickling headers or a body are disconnected in time while other requests
are answered; idle keep-alive connections close; beyond the connection limit requests get 503.

Every wait is bounded (``GIVE_UP`` seconds at most per client)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from serve_support import CASE_EN, Published, Server, start_server, stop

HEADER_SECONDS = 1.5
BODY_SECONDS = 2.0
KEEP_ALIVE_SECONDS = 1.0
MAX_CONNECTIONS = 150
SLACK = 2.5
"""Seconds a close may come after its deadline (two shared cores, busy with other tests)."""
GIVE_UP = 12.0
CLIENTS = 50
HEADERS_START = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
BODY_START = (
    b"POST /api/v1/estimate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
)


@pytest.fixture(scope="module")
def timed(published: Published) -> Iterator[Server]:
    """A server with 1.5 s for headers, 2 s for a body, 1 s keep-alive, 150 connections."""
    running = start_server(
        published.folder,
        published.published,
        "timed",
        OVERDUE_HEADER_TIMEOUT_SECONDS=str(HEADER_SECONDS),
        OVERDUE_BODY_TIMEOUT_SECONDS=str(BODY_SECONDS),
        OVERDUE_KEEP_ALIVE_SECONDS=str(KEEP_ALIVE_SECONDS),
        OVERDUE_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        OVERDUE_RATE_LIMIT_PER_MINUTE="0",
    )
    yield running
    stop(running)


def address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    return str(parts.hostname), int(parts.port or 80)


async def trickle(server: Server, start: bytes, byte: bytes) -> float | None:
    """Send ``start``, then one ``byte`` every 0.2 s; seconds until the server closed the
    connection, or None if it was still open after ``GIVE_UP`` seconds."""
    # timed from before connecting: the server's deadline starts when it accepts, which can be
    # well before a busy client's coroutine resumes with the open connection
    opened = time.monotonic()
    reader, writer = await asyncio.open_connection(*address(server))
    try:
        writer.write(start)
        async with asyncio.timeout(GIVE_UP):
            while True:
                writer.write(byte)
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(4096), 0.2) == b"":
                        return time.monotonic() - opened
                except TimeoutError:
                    continue
    except TimeoutError:
        return None
    except ConnectionError:
        return time.monotonic() - opened
    finally:
        writer.close()


async def slow_clients_and_one_normal(
    server: Server,
) -> tuple[list[float | None], list[float | None], list[int]]:
    """50 clients trickling headers and 50 a body; meanwhile normal requests' statuses."""

    def normal() -> list[int]:
        time.sleep(0.5)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            return [
                client.get("/healthz").status_code,
                client.post("/api/v1/estimate", json=CASE_EN).status_code,
            ]

    headers = [trickle(server, HEADERS_START, b"X") for _ in range(CLIENTS)]
    bodies = [trickle(server, BODY_START, b" ") for _ in range(CLIENTS)]
    results = await asyncio.gather(*headers, *bodies, asyncio.to_thread(normal))
    return list(results[:CLIENTS]), list(results[CLIENTS : 2 * CLIENTS]), results[-1]


def test_slow_clients_are_disconnected_while_others_are_answered(timed: Server) -> None:
    """Clients trickling headers close after the header timeout, those trickling a body after
    the body timeout (plus slack); a normal request meanwhile is answered."""
    headers, bodies, normal = asyncio.run(slow_clients_and_one_normal(timed))
    assert normal == [200, 200]
    assert all(t is not None for t in headers), f"{headers.count(None)} headers still open"
    assert all(t is not None for t in bodies), f"{bodies.count(None)} bodies still open"
    assert max(headers) <= HEADER_SECONDS + SLACK, max(headers)
    assert max(bodies) <= BODY_SECONDS + SLACK, max(bodies)
    assert min(headers) >= HEADER_SECONDS - 0.1 and min(bodies) >= BODY_SECONDS - 0.1


def test_an_idle_keep_alive_connection_is_closed(timed: Server) -> None:
    """After an answer, a connection that sends nothing more is closed after keep-alive."""
    with socket.create_connection(address(timed), timeout=GIVE_UP) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        while sock.recv(65536):
            pass
        assert time.monotonic() - answered <= KEEP_ALIVE_SECONDS + SLACK


def test_requests_beyond_the_connection_limit_get_503(timed: Server) -> None:
    """With the limit's worth of connections open, a request gets 503; once they close, 200."""
    held = [socket.create_connection(address(timed), timeout=10) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)  # let the server accept them
        with httpx.Client(base_url=timed.url, timeout=10) as client:
            assert client.get("/healthz").status_code == 503
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    with httpx.Client(base_url=timed.url, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
