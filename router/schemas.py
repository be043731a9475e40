"""The published contract, generated from the models: JSON Schemas and an AsyncAPI 3.0 document.

``claimflow schemas export`` writes ``docs/schemas/*.json`` and ``docs/asyncapi.yaml``; a test
regenerates them and compares with what is committed, so the docs cannot drift from the code.
Webhook topics hold Redox's bodies as received (validation schema: what the receiver accepts);
claim topics hold our messages as the router writes them (serialization schema).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from router.followups import (
    AttachmentRequest,
    AttachmentResult,
    StatusCheckRequest,
    StatusCheckResult,
)
from router.messages import ClaimPaymentMessage, ClaimSubmissionMessage
from router.redox import ClaimSubmission, PaymentBatch
from router.topics import HEADERS, TopicSet, all_topic_names

__all__ = ["SCHEMAS", "asyncapi_document", "export_schemas", "json_schemas"]

_BASE_ID = "https://github.com/claimflow/claimflow/blob/main/docs/schemas/"


@dataclass(frozen=True, slots=True)
class _Schema:
    file: str
    model: type[BaseModel]
    mode: Literal["validation", "serialization"]
    title: str


SCHEMAS: dict[str, _Schema] = {
    "webhook_payment_batch": _Schema(
        "redox-claim-payment-batch.v1.json", PaymentBatch, "validation", "Redox Claim.PaymentBatch"
    ),
    "webhook_claim_submit": _Schema(
        "redox-claim-submission.v1.json",
        ClaimSubmission,
        "validation",
        "Redox Claim.Submit / Claim.SubmissionBatch",
    ),
    "claim_payments": _Schema(
        "claim-payment.v1.json", ClaimPaymentMessage, "serialization", "claimflow claim payment"
    ),
    "claim_submissions": _Schema(
        "claim-submission.v1.json",
        ClaimSubmissionMessage,
        "serialization",
        "claimflow claim submission",
    ),
    "status_check_requests": _Schema(
        "status-check-request.v1.json", StatusCheckRequest, "serialization", "status check request"
    ),
    "attachment_requests": _Schema(
        "attachment-request.v1.json", AttachmentRequest, "serialization", "attachment request"
    ),
    "status_check_results": _Schema(
        "status-check-result.v1.json", StatusCheckResult, "serialization", "status check result"
    ),
    "attachment_results": _Schema(
        "attachment-result.v1.json", AttachmentResult, "serialization", "attachment result"
    ),
}
"""TopicSet attribute → the schema of its messages (router/messages.py, router/followups.py)."""


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema (draft 2020-12) of every model in ``SCHEMAS``."""
    out: dict[str, dict[str, Any]] = {}
    for schema in SCHEMAS.values():
        body = schema.model.model_json_schema(by_alias=True, mode=schema.mode)
        out[schema.file] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": _BASE_ID + schema.file,
            **body,
            "title": schema.title,
        }
    return out


_KEYS = {
    "webhook": "Redox log id (Meta.Logs[0].ID): every retry of a delivery on one partition.",
    "claim": "The claim's SubmissionNumber (else ControlNumber, else the message id): all "
    "events of one claim on one partition, in order.",
    "changelog": "Redox log id; same partition number as the webhook record it records.",
    "other": "See docs/topics.md.",
}

_WEBHOOK_HEADERS = [
    HEADERS.MESSAGE_ID,
    HEADERS.SCHEMA,
    HEADERS.CONTENT_TYPE,
    HEADERS.DATA_MODEL,
    HEADERS.EVENT_TYPE,
    HEADERS.REDOX_LOG_ID,
    HEADERS.REDOX_ATTEMPT_ID,
    HEADERS.TEST,
]
_CLAIM_HEADERS = [
    HEADERS.MESSAGE_ID,
    HEADERS.SCHEMA,
    HEADERS.CONTENT_TYPE,
    HEADERS.DATA_MODEL,
    HEADERS.EVENT_TYPE,
    HEADERS.REDOX_LOG_ID,
    HEADERS.REDOX_ATTEMPT_ID,
    HEADERS.TEST,
]
_FOLLOW_UP_HEADERS = [HEADERS.MESSAGE_ID, HEADERS.SCHEMA, HEADERS.CONTENT_TYPE, HEADERS.TEST]
_DEAD_LETTER_HEADERS = [
    *_WEBHOOK_HEADERS,
    HEADERS.ERROR,
    HEADERS.ORIGINAL_TOPIC,
    HEADERS.ORIGINAL_PARTITION,
    HEADERS.ORIGINAL_OFFSET,
]


def _headers_schema(names: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Kafka headers (UTF-8 values); see docs/topics.md.",
        "properties": {name: {"type": "string"} for name in names},
    }


def _topic_kinds() -> dict[str, tuple[str, str | None, list[str]]]:
    """Topic name (default prefix) → (key kind, schema attribute or None, header names)."""
    kinds: dict[str, tuple[str, str | None, list[str]]] = {}
    for lane in ("production", "test"):
        topics = TopicSet(lane=lane)
        for attr in ("webhook_payment_batch", "webhook_claim_submit"):
            kinds[getattr(topics, attr)] = ("webhook", attr, _WEBHOOK_HEADERS)
        for attr in ("claim_payments", "claim_submissions"):
            kinds[getattr(topics, attr)] = ("claim", attr, _CLAIM_HEADERS)
        for attr in (
            "status_check_requests",
            "attachment_requests",
            "status_check_results",
            "attachment_results",
        ):
            kinds[getattr(topics, attr)] = ("claim", attr, _FOLLOW_UP_HEADERS)
        kinds[topics.router_seen_deliveries] = ("changelog", None, [])
        kinds[topics.router_dead_letter] = ("webhook", None, _DEAD_LETTER_HEADERS)
    return kinds


def _channel_id(topic: str) -> str:
    return topic.replace(".", "-")


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0: every topic of ``router.topics`` (default prefix, both lanes)."""
    kinds = _topic_kinds()
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in all_topic_names():
        key_kind, attr, headers = kinds.get(topic, ("other", None, []))
        message_id = _channel_id(topic)
        message: dict[str, Any] = {
            "name": topic,
            "contentType": "application/json",
            "bindings": {"kafka": {"key": {"type": "string", "description": _KEYS[key_kind]}}},
        }
        if headers:
            message["headers"] = _headers_schema(headers)
        if attr is not None:
            message["payload"] = {"$ref": f"schemas/{SCHEMAS[attr].file}"}
            message["title"] = SCHEMAS[attr].title
        else:
            message["summary"] = "Payload described in docs/topics.md."
        messages[message_id] = message
        channels[message_id] = {
            "address": topic,
            "description": "Test lane (Meta.Test: true)." if ".test." in topic else "Production.",
            "messages": {"message": {"$ref": f"#/components/messages/{message_id}"}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "claimflow topics",
            "version": "1.0.0",
            "description": "Kafka topics of claimflow; the contract is docs/topics.md. "
            "Consume read_committed and de-duplicate on the claimflow-message-id header.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages},
    }


def export_schemas(out: Path) -> list[Path]:
    """Write every JSON Schema into ``out`` and asyncapi.yaml next to it; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, schema in json_schemas().items():
        path = out / name
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    asyncapi = out.parent / "asyncapi.yaml"
    asyncapi.write_text(
        "# Generated by `claimflow schemas export` from router/; do not edit.\n"
        + yaml.safe_dump(asyncapi_document(), sort_keys=False, width=100)
    )
    written.append(asyncapi)
    return written
