"""The counselor's page in Debian's Chromium: fill the form in Chinese and in English, read the
six estimates, their intervals and the advice; nothing is fetched from outside the service, and
neither the page nor /docs breaks the Content-Security-Policy (a violation is a console error)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page
from serve_support import (
    COURT_WITH_AGENT,
    JOBLESS_PLATFORM,
    RETIREE_CARD,
    Published,
    Server,
    start_server,
    stop,
)

from browser_support import Visit, chromium
from browser_support import visit as visit_url
from overdue.contract import APPROACHES
from overdue.i18n import LANGS
from overdue.models.run import latest_bundle_folder
from overdue.publish import publish_snapshot
from overdue.serve.snapshot import UNAVAILABLE


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
    """Every approach's row as the answer says; a range the self-check found too narrow for
    its approach is marked."""
    assert list(rows) == list(APPROACHES)
    narrow = {n["approach"] for n in answer["interval_check"]["narrow_approaches"]}
    for item in answer["approaches"]:
        shown = rows[item["approach"]]
        assert shown["p"] == pct(item["p"])
        mark = " ⚠" if item["approach"] in narrow else ""
        assert shown["interval"] == f"{pct(item['low'])} – {pct(item['high'])}{mark}"
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


def enter_court_client(page: Page) -> None:
    """The issue's second client on the form: self-employed, a 200,000 CNY bank loan in court
    400 days overdue, a paid agent."""
    for field in ("employment", "lender_type", "collection_stage", "professional_help"):
        page.select_option(f"#f-{field}", value=str(COURT_WITH_AGENT[field]))
    page.fill("#f-principal", "200,000")
    page.fill("#f-outstanding_balance", "236000")
    page.fill("#f-days_overdue_at_contact", "400")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_client_in_court_with_a_paid_agent_sees_risks_and_limits(
    browser: BrowserContext, server: Server, lang: str
) -> None:
    """The paid-agent and court notes with their sources, no early-contact advice at 400 days,
    the simulated-data banner, the limits, the legend, and drivers naming their value; the page
    shows what the API answered."""
    seen = visit(browser, f"{server.url}/?lang={lang}")
    page = seen.page
    enter_court_client(page)
    answer, _, advice = submit_and_read(page)
    risks = page.locator("#risks li")
    assert [risks.nth(i).get_attribute("data-risk") for i in range(risks.count())] == [
        r["id"] for r in answer["risks"]
    ]
    assert {"paid_agent", "court"} <= {r["id"] for r in answer["risks"]}
    agent = page.inner_text("#risks li[data-risk=paid_agent]")
    assert ("反催收" if lang == "zh" else "anti-collection") in agent
    court = page.inner_text("#risks li[data-risk=court]")
    assert ("答辩状" if lang == "zh" else "defence") in court and "12348" in court
    assert page.locator("#risks li[data-risk=court] .sources a").count() >= 2
    assert page.locator("#advice li[data-lever=early_contact]").count() == 0
    assert not any("30" in text for text in advice)
    banner = page.locator("#simulated-banner")
    assert banner.is_visible() and banner.inner_text() == answer["limits"]["text"][0]
    limits = page.inner_text("#limits")
    assert answer["limits"]["model_version"] in limits
    assert answer["limits"]["trained_at"][:10] in limits
    assert ("政策会变化" if lang == "zh" else "policies change") in limits
    assert page.locator("#legend .swatch").count() == 3
    drivers = [li.inner_text() for li in page.query_selector_all("#drivers li")]
    assert len(drivers) == len(answer["drivers"]) > 0
    for driver, text in zip(answer["drivers"], drivers, strict=True):
        assert text.startswith(f"{driver['label']}: {driver['value']} ")
    assert seen.outside_requests == [] and seen.console_errors == []


def test_the_print_view_keeps_results_limits_and_risks_without_the_form(
    browser: BrowserContext, server: Server, tmp_path: Path
) -> None:
    """Printed (A4, Chinese): when and for which case (its debt and budget), the results, the
    limits and the risks; no form, no buttons."""
    seen = visit(browser, f"{server.url}/")
    page = seen.page
    enter_court_client(page)
    submit_and_read(page)
    assert page.locator("#print-case").is_hidden()  # on screen the form says it
    balance = page.input_value("#f-outstanding_balance")
    page.emulate_media(media="print")
    try:
        for hidden in ("#case-form", "#lang-switch", "#print"):
            assert page.locator(hidden).is_hidden(), hidden
        printed = page.inner_text("#print-case")
        assert printed.startswith("评估时间：") and str(dt.date.today().year) in printed
        assert f"欠款总额 {balance}" in printed and "机构类型 " in printed
        for shown in ("#estimates", "#simulated-banner", "#risks-box", "#limits-box", "#chart"):
            assert page.locator(shown).is_visible(), shown
        assert "答辩状" in page.inner_text("#risks")
        pdf = tmp_path / "case.pdf"
        page.pdf(path=str(pdf), format="A4")
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    finally:
        page.emulate_media(media="screen")


def test_on_a_phone_the_wide_table_scrolls_and_says_so(
    browser: BrowserContext, server: Server
) -> None:
    """At 390 px the estimates table scrolls sideways inside the page (the page itself does not)
    and a line above it says so; at 1280 px the line is not there."""
    seen = visit(browser, f"{server.url}/")
    page = seen.page
    page.set_viewport_size({"width": 390, "height": 844})
    enter_court_client(page)
    submit_and_read(page)
    table = page.locator("#estimates")
    assert page.locator("#scroll-hint").is_visible()
    assert table.evaluate("t => t.scrollWidth > t.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.locator("#scroll-hint").is_hidden()


def test_switching_language_keeps_the_case_and_its_estimate(
    browser: BrowserContext, server: Server
) -> None:
    """The case entered in Chinese is still on the form in English, estimated again."""
    seen = visit(browser, f"{server.url}/")
    page = seen.page
    enter_court_client(page)
    page.fill("#f-monthly_income", "7,300")
    page.check("#f-doc_bank_statement")
    page.uncheck("#f-doc_loan_contract")
    submit_and_read(page)
    with page.expect_response(lambda r: "/api/v1/estimate?lang=en" in r.url, timeout=60_000):
        page.click("#lang-switch")
    page.wait_for_selector("#results:not([hidden]) #estimates tbody tr", timeout=30_000)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.input_value("#f-monthly_income") == "7,300"
    assert page.input_value("#f-days_overdue_at_contact") == "400"
    assert page.input_value("#f-collection_stage") == "lawsuit_filed"
    assert page.is_checked("#f-doc_bank_statement") and not page.is_checked("#f-doc_loan_contract")
    assert "anti-collection" in page.inner_text("#risks li[data-risk=paid_agent]")
    assert seen.outside_requests == [] and seen.console_errors == []


def test_a_cross_field_rule_is_named_beside_both_fields(
    browser: BrowserContext, server: Server
) -> None:
    """A penalty above the balance it is part of: the rule's message beside both fields."""
    page = visit(browser, f"{server.url}/").page
    page.fill("#f-outstanding_balance", "1000")
    page.fill("#f-penalty_accrued", "5000")
    with page.expect_response(lambda r: "/api/v1/estimate" in r.url) as response:
        page.click("#submit")
    assert response.value.status == 422
    page.wait_for_selector("#e-penalty_accrued:not(:empty)")
    message = page.inner_text("#e-penalty_accrued")
    assert "罚息不能大于欠款总额" in message
    assert page.inner_text("#e-outstanding_balance") == message
    assert page.get_attribute("#f-outstanding_balance", "aria-invalid") == "true"


def test_with_nothing_published_the_page_says_why_it_cannot_estimate(
    browser: BrowserContext, published: Published, tmp_path: Path
) -> None:
    """A service with nothing published yet: the page opens, and an estimate asked for says
    in the page's language why there is none, not a bare failure."""
    empty = tmp_path / "nothing-published"
    empty.mkdir()
    running = start_server(published.folder, empty, "nothing-published", ready=503)
    try:
        for lang in LANGS:
            page = visit(browser, f"{running.url}/?lang={lang}").page
            with page.expect_response(lambda r: "/api/v1/estimate" in r.url) as response:
                page.click("#submit")
            assert response.value.status == 503
            page.wait_for_selector("#form-errors:not(:empty)")
            assert page.inner_text("#form-errors") == UNAVAILABLE["not_published"][lang]
            assert page.locator("#results").is_hidden()
    finally:
        stop(running)


def test_the_page_says_when_a_newer_snapshot_is_served(
    browser: BrowserContext, published: Published, tmp_path: Path
) -> None:
    """A snapshot published after the results were drawn: a notice names the new run; the
    next estimate says its numbers come from the newer model."""
    folder = tmp_path / "published"
    shutil.copytree(published.published, folder)
    running = start_server(
        published.folder,
        folder,
        "notice",
        OVERDUE_SNAPSHOT_CHECK_SECONDS="0.2",
        OVERDUE_PAGE_POLL_SECONDS="0.5",
    )
    try:
        seen = visit(browser, f"{running.url}/")
        page = seen.page
        answer, _, _ = submit_and_read(page)
        assert answer["snapshot"]["run_id"] == "run-1"
        assert page.locator("#snapshot-notice").is_hidden()
        version = latest_bundle_folder(published.models_dir).name
        publish_snapshot(published.warehouse, published.models_dir, folder, "run-notice", version)
        page.wait_for_selector("#snapshot-notice:not([hidden])", timeout=30_000)
        assert "run-notice" in page.inner_text("#snapshot-notice")
        assert "请重新评估" in page.inner_text("#snapshot-notice")
        answer, _, _ = submit_and_read(page)
        assert answer["snapshot"]["run_id"] == "run-notice"
        assert "这次的结果来自新发布的模型" in page.inner_text("#snapshot-notice")
        assert seen.outside_requests == [] and seen.console_errors == []
    finally:
        stop(running)


def enter_case(page: Page, case: dict[str, Any]) -> None:
    """Put a case written with English names and codes on the form, field by field."""
    for name, value in case.items():
        control = page.locator(f"#f-{name}")
        if name == "case_id" or control.count() == 0:
            continue
        kind = control.evaluate("el => el.tagName === 'SELECT' ? 'select' : el.type")
        if kind == "checkbox":
            control.set_checked(bool(value))
        elif kind == "select":
            code = str(value).lower() if isinstance(value, bool) else str(value)
            control.select_option(value=code)
        else:
            control.fill(str(value))


def read_advising(page: Page) -> dict[str, Any]:
    """What the page shows of the advising parts: budget, own plan, recommendation, plans per
    approach, what-if levers."""
    return {
        "budget": [li.inner_text() for li in page.query_selector_all("#budget li")],
        "own_plan": [li.inner_text() for li in page.query_selector_all("#own-plan-warnings li")],
        "recommendation": page.inner_text("#recommendation"),
        "plans": {
            row.get_attribute("data-approach"): row.query_selector("td.plan").inner_text()  # type: ignore[union-attr]
            for row in page.query_selector_all("#estimates tbody tr")
        },
        "kept": {
            row.get_attribute("data-approach"): row.query_selector("td.kept").inner_text()  # type: ignore[union-attr]
            for row in page.query_selector_all("#estimates tbody tr")
        },
        "what_if": [
            li.query_selector("span").inner_text().strip()  # type: ignore[union-attr]
            for li in page.query_selector_all("#what-if li")
        ],
    }


def check_advising(answer: dict[str, Any], shown: dict[str, Any]) -> None:
    """The page shows the API's recommendation, plans, 12-month chances and what-if levers, in
    its order."""
    assert shown["recommendation"] == answer["recommendation"]["text"]
    for a in answer["approaches"]:
        assert shown["plans"][a["approach"]].startswith(a["plan"]["text"])
        kept = a["kept_12"]
        numbers = [float(n) for n in re.findall(r"[\d.]+", shown["kept"][a["approach"]])]
        expected = [100 * kept[key] for key in ("p", "low", "high")]
        assert numbers == pytest.approx(expected, abs=0.051)  # JS and Python round .x5 apart
    assert shown["what_if"] == [lever["text"] for lever in answer["what_if"]]
    assert shown["budget"][1:] == answer["budget"]["texts"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_jobless_client_is_warned_that_nothing_is_left_to_pay_with(
    browser: BrowserContext, server: Server, lang: str
) -> None:
    """Income 1,500 and essentials 4,500: the budget warning, every plan beyond the budget, a
    recommendation that says how sure it is, hardship proof among the what-if levers."""
    seen = visit(browser, f"{server.url}/?lang={lang}")
    page = seen.page
    enter_case(page, {**JOBLESS_PLATFORM, "proposed_monthly_payment": 500})
    answer, _, _ = submit_and_read(page)
    shown = read_advising(page)
    check_advising(answer, shown)
    warning = "没有余钱可以还款" if lang == "zh" else "nothing is left to pay with"
    assert warning in shown["budget"][1] and warning in shown["own_plan"][0]
    assert page.locator("#budget-box.bad").is_visible()
    beyond = "超出预算" if lang == "zh" else "beyond the budget"
    assert all(beyond in text for text in shown["plans"].values())
    assert ("不是指令" if lang == "zh" else "not an instruction") in shown["recommendation"]
    proof = "离职证明" if lang == "zh" else "leaving certificate"
    assert any(proof in text for text in shown["what_if"])
    assert seen.outside_requests == [] and seen.console_errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_what_if_is_tried_and_shown_beside_the_estimate_before_it(
    browser: BrowserContext, server: Server, lang: str
) -> None:
    """The client in court with a paid agent: the levers as the API ranks them; trying the
    first sets its fields on the form, estimates again and shows before and after."""
    seen = visit(browser, f"{server.url}/?lang={lang}")
    page = seen.page
    enter_case(page, COURT_WITH_AGENT)
    answer, _, _ = submit_and_read(page)
    check_advising(answer, read_advising(page))
    first = answer["what_if"][0]
    with page.expect_response(lambda r: "/api/v1/estimate" in r.url) as response:
        page.click("#what-if li button.try")
    after = response.value.json()
    page.wait_for_selector("#compare-box:not([hidden])")
    for name, value in first["changes"].items():
        control = page.locator(f"#f-{name}")
        if control.get_attribute("type") == "checkbox":
            assert control.is_checked() == value
        else:
            assert control.input_value() == (str(value).lower() if value is True else value)
    planned = answer["planned_approach"]
    row = page.locator(f"#compare tbody tr[data-approach={planned}]")
    before_p = next(a["p"] for a in answer["approaches"] if a["approach"] == planned)
    after_p = next(a["p"] for a in after["approaches"] if a["approach"] == planned)
    assert row.locator("td.before").inner_text() == pct(before_p)
    assert row.locator("td.after").inner_text() == pct(after_p)
    assert after_p == first["p_after"]
    assert first["lever"] not in {lever["lever"] for lever in after["what_if"]}

    # in the other language the before/after view is still there, with the same numbers
    with page.expect_navigation():
        page.click("#lang-switch")
    page.wait_for_selector("#compare-box:not([hidden])")
    assert page.get_attribute("html", "lang") == ("en" if lang == "zh" else "zh-CN")
    row = page.locator(f"#compare tbody tr[data-approach={planned}]")
    assert row.locator("td.before").inner_text() == pct(before_p)
    assert row.locator("td.after").inner_text() == pct(after_p)
    assert seen.outside_requests == [] and seen.console_errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_retirees_typed_plan_is_checked_and_no_early_contact_is_advised(
    browser: BrowserContext, server: Server, lang: str
) -> None:
    """A 3,200 pension with 800 left and no savings (margin 300: a 3-month fund rebuilt over 24
    months): 3,000 a month is flagged, 400 keeps the margin; 400 days overdue, no
    contact-timing advice or lever."""
    seen = visit(browser, f"{server.url}/?lang={lang}")
    page = seen.page
    enter_case(page, {**RETIREE_CARD, "proposed_term_months": 24, "proposed_monthly_payment": 3000})
    answer, _, _ = submit_and_read(page)
    shown = read_advising(page)
    check_advising(answer, shown)
    assert not answer["own_plan"]["affordable"]
    assert ("超过每月结余" if lang == "zh" else "more than what is left") in shown["own_plan"][0]
    assert page.locator("#advice li[data-lever=early_contact]").count() == 0
    assert all(lever["lever"] != "contact_timing" for lever in answer["what_if"])
    page.fill("#f-proposed_monthly_payment", "400")
    answer, _, _ = submit_and_read(page)
    assert answer["own_plan"]["affordable"]
    ok = "留有应急安全余量" if lang == "zh" else "keeps the safety margin"
    assert ok in read_advising(page)["own_plan"][0]
    assert seen.outside_requests == [] and seen.console_errors == []
