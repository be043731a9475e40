"""Is this body a webhook claimflow accepts? Pydantic errors become ``{path, message}``.

Two ways in, one answer. :func:`validate_webhook_body` is the fast path for a body that is
valid: pydantic validates straight from the bytes in one pass (``model_validate_json``;
measured against ``json.loads`` + ``model_validate`` and orjson + ``TypeAdapter`` in
``benchmarks/bench_parsing.py``). It gives up (``None``) whenever anything is off, and the
caller then takes the original path, :func:`validate_webhook` on the ``json.loads`` document,
which decides every 400 and 422 exactly as before: the fast path can only accept what the
original path accepts, never refuse or word an error differently.

The error list is built from pydantic's ``loc`` and ``msg`` only, never from ``input`` or
``ctx``: a 422 must not echo a field's value, which may be a patient's name or SSN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from receiver.errors import FieldError, InvalidWebhook
from router.redox import ClaimSubmission, Meta, PaymentBatch, WebhookEnvelope, field_path
from router.routes import RouteTable

__all__ = ["ValidatedWebhook", "field_errors", "validate_webhook", "validate_webhook_body"]

# Error types whose message may quote the input (a discriminator's value): a fixed message.
_ECHOING_TYPES = frozenset({"union_tag_invalid", "union_tag_not_found"})
_PREFIXES = ("Value error, ", "Assertion failed, ")


@dataclass(frozen=True, slots=True)
class ValidatedWebhook:
    """What the publisher needs to know about a webhook that passed validation."""

    topic: str
    meta: Meta
    log_id: str
    model: BaseModel


def _message(error: ErrorDetails) -> str:
    if error["type"] in _ECHOING_TYPES:
        return "does not match any accepted shape"
    message: str = error["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


def field_errors(exc: ValidationError) -> list[FieldError]:
    """``{path, message}`` per violation, in pydantic's order; the root path is ``$``."""
    return [
        FieldError(path=field_path(tuple(error["loc"])) or "$", message=_message(error))
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def _event_names(document: Any) -> tuple[str, str] | None:
    """Meta.DataModel and Meta.EventType as sent, if both are strings."""
    meta = document.get("Meta") if isinstance(document, dict) else None
    if not isinstance(meta, dict):
        return None
    names = meta.get("DataModel"), meta.get("EventType")
    return (names[0], names[1]) if isinstance(names[0], str) and isinstance(names[1], str) else None


def _no_route(meta: Meta, routes: RouteTable) -> InvalidWebhook:
    known_model = any(data_model == meta.data_model for data_model, _ in routes.routes)
    return InvalidWebhook(
        [
            FieldError(
                path="Meta.EventType" if known_model else "Meta.DataModel",
                message="no route for this DataModel/EventType; accepted: "
                + ", ".join(routes.known_events()),
            )
        ]
    )


def validate_webhook(document: Any, routes: RouteTable) -> ValidatedWebhook:
    """Route by Meta's DataModel/EventType, then validate the whole body against its model.

    When no model can be picked, the Meta envelope alone is validated, to say why.
    """
    names = _event_names(document)
    model_type = routes.body_model(*names) if names else None
    if model_type is None:
        try:
            envelope = WebhookEnvelope.model_validate(document)
        except ValidationError as exc:
            raise InvalidWebhook(field_errors(exc)) from exc
        raise _no_route(envelope.meta, routes)
    try:
        model = model_type.model_validate(document)
    except ValidationError as exc:
        raise InvalidWebhook(field_errors(exc)) from exc
    assert isinstance(model, PaymentBatch | ClaimSubmission)  # the route table's only models
    meta = model.meta
    topic = routes.webhook_topic(meta.data_model, meta.event_type, bool(meta.test))
    assert topic is not None  # the route that gave the model gives the topic
    if meta.log_id is None:
        raise InvalidWebhook(
            [FieldError("Meta.Logs", "must hold Redox's log ID: it identifies the delivery")]
        )
    return ValidatedWebhook(topic=topic, meta=meta, log_id=meta.log_id, model=model)


def validate_webhook_body(body: bytes, routes: RouteTable) -> ValidatedWebhook | None:
    """The validated webhook in one pass from the bytes, or None: then use the original path.

    None for anything the fast path cannot vouch for: whatever ``RouteTable.validate_json``
    cannot validate (the original path says why), no log id, or a non-standard constant
    pydantic's parser would accept. A webhook always has Meta, so a body accepted here is
    never a verification challenge.
    """
    # Non-standard constants pydantic's JSON parser accepts and json.loads (strictly) refuses.
    if b"NaN" in body or b"Infinity" in body:
        return None
    model = routes.validate_json(body)
    if model is None:
        return None
    meta = model.meta
    topic = routes.webhook_topic(meta.data_model, meta.event_type, bool(meta.test))
    if topic is None or meta.log_id is None:
        return None
    return ValidatedWebhook(topic=topic, meta=meta, log_id=meta.log_id, model=model)
