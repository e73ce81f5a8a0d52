"""``POST /api/v1/estimate``: one case under each approach, with drivers and advice."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from overdue.case_input import CaseInput
from overdue.i18n import Lang
from overdue.plans import BudgetRules, budget_rules, plans_of
from overdue.serve.advice import advice
from overdue.serve.advising import (
    approach_plans,
    budget_document,
    own_plan_document,
    recommendation,
    what_if_items,
)
from overdue.serve.coverage import interval_check
from overdue.serve.deps import CurrentService, CurrentSnapshot, Language
from overdue.serve.drivers import driver_value
from overdue.serve.guard import is_json
from overdue.serve.guidance import Guidance, risks
from overdue.serve.i18n import NOTE, advising_text, driver_labels, error_message, value_label
from overdue.serve.limits import limits
from overdue.serve.parsing import read_case, validation_errors
from overdue.serve.responses import INTERNAL_ERROR, ApiError, model_response
from overdue.serve.schemas import ERRORS, ErrorResponse, EstimateResponse
from overdue.serve.snapshot import Served

log = logging.getLogger("overdue.serve")

router = APIRouter()

_BODY_SCHEMA = CaseInput.model_json_schema()
_BODY_SCHEMA.pop("title", None)


def answer(
    result: dict[str, Any],
    case: dict[str, Any],
    served: Served,
    lang: Lang,
    k: int,
    guidance: Guidance,
    rules: BudgetRules,
) -> dict[str, Any]:
    """The estimate with labels, plans, the recommendation, what-if levers, advice, risks,
    limits and the note in ``lang``, and its snapshot."""
    labels = driver_labels(lang)
    typical = plans_of(served.estimator.bundle.model.extra)
    plans = approach_plans(case, typical, rules, lang, k)
    approaches = [
        {
            **row,
            "label": value_label("approach", row["approach"], lang),
            "plan": plans.get(row["approach"]),
        }
        for row in result["approaches"]
    ]
    return {
        **result,
        "approaches": approaches,
        "recommendation": recommendation(approaches, plans, lang),
        "what_if": what_if_items(result["what_if"], case, lang),
        "budget": budget_document(case, rules, lang),
        "own_plan": own_plan_document(case, rules, lang),
        "plan_note": advising_text("plan_note", lang),
        "kept_note": advising_text("kept_note", lang),
        "drivers": [
            {
                **d,
                "label": labels.get(d["driver"], d["driver"]),
                "value": driver_value(d["driver"], case, lang),
            }
            for d in result["drivers"]
        ],
        "advice": advice(case, served.snapshot.effects, lang),
        "interval_check": interval_check(
            served.snapshot.model_card.get("self_check"), case.get("lender_type"), lang, k
        ),
        "risks": risks(guidance, case, lang),
        "limits": limits(served.snapshot.model_card, served.info, lang),
        "note": NOTE[lang],
        "lang": lang,
        "k": k,
        "snapshot": served.info,
    }


@router.post(
    "/estimate",
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
            "content": {"application/json": {"schema": _BODY_SCHEMA}},
            "description": "One case: the contract's context and action fields, by English "
            "name or Chinese alias; values as codes or Chinese aliases.",
        }
    },
    summary="Estimate one case under each of the six approaches",
)
async def estimate(
    request: Request, served: CurrentSnapshot, current: CurrentService, lang: Language
) -> Response:
    """After the gate: 415 unless JSON, 422 with every problem, else the estimate."""
    if not is_json(request.headers.get("content-type")):
        message = error_message("media_type", "body", lang, None)
        raise ApiError(
            415, [{"field": "body", "message": message, "reason": "unsupported_media_type"}]
        )
    case, problems = read_case(await request.body())
    if case is None:
        raise ApiError(422, validation_errors(problems, lang))
    try:
        result, fields = await current.batcher.estimate(served, case)
    except Exception as error:
        # the type only: a message could quote case values, and re-raising would let the
        # server log it with its traceback
        log.error("estimate failed: %s", type(error).__name__)
        raise ApiError(500, INTERNAL_ERROR) from None
    return model_response(
        EstimateResponse,
        answer(
            result,
            fields,
            served,
            lang,
            current.settings.k,
            current.guidance,
            budget_rules(current.settings),
        ),
    )
