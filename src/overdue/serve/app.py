"""The counselor service: a FastAPI app answering from the latest published snapshot.

``create_app(settings)`` wires the pieces: the snapshot holder (``snapshot``), the batched
estimator (``estimates``), the guards (``guard``), the page (``page``) and the advice
(``advice``). Routes: ``/`` (page), ``POST /api/v1/estimate``, ``GET /api/v1/effects``,
``GET /api/v1/model``, ``GET /healthz``, ``/docs`` and ``/openapi.json``. No route redirects
(a trailing slash is a 404, never a redirect built from the request's Host header).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import math
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from threadpoolctl import threadpool_limits

from overdue.case_input import INPUT_FIELDS, CaseInput, cases_frame
from overdue.config import Settings, get_settings
from overdue.contract import FIELD_BY_NAME, FIELD_BY_ZH
from overdue.serve.advice import advice
from overdue.serve.guard import BodyLimit, RateLimit, TokenBuckets, is_json, pii_reasons, token_ok
from overdue.serve.headers import SecurityHeaders, content_security_policy, style_sources
from overdue.serve.i18n import DRIVERS, NOTE, PII_KIND, error_message, pick_lang, value_label
from overdue.serve.page import ASSETS, render_docs, render_page
from overdue.serve.snapshot import Served, SnapshotHolder

log = logging.getLogger("overdue.serve")

API: Final = "/api/v1"
MAX_BATCH: Final = 32
PLOTLY_PATH: Final = "/static/plotly.min.js"
PARAMETERS: Final = ("lang",)
"""The request parameters an error may name besides the contract's fields."""
_BEARER: Final = HTTPBearer(auto_error=False, description="OVERDUE_API_TOKEN, when it is set")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
"""Declares the bearer token in the OpenAPI spec; the check itself is ``token_ok``."""
Lang = Annotated[str | None, Query(description="zh or en; else Accept-Language; else zh")]


# --- response documents (the OpenAPI spec) -------------------------------------------------------


class FieldError(BaseModel):
    """One problem with a request; never contains a submitted value."""

    field: str
    message: str
    reason: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API."""

    detail: list[FieldError]


class SnapshotInfo(BaseModel):
    """Which published snapshot answered."""

    run_id: str
    model_version: str
    data_snapshot_hash: str | None = None
    published_at: str | None = None


class ApproachEstimate(BaseModel):
    """P(agreement) had the debtor asked for this approach."""

    approach: str
    approach_zh: str
    label: str
    p: float
    low: float
    high: float
    difference_from_planned: float | None
    similar_cases: int | str
    thin_data: bool


class Driver(BaseModel):
    """A group of features and how much it moves this case's chance against a typical case."""

    driver: str
    label: str
    change: float


class Advice(BaseModel):
    """Practical advice from a measured preparation effect."""

    lever: str
    kind: str
    text: str
    better_level: str
    better_rate: float
    better_interval: list[float]
    other_level: str
    other_rate: float
    other_interval: list[float]
    certain: bool
    overlap_warning: bool


class EstimateResponse(BaseModel):
    """Everything a counselor sees for one case (the page draws this)."""

    case_id: str
    model_version: str
    run_id: str | None
    planned_approach: str
    approaches: list[ApproachEstimate]
    drivers: list[Driver]
    advice: list[Advice]
    note: str
    lang: str
    k: int
    snapshot: SnapshotInfo


class EffectEntry(BaseModel):
    """Adjusted agreement rate had every case taken this level (null where suppressed)."""

    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    n_asked: int | None = None
    overlap_warning: bool | None = None
    suppressed: bool | None = None


class EffectsResponse(BaseModel):
    """The published effects: approaches (population, subgroups) and preparation levers."""

    model_version: str
    run_id: str | None = None
    outcome: str | None = None
    population: dict[str, EffectEntry]
    subgroups: dict[str, dict[str, EffectEntry]]
    levers: dict[str, dict[str, EffectEntry]]
    snapshot: SnapshotInfo


class ModelCard(BaseModel):
    """What the model is, what it learnt from, how good it is and what it cannot do."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    run_id: str | None = None
    trained_at: str | None = None
    outcome: str | None = None
    data_snapshot_hash: str | None = None
    data_period: dict[str, str | None] | None = None
    cases: int | None = None
    labelled_cases: int | None = None
    split_sizes: dict[str, int] | None = None
    metrics: dict[str, dict[str, float | None]] | None = None
    calibration: list[dict[str, Any]] = []
    drivers: list[dict[str, Any]] = []
    k: int | None = None
    known_limits: list[str] = []
    snapshot: SnapshotInfo


class Health(BaseModel):
    """Whether the service has a snapshot to answer from."""

    status: str
    model_version: str | None = None
    run_id: str | None = None
    error: str | None = None


# --- helpers -------------------------------------------------------------------------------------


def finite(value: Any) -> Any:
    """A JSON document with NaN and infinities as null (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
    return Response(payload, status, headers=headers, media_type="application/json")


def _errors(status: int, items: list[dict[str, str]], headers: dict[str, str] | None = None):
    return _json(status, {"detail": items}, headers)


def _field_of(loc: tuple[Any, ...]) -> str:
    """The field a problem is about: a contract field or one of our parameters, else ``body``
    (never a name taken from the request)."""
    parts = [str(p) for p in loc if p not in ("body", "query", "header")]
    name = parts[0] if parts else "body"
    return name if name in FIELD_BY_NAME or name in PARAMETERS else "body"


def validation_errors(errors: list[Any], lang: str) -> list[dict[str, str]]:
    """pydantic's errors as {field, message, reason} in ``lang``, without the inputs."""
    out = []
    for item in errors:
        field = _field_of(tuple(item.get("loc", ())))
        kind = str(item.get("type", "invalid"))
        context = item.get("ctx")
        reason = f"{kind}:{field}"
        if kind == "pii":
            pii = str((context or {}).get("kind"))
            reason = f"pii:{pii}:{field}"
            context = {"kind": PII_KIND[lang].get(pii, pii)}
        out.append(
            {
                "field": field,
                "message": error_message(kind, field, lang, context),
                "reason": reason,
            }
        )
    return out


def read_case(raw: bytes) -> tuple[BaseModel | None, list[dict[str, Any]]]:
    """A request body as a validated case, or its problems (pydantic's error form).

    In order: JSON, personal data anywhere (refused before anything else looks at the values),
    one object, contract field names (Chinese aliases accepted), the contract's types and
    ranges (every number an input has is bounded, so any value that passes fits the typed frame).
    """
    try:
        document = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # RecursionError: nested beyond the parser
        kind = "too_deep" if isinstance(error, RecursionError) else "json_invalid"
        return None, [{"type": kind, "loc": ("body",)}]
    try:
        found = pii_reasons(document)
    except RecursionError:
        return None, [{"type": "too_deep", "loc": ("body",)}]
    if found:
        return None, [
            {"type": "pii", "loc": ("body", field), "ctx": {"kind": kind}} for kind, field in found
        ]
    if not isinstance(document, dict):
        return None, [{"type": "model_type", "loc": ("body",)}]
    record, unknown = case_record(document)
    problems: list[Any] = [
        {"type": "extra_forbidden", "loc": ("body",), "ctx": {"position": position}}
        for position in unknown
    ]
    try:
        case = CaseInput.model_validate(record)
    except ValidationError as error:
        return None, problems + error.errors(include_input=False, include_url=False)
    return (None, problems) if problems else (case, [])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def case_record(document: Any) -> tuple[dict[str, Any], list[int]]:
    """Keys as contract names (Chinese aliases accepted); other roles' fields left out.

    Mirrors how ``overdue estimate --case`` reads a case file; returns the positions (from 1) of
    unknown keys apart, so that an error can point at one without repeating it.
    """
    record: dict[str, Any] = {}
    unknown: list[int] = []
    for position, (key, value) in enumerate(document.items(), start=1):
        field = FIELD_BY_NAME.get(key) or FIELD_BY_ZH.get(key)
        if field is None:
            unknown.append(position)
        elif field.name in INPUT_FIELDS and value is not None and value != "":
            record[field.name] = value
    return record, unknown


def estimate_batch(
    served: Served, cases: list[BaseModel]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(estimate, case fields) for each validated case, estimated together.

    A case without an id is ``case-1``, as ``overdue estimate --case`` names it.
    """
    frame = cases_frame(cases)
    ids = [getattr(case, "case_id", None) or "case-1" for case in cases]
    results = served.estimator.estimate_frame(frame, ids)
    return list(zip(results, frame.rows(named=True), strict=True))


class Batcher:
    """Gathers the cases that arrive while a batch is being estimated into the next batch.

    A batch costs a few ms of fixed overhead (polars queries building the features) and well
    under a millisecond per case: estimated together, 8 cases cost little more than one, so
    latency stays flat under load.
    """

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self.queue: asyncio.Queue[tuple[Served, BaseModel, asyncio.Future[Any]]] | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start taking cases (inside the running event loop)."""
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop taking cases."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def estimate(
        self, served: Served, case: BaseModel
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The estimate of one case and its fields as the estimator read them."""
        assert self.queue is not None, "the batcher runs inside the app's lifespan"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((served, case, future))
        return await future

    async def _run(self) -> None:
        assert self.queue is not None
        while True:
            items = [await self.queue.get()]
            # let the handlers that are ready to run enqueue their cases first
            for _ in range(2):
                await asyncio.sleep(0)
            while len(items) < self.max_batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            groups: dict[int, list[tuple[Served, BaseModel, asyncio.Future[Any]]]] = {}
            for item in items:
                groups.setdefault(id(item[0]), []).append(item)
            for group in groups.values():
                cases = [case for _, case, _ in group]
                try:
                    # inline on the event loop: the work is CPU-bound and holds the GIL; a
                    # worker thread only added GIL hand-offs (requests wait in socket buffers
                    # meanwhile and form the next batch)
                    results = estimate_batch(group[0][0], cases)
                except Exception as error:  # answered as a 500 to each waiting request
                    for _, _, future in group:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, _, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)


@lru_cache(maxsize=1)
def _plotly_js() -> tuple[bytes, bytes, str]:
    """plotly.js from the installed plotly package: raw, gzipped, and an ETag."""
    import plotly
    from plotly.offline import get_plotlyjs

    raw = get_plotlyjs().encode()
    return raw, gzip.compress(raw, 6), f'"plotly-{plotly.__version__}"'


# --- the app -------------------------------------------------------------------------------------

ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong bearer token"},
    422: {"model": ErrorResponse, "description": "invalid request"},
    429: {"model": ErrorResponse, "description": "too many requests from this client"},
    503: {"model": ErrorResponse, "description": "no published snapshot yet"},
}


class Service:
    """What the routes share: settings, token, the snapshot holder and the batcher."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        secret = settings.api_token.get_secret_value() if settings.api_token else ""
        self.token = secret or None
        self.holder = SnapshotHolder(
            settings.published_dir, settings.k, settings.snapshot_check_seconds
        )
        self.batcher = Batcher()

    def gate(self, request: Request, lang: str) -> tuple[Served | None, Response | None]:
        """The snapshot to answer from, or the refusal (401 without the token, 503 without one)."""
        if not token_ok(self.token, request.headers.get("authorization")):
            message = {"zh": "缺少或错误的访问令牌", "en": "missing or wrong bearer token"}[lang]
            refusal = [{"field": "authorization", "message": message, "reason": "unauthorized"}]
            return None, _errors(401, refusal, {"WWW-Authenticate": "Bearer"})
        served = self.holder.current()
        if served is None:
            message = {
                "zh": "还没有发布的模型快照；请先运行流水线",
                "en": "no published snapshot yet; run the pipeline first",
            }[lang]
            missing = [{"field": "snapshot", "message": message, "reason": "no_snapshot"}]
            return None, _errors(503, missing)
        return served, None

    def answer(
        self, result: dict[str, Any], case: dict[str, Any], served: Served, lang: str
    ) -> dict[str, Any]:
        """The estimate with labels, advice and the note in ``lang``, and its snapshot."""
        labels = DRIVERS[lang]
        return {
            **result,
            "approaches": [
                {**row, "label": value_label("approach", row["approach"], lang)}
                for row in result["approaches"]
            ],
            "drivers": [
                {**d, "label": labels.get(d["driver"], d["driver"])} for d in result["drivers"]
            ],
            "advice": advice(case, served.snapshot.effects, lang),
            "note": NOTE[lang],
            "lang": lang,
            "k": self.settings.k,
            "snapshot": served.info,
        }


def _lang(request: Request, lang: str | None) -> str:
    return pick_lang(lang, request.headers.get("accept-language"))


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
        docs_url=None,  # ours below: the same Swagger UI without an inline script
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.service = service

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # 404 and 405 as the API's error document, never repeating the path
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        problem = {"field": "path", "message": reason.replace("_", " "), "reason": reason}
        return _errors(exc.status_code, [problem], dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        lang = pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))
        return _errors(422, validation_errors(list(exc.errors()), lang))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # type only: a message or traceback locals could hold case values
        log.error("internal error on %s: %s", request.url.path, type(exc).__name__)
        return _errors(500, [{"field": "server", "message": "internal error", "reason": "error"}])

    _page_routes(app, service)
    _api_routes(app, service)
    # the last added runs first: headers on every answer; a client over its budget is refused
    # before its body is read
    app.add_middleware(BodyLimit, max_bytes=service.settings.max_body_bytes)
    app.add_middleware(
        RateLimit,
        buckets=TokenBuckets(
            service.settings.rate_limit_per_minute, service.settings.rate_limit_burst
        ),
        exempt=("/healthz", PLOTLY_PATH, *(f"/static/{name}" for name in ASSETS)),
    )
    styles = style_sources(_plotly_js()[0])  # plotly.js creates two <style> elements
    app.add_middleware(SecurityHeaders, policy=content_security_policy(styles))
    return app


def _page_routes(app: FastAPI, service: Service) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(lang: Lang = None) -> HTMLResponse:
        chosen = lang if lang in ("zh", "en") else "zh"
        return HTMLResponse(render_page(chosen, service.token is not None))

    docs = render_docs(app.title)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(docs)

    @app.get(PLOTLY_PATH, include_in_schema=False)
    async def plotly_js(request: Request) -> Response:
        raw, zipped, etag = await asyncio.to_thread(_plotly_js)
        headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(zipped, media_type="application/javascript", headers=headers)
        return Response(raw, media_type="application/javascript", headers=headers)

    @app.get("/static/{name}", include_in_schema=False)
    async def asset(request: Request, name: str) -> Response:
        found = ASSETS.get(name)
        if found is None:
            raise StarletteHTTPException(404)
        headers = {"ETag": found.etag, "Cache-Control": "no-cache"}  # revalidated: 304
        if request.headers.get("if-none-match") == found.etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)


def _api_routes(app: FastAPI, service: Service) -> None:
    holder = service.holder

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}})
    async def healthz() -> Response:
        served = holder.current()
        if served is None:
            return _json(503, {"status": "no_snapshot", "error": holder.error})
        return _json(
            200,
            {
                "status": "ok",
                "model_version": served.model_version,
                "run_id": served.info["run_id"],
                "error": holder.error,
            },
        )

    body_schema = CaseInput.model_json_schema()
    body_schema.pop("title", None)

    @app.post(
        f"{API}/estimate",
        response_model=EstimateResponse,
        responses={
            **ERRORS,
            413: {"model": ErrorResponse, "description": "request body too large"},
            415: {"model": ErrorResponse, "description": "the body is not sent as JSON"},
            422: {"model": ErrorResponse, "description": "invalid case or personal data"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
                "description": "One case: the contract's context and action fields, by English "
                "name or Chinese alias; values as codes or Chinese aliases.",
            }
        },
        summary="Estimate one case under each of the six approaches",
    )
    async def estimate(request: Request, _: Credentials, lang: Lang = None) -> Response:
        language = _lang(request, lang)
        served, refusal = service.gate(request, language)
        if served is None:
            return refusal  # type: ignore[return-value]
        if not is_json(request.headers.get("content-type")):
            message = error_message("media_type", "body", language, None)
            wrong = [{"field": "body", "message": message, "reason": "unsupported_media_type"}]
            return _errors(415, wrong)
        case, problems = read_case(await request.body())
        if case is None:
            return _errors(422, validation_errors(problems, language))
        try:
            result, fields = await service.batcher.estimate(served, case)
        except Exception as error:
            # the type only: a message could quote case values, and re-raising would let the
            # server log it with its traceback
            log.error("estimate failed: %s", type(error).__name__)
            return _errors(
                500, [{"field": "server", "message": "internal error", "reason": "error"}]
            )
        return _json(200, service.answer(result, fields, served, language))

    @app.get(
        f"{API}/effects",
        response_model=EffectsResponse,
        responses=ERRORS,
        summary="Adjusted agreement rates by approach and by preparation lever",
    )
    async def effects(request: Request, _: Credentials, lang: Lang = None) -> Response:
        served, refusal = service.gate(request, _lang(request, lang))
        if served is None:
            return refusal  # type: ignore[return-value]
        return _json(200, {**finite(served.snapshot.effects), "snapshot": served.info})

    @app.get(
        f"{API}/model",
        response_model=ModelCard,
        responses=ERRORS,
        summary="The model card: data period, size, metrics, calibration, known limits",
    )
    async def model(request: Request, _: Credentials, lang: Lang = None) -> Response:
        served, refusal = service.gate(request, _lang(request, lang))
        if served is None:
            return refusal  # type: ignore[return-value]
        return _json(200, {**finite(served.snapshot.model_card), "snapshot": served.info})
