"""``GET /healthz``: whether the service has a snapshot to answer from (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from overdue.serve.deps import CurrentService
from overdue.serve.responses import model_response
from overdue.serve.schemas import Health

router = APIRouter()


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(current: CurrentService) -> Response:
    """ok with the served model version, or 503 with why nothing is served."""
    holder = current.holder
    served = holder.current()
    if served is None:
        return model_response(Health, {"status": "no_snapshot", "error": holder.error}, 503)
    return model_response(
        Health,
        {
            "status": "ok",
            "model_version": served.model_version,
            "run_id": served.info["run_id"],
            "error": holder.error,
        },
    )
