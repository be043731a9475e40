"""The OpenAPI document of the receiver, generated from the Redox models.

``python -m receiver.openapi docs/openapi.json`` rewrites the committed copy; a test checks
that it equals what ``GET /openapi.json`` serves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from router.redox import ClaimSubmission, PaymentBatch
from router.routes import RouteTable

__all__ = ["openapi_document", "render"]

_REF = "#/components/schemas/{model}"


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=schema)}}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


# As receiver.verification checks it: a non-empty string of at most 1024 characters.
_CHALLENGE: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 1024}

_ERROR_SCHEMAS: dict[str, Any] = {
    "FieldError": {
        "type": "object",
        "required": ["path", "message"],
        "properties": {
            "path": {"type": "string", "examples": ["Transactions[0].Payments[0].DateTime"]},
            "message": {"type": "string"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "description": "The outcome, e.g. invalid, unauthorized."},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": _REF.format(model="FieldError")}},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["status", "logId", "messageId"],
        "properties": {
            "status": {"const": "accepted"},
            "logId": {"type": "string", "description": "Meta.Logs[0].ID, the message key."},
            "messageId": {"type": "string", "description": "Same for every retry."},
        },
    },
    "VerificationChallenge": {
        "type": "object",
        "description": "The token may be in the body (as Redox sends it) or the header.",
        "required": ["challenge"],
        "properties": {"verification-token": {"type": "string"}, "challenge": _CHALLENGE},
    },
}


def _error(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": _json("Error")}
    if retry_after:
        answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return answer


# What validation adds to a model's Meta: one log with Redox's log ID (receiver.validation).
_HAS_LOG_ID: dict[str, Any] = {
    "type": "array",
    "contains": {
        "type": "object",
        "required": ["ID"],
        "properties": {"ID": {"type": "string", "minLength": 1}},
    },
}


def _routed_body(model: type[BaseModel], routes: RouteTable) -> dict[str, Any]:
    """The model's schema, with Meta's names limited to the routes that pick this model."""
    events = [
        {"properties": {"DataModel": {"const": data_model}, "EventType": {"const": event_type}}}
        for data_model, event_type in sorted(routes.routes)
        if routes.body_model(data_model, event_type) is model
    ]
    meta = {"required": ["Logs"], "properties": {"Logs": _HAS_LOG_ID}, "anyOf": events}
    return {
        "allOf": [
            {"$ref": _REF.format(model=model.__name__)},
            {"type": "object", "properties": {"Meta": meta}},
        ]
    }


def _post(routes: RouteTable) -> dict[str, Any]:
    events = ", ".join(routes.known_events())
    body_schemas = [_routed_body(model, routes) for model in (PaymentBatch, ClaimSubmission)]
    body_schemas.append({"$ref": _REF.format(model="VerificationChallenge")})
    return {
        "summary": "Receive a Redox webhook (or Redox's POST verification challenge)",
        "description": f"Accepted events: {events}. Answers 200 only once Kafka acknowledged "
        "the webhook (acks=all).",
        "parameters": [
            {"name": "verification-token", "in": "header", "schema": {"type": "string"}},
            {"name": "X-Request-ID", "in": "header", "schema": {"type": "string"}},
        ],
        "requestBody": {
            "required": True,
            # anyOf, not oneOf: every field but Meta is optional and unknown fields are kept, so
            # a PaymentBatch is also a valid ClaimSubmission document; Meta's names pick one.
            "content": {"application/json": {"schema": {"anyOf": body_schemas}}},
        },
        "responses": {
            "200": {
                "description": "Durably in Kafka, or the challenge value (text/plain).",
                "content": {**_json("Accepted"), **_text("challenge")["content"]},
            },
            "400": _error("The body is not JSON."),
            "401": _error("Missing or wrong verification-token."),
            "413": _error("The body is larger than the receiver accepts."),
            "415": _error("The body is not application/json."),
            "422": _error("Schema violations, as {path, message}; values are never echoed."),
            "503": _error("Kafka is down or slow: retry later.", retry_after=True),
        },
    }


def openapi_document(routes: RouteTable) -> dict[str, Any]:
    """The receiver's OpenAPI 3.1 document; depends only on the models and the route table."""
    _, definitions = models_json_schema(
        [(PaymentBatch, "validation"), (ClaimSubmission, "validation")],
        by_alias=True,
        ref_template=_REF,
    )
    schemas = {**definitions.get("$defs", {}), **_ERROR_SCHEMAS}
    verify_get = {
        "summary": "Redox's GET verification challenge",
        "parameters": [
            {"name": "challenge", "in": "query", "required": True, "schema": _CHALLENGE},
            {
                "name": "verification-token",
                "in": "query",
                "required": True,
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": _text("The challenge value."),
            "400": _error("No challenge."),
            "401": _error("Wrong verification-token."),
        },
    }
    probe = {"responses": {"200": {"description": "Yes."}, "503": {"description": "No."}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "claimflow receiver", "version": "1"},
        "paths": {
            "/webhooks/redox": {
                "post": _post(routes),
                "get": verify_get,
            },
            "/healthz": {"get": {"summary": "Liveness", **probe}},
            "/readyz": {"get": {"summary": "Readiness: Kafka reachable", **probe}},
            "/metrics": {"get": {"summary": "Prometheus metrics", **probe}},
        },
        "components": {"schemas": schemas},
    }


def render(routes: RouteTable) -> str:
    """The document as committed in docs/openapi.json: sorted keys, two-space indent."""
    return json.dumps(openapi_document(routes), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    Path(sys.argv[1]).write_text(render(RouteTable.default("claimflow.")))
