"""``GET /api/v1/model``: the model card of the published snapshot."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from overdue.serve.deps import CurrentSnapshot
from overdue.serve.responses import model_response
from overdue.serve.schemas import ERRORS, ModelCard

router = APIRouter()


@router.get(
    "/model",
    response_model=ModelCard,
    responses=ERRORS,
    summary="The model card: data period, size, metrics, calibration, known limits",
)
async def model(served: CurrentSnapshot) -> Response:
    """The snapshot's model card (NaN as null) and which snapshot answered."""
    return model_response(ModelCard, {**served.snapshot.model_card, "snapshot": served.info})
