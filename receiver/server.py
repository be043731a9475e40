"""``claimflow serve``: the receiver under uvicorn, in this process."""

from __future__ import annotations

import uvicorn

from claimflow.logging import configure_logging
from claimflow.settings import Settings
from receiver.app import create_app

__all__ = ["serve"]


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; the lifespan flushes the producer before exit.

    Kafka must be reachable at start-up: a receiver that cannot publish exits (code 3) and
    its supervisor restarts it, rather than serving 503s with a broken producer.
    """
    configure_logging(settings.logging)
    app = create_app(settings)  # a missing token stops here, before anything listens
    config = uvicorn.Config(
        app,
        host=settings.receiver.host,
        port=settings.receiver.port,
        log_config=None,  # keep configure_logging's handlers: uvicorn's lines go through it
        access_log=False,  # the webhook's canonical line says more, and redacted
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        # Redox waits for our answer; give in-flight publishes time to finish on shutdown.
        timeout_graceful_shutdown=int(settings.kafka.publish_timeout_seconds) + 5,
    )
    # A failed start-up (Kafka unreachable) makes uvicorn exit with its STARTUP_FAILURE, 3.
    uvicorn.Server(config).run()
    return 0
