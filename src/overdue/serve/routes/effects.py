"""``GET /api/v1/effects``: the published effects of approaches and preparation levers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from overdue.serve.deps import CurrentSnapshot
from overdue.serve.responses import model_response
from overdue.serve.schemas import ERRORS, EffectsResponse

router = APIRouter()


@router.get(
    "/effects",
    response_model=EffectsResponse,
    responses=ERRORS,
    summary="Adjusted agreement rates by approach and by preparation lever",
)
async def effects(served: CurrentSnapshot) -> Response:
    """The snapshot's effects (NaN as null) and which snapshot answered."""
    return model_response(EffectsResponse, {**served.snapshot.effects, "snapshot": served.info})
