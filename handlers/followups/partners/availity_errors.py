"""The exceptions of the Availity client: one root, the retry decision on each type.

Exceptions (``retriable`` = worth trying again later; ``retry_now`` = this client already did)::

    PartnerError
    └── AvailityError
        ├── AvailityUnavailableError            retriable, retry_now: could not connect
        │   ├── AvailityTimeoutError            retriable, retry_now: sent, no (complete) answer
        │   ├── AvailityServerError             retriable, retry_now: 5xx
        │   └── AvailityCircuitOpenError        retriable: not called, partner recently down
        ├── AvailityRateLimitedError            retriable, retry_now: 429
        ├── AvailityStatusPendingError          retriable: no final status by the deadline
        ├── AvailitySubmissionUnconfirmedError  sent, outcome unknown: do not resubmit blindly
        ├── AvailityAuthError                   credentials refused, or a fresh token refused
        ├── AvailityRequestRejectedError        4xx: the request is wrong
        │   ├── AvailityInvalidSubmissionError  refused locally, never sent (``violations``)
        │   ├── AvailityParameterViolationsError  Availity's parameterViolations (``violations``)
        │   └── AvailityNotFoundError           404: unknown request id
        └── AvailityProtocolError               an answer not shaped as documented
"""

from __future__ import annotations

from typing import ClassVar

from handlers.followups.partners.availity_submission import ParameterViolation
from handlers.followups.partners.connection import ErrorKinds
from handlers.followups.partners.errors import PartnerError

__all__ = [
    "ERROR_KINDS",
    "AvailityAuthError",
    "AvailityCircuitOpenError",
    "AvailityError",
    "AvailityInvalidSubmissionError",
    "AvailityNotFoundError",
    "AvailityParameterViolationsError",
    "AvailityProtocolError",
    "AvailityRateLimitedError",
    "AvailityRequestRejectedError",
    "AvailityServerError",
    "AvailityStatusPendingError",
    "AvailitySubmissionUnconfirmedError",
    "AvailityTimeoutError",
    "AvailityUnavailableError",
]


class AvailityError(PartnerError):
    """Root of every error this client raises."""


class AvailityUnavailableError(AvailityError):
    retriable: ClassVar[bool] = True
    retry_now: ClassVar[bool] = True


class AvailityTimeoutError(AvailityUnavailableError):
    pass


class AvailityServerError(AvailityUnavailableError):
    pass


class AvailityCircuitOpenError(AvailityUnavailableError):
    retry_now: ClassVar[bool] = False


class AvailityRateLimitedError(AvailityError):
    retriable: ClassVar[bool] = True
    retry_now: ClassVar[bool] = True


class AvailityStatusPendingError(AvailityError):
    retriable: ClassVar[bool] = True

    def __init__(self, message: str, *, request_id: int, last_status: str | None) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.last_status = last_status


class AvailitySubmissionUnconfirmedError(AvailityError):
    def __init__(self, message: str, *, request_number: str, status_code: int | None) -> None:
        super().__init__(message, status_code=status_code)
        self.request_number = request_number


class AvailityAuthError(AvailityError):
    pass


class AvailityRequestRejectedError(AvailityError):
    pass


class AvailityInvalidSubmissionError(AvailityRequestRejectedError):
    def __init__(self, violations: tuple[ParameterViolation, ...]) -> None:
        super().__init__("attachment submission is invalid: " + _describe(violations))
        self.violations = violations


class AvailityParameterViolationsError(AvailityRequestRejectedError):
    def __init__(self, violations: tuple[ParameterViolation, ...], *, status_code: int) -> None:
        super().__init__(
            "Availity rejected the attachment: " + _describe(violations), status_code=status_code
        )
        self.violations = violations


class AvailityNotFoundError(AvailityRequestRejectedError):
    pass


class AvailityProtocolError(AvailityError):
    pass


#: What the shared connection raises for this partner.
ERROR_KINDS = ErrorKinds(
    timeout=AvailityTimeoutError,
    unreachable=AvailityUnavailableError,
    circuit_open=AvailityCircuitOpenError,
    auth=AvailityAuthError,
    rate_limited=AvailityRateLimitedError,
    server=AvailityServerError,
    not_found=AvailityNotFoundError,
    rejected=AvailityRequestRejectedError,
    protocol=AvailityProtocolError,
)


def _describe(violations: tuple[ParameterViolation, ...]) -> str:
    return "; ".join(f"{v.path}: {v.message}" for v in violations) or "no details given"
