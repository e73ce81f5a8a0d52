"""Security headers on every answer: the page, its files, /docs and the API alike.

The page and /docs hold no inline script or style (``overdue.serve.page.ASSETS``), so one
Content-Security-Policy allows scripts from the service only, and no other site may frame the
page, receive a referrer or make a browser sniff a JSON answer into HTML. Styles are the
service's files plus the two ``<style>`` elements plotly.js creates, allowed by their hashes:
an empty one it fills through the CSSOM (which CSP does not govern) and MapLibre's fixed CSS.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Final

from overdue.serve.guard import ASGIApp, Message, Receive, Scope, Send

_STYLE_TEXT: Final = re.compile(rb"createElement\(\"style\"\)[^']{0,200}?textContent='([^'\\]*)'")
"""A ``<style>`` element a script creates with fixed text (no escapes, so hashed as written)."""


def _source(text: bytes) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text).digest()).decode()}'"


def style_sources(script: bytes) -> tuple[str, ...]:
    """CSP hash sources for the style elements ``script`` creates: empty, or fixed text."""
    return tuple(dict.fromkeys(_source(text) for text in (b"", *_STYLE_TEXT.findall(script))))


def content_security_policy(styles: tuple[str, ...] = ()) -> str:
    """The policy: everything from the service only, ``styles`` hashes besides; no framing."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            " ".join(("style-src 'self'", *styles)),
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeaders:
    """Adds the security headers to every HTTP response (it runs before any other middleware)."""

    def __init__(self, app: ASGIApp, policy: str) -> None:
        self.app = app
        self.headers = (
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
