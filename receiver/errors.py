"""Every way a webhook request can fail, as one exception tree.

::

    ReceiverError                    status, outcome (the metrics label), retriable
    ├── RequestRejected              4xx: Redox must not retry the same bytes
    │   ├── Unauthorized             401 missing or wrong verification-token
    │   ├── BadRequest               400 not JSON, or a malformed challenge
    │   ├── BodyTooLarge             413 over ReceiverSettings.max_body_bytes
    │   ├── UnsupportedMediaType     415 not application/json
    │   └── InvalidWebhook           422 schema violations, as {path, message} without values
    └── PublishError                 the broker did not take the webhook
        ├── MessageTooLarge          413 the cluster refuses a message this size (not retriable)
        ├── PublishTimeout           503 no acknowledgement within publish_timeout_seconds
        └── BrokerUnavailable        503 the broker is down or refused the write (retriable)

``PublishError`` subclasses are raised by :mod:`receiver.publisher` only, translated from
aiokafka's errors with ``raise ... from exc``; a retriable one answers 503 with Retry-After so
that Redox retries the delivery (with the same log id). Messages never contain a body value.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BadRequest",
    "BodyTooLarge",
    "BrokerUnavailable",
    "FieldError",
    "InvalidWebhook",
    "MessageTooLarge",
    "PublishError",
    "PublishTimeout",
    "ReceiverError",
    "RequestRejected",
    "Unauthorized",
    "UnsupportedMediaType",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One schema violation: where (a JSON path) and what, never the value found there."""

    path: str
    message: str


class ReceiverError(Exception):
    """Root of the receiver's errors; ``status`` is the HTTP answer."""

    status: int = 500
    outcome: str = "error"
    retriable: bool = False


class RequestRejected(ReceiverError):  # noqa: N818 - the names issue 2 gives the tree
    """The request itself is wrong; retrying it unchanged cannot help."""


class Unauthorized(RequestRejected):
    status = 401
    outcome = "unauthorized"


class BadRequest(RequestRejected):
    status = 400
    outcome = "bad_request"


class BodyTooLarge(RequestRejected):
    status = 413
    outcome = "too_large"


class UnsupportedMediaType(RequestRejected):
    status = 415
    outcome = "unsupported_media_type"


class InvalidWebhook(RequestRejected):
    status = 422
    outcome = "invalid"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} schema violation(s)")
        self.errors = errors


class PublishError(ReceiverError):
    """The webhook is not (known to be) in Kafka: never answer 2xx."""

    status = 503
    outcome = "publish_failed"
    retriable = True


class MessageTooLarge(PublishError):  # noqa: N818 - the names issue 2 gives the tree
    status = 413
    outcome = "too_large"
    retriable = False


class PublishTimeout(PublishError):  # noqa: N818 - the names issue 2 gives the tree
    outcome = "publish_timeout"


class BrokerUnavailable(PublishError):  # noqa: N818 - the names issue 2 gives the tree
    outcome = "broker_unavailable"
