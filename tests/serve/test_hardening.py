"""What an attacker or a careless client sends to a real `overdue serve` process: forged Host
headers, other content types, tokens in the URL, deep nesting, keys and values that must not be
echoed, and numbers in disguise; plus the headers every answer carries."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serve_support import CASE_EN, CASE_ZH, Server, log_text

from overdue.serve.server import QueryFreeAccessLog, TypeOnlyErrors, logged_path

ESTIMATE = "/api/v1/estimate"


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def reasons(response: httpx.Response) -> list[str]:
    return [item["reason"] for item in response.json()["detail"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{ESTIMATE}/"),
        ("GET", "/api/v1/effects/"),
        ("GET", "/api/v1/model/"),
        ("GET", "/healthz/"),
        ("GET", "/docs/"),
    ],
)
def test_a_trailing_slash_never_redirects_to_the_host_header(
    client: httpx.Client, method: str, path: str
) -> None:
    """With a forged Host, a trailing slash is a 404 in the API's error form, not a redirect."""
    response = client.request(method, path, headers={"Host": "evil.example"}, json=CASE_EN)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "evil.example" not in response.text
    assert reasons(response) == ["not_found"]


@pytest.mark.parametrize(
    ("lang", "words"),
    [("zh", ("没有这个地址", "请求内容太大")), ("en", ("not found", "request body too large"))],
)
def test_refusals_before_any_route_speak_the_requests_language(
    client: httpx.Client, lang: str, words: tuple[str, str]
) -> None:
    """A 404 and a 413 (refused by the body limit, before FastAPI) in ``?lang=``'s language."""
    missing = client.get(f"/api/v1/nothing?lang={lang}")
    assert missing.status_code == 404 and missing.json()["detail"][0]["message"] == words[0]
    big = client.post(f"/api/v1/estimate?lang={lang}", content=b"x" * 200_000)
    assert big.status_code == 413 and big.json()["detail"][0]["message"] == words[1]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/?lang=en"),
        ("GET", "/docs"),
        ("GET", "/static/page.js"),
        ("GET", "/healthz"),
        ("GET", "/api/v1/model"),
        ("POST", ESTIMATE),
        ("GET", "/no-such-page"),
    ],
)
def test_every_answer_carries_the_security_headers(
    client: httpx.Client, method: str, path: str
) -> None:
    """CSP without inline script, no framing, no sniffing, no referrer: on pages and API."""
    response = client.request(method, path, json={} if method == "POST" else None)
    headers = response.headers
    policy = dict(
        part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_has_no_inline_script_or_style(client: httpx.Client, lang: str) -> None:
    """Scripts and styles are the service's files; the only inline script is JSON data."""
    page = client.get(f"/?lang={lang}").text
    assert "<style" not in page and " style=" not in page
    for tag in page.split("<script")[1:]:
        opening = tag.split(">", 1)[0]
        assert "src=" in opening or 'type="application/json"' in opening, opening
    for asset in ("/static/page.js", "/static/page.css", "/static/plotly.min.js"):
        assert asset in page
        assert client.get(asset).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/plain"}, {}, {"Content-Type": "application/x-www-form-urlencoded"}],
)
def test_the_estimate_route_requires_json(client: httpx.Client, headers: dict[str, str]) -> None:
    """A body sent as another type, or with no type, is refused with 415 in the error form."""
    body = json.dumps(CASE_EN).encode()
    response = client.post(ESTIMATE, content=body, headers=headers)
    assert response.status_code == 415
    assert reasons(response) == ["unsupported_media_type"]
    sent = client.post(
        ESTIMATE, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert sent.status_code == 200


def test_a_token_in_the_query_string_is_not_logged(client: httpx.Client, server: Server) -> None:
    """The access log names the paths of requests, never their query strings nor a path
    segment that could be personal data."""
    secret = f"SECRET-{uuid.uuid4().hex}"
    client.get(f"/api/v1/model?token={secret}")
    client.post(f"{ESTIMATE}?lang=en&token={secret}", json=CASE_EN)
    client.get(f"/api/v1/13812345678/{secret}@example.com")
    client.get(f"/?token={secret}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and '"GET / HTTP/1.1" 200' not in log_text(server):
        time.sleep(0.1)
    text = log_text(server)
    assert secret not in text and "token=" not in text and "13812345678" not in text
    assert '"GET /api/v1/*/* HTTP/1.1" 404' in text
    assert '"GET /api/v1/model HTTP/1.1" 200' in text
    assert '"POST /api/v1/estimate HTTP/1.1" 200' in text


@pytest.mark.parametrize(
    "body", ["[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000], ids=["arrays", "objects"]
)
def test_a_body_nested_1000_deep_is_a_422_and_logs_nothing(
    client: httpx.Client, server: Server, body: str
) -> None:
    """Nesting beyond the JSON parser is too_deep (422), with no traceback in the log."""
    response = client.post(
        ESTIMATE, content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert reasons(response) == ["too_deep:body"]
    text = log_text(server)
    assert "Traceback" not in text and "RecursionError" not in text


@pytest.mark.parametrize(
    "key", ["favourite_colour", "510107198503121231", "备注 13812345678", "x" * 60]
)
def test_an_unknown_key_is_reported_by_position_never_echoed(
    client: httpx.Client, key: str
) -> None:
    """An unknown key (personal data or not) is named by its position, not repeated."""
    response = client.post(ESTIMATE, json={**CASE_EN, key: "blue"})
    assert response.status_code == 422
    assert key not in response.text and "blue" not in response.text
    for item in response.json()["detail"]:
        assert item["field"] == "body"
    if reasons(response) == ["extra_forbidden:body"]:  # else refused as personal data
        message = response.json()["detail"][0]["message"]
        assert str(len(CASE_EN) + 1) in message


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("dependents", True, "int_type"),
        ("dependents", False, "int_type"),
        ("lenders_in_arrears", "1_2", "int_parsing"),
        ("monthly_income", "12_000", "float_parsing"),
        ("monthly_income", "1_000.5", "float_parsing"),
        ("monthly_income", True, "float_type"),
        ("annual_rate", "2_4%", "float_parsing"),
        ("principal", "١٢٠٠٠", "float_parsing"),  # other scripts' digits (full-width ones are read)
        ("principal", "1,2,3", "float_parsing"),
    ],
)
def test_booleans_and_underscored_numbers_are_refused(
    client: httpx.Client, field: str, value: Any, reason: str
) -> None:
    """true/false and Python-only spellings are not numbers: 422 naming the field."""
    response = client.post(f"{ESTIMATE}?lang=en", json={**CASE_EN, field: value})
    assert response.status_code == 422
    assert reasons(response) == [f"{reason}:{field}"]


def test_numbers_as_the_page_and_exports_write_them_are_accepted(client: httpx.Client) -> None:
    """The page sends text: 12,000, 24%, 0.24, 1e4, " 5 " and Chinese aliases all pass."""
    texts = {
        **CASE_EN,
        "monthly_income": "12,000",
        "monthly_essential_expenses": "6，500.5",
        "annual_rate": "24%",
        "principal": "1e4",
        "outstanding_balance": " 15000 ",
        "lenders_in_arrears": "3",
        "dependents": "2.0",
    }
    assert client.post(ESTIMATE, json=texts).status_code == 200
    assert client.post(ESTIMATE, json={**texts, "annual_rate": "0.24"}).status_code == 200
    assert client.post(ESTIMATE, json=CASE_ZH).status_code == 200


def test_log_filters_drop_query_strings_and_tracebacks() -> None:
    """The access filter drops a path's query; the error filter keeps an exception's type only."""
    access = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/api/v1/model?token=abc", "1.1", 200),
        None,
    )
    assert QueryFreeAccessLog().filter(access)
    assert access.getMessage() == '127.0.0.1:1 - "GET /api/v1/model HTTP/1.1" 200'
    odd = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GE13812345678", "/", "1.1", 405), None,
    )  # fmt: skip
    assert QueryFreeAccessLog().filter(odd)
    assert odd.getMessage() == '127.0.0.1:1 - "* / HTTP/1.1" 405'  # a method is the client's word
    assert logged_path("/static-offline-docs/swagger-ui-bundle.js?v=1") == (
        "/static-offline-docs/swagger-ui-bundle.js"
    )
    for path in ("/13812345678", "/张三", "/a@b.cn", "/Tel.1381234", "/x%20y"):
        assert logged_path(path) == "/*", path
    try:
        raise ValueError("case value 13812345678")
    except ValueError:
        failed = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application\n", (), None
        )
        failed.exc_info = sys.exc_info()
    assert TypeOnlyErrors().filter(failed)
    formatted = logging.Formatter().format(failed)
    assert formatted == "Exception in ASGI application (ValueError)"
