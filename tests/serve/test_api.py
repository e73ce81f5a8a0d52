"""The API of a real `overdue serve` process: same numbers as `overdue estimate`, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_support import (
    CASE_EN,
    CASE_ZH,
    COURT_WITH_AGENT,
    JOBLESS_PLATFORM,
    RETIREE_CARD,
    Published,
    Server,
    clean_env,
)

from overdue.contract import APPROACHES, FIELD_BY_NAME

ESTIMATE = "/api/v1/estimate"
COMPARED = ("case_id", "model_version", "run_id", "planned_approach")
APPROACH_KEYS = (
    "approach",
    "approach_zh",
    "p",
    "low",
    "high",
    "difference_from_planned",
    "vs_best",
    "kept_12",
    "similar_cases",
    "thin_data",
)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def cli_estimates(
    cases: list[dict[str, Any]], published: Published, tmp_path: Path
) -> list[dict[str, Any]]:
    """`overdue estimate --case FILE --json` for each case (processes run side by side), with
    the models the snapshot was published from."""
    runs = []
    for i, case in enumerate(cases):
        path = tmp_path / f"case-{i}.json"
        path.write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
        runs.append(
            subprocess.Popen(
                [sys.executable, "-m", "overdue", "estimate", "--case", str(path), "--json"],
                env=clean_env(OVERDUE_MODELS_DIR=str(published.models_dir)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    answers = []
    for run in runs:
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, out + err
        answers.append(json.loads(out))
    return answers


def test_estimates_equal_the_cli_for_the_same_case(
    client: httpx.Client, published: Published, tmp_path: Path
) -> None:
    """The service and `overdue estimate` give the same numbers for the same case, whether it
    is written with Chinese names and values or English ones."""
    cases = [CASE_ZH, CASE_EN]
    for case, expected in zip(cases, cli_estimates(cases, published, tmp_path), strict=True):
        served = client.post(ESTIMATE, json=case).json()
        assert {k: served[k] for k in COMPARED} == {k: expected[k] for k in COMPARED}
        approaches = [
            [{k: a[k] for k in APPROACH_KEYS} for a in answer["approaches"]]
            for answer in (served, expected)
        ]
        assert approaches[0] == approaches[1]
        drivers = [{"driver": d["driver"], "change": d["change"]} for d in served["drivers"]]
        assert drivers == expected["drivers"]
        numbers = ("lever", "changes", "p_before", "p_after", "gain", "gain_interval", "clear")
        levers = [[{k: w[k] for k in numbers} for w in a["what_if"]] for a in (served, expected)]
        assert levers[0] == levers[1]
        assert [a["plan"]["monthly_payment"] for a in served["approaches"]] == [
            a["plan"]["monthly_payment"] for a in expected["approaches"]
        ]
        assert served["recommendation"]["ranking"] == expected["recommendation"]["ranking"]


def test_an_estimate_carries_six_approaches_model_version_and_run_id(
    client: httpx.Client,
) -> None:
    """Each approach has an estimate inside its interval; the answer names its snapshot."""
    answer = client.post(ESTIMATE, json=CASE_EN).json()
    assert [a["approach"] for a in answer["approaches"]] == list(APPROACHES)
    for a in answer["approaches"]:
        assert 0 <= a["low"] <= a["p"] <= a["high"] <= 1
    assert answer["model_version"].startswith("m-")
    assert answer["run_id"] == "train-1"
    assert answer["snapshot"]["run_id"] == "run-1"
    assert answer["lang"] == "zh"
    assert "不是对任何结果的承诺" in answer["note"]


def test_advice_uses_only_published_lever_numbers(
    client: httpx.Client, server: Server, published: Published
) -> None:
    """Every advice rate is a non-suppressed number of the published effects."""
    effects = json.loads((published.published / "run-1" / "effects.json").read_text("utf-8"))
    answer = client.post(f"{ESTIMATE}?lang=en", json=CASE_EN).json()
    assert answer["advice"], "a case without a plan, documents or good help gets advice"
    for item in answer["advice"]:
        lever = effects["levers"][item["lever"]]
        for level, rate in (
            (item["better_level"], "better_rate"),
            (item["other_level"], "other_rate"),
        ):
            entry = lever[level]
            assert not entry["suppressed"]
            assert item[rate] == round(entry["estimate"], 4)
    assert any(
        item["lever"] == "written_plan" and item["kind"] == "do" for item in answer["advice"]
    )


def test_missing_and_out_of_range_fields_are_named_in_chinese_without_values(
    client: httpx.Client,
) -> None:
    """A 422 names each field with a Chinese message and never repeats what was sent."""
    case = {k: v for k, v in CASE_EN.items() if k != "employment"}
    case["monthly_income"] = 98765432.5
    case["age_band"] = "unknownband"
    response = client.post(ESTIMATE, json=case)
    assert response.status_code == 422
    detail = {d["field"]: d for d in response.json()["detail"]}
    assert set(detail) == {"employment", "monthly_income", "age_band"}
    assert detail["employment"]["message"] == "必填"
    assert detail["monthly_income"]["message"] == "不能大于 1,000,000"
    assert "98765432" not in response.text and "unknownband" not in response.text


@pytest.mark.parametrize(
    ("changes", "rule", "fields"),
    [
        (
            {"outstanding_balance": 1000, "penalty_accrued": 5000},
            "penalty_exceeds_balance",
            {"penalty_accrued", "outstanding_balance"},
        ),
        (
            {"days_overdue_at_contact": 400, "days_to_first_contact": 900},
            "contact_after_days_overdue",
            {"days_to_first_contact", "days_overdue_at_contact"},
        ),
        (
            {"outstanding_balance": 1000, "upfront_payment": 1500},
            "upfront_exceeds_balance",
            {"upfront_payment", "outstanding_balance"},
        ),
    ],
)
def test_cross_field_rules_are_422_naming_both_fields(
    client: httpx.Client, changes: dict[str, Any], rule: str, fields: set[str]
) -> None:
    """A case breaking one of the contract's cross-field rules is refused, each field of the
    rule named with the rule's message and ingest's reason, in both languages."""
    for lang in ("zh", "en"):
        response = client.post(f"{ESTIMATE}?lang={lang}", json={**CASE_EN, **changes})
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert {d["field"] for d in detail} == fields
        assert {d["reason"] for d in detail} == {f"rule:{rule}"}
        assert len({d["message"] for d in detail}) == 1
        assert all(str(v) not in response.text for v in changes.values())


def test_errors_follow_accept_language_english(client: httpx.Client) -> None:
    """With Accept-Language: en the messages are English."""
    case = {**CASE_EN, "dependents": 99, "annual_rate": "lots"}
    response = client.post(ESTIMATE, json=case, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert response.status_code == 422
    detail = {d["field"]: d["message"] for d in response.json()["detail"]}
    assert detail == {
        "dependents": "must be at most 15",
        "annual_rate": "must be a number (write 18% as 18% or 0.18)",
    }
    assert "lots" not in response.text


def test_unknown_fields_and_bad_json_are_refused(client: httpx.Client) -> None:
    """Fields outside the contract and bodies that are not JSON objects get a 422."""
    response = client.post(ESTIMATE, json={**CASE_EN, "favourite_colour": "blue"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["reason"] == "extra_forbidden:body"
    assert "blue" not in response.text and "favourite_colour" not in response.text
    bad = client.post(ESTIMATE, content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["reason"] == "json_invalid:body"
    listed = client.post(ESTIMATE, json=[CASE_EN])
    assert listed.status_code == 422


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("region", "13812345678", "mobile"),
        ("region", "call 138 1234 5678", "mobile"),
        ("region", "11010519491231002X", "resident_id"),
        ("region", "4111111111111111", "bank_card"),
        ("region", "debtor@example.com", "email"),
        ("monthly_income", 13812345678, "mobile"),
    ],
)
def test_personal_data_is_refused_and_never_echoed(
    client: httpx.Client, field: str, value: Any, kind: str
) -> None:
    """Personal data anywhere in the body: 422 with pii:<kind>:<field>, the value not repeated."""
    response = client.post(ESTIMATE, json={**CASE_EN, field: value})
    assert response.status_code == 422
    reasons = [d["reason"] for d in response.json()["detail"]]
    assert reasons == [f"pii:{kind}:{field}"]
    assert str(value) not in response.text


def test_personal_data_in_an_unknown_key_is_refused_without_naming_it(
    client: httpx.Client,
) -> None:
    """Personal data used as a key is found too, and the key is not repeated."""
    response = client.post(ESTIMATE, json={**CASE_EN, "debtor@example.com": "x"})
    assert response.status_code == 422
    assert [d["reason"] for d in response.json()["detail"]] == ["pii:email:body"]
    assert "example.com" not in response.text


def test_personal_data_comes_with_every_other_problem_in_one_answer(
    client: httpx.Client,
) -> None:
    """Beside personal data, the body's other problems are named in the same answer (no second
    round trip); the fields holding it get no other problem (their values are not read), and a
    later unknown key keeps its position in the body."""
    case = {k: v for k, v in CASE_EN.items() if k != "employment"}
    case |= {"region": "13812345678", "dependents": 99, "debtor@example.com": 1, "colour": 2}
    response = client.post(f"{ESTIMATE}?lang=en", json=case)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [d["reason"] for d in detail] == [
        "pii:mobile:region",
        "pii:email:body",
        "extra_forbidden:body",
        "missing:employment",
        "less_than_equal:dependents",
    ]
    assert str(len(case)) in detail[2]["message"]
    assert "13812345678" not in response.text and "example.com" not in response.text


def test_oversized_bodies_get_413_before_parsing(client: httpx.Client) -> None:
    """A body over 64 KB is refused with 413, by Content-Length or while streaming."""
    big = json.dumps({**CASE_EN, "region": "x" * 70_000}).encode()
    assert client.post(ESTIMATE, content=big).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 8192

    streamed = client.post(ESTIMATE, content=chunks())
    assert streamed.status_code == 413


def test_health_effects_and_model_card(client: httpx.Client, published: Published) -> None:
    """/healthz, /api/v1/effects and /api/v1/model answer from the published snapshot."""
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["run_id"] == "run-1"
    effects = client.get("/api/v1/effects").json()
    assert set(effects["population"]) == set(APPROACHES)
    assert {"documents", "written_plan", "early_contact", "professional_help"} <= set(
        effects["levers"]
    )
    card = client.get("/api/v1/model").json()
    assert card["model_version"] == health["model_version"]
    assert card["data_period"]["train_from"] <= card["data_period"]["test_to"]
    assert card["labelled_cases"] > 0 and card["known_limits"]
    assert card["model_cases"] == card["labelled_cases"]  # under model_max_cases: every one
    assert {"spline_logistic_calibrated", "gradient_boosting_calibrated"} <= set(card["metrics"])
    choice = card["model_choice"]  # what held-out loss chose, with every fit it tried
    assert {"c", "scale", "reweightings", "weights", "stack"} <= set(choice)
    assert {"c": choice["c"], "scale": choice["scale"]} in [
        {"c": t["c"], "scale": t["scale"]} for t in choice["tried"]
    ]
    assert card["calibration"]
    check = card["self_check"]
    assert [s["surface"] for s in check["surfaces"]] == ["fitted", "boosted", "heterogeneous"]
    assert 0 <= check["pooled"]["case_coverage"] <= 1
    assert all(g["test_cases"] >= card["k"] for g in check["pooled"]["coverage_by_lender"].values())
    # the session's cases were written by the simulator (its ground truth lies beside them)
    assert card["simulated"] is True
    assert [s["file"] for s in card["data_sources"]] == ["cases.parquet"]
    assert card["data_sources"][0]["cases"] == card["cases"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_client_in_court_with_a_paid_agent_hears_the_risks_and_the_limits(
    client: httpx.Client, lang: str
) -> None:
    """The issue's second client: the paid-agent and court notes with their sources, no early
    contact advice 400 days overdue, the simulated-data banner, drivers naming their value."""
    case = {**CASE_EN, **COURT_WITH_AGENT, "days_overdue_at_contact": 400}
    answer = client.post(f"{ESTIMATE}?lang={lang}", json=case).json()
    assert [r["id"] for r in answer["risks"]] == ["official_channels", "paid_agent", "court"]
    assert all(r["sources"] and r["sources"][0]["url"].startswith("http") for r in answer["risks"])
    assert "early_contact" not in [item["lever"] for item in answer["advice"]]
    limits = answer["limits"]
    assert limits["simulated"] is True and limits["model_version"] == answer["model_version"]
    assert ("模拟" if lang == "zh" else "simulated") in limits["text"][0]
    assert limits["trained_at"][:10] in limits["text"][-1]
    assert all(d["value"] for d in answer["drivers"])


def test_an_estimate_says_how_often_the_ranges_held(
    client: httpx.Client, published: Published
) -> None:
    """The sentence beside the intervals carries the published self-check's number for the
    case's lender type, else for every checked case."""
    card = json.loads((published.published / "run-1" / "model_card.json").read_text("utf-8"))
    pooled = card["self_check"]["pooled"]
    answer = client.post(f"{ESTIMATE}?lang=en", json=CASE_EN).json()
    check = answer["interval_check"]
    group = pooled["coverage_by_lender"].get(CASE_EN["lender_type"])
    expected = group["coverage"] if group else pooled["case_coverage"]
    assert check["times_in_100"] == round(100 * expected)
    assert f"held the true rate {check['times_in_100']} times in 100" in check["text"]


def test_openapi_documents_the_api(client: httpx.Client) -> None:
    """The OpenAPI spec lists the routes, the case schema and the bearer scheme."""
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/estimate", "/api/v1/effects", "/api/v1/model", "/healthz"} <= set(
        spec["paths"]
    )
    body = spec["paths"]["/api/v1/estimate"]["post"]["requestBody"]["content"]
    properties = body["application/json"]["schema"]["properties"]
    assert FIELD_BY_NAME["monthly_income"].zh in properties["monthly_income"]["description"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    answer = spec["components"]["schemas"]["EstimateResponse"]["properties"]
    assert {"risks", "limits"} <= set(answer)
    assert "value" in spec["components"]["schemas"]["Driver"]["properties"]


def test_docs_page_works_offline(client: httpx.Client) -> None:
    """/docs loads Swagger UI from the service itself: every script and style is local."""
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
    assert assets
    for url in assets:
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url


def test_a_client_with_nothing_left_is_warned_on_every_plan(client: httpx.Client) -> None:
    """Income 1,500, essentials 4,500: the budget says nothing is left to pay with and no
    approach's typical plan is affordable; each plan states term, payment, upfront, relief."""
    answer = client.post(f"{ESTIMATE}?lang=en", json=JOBLESS_PLATFORM).json()
    assert answer["budget"]["nothing_left"]
    assert "nothing is left to pay with" in answer["budget"]["texts"][0]
    for a in answer["approaches"]:
        plan = a["plan"]
        assert not plan["affordable"] and "nothing_left" in plan["warnings"]
        assert plan["budget_share"] is None
        assert {"term_months", "monthly_payment", "upfront", "relief"} <= set(plan)
    assert "past cases proposed" in answer["plan_note"]


def test_the_typed_plan_is_checked_against_the_budget(client: httpx.Client) -> None:
    """A retiree with 800 left a month: 3,000 a month is beyond it, 300 keeps the margin."""
    too_much = {**RETIREE_CARD, "proposed_term_months": 24, "proposed_monthly_payment": 3000}
    modest = {**RETIREE_CARD, "proposed_term_months": 24, "proposed_monthly_payment": 300}
    high = client.post(f"{ESTIMATE}?lang=en", json=too_much).json()["own_plan"]
    low = client.post(f"{ESTIMATE}?lang=en", json=modest).json()["own_plan"]
    assert (
        not high["affordable"] and "more than what is left each month" in high["warning_texts"][0]
    )
    assert low["affordable"] and "keeps the safety margin" in low["warning_texts"][0]
    assert client.post(ESTIMATE, json=RETIREE_CARD).json()["own_plan"] is None


def test_the_recommendation_follows_the_intervals_of_differences(client: httpx.Client) -> None:
    """Ranked by P; an approach is 'about equally likely' exactly when the interval of its
    difference from the first includes 0; the first differs from itself by nothing."""
    answer = client.post(f"{ESTIMATE}?lang=en", json=COURT_WITH_AGENT).json()
    rec = answer["recommendation"]
    by_code = {a["approach"]: a for a in answer["approaches"]}
    assert rec["ranking"] == sorted(by_code, key=lambda code: -by_code[code]["p"])
    assert rec["best"] == answer["best_approach"] == rec["ranking"][0]
    assert by_code[rec["best"]]["vs_best"] == {"difference": 0.0, "low": 0.0, "high": 0.0}
    for code in rec["ranking"][1:]:
        spans = by_code[code]["vs_best"]["high"] >= 0
        assert (code in rec["about_equal"]) == spans and (code in rec["clearly_less"]) != spans
    assert "not an instruction" in rec["text"]


def test_what_if_levers_are_ranked_and_fit_the_case(client: httpx.Client) -> None:
    """Largest gain first; no contact timing; a paid agent may be replaced by a nonprofit
    mediator; a job-loss client is not asked for income proof."""
    answer = client.post(f"{ESTIMATE}?lang=en", json=COURT_WITH_AGENT).json()
    gains = [lever["gain"] for lever in answer["what_if"]]
    assert gains == sorted(gains, reverse=True) and gains
    assert "nonprofit_mediator" in {lever["lever"] for lever in answer["what_if"]}
    jobless = client.post(f"{ESTIMATE}?lang=en", json=JOBLESS_PLATFORM).json()["what_if"]
    assert all("doc_income_proof" not in lever["changes"] for lever in jobless)
    documents = next(lever for lever in jobless if lever["lever"] == "documents_3plus")
    assert "leaving certificate" in documents["text"]


def test_openapi_documents_plans_recommendation_and_what_if(client: httpx.Client) -> None:
    """The estimate's schema names the advising parts."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    answer = schemas["EstimateResponse"]["properties"]
    assert {"recommendation", "what_if", "budget", "own_plan", "plan_note"} <= set(answer)
    assert {"plan", "vs_best"} <= set(schemas["ApproachEstimate"]["properties"])
    assert {"term_months", "monthly_payment", "upfront", "relief", "budget_share"} <= set(
        schemas["Plan"]["properties"]
    )


def test_each_approach_says_how_likely_its_plan_holds_12_months(client: httpx.Client) -> None:
    """P(kept 12 months | agreed) per approach inside its interval, and what it means."""
    answer = client.post(f"{ESTIMATE}?lang=en", json=CASE_EN).json()
    for a in answer["approaches"]:
        kept = a["kept_12"]
        assert 0 <= kept["low"] <= kept["p"] <= kept["high"] <= 1 and kept["high"] > kept["low"]
    assert "12 months" in answer["kept_note"]
