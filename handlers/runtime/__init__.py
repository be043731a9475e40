"""The handler runtime: everything a Kafka handler of claimflow needs besides its logic.

A handler implements ``Handler`` (and optionally ``Lifecycle``); the runtime consumes its
topics in a consumer group, retries, parks and dead-letters failures, commits only contiguous
completed offsets, serves ``/healthz``, ``/readyz`` and ``/metrics``, and drains on SIGTERM.
"""

from handlers.runtime.errors import (
    HandlerError,
    PermanentError,
    PoisonMessageError,
    TransientError,
)
from handlers.runtime.handler import (
    BatchHandler,
    Handler,
    HandlerContext,
    HandlerFactory,
    Lifecycle,
    Publisher,
)
from handlers.runtime.message import InboundMessage, derive_message_id
from handlers.runtime.offsets import OffsetTracker
from handlers.runtime.process import RunningHandler, running_handler, serve_handler
from handlers.runtime.publisher import PublishFailedError
from handlers.runtime.replay import ReplaySummary, replay_dead_letters

__all__ = [
    "BatchHandler",
    "Handler",
    "HandlerContext",
    "HandlerError",
    "HandlerFactory",
    "InboundMessage",
    "Lifecycle",
    "OffsetTracker",
    "PermanentError",
    "PoisonMessageError",
    "PublishFailedError",
    "Publisher",
    "ReplaySummary",
    "RunningHandler",
    "TransientError",
    "derive_message_id",
    "replay_dead_letters",
    "running_handler",
    "serve_handler",
]
