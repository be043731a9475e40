"""The Kafka headers of every claimflow message: one builder that every producer calls.

Part of the topic contract (router/topics.py names the headers): the receiver's webhook
messages, the router's claim messages and dead letters, the ledger's outbox, the partner
handlers' results, and the runtime's retry and dead-letter copies all build their headers with
:func:`message_headers`, so they agree on what a message carries:

* ``redox-test`` always, ``"true"`` or ``"false"``: the lane the message travels in (a claim
  routed to the test lane says ``true`` even when its body's ``Meta.Test`` is false);
* a new message: its ``claimflow-message-id``, ``claimflow-schema`` and ``content-type``;
* a message from a Redox delivery: the data model, event type, log id and attempt id;
* a copy (retry, dead letter): the original's headers, with the failure's headers replaced;
* a dead letter replayed to its original topic: the original's headers without the failure's,
  and where it was replayed from.

Values are UTF-8 bytes, in a stable order: the builder's headers first, then those carried over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from router.topics import HEADERS

__all__ = ["Failure", "RedoxOrigin", "is_test", "message_headers"]


@dataclass(frozen=True, slots=True)
class RedoxOrigin:
    """The Redox delivery a message came from (its ``Meta``)."""

    data_model: str
    event_type: str
    log_id: str
    attempt_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why a copy went to a retry or dead-letter topic, and where its original was read."""

    error: str
    original_topic: str
    original_partition: int
    original_offset: int
    handler: str | None = None
    attempts: int | None = None


# Headers a failure sets: a copy of a copy replaces them instead of repeating them.
_FAILURE_HEADERS = frozenset(
    {
        HEADERS.ERROR,
        HEADERS.HANDLER,
        HEADERS.ATTEMPTS,
        HEADERS.ORIGINAL_TOPIC,
        HEADERS.ORIGINAL_PARTITION,
        HEADERS.ORIGINAL_OFFSET,
    }
)


def message_headers(
    *,
    test: bool,
    message_id: str | None = None,
    schema: str | None = None,
    redox: RedoxOrigin | None = None,
    carried: Iterable[tuple[str, bytes]] = (),
    failure: Failure | None = None,
    replayed_from: str | None = None,
) -> list[tuple[str, bytes]]:
    """The headers of one message; ``carried`` are the original's when it is a copy."""
    built: list[tuple[str, str]] = []
    if message_id is not None:
        built.append((HEADERS.MESSAGE_ID, message_id))
    if schema is not None:
        built += [(HEADERS.SCHEMA, schema), (HEADERS.CONTENT_TYPE, "application/json")]
    if redox is not None:
        built += [
            (HEADERS.DATA_MODEL, redox.data_model),
            (HEADERS.EVENT_TYPE, redox.event_type),
            (HEADERS.REDOX_LOG_ID, redox.log_id),
        ]
        if redox.attempt_id:
            built.append((HEADERS.REDOX_ATTEMPT_ID, redox.attempt_id))
    built.append((HEADERS.TEST, "true" if test else "false"))
    if failure is not None:
        built += [
            (HEADERS.ERROR, failure.error),
            (HEADERS.ORIGINAL_TOPIC, failure.original_topic),
            (HEADERS.ORIGINAL_PARTITION, str(failure.original_partition)),
            (HEADERS.ORIGINAL_OFFSET, str(failure.original_offset)),
        ]
        if failure.handler is not None:
            built.append((HEADERS.HANDLER, failure.handler))
        if failure.attempts is not None:
            built.append((HEADERS.ATTEMPTS, str(failure.attempts)))
    if replayed_from is not None:
        built.append((HEADERS.REPLAYED_FROM, replayed_from))
    names = {name for name, _ in built}
    copy = failure is not None or replayed_from is not None
    replaced = names | (_FAILURE_HEADERS if copy else frozenset())
    kept = [(name, value) for name, value in carried if name not in replaced]
    return [(name, value.encode()) for name, value in built] + kept


def is_test(headers: Mapping[str, bytes]) -> bool:
    """Whether a message's headers put it in the test lane (``redox-test: true``)."""
    return headers.get(HEADERS.TEST, b"").strip().lower() == b"true"
