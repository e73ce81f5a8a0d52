"""The counselor's page in Debian's Chromium: fill the form in Chinese and in English, read the
six estimates, their intervals and the advice; nothing is fetched from outside the service, and
neither the page nor /docs breaks the Content-Security-Policy (a violation is a console error)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page
from serve_support import Server

from browser_support import Visit, chromium
from browser_support import visit as visit_url
from overdue.contract import APPROACHES


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh profile."""
    with chromium(tmp_path_factory.mktemp("chromium-serve")) as context:
        yield context


def visit(context: BrowserContext, url: str) -> Visit:
    """Open ``url``; any request that leaves the service is recorded and aborted."""
    return visit_url(context, url, allowed=url.split("/?", maxsplit=1)[0].rstrip("/"))


def pct(p: float) -> str:
    return f"{100 * p:.1f}%"


def submit_and_read(page: Page) -> tuple[dict[str, Any], dict[str, dict[str, str]], list[str]]:
    """Submit the form; the API's answer and what the page shows (table rows, advice)."""
    with page.expect_response(lambda r: "/api/v1/estimate" in r.url, timeout=60_000) as answer:
        page.click("#submit")
    page.wait_for_selector("#results:not([hidden]) #estimates tbody tr", timeout=30_000)
    rows = {}
    for row in page.query_selector_all("#estimates tbody tr"):
        code = row.get_attribute("data-approach") or ""
        rows[code] = {  # every row has these cells: a missing one fails here (None has no text)
            cell: (row.query_selector(f"td.{cell}").inner_text() or "").strip()  # type: ignore[union-attr]
            for cell in ("label", "p", "interval", "similar")
        }
    advice = [li.inner_text() for li in page.query_selector_all("#advice li")]
    return answer.value.json(), rows, advice


def check_table(answer: dict[str, Any], rows: dict[str, dict[str, str]]) -> None:
    assert list(rows) == list(APPROACHES)
    for item in answer["approaches"]:
        shown = rows[item["approach"]]
        assert shown["p"] == pct(item["p"])
        assert shown["interval"] == f"{pct(item['low'])} – {pct(item['high'])}"
        assert shown["similar"] == str(item["similar_cases"])
        assert 0 <= item["low"] <= item["p"] <= item["high"] <= 1


def test_a_counselor_fills_the_form_in_chinese(browser: BrowserContext, server: Server) -> None:
    """Chinese by default: labels from the contract, six estimates, intervals, advice."""
    seen = visit(browser, f"{server.url}/")
    page = seen.page
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "不是对任何结果的承诺" in page.inner_text("#promise")
    assert page.inner_text("label[for=f-monthly_income]").startswith("月收入")
    page.fill("#f-monthly_income", "12,000")
    page.fill("#f-annual_rate", "24%")
    page.select_option("#f-employment", label="个体/自雇")
    page.select_option("#f-approach", label="停息分期")
    page.select_option("#f-lender_type", label="互联网平台")
    page.select_option("#f-repayment_plan_prepared", label="否")
    page.check("#f-doc_income_proof")
    answer, rows, advice = submit_and_read(page)
    assert answer["lang"] == "zh" and answer["planned_approach"] == "stop_interest_installment"
    check_table(answer, rows)
    assert rows["stop_interest_installment"]["label"] == "停息分期（计划）"
    assert advice == [item["text"] for item in answer["advice"]] and advice
    assert any("还款计划" in text for text in advice)
    assert page.inner_text("#note") == answer["note"]
    assert page.inner_text("#interval-check") == answer["interval_check"]["text"]
    assert "次/100 次包含真实比例" in answer["interval_check"]["text"]
    assert page.locator("#chart .main-svg").count() > 0, "the Plotly chart is drawn"
    assert seen.outside_requests == [] and seen.console_errors == []


def test_a_researcher_uses_the_english_page(browser: BrowserContext, server: Server) -> None:
    """The English switch: English labels and answers, the same kind of result."""
    seen = visit(browser, f"{server.url}/")
    seen.page.click("#lang-switch")
    page = seen.page
    page.wait_for_url("**/?lang=en")
    assert page.inner_text("label[for=f-monthly_income]").startswith("Monthly income")
    page.fill("#f-monthly_income", "5200")
    page.fill("#f-days_overdue_at_contact", "240")
    page.select_option("#f-approach", label="principal discount")
    page.select_option("#f-professional_help", label="paid agent")
    answer, rows, advice = submit_and_read(page)
    assert answer["lang"] == "en" and answer["planned_approach"] == "principal_discount"
    check_table(answer, rows)
    assert rows["principal_discount"]["label"] == "principal discount (planned)"
    assert advice and all(text.isascii() for text in advice)
    assert "not a promise" in page.inner_text("#note")
    assert page.inner_text("#interval-check") == answer["interval_check"]["text"]
    assert "our 95% ranges held the true rate" in page.inner_text("#interval-check")
    assert seen.outside_requests == [] and seen.console_errors == []


def test_the_page_names_bad_fields_without_losing_the_form(
    browser: BrowserContext, server: Server
) -> None:
    """A wrong value is named next to its field, in the page's language; the form is kept."""
    page = visit(browser, f"{server.url}/").page
    page.fill("#f-attitude_score", "9")
    page.fill("#f-monthly_income", "")
    with page.expect_response(lambda r: "/api/v1/estimate" in r.url) as response:
        page.click("#submit")
    assert response.value.status == 422
    page.wait_for_selector("#e-attitude_score:not(:empty)")
    assert page.inner_text("#e-attitude_score") == "不能大于 5"
    assert page.inner_text("#e-monthly_income") == "必填"
    assert page.input_value("#f-attitude_score") == "9"
    assert page.locator("#results").is_hidden()


def test_the_docs_page_works_under_the_content_security_policy(
    browser: BrowserContext, server: Server
) -> None:
    """Swagger UI at /docs lists the API's routes and runs a request, from local files only,
    without any Content-Security-Policy violation."""
    seen = visit_url(browser, f"{server.url}/docs", allowed=server.url)
    page = seen.page
    page.wait_for_selector(".opblock", timeout=30_000)
    paths = [p.inner_text() for p in page.query_selector_all(".opblock-summary-path")]
    assert {"/healthz", "/api/v1/estimate", "/api/v1/effects", "/api/v1/model"} <= set(paths)
    page.click("#operations-default-healthz_healthz_get .opblock-summary")
    page.click("button.try-out__btn")
    with page.expect_response(lambda r: r.url.endswith("/healthz")) as answer:
        page.click("button.execute")
    assert answer.value.status == 200
    assert seen.outside_requests == [] and seen.console_errors == []
