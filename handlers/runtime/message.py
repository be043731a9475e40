"""The message a handler receives, and how a handler names the messages it publishes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["InboundMessage", "derive_message_id", "headers_from_kafka"]

# Fixed namespace so that every process derives the same id from the same input.
_DERIVED_ID_NAMESPACE = uuid.UUID("6d0c6bb4-5f5e-4d35-9d0b-0b6c1e1a8f3e")
_DERIVED_ID_NAMESPACE_BYTES = _DERIVED_ID_NAMESPACE.bytes


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One Kafka record as a handler sees it.

    For a record re-handled from the handler's retry topic, ``topic``, ``partition`` and
    ``offset`` are those of the original record, so a handler never sees its retry topic.
    ``message_id`` is the ``claimflow-message-id`` header: the key of idempotent effects.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    message_id: str | None = None


def headers_from_kafka(raw: Sequence[tuple[str, bytes | None]] | None) -> dict[str, bytes]:
    """Kafka headers (a list of pairs, possibly repeated) as a dict; the last value wins."""
    return {name: value or b"" for name, value in raw or ()}


def derive_message_id(source_message_id: str, purpose: str) -> str:
    """The id of a message published because of ``source_message_id``, the same on every retry.

    A handler that publishes, say, a reconciliation for a claim payment sets
    ``HEADERS.MESSAGE_ID`` to ``derive_message_id(message.message_id, "reconciliation")``: a
    re-delivered input then yields an output with the same id, which its consumers drop.
    """
    # ``str(uuid.uuid5(_DERIVED_ID_NAMESPACE, name))`` without building a UUID object (RFC 4122
    # 4.3: SHA-1 of namespace and name, then the version and variant bits).
    name = f"{source_message_id}\x00{purpose}".encode()
    digest = bytearray(
        hashlib.sha1(_DERIVED_ID_NAMESPACE_BYTES + name, usedforsecurity=False).digest()
    )
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
