"""The runtime's public surface grows only on purpose (as httpx's test_exported_members)."""

from __future__ import annotations

import handlers.runtime


def test_the_runtime_exports_exactly_its_public_names() -> None:
    exported = {name for name in dir(handlers.runtime) if not name.startswith("_")}
    modules = {
        "delivery",
        "errors",
        "handler",
        "message",
        "metrics",
        "offsets",
        "partition",
        "process",
        "publisher",
        "replay",
        "retry",
        "runner",
    }
    assert exported - modules == set(handlers.runtime.__all__)
    assert set(handlers.runtime.__all__) == {
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
    }
