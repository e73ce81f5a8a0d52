"""Answers as bytes: each document validated against its declared model and serialised from it.

The routes return a ``Response`` built here rather than the model itself: FastAPI would validate
a returned model a second time and encode it through ``jsonable_encoder``; pydantic's own
serialiser (NaN and infinities as null, text as UTF-8) does it in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException
from fastapi.responses import Response
from pydantic import BaseModel

from overdue.serve.schemas import ErrorResponse


def model_response(
    model: type[BaseModel], data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``data`` validated as ``model`` and sent as JSON (fields it did not set left out)."""
    body = model.model_validate(data).model_dump_json(exclude_unset=True)
    return Response(body, status, headers=headers, media_type="application/json")


def error_response(
    status: int, problems: list[dict[str, str]], headers: Mapping[str, str] | None = None
) -> Response:
    """The API's error document: ``{"detail": [{field, message, reason}, ...]}``."""
    return model_response(ErrorResponse, {"detail": problems}, status, headers)


class ApiError(HTTPException):
    """A refusal with its problems ({field, message, reason}), answered as ``error_response``."""

    def __init__(
        self, status: int, problems: list[dict[str, str]], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, detail=problems, headers=headers)
        self.problems = problems


INTERNAL_ERROR: list[dict[str, str]] = [
    {"field": "server", "message": "internal error", "reason": "error"}
]
"""A 500's problem: the type of the failure goes to the log only (its message could quote case
values)."""
