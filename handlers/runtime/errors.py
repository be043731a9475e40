"""What a handler raises to tell the runtime how a message failed.

The tree::

    HandlerError                 root of every error a handler raises on purpose
    ├── TransientError           retriable: the database is down, a partner answered 5xx
    └── PermanentError           not retriable: the message goes to the dead-letter topic at once
        └── PoisonMessageError   the message itself is unreadable or invalid

Any other exception is *unexpected*: the runtime treats it as transient until the attempt
budget is spent, then dead-letters the message.

The text of a ``HandlerError`` travels in the ``claimflow-error`` header of retry and
dead-letter copies, so it must be written by our code and must never quote payload values
(PHI): ``PoisonMessageError("claim has no SubmissionNumber")``, not the claim itself. The text
of an unexpected exception is never used, only its type.
"""

from __future__ import annotations

__all__ = ["HandlerError", "PermanentError", "PoisonMessageError", "TransientError", "error_text"]

_MAX_ERROR_TEXT = 200


class HandlerError(Exception):
    """Root of the errors a handler raises on purpose; ``retriable`` decides what happens."""

    retriable: bool = False


class TransientError(HandlerError):
    """Worth trying again later: a dependency is down or slow."""

    retriable = True


class PermanentError(HandlerError):
    """Will fail the same way every time: dead-letter the message without retrying."""

    retriable = False


class PoisonMessageError(PermanentError):
    """The message cannot be decoded or validated."""


def error_text(exc: BaseException) -> str:
    """The short, PHI-free description of ``exc`` that goes into headers and logs."""
    if isinstance(exc, HandlerError):
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    else:
        # Foreign exceptions (KeyError('<a patient name>'), ValueError(<a value>)) may quote
        # payload values: only their type is safe to record.
        text = f"unexpected {type(exc).__module__}.{type(exc).__qualname__}"
    return text[:_MAX_ERROR_TEXT]
