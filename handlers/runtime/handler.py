"""What a handler is, and what the runtime gives it.

A handler is a small object with a name, the topics it reads, and an async ``handle`` that
either returns (the message's effects are durable) or raises (see ``errors``). The runtime
commits a message's offset only after ``handle`` returned, so delivery is at least once;
``handle`` makes its effects idempotent by ``message.message_id`` so that the end result is
exactly once.

A handler that publishes messages does it through ``HandlerContext.publisher`` and awaits the
publish before returning; the output's ``claimflow-message-id`` comes from
``derive_message_id(message.message_id, purpose)``, so a re-delivered input republishes the
same id and downstream handlers drop the copy.

A handler may also offer ``handle_batch`` (``BatchHandler``): the runtime then hands it the
records a partition has queued, in offset order, and gets one outcome per message back. A
message that failed is judged alone by the retry policy (retried with ``handle``, parked on
the retry topic, dead-lettered); the others are done. Handlers without it keep the
one-message path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from prometheus_client import CollectorRegistry

from claimflow.settings import Settings
from handlers.runtime.message import InboundMessage
from router.topics import TopicSet

__all__ = [
    "BatchHandler",
    "Handler",
    "HandlerContext",
    "HandlerFactory",
    "Lifecycle",
    "Publisher",
]


class Handler(Protocol):
    """A Kafka consumer's business logic; the runtime does the Kafka part."""

    @property
    def name(self) -> str:
        """Short, stable name: the consumer group and the retry/dead-letter topics use it."""
        ...

    def topics(self, topic_set: TopicSet) -> list[str]:
        """The topics this handler consumes (not its retry topic: the runtime adds it)."""
        ...

    async def handle(self, message: InboundMessage) -> None:
        """Make the message's effects durable and idempotent, or raise a ``HandlerError``."""
        ...


@runtime_checkable
class BatchHandler(Protocol):
    """Optional: handle a partition's queued messages together (one database transaction).

    Returns one outcome per message, in order: ``None`` when its effects are durable, or the
    exception it failed with (a ``HandlerError`` or any other), in which case none of its
    effects may be durable. Failed messages are retried one at a time with ``handle``.
    """

    async def handle_batch(
        self, messages: Sequence[InboundMessage]
    ) -> Sequence[BaseException | None]: ...


@runtime_checkable
class Lifecycle(Protocol):
    """Optional hooks of a handler that holds resources (a database engine, an HTTP client).

    ``start`` runs before the first message, ``stop`` after the last one.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Publisher(Protocol):
    """Durable publishing for handlers: returns once every in-sync replica has the record."""

    async def publish(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes,
        headers: Mapping[str, bytes],
    ) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HandlerContext:
    """What the composition root hands a handler factory."""

    settings: Settings
    topics: TopicSet
    publisher: Publisher
    registry: CollectorRegistry
    """The process's metrics registry, served on ``/metrics``: a handler's own metrics go here."""


HandlerFactory = Callable[[HandlerContext], Handler]
