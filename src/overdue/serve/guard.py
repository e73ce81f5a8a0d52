"""What stands between a request and the estimates: body size, rate limit, token (personal data:
``overdue.case_input.pii_reasons``).

``BodyLimit`` and ``RateLimit`` are plain ASGI middleware, so an oversized body is refused (413)
before anything parses it and a client over its budget (429) costs almost nothing. Nothing here
logs or returns a request body or a submitted value.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

from overdue.serve.i18n import http_error, pick_lang

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_CLIENTS: Final = 10_000
"""Buckets kept in memory; the fullest (idle) ones are dropped beyond this."""


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[Any]) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def scope_lang(scope: Scope) -> str:
    """The answer's language from a request not yet parsed: ``?lang=``, else Accept-Language."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[0]
    accept = dict(scope.get("headers", [])).get(b"accept-language", b"").decode("latin-1")
    return pick_lang(query, accept)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, by Content-Length or while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        too_large = {"detail": [http_error("too_large", scope_lang(scope))]}
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = self.max_bytes + 1
            if size > self.max_bytes:
                await _send_json(send, 413, too_large, [(b"connection", b"close")])
                return
        # read the whole body here (bounded), then replay it to the app
        chunks, total = [], 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away (or the server closed a slow body): no answer
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await _send_json(send, 413, too_large, [(b"connection", b"close")])
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Per-client token buckets: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.buckets: dict[str, _Bucket] = {}
        self.lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        with self.lock:
            bucket = self.buckets.get(client)
            if bucket is None:
                if len(self.buckets) >= MAX_CLIENTS:
                    self._prune(now)
                bucket = self.buckets[client] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            c
            for c, b in self.buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.burst
        ]
        for client in full or list(self.buckets)[: len(self.buckets) // 2]:
            del self.buckets[client]


class RateLimit:
    """429 with Retry-After once a client IP has spent its bucket; some paths are exempt."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.buckets = buckets
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt or self.buckets.rate <= 0:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.buckets.take(client)
        if wait > 0:
            body = {"detail": [http_error("rate_limited", scope_lang(scope))]}
            retry = str(max(1, math.ceil(wait))).encode()
            await _send_json(send, 429, body, [(b"retry-after", retry)])
            return
        await self.app(scope, receive, send)


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type header says ``application/json`` (any parameters)."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return media_type == "application/json"


def token_ok(expected: str | None, authorization: str | None) -> bool:
    """Whether ``Authorization: Bearer <token>`` carries the expected token (constant time)."""
    if not expected:
        return True
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())
