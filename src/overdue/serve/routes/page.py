"""The counselor page, the /docs page and their static files (plotly.js from the plotly package)."""

from __future__ import annotations

import asyncio
import gzip
from functools import cache, lru_cache
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from overdue.serve.deps import CurrentService, Lang
from overdue.serve.page import ASSETS, render_docs, render_page

PLOTLY_PATH: Final = "/static/plotly.min.js"

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def plotly_js() -> tuple[bytes, bytes, str]:
    """plotly.js from the installed plotly package: raw, gzipped, and an ETag."""
    import plotly
    from plotly.offline import get_plotlyjs

    raw = get_plotlyjs().encode()
    return raw, gzip.compress(raw, 6), f'"plotly-{plotly.__version__}"'


@cache
def _docs(title: str) -> str:
    return render_docs(title)


@router.get("/", response_class=HTMLResponse)
async def page(current: CurrentService, lang: Lang = None) -> HTMLResponse:
    """The counselor page in ``?lang=`` (zh unless en)."""
    chosen = lang if lang in ("zh", "en") else "zh"
    page_html = render_page(chosen, current.token is not None, current.settings.page_poll_seconds)
    return HTMLResponse(page_html)


@router.get("/docs", response_class=HTMLResponse)
async def docs_page(request: Request) -> HTMLResponse:
    """Swagger UI from the service's own files."""
    return HTMLResponse(_docs(request.app.title))


@router.get(PLOTLY_PATH)
async def plotly_file(request: Request) -> Response:
    """plotly.js, gzipped when the client takes it; 304 when the client has it."""
    raw, zipped, etag = await asyncio.to_thread(plotly_js)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(zipped, media_type="application/javascript", headers=headers)
    return Response(raw, media_type="application/javascript", headers=headers)


@router.get("/static/{name}")
async def asset(request: Request, name: str) -> Response:
    """One of the page's files (revalidated: 304 when the client has it)."""
    found = ASSETS.get(name)
    if found is None:
        raise StarletteHTTPException(404)
    headers = {"ETag": found.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
