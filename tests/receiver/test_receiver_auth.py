"""The verification token and Redox's destination verification handshake."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import httpx
import pytest
from receiver_support import TEST_PAYMENT_BATCH_TOPIC, TOKEN, read_messages

from claimflow.devstack.kafka import KafkaBroker
from sandboxes.redox_sender import RedoxSender

pytestmark = pytest.mark.kafka


def _fresh(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    log_id = str(uuid.uuid4())
    payload["Meta"]["Logs"][0]["ID"] = log_id
    return payload, log_id


@pytest.mark.parametrize("token", ["wrong-token", TOKEN[:-1], "", None])
async def test_wrong_token_is_rejected_and_nothing_published(
    client: httpx.AsyncClient,
    kafka_broker: KafkaBroker,
    sample_payload: dict[str, Any],
    token: str | None,
) -> None:
    payload, log_id = _fresh(sample_payload)
    async with RedoxSender(token=token, client=client) as bad_sender:
        answer = await bad_sender.post("/webhooks/redox", payload)

    assert answer.status_code == 401
    assert "Timothy" not in answer.text
    published = await read_messages(
        kafka_broker.bootstrap_servers, TEST_PAYMENT_BATCH_TOPIC, key=log_id
    )
    assert published == []


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_verification_challenge_is_answered_with_the_challenge_only(
    sender: RedoxSender, method: Literal["POST", "GET"]
) -> None:
    answer = await sender.verify("/webhooks/redox", "f0a1b2c3-challenge", method=method)

    assert answer.status_code == 200
    assert answer.text == "f0a1b2c3-challenge"
    assert answer.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_verification_challenge_with_a_wrong_token_is_not_answered(
    client: httpx.AsyncClient, method: Literal["POST", "GET"]
) -> None:
    async with RedoxSender(token="not-ours", client=client) as impostor:
        answer = await impostor.verify("/webhooks/redox", "secret-challenge", method=method)

    assert answer.status_code == 401
    assert "secret-challenge" not in answer.text


async def test_post_challenge_with_a_header_token_must_match_the_body_token(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(
        "/webhooks/redox",
        json={"verification-token": "not-ours", "challenge": "c-1"},
        headers={"verification-token": TOKEN},
    )

    assert answer.status_code == 401


@pytest.mark.parametrize("body_token", [0, None, ["t"]])
async def test_post_challenge_whose_body_token_is_no_string_is_refused_even_with_a_header_token(
    client: httpx.AsyncClient, body_token: object
) -> None:
    answer = await client.post(
        "/webhooks/redox",
        json={"verification-token": body_token, "challenge": "c-1"},
        headers={"verification-token": TOKEN},
    )

    assert answer.status_code == 400
    assert "verification-token" in answer.text
    assert "c-1" not in answer.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"[1, 2", "application/json"), (b'{"challenge": "c"}', "text/plain"), (b"x" * 5000, "")],
)
async def test_request_without_token_that_is_no_challenge_is_rejected(
    client: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    answer = await client.post(
        "/webhooks/redox", content=content, headers={"content-type": content_type}
    )

    assert answer.status_code == 401
