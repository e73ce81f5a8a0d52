"""The routes' dependencies: the shared service state, the answer's language, and the gate
(bearer token, then a published snapshot) that every ``/api`` route passes through.

All are ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, a hand-off that
costs more than the check itself."""

from __future__ import annotations

from typing import Annotated, Final, cast

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from overdue.config import Settings
from overdue.i18n import Lang as Language_
from overdue.serve.batching import Batcher
from overdue.serve.guard import token_ok
from overdue.serve.guidance import DEFAULT_GUIDANCE, load_guidance
from overdue.serve.i18n import pick_lang
from overdue.serve.responses import ApiError
from overdue.serve.snapshot import UNAVAILABLE, Served, SnapshotHolder

_BEARER: Final = HTTPBearer(auto_error=False, description="OVERDUE_API_TOKEN, when it is set")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
"""Declares the bearer token in the OpenAPI spec; the check itself is ``token_ok``."""
Lang = Annotated[str | None, Query(description="zh or en; else Accept-Language; else zh")]


class Service:
    """What the routes share: settings, token, the snapshot holder, the batcher and the
    risks-and-rights notes (checked here, at start-up: a bad file stops the service)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        secret = settings.api_token.get_secret_value() if settings.api_token else ""
        self.token = secret or None
        self.holder = SnapshotHolder(
            settings.published_dir, settings.k, settings.snapshot_check_seconds
        )
        self.batcher = Batcher()
        self.guidance = load_guidance(settings.guidance_file or DEFAULT_GUIDANCE)


async def service(request: Request) -> Service:
    """The app's ``Service`` (set by ``create_app``)."""
    found: Service = request.app.state.service
    return found


CurrentService = Annotated[Service, Depends(service)]


async def language(request: Request, lang: Lang = None) -> Language_:
    """The answer's language: ``?lang=``, else Accept-Language, else zh."""
    # pick_lang answers one of LANGS
    return cast(Language_, pick_lang(lang, request.headers.get("accept-language")))


Language = Annotated[Language_, Depends(language)]


async def snapshot(
    request: Request, current: CurrentService, lang: Language, _: Credentials
) -> Served:
    """The snapshot to answer from; 401 without the token (when one is set), 503 without one."""
    if not token_ok(current.token, request.headers.get("authorization")):
        message = {"zh": "缺少或错误的访问令牌", "en": "missing or wrong bearer token"}[lang]
        refusal = [{"field": "authorization", "message": message, "reason": "unauthorized"}]
        raise ApiError(401, refusal, {"WWW-Authenticate": "Bearer"})
    served = current.holder.current()
    if served is None:
        message = UNAVAILABLE[current.holder.unavailable][lang]
        raise ApiError(503, [{"field": "snapshot", "message": message, "reason": "no_snapshot"}])
    return served


CurrentSnapshot = Annotated[Served, Depends(snapshot)]
"""The published snapshot to answer from, once the request has passed the gate."""
