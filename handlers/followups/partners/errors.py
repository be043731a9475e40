"""The root every partner client's exceptions share, and where the retry decision lives.

Each partner is its own boundary with its own documented tree (``IntegrexError`` in
:mod:`handlers.followups.partners.integrex`, ``AvailityError`` in
:mod:`handlers.followups.partners.availity`); both roots derive from :class:`PartnerError` so
that the retry loop in
:mod:`handlers.followups.partners.resilience` and the Kafka handlers can decide from the type alone:

* ``retriable`` -- the same request may succeed later (partner down, 429, 5xx, timeouts). A
  handler sends the message to its retry topic; otherwise to the dead-letter topic.
* ``retry_now`` -- the client's own loop may try again at once after a backoff. False for errors
  that are retriable *later* but pointless to hammer now (an open circuit, a poll deadline).

Messages never carry secrets, tokens or PHI: only status codes, field paths and request ids.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["PartnerError"]


class PartnerError(Exception):
    """A call to a partner API did not produce the answer asked for."""

    retriable: ClassVar[bool] = False
    retry_now: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        #: Seconds the partner asked us to wait (Retry-After), when it said so.
        self.retry_after = retry_after
        #: The partner's own reasons, ``"path: message"`` (from a documented error body).
        self.reasons: tuple[str, ...] = ()
