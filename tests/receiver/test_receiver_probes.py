"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.kafka

DOCS = Path(__file__).parents[2] / "docs" / "openapi.json"


async def test_healthz_and_readyz_answer_200_with_a_working_broker(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


async def test_metrics_count_requests_by_outcome_and_publish_latency(
    client: httpx.AsyncClient, sample_bytes: bytes
) -> None:
    await client.post(
        "/webhooks/redox", content=sample_bytes, headers={"content-type": "application/json"}
    )

    answer = await client.get("/metrics")

    assert answer.status_code == 200
    assert 'claimflow_receiver_requests_total{outcome="unauthorized"} 1.0' in answer.text
    assert "claimflow_receiver_publish_seconds_bucket" in answer.text


async def test_served_openapi_document_is_the_committed_one(client: httpx.AsyncClient) -> None:
    answer = await client.get("/openapi.json")

    assert answer.status_code == 200
    assert answer.text == DOCS.read_text()
    paths = json.loads(answer.text)["paths"]
    assert set(paths["/webhooks/redox"]) == {"post", "get"}
