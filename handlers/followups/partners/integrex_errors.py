"""The exceptions of the Integrex client: one root, the retry decision on each type.

Exceptions (``retriable`` = worth trying again later; ``retry_now`` = this client already did)::

    PartnerError
    └── IntegrexError
        ├── IntegrexUnavailableError        retriable, retry_now: could not connect
        │   ├── IntegrexTimeoutError        retriable, retry_now: sent, no (complete) answer
        │   ├── IntegrexServerError         retriable, retry_now: 5xx
        │   └── IntegrexCircuitOpenError    retriable: not called, partner recently down
        ├── IntegrexRateLimitedError        retriable, retry_now: 429
        ├── IntegrexResultPendingError      retriable: poll deadline passed (``request_id``)
        ├── IntegrexInquiryUnconfirmedError the inquiry POST went out, no answer: never re-sent
        ├── IntegrexAuthError               credentials refused, or a fresh token refused
        ├── IntegrexRequestRejectedError    400 and other 4xx: the inquiry is wrong
        │   └── IntegrexResultNotFoundError 404: the id is unknown or its result expired
        └── IntegrexProtocolError           an answer not shaped as documented
"""

from __future__ import annotations

from typing import ClassVar

from handlers.followups.partners.connection import ErrorKinds
from handlers.followups.partners.errors import PartnerError

__all__ = [
    "ERROR_KINDS",
    "IntegrexAuthError",
    "IntegrexCircuitOpenError",
    "IntegrexError",
    "IntegrexInquiryUnconfirmedError",
    "IntegrexProtocolError",
    "IntegrexRateLimitedError",
    "IntegrexRequestRejectedError",
    "IntegrexResultNotFoundError",
    "IntegrexResultPendingError",
    "IntegrexServerError",
    "IntegrexTimeoutError",
    "IntegrexUnavailableError",
]


class IntegrexError(PartnerError):
    """Root of every error this client raises."""


class IntegrexUnavailableError(IntegrexError):
    retriable: ClassVar[bool] = True
    retry_now: ClassVar[bool] = True


class IntegrexTimeoutError(IntegrexUnavailableError):
    pass


class IntegrexServerError(IntegrexUnavailableError):
    pass


class IntegrexCircuitOpenError(IntegrexUnavailableError):
    retry_now: ClassVar[bool] = False


class IntegrexRateLimitedError(IntegrexError):
    retriable: ClassVar[bool] = True
    retry_now: ClassVar[bool] = True


class IntegrexResultPendingError(IntegrexError):
    retriable: ClassVar[bool] = True

    def __init__(self, message: str, *, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


class IntegrexInquiryUnconfirmedError(IntegrexError):
    """The inquiry was sent and no (complete) answer came: Integrex may have created, and
    billed, it. Sending it again would create a second one; Integrex offers no lookup by our
    tracking id, so the caller records the inquiry as unknown instead."""


class IntegrexAuthError(IntegrexError):
    pass


class IntegrexRequestRejectedError(IntegrexError):
    pass


class IntegrexResultNotFoundError(IntegrexRequestRejectedError):
    pass


class IntegrexProtocolError(IntegrexError):
    pass


#: What the shared connection raises for this partner.
ERROR_KINDS = ErrorKinds(
    timeout=IntegrexTimeoutError,
    unreachable=IntegrexUnavailableError,
    circuit_open=IntegrexCircuitOpenError,
    auth=IntegrexAuthError,
    rate_limited=IntegrexRateLimitedError,
    server=IntegrexServerError,
    not_found=IntegrexResultNotFoundError,
    rejected=IntegrexRequestRejectedError,
    protocol=IntegrexProtocolError,
)
