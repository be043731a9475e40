"""The worklist under uvicorn, in this process."""

from __future__ import annotations

import uvicorn

from claimflow.logging import configure_logging
from claimflow.settings import Settings
from worklist.app import create_app

__all__ = ["serve"]


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; a missing sign-in setting stops before anything listens."""
    configure_logging(settings.logging)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.web.host,
        port=settings.web.port,
        log_config=None,  # keep configure_logging's handlers
        access_log=False,  # the RequestLog line says more, without query strings
        lifespan="on",
        proxy_headers=False,
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0
