"""How ``overdue serve`` runs the app under uvicorn: connection deadlines, limits and logging.

uvicorn bounds the idle time between requests (keep-alive) and, with ``limit_concurrency``,
answers 503 beyond a number of connections, but it has no deadline for receiving a request: a
client sending its headers or body a byte at a time holds a connection for as long as it likes.
``DeadlineH11Protocol`` is uvicorn's h11 protocol with two per-connection timers: the request
line and headers must arrive within ``header_seconds`` of the connection opening (or of the
first byte of a next request), and the body within ``body_seconds`` of the headers; a client
that misses either is disconnected. Responses are not timed.

The access log never holds a query string (a token sent as ``?token=`` stays out of it) nor a
path segment that is not a plain word (``/13812345678`` is logged as ``/*``) nor a method
that is not a standard one, and no log line
carries a traceback: an exception is logged by its type only, since its message or traceback
could quote case values.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import re
from typing import Any, Final

import h11
from uvicorn.config import LOGGING_CONFIG, Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from overdue.config import Settings

_WAITING: Final = {h11.IDLE: "headers", h11.SEND_BODY: "body"}
"""What a connection waits for from the client, by h11's state of the client."""
_WORD: Final = re.compile(r"(?![^/]*[0-9]{4})[A-Za-z][A-Za-z0-9._-]{0,63}")
"""A path segment logged as it is: ASCII, starting with a letter, no run of 4 digits."""


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for a request's headers and for its body."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_seconds: float,
        body_seconds: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.seconds = {"headers": header_seconds, "body": body_seconds}
        self.waiting_for: str | None = None
        self.deadline: asyncio.TimerHandle | None = None

    # uvicorn's H11Protocol narrows asyncio's BaseTransport to Transport; this override follows it
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for("headers")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # bytes arrived: a request is under way (headers or body) or fully received
        self._wait_for(_WAITING.get(self.conn.their_state))

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # a pipelined request may already be in; otherwise keep-alive's timer rules the idle time
        waiting = _WAITING.get(self.conn.their_state)
        self._wait_for("body" if waiting == "body" else None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._wait_for(None)
        super().connection_lost(exc)

    def _wait_for(self, what: str | None) -> None:
        """Start the timer for ``what`` unless it runs already; None stops it."""
        if what == self.waiting_for:
            return
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.waiting_for = what
        if what is not None:
            self.deadline = self.loop.call_later(self.seconds[what], self._expire, what)

    def _expire(self, what: str) -> None:
        self.deadline = self.waiting_for = None
        if not self.transport.is_closing():
            self.logger.info("closed a connection: request %s not received in time", what)
            self.transport.close()


def logged_path(value: Any) -> Any:
    """A request path as logged: no query string, other than plain words as ``*``; any other
    value as it is."""
    if not (isinstance(value, str) and value.startswith("/")):
        return value
    segments = value.partition("?")[0].split("/")
    return "/".join(s if not s or _WORD.fullmatch(s) else "*" for s in segments)


METHODS: Final = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"))
"""The methods the access log names; any other token a client sends is logged as ``*``."""


class QueryFreeAccessLog(logging.Filter):
    """Logs the paths of uvicorn's access log lines as ``logged_path`` and a method that is not
    one of ``METHODS`` as ``*`` (the request line's first word is the client's to choose)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            args = [logged_path(value) for value in record.args]
            if len(args) == 5 and args[1] not in METHODS:  # client, method, path, version, status
                args[1] = "*"
            record.args = tuple(args)
        return True


class TypeOnlyErrors(logging.Filter):
    """Replaces a record's traceback with the exception's type."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{record.getMessage().rstrip()} ({record.exc_info[0].__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging with both filters, and ``overdue.*`` loggers shown from INFO on."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "query_free": {"()": f"{__name__}.QueryFreeAccessLog"},
        "type_only": {"()": f"{__name__}.TypeOnlyErrors"},
    }
    config["handlers"]["access"]["filters"] = ["query_free", "type_only"]
    config["handlers"]["default"]["filters"] = ["type_only"]
    config["loggers"]["overdue"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def server_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` that bound connections and shape the logs."""
    return {
        "http": functools.partial(
            DeadlineH11Protocol,
            header_seconds=settings.header_timeout_seconds,
            body_seconds=settings.body_timeout_seconds,
        ),
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "log_config": log_config(),
    }
