"""Token, rate limit and reload on a real server with OVERDUE_API_TOKEN and a small limit."""

from __future__ import annotations

import time

import httpx
import pytest
from serve_support import CASE_EN, TOKEN, Published, Server, get_json

from overdue.models.run import latest_bundle_folder
from overdue.publish import publish_snapshot

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_api_needs_the_token_and_healthz_does_not(guarded: Server) -> None:
    """Without or with a wrong token the API answers 401; /healthz stays open."""
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        missing = client.post("/api/v1/estimate", json=CASE_EN)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = client.get("/api/v1/model", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert client.get("/api/v1/effects", headers={"Authorization": TOKEN}).status_code == 401
        ok = client.post("/api/v1/estimate", json=CASE_EN, headers=AUTH)
        assert ok.status_code == 200
        page = client.get("/")
        assert page.status_code == 200 and 'id="f-token"' in page.text


def test_a_client_over_its_budget_gets_429_with_retry_after(guarded: Server) -> None:
    """Past the burst, requests are refused with 429 and a Retry-After; /healthz is exempt."""
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        statuses = [client.get("/api/v1/model", headers=AUTH).status_code for _ in range(12)]
        assert 429 in statuses
        assert statuses[0] == 200
        refused = client.get("/api/v1/model", headers=AUTH)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["detail"][0]["reason"] == "rate_limited"
        assert client.get("/healthz").status_code == 200


@pytest.mark.slow
def test_a_newly_published_snapshot_is_served_without_restart(
    guarded: Server, published: Published
) -> None:
    """Publishing a run trained with another seed changes the model the running server uses."""
    before = get_json(f"{guarded.url}/healthz")[1]
    assert published.second_training.wait(timeout=300) == 0, "second training run failed"
    publish_snapshot(
        published.second_warehouse,
        published.second_models_dir,
        published.published_reload,
        "run-2",
        latest_bundle_folder(published.second_models_dir).name,
    )
    deadline = time.monotonic() + 60
    health = before
    while time.monotonic() < deadline and health["run_id"] != "run-2":
        time.sleep(0.3)
        health = get_json(f"{guarded.url}/healthz")[1]
    assert health["run_id"] == "run-2"
    assert health["model_version"] != before["model_version"]
    assert guarded.process.poll() is None, "the server kept running"
    time.sleep(4)  # let the rate-limit bucket refill for one request
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        answer = client.post("/api/v1/estimate", json=CASE_EN, headers=AUTH).json()
    assert answer["model_version"] == health["model_version"]
    assert answer["snapshot"]["run_id"] == "run-2"
