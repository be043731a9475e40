"""``/webhooks/redox``: authenticate, read, validate, publish, and only then answer 2xx.

Every request ends in one canonical log line (request id, Redox log id and attempt id,
outcome, status, publish ms, body bytes; never the body: :mod:`receiver.request_log`) and one
count by outcome. GET (Redox's query-string challenge) and POST share one route, so that a
405 names both in its ``Allow`` header.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from receiver.body import parse_json, read_body, require_json
from receiver.context import ReceiverContext
from receiver.errors import (
    BadRequest,
    InvalidWebhook,
    PublishError,
    ReceiverError,
    RequestRejected,
    Unauthorized,
)
from receiver.request_log import RequestRecord
from receiver.validation import ValidatedWebhook, validate_webhook, validate_webhook_body
from receiver.verification import TOKEN_HEADER, challenge_of, token_of
from router.messages import webhook_headers, webhook_message_id

__all__ = ["redox_webhook"]

_log = structlog.get_logger("claimflow.receiver")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A request without a token can only be a verification challenge: read at most this much.
_CHALLENGE_MAX_BYTES = 4096


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _error_response(exc: ReceiverError, context: ReceiverContext) -> Response:
    body: dict[str, object] = {"error": exc.outcome, "detail": str(exc)}
    if isinstance(exc, InvalidWebhook):
        body["errors"] = [{"path": e.path, "message": e.message} for e in exc.errors]
    headers = {"Retry-After": context.retry_after} if exc.retriable else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


Handler = Callable[[Request, ReceiverContext, RequestRecord], Awaitable[Response]]


async def _handled(request: Request, handler: Handler) -> Response:
    context: ReceiverContext = request.state.context
    record = RequestRecord(request_id=_request_id(request), method=request.method)
    started = time.perf_counter()
    try:
        response = await handler(request, context, record)
    except ReceiverError as exc:
        record.outcome = exc.outcome
        response = _error_response(exc, context)
    record.status = response.status_code
    response.headers["X-Request-ID"] = record.request_id
    context.metrics.requests.labels(record.outcome).inc()
    record.duration_ms = round((time.perf_counter() - started) * 1000, 2)
    context.request_log.write(record)
    return response


async def _answer_challenge(
    request: Request, context: ReceiverContext, record: RequestRecord
) -> Response:
    """No token header: only a POST verification challenge (token in its body) may pass."""
    try:
        require_json(request.headers)
        body = await read_body(request, _CHALLENGE_MAX_BYTES)
        record.body_bytes = len(body)
        document = parse_json(body)
        challenge = challenge_of(document) if isinstance(document, dict) else None
    except RequestRejected as exc:
        raise Unauthorized("missing verification-token") from exc
    if challenge is None:
        raise Unauthorized("missing verification-token")
    context.verifier.check(token_of(document, None))
    record.outcome = "verified"
    return PlainTextResponse(challenge)


async def _accept(request: Request, context: ReceiverContext, record: RequestRecord) -> Response:
    presented = request.headers.get(TOKEN_HEADER)
    if presented is None:
        return await _answer_challenge(request, context, record)
    context.verifier.check(presented)  # before reading a byte of the body
    require_json(request.headers)
    body = await read_body(request, context.settings.max_body_bytes)
    record.body_bytes = len(body)
    webhook = validate_webhook_body(body, context.routes)
    if webhook is None:  # not a valid webhook in one pass: the original path says what it is
        document = parse_json(body)
        if isinstance(document, dict) and (challenge := challenge_of(document)) is not None:
            context.verifier.check(token_of(document, presented))
            record.outcome = "verified"
            return PlainTextResponse(challenge)
        webhook = validate_webhook(document, context.routes)
    return await _publish(webhook, body, context, record)


async def _publish(
    webhook: ValidatedWebhook, body: bytes, context: ReceiverContext, record: RequestRecord
) -> Response:
    record.log_id, record.attempt_id = webhook.log_id, webhook.meta.attempt_id
    message_id = webhook_message_id(webhook.log_id)
    try:
        published = await context.publisher.publish(
            webhook.topic,
            key=webhook.log_id,
            value=body,
            headers=webhook_headers(webhook.meta, log_id=webhook.log_id, message_id=message_id),
        )
    except PublishError:
        _log.warning(
            "publish failed",
            topic=webhook.topic,
            request_id=record.request_id,
            redox_log_id=record.log_id,
            redox_attempt_id=record.attempt_id,
            exc_info=True,
        )
        raise
    record.publish_ms = round(published.seconds * 1000, 2)
    context.metrics.publish_seconds.observe(published.seconds)
    if context.recent.add(webhook.log_id):
        context.metrics.duplicates.inc()
    record.outcome = "accepted"
    return JSONResponse({"status": "accepted", "logId": webhook.log_id, "messageId": message_id})


async def _verify_by_query(
    request: Request, context: ReceiverContext, record: RequestRecord
) -> Response:
    context.verifier.check(request.query_params.get(TOKEN_HEADER))
    challenge = challenge_of(dict(request.query_params))
    if challenge is None:
        raise BadRequest("a verification request needs a challenge")
    record.outcome = "verified"
    return PlainTextResponse(challenge)


async def redox_webhook(request: Request) -> Response:
    """POST: a Redox delivery, or Redox's POST verification challenge; GET (and HEAD):
    Redox's verification challenge in the query string."""
    if request.method == "POST":
        return await _handled(request, _accept)
    return await _handled(request, _verify_by_query)
