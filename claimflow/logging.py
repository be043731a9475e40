"""Logging for every claimflow process: structlog, redacted, JSON in production.

Each role's entrypoint calls :func:`configure_logging` once, before it starts anything. After
that, structlog's loggers and the standard library's (uvicorn, aiokafka, httpx, ...) go through
the same chain, so every line is rendered alike and passes the PHI redaction:

1. context variables bound for the request or message (``structlog.contextvars``),
   level, logger name, UTC timestamp;
2. tracebacks as text (never with local variables: they would hold PHI);
3. :func:`claimflow.redaction.redact_phi`;
4. the renderer: JSON lines, or structlog's console renderer on a terminal when
   ``LoggingSettings.format`` is ``auto``.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.types import Processor

from claimflow.redaction import redact_phi
from claimflow.settings import LoggingSettings

__all__ = ["configure_logging"]

# Loggers that install handlers of their own; ours on the root logger is the only one.
_THIRD_PARTY = ("uvicorn", "uvicorn.error", "uvicorn.access", "aiokafka", "httpx")


def _renderer(settings: LoggingSettings, stream: TextIO) -> Processor:
    console = settings.format == "console" or (settings.format == "auto" and stream.isatty())
    if console:
        return structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    return structlog.processors.JSONRenderer()


def configure_logging(settings: LoggingSettings, *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to ``stream`` (stdout) through one redacted chain.

    stdout, because stderr is for people: a failed command prints its one line there
    (``claimflow.cli``), and progress bars go there.
    """
    out = stream if stream is not None else sys.stdout
    level = logging.getLevelNamesMapping()[settings.level]
    context: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*context, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=context,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_phi,
            _renderer(settings, out),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in _THIRD_PARTY:
        third_party = logging.getLogger(name)
        third_party.handlers = []
        third_party.propagate = True
    logging.captureWarnings(True)
