"""The counselor service: a FastAPI app answering from the latest published snapshot.

``create_app(settings)`` only wires the pieces: the shared state and the gate (``deps``), one
router per resource (``routes``), the error handlers (answers in ``schemas.ErrorResponse``'s
shape) and the middleware (``guard``, ``headers``). Routes: ``/`` (page), ``POST
/api/v1/estimate``, ``GET /api/v1/effects``, ``GET /api/v1/model``, ``GET /healthz``, ``/docs``
and ``/openapi.json``. No route redirects (a trailing slash is a 404, never a redirect built
from the request's Host header).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from threadpoolctl import threadpool_limits

from overdue.config import Settings, get_settings
from overdue.serve.deps import Service
from overdue.serve.guard import BodyLimit, RateLimit, TokenBuckets
from overdue.serve.headers import SecurityHeaders, content_security_policy, style_sources
from overdue.serve.i18n import http_error, pick_lang
from overdue.serve.page import ASSETS
from overdue.serve.parsing import validation_errors
from overdue.serve.responses import INTERNAL_ERROR, ApiError, error_response
from overdue.serve.routes import effects, estimate, health, model, page

log = logging.getLogger("overdue.serve")

API: Final = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service for ``settings`` (default: the process's settings)."""
    service = Service(settings or get_settings())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        threadpool_limits(limits=1)  # one thread per prediction: no oversubscription on 2 cores
        await asyncio.to_thread(service.holder.load_now)
        if service.holder.served is None:
            log.warning("no snapshot to serve yet (%s); waiting for one", service.holder.error)
        service.batcher.start()
        yield
        await service.batcher.stop()

    app = FastAPIOffline(  # the /docs page's Swagger UI served locally, no CDN
        title="overdue counselor service",
        version="1",
        description="How likely an agreement is under each approach, for cases like this one: "
        "estimates from past cases, not a promise. Answers come from the latest published "
        "snapshot; when OVERDUE_API_TOKEN is set, /api/* needs `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        docs_url=None,  # ours in routes.page: the same Swagger UI without an inline script
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.service = service
    _error_handlers(app)
    app.include_router(page.router)
    app.include_router(health.router)
    for resource in (estimate, effects, model):
        app.include_router(resource.router, prefix=API)
    # the last added runs first: headers on every answer; a client over its budget is refused
    # before its body is read
    app.add_middleware(BodyLimit, max_bytes=service.settings.max_body_bytes)
    app.add_middleware(
        RateLimit,
        buckets=TokenBuckets(
            service.settings.rate_limit_per_minute, service.settings.rate_limit_burst
        ),
        exempt=("/healthz", page.PLOTLY_PATH, *(f"/static/{name}" for name in ASSETS)),
    )
    styles = style_sources(page.plotly_js()[0])  # plotly.js creates two <style> elements
    app.add_middleware(SecurityHeaders, policy=content_security_policy(styles))
    return app


def _error_handlers(app: FastAPI) -> None:
    """Every failure answered as the API's error document, never echoing the request."""

    @app.exception_handler(ApiError)
    async def _refused(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status_code, exc.problems, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # 404 and 405 as the API's error document, never repeating the path
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        lang = pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))
        return error_response(exc.status_code, [http_error(reason, lang)], exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        lang = pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))
        return error_response(422, validation_errors(list(exc.errors()), lang))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # type only: a message or traceback locals could hold case values
        log.error("internal error on %s: %s", request.url.path, type(exc).__name__)
        return error_response(500, INTERNAL_ERROR)
