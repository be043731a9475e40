"""Body reading and validation: JSON only, size cap while streaming, 422 without values."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from receiver_support import TOKEN

from sandboxes.redox_sender import RedoxSender

pytestmark = pytest.mark.kafka

HEADERS = {"verification-token": TOKEN, "content-type": "application/json"}
CAP = 64 * 1024  # the client fixture's max_body_bytes


async def test_declared_length_over_the_cap_is_refused_before_reading(
    client: httpx.AsyncClient,
) -> None:
    pulled: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        pulled.append(1)
        yield b"{}"

    answer = await client.post(
        "/webhooks/redox", content=body(), headers={**HEADERS, "content-length": str(CAP + 1)}
    )

    assert answer.status_code == 413
    assert pulled == []


async def test_streamed_body_over_the_cap_is_refused_while_streaming(
    client: httpx.AsyncClient,
) -> None:
    pulled: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(1000):
            pulled.append(1)
            yield b" " * 1024

    answer = await client.post("/webhooks/redox", content=body(), headers=HEADERS)

    assert answer.status_code == 413
    assert len(pulled) <= CAP // 1024 + 1


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe\x00", b'{"a": NaN}'])
async def test_body_that_is_not_json_is_a_400(client: httpx.AsyncClient, content: bytes) -> None:
    answer = await client.post("/webhooks/redox", content=content, headers=HEADERS)

    assert answer.status_code == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_body_that_is_not_declared_json_is_a_415(
    client: httpx.AsyncClient, sample_bytes: bytes, content_type: str
) -> None:
    answer = await client.post(
        "/webhooks/redox", content=sample_bytes, headers={**HEADERS, "content-type": content_type}
    )

    assert answer.status_code == 415


async def test_schema_violations_are_a_422_listing_paths_without_values(
    sender: RedoxSender, sample_payload: dict[str, Any]
) -> None:
    payment = sample_payload["Transactions"][0]["Payments"][0]
    payment["Patient"]["Demographics"]["DOB"] = "Timothy Bixby"
    payment["Patient"]["Demographics"]["SSN"] = 101010001
    payment["Claims"][0]["ChargedAmount"] = 100.5
    sample_payload["Meta"]["Test"] = "Bixby"

    answer = await sender.post("/webhooks/redox", sample_payload)

    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert {e["path"] for e in errors} == {
        "Meta.Test",
        "Transactions[0].Payments[0].Patient.Demographics.DOB",
        "Transactions[0].Payments[0].Patient.Demographics.SSN",
        "Transactions[0].Payments[0].Claims[0].ChargedAmount",
    }
    assert all(set(e) == {"path", "message"} for e in errors)
    assert not any(e["message"].startswith("Value error") for e in errors)
    for value in ("Timothy", "Bixby", "101010001", "100.5"):
        assert value not in answer.text


@pytest.mark.parametrize(
    ("meta", "path"),
    [
        ({"DataModel": "Claim", "EventType": "Refund"}, "Meta.EventType"),
        ({"DataModel": "PatientAdmin", "EventType": "PaymentBatch"}, "Meta.DataModel"),
    ],
)
async def test_webhook_the_route_table_does_not_know_is_a_422(
    sender: RedoxSender, sample_payload: dict[str, Any], meta: dict[str, str], path: str
) -> None:
    sample_payload["Meta"].update(meta)

    answer = await sender.post("/webhooks/redox", sample_payload)

    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == [path]


async def test_webhook_without_a_log_id_is_a_422(
    sender: RedoxSender, sample_payload: dict[str, Any]
) -> None:
    sample_payload["Meta"]["Logs"] = []

    answer = await sender.post("/webhooks/redox", sample_payload)

    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"path": "Meta.Logs", "message": "must hold Redox's log ID: it identifies the delivery"}
    ]


@pytest.mark.parametrize("document", [[], "text", 3, None, {"Meta": None}, {}])
async def test_body_that_is_not_a_webhook_object_is_a_422(
    client: httpx.AsyncClient, document: Any
) -> None:
    answer = await client.post(
        "/webhooks/redox", content=json.dumps(document).encode(), headers=HEADERS
    )

    assert answer.status_code == 422
    assert answer.json()["errors"]


async def test_request_id_is_taken_from_the_caller_or_made(
    sender: RedoxSender, client: httpx.AsyncClient, sample_payload: dict[str, Any]
) -> None:
    sample_payload["Meta"]["Logs"][0]["ID"] = str(uuid.uuid4())
    given = await client.post(
        "/webhooks/redox",
        content=json.dumps(sample_payload).encode(),
        headers={**HEADERS, "x-request-id": "req-123"},
    )
    made = await sender.post("/webhooks/redox", sample_payload)

    assert given.headers["x-request-id"] == "req-123"
    assert len(made.headers["x-request-id"]) == 32


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
async def test_a_valid_webhook_with_a_non_json_constant_is_still_a_400(
    client: httpx.AsyncClient, sample_payload: dict[str, Any], constant: bytes
) -> None:
    """Pydantic's one-pass parser takes NaN; the receiver never publishes what is not JSON."""
    body = (
        json.dumps(sample_payload)
        .encode()
        .replace(b'{"Meta"', b'{"Extra": ' + constant + b', "Meta"', 1)
    )

    assert constant in body

    answer = await client.post("/webhooks/redox", content=body, headers=HEADERS)

    assert answer.status_code == 400
