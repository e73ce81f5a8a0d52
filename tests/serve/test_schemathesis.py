"""schemathesis against the running server's /openapi.json: no server error, nothing off-spec.

Bounded: at most ``EXAMPLES`` generated requests per operation and mode (data that fits the
spec, and data that does not), derandomized so a run is repeatable. The operations are driven
with hypothesis directly: schemathesis' lazy pytest fixture (``from_fixture``) relies on a
pytest attribute that pytest 9 removed.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serve_support import Server

EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = (
    "POST /api/v1/estimate",
    "GET /api/v1/effects",
    "GET /api/v1/model",
    "GET /healthz",
)
RUNS = [
    (label, mode)
    for label in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (label == "GET /healthz" and mode is GenerationMode.NEGATIVE)  # nothing to negate
]


@pytest.mark.parametrize(("label", "mode"), RUNS)
def test_the_api_keeps_its_spec(server: Server, label: str, mode: GenerationMode) -> None:
    """Whatever schemathesis sends, the answer is documented and never a 5xx."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations[f"{operation.method.upper()} {operation.path}"] = operation
    assert set(OPERATIONS) <= set(operations)

    @given(case=operations[label].as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    check()
