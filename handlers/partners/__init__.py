"""Clients of claimflow's partner APIs: Integrex claim status and Availity claim attachments.

One client per partner per process, built in the composition root from its settings group::

    async with IntegrexClient(settings=settings.integrex, metrics=metrics) as integrex:
        result = await integrex.check_claim_status(request)

Every error derives from :class:`PartnerError`; ``retriable`` says whether a later retry can
help (retry topic) or not (dead-letter topic). The trees are documented in
:mod:`handlers.partners.integrex` and :mod:`handlers.partners.availity`.
"""

from handlers.partners.availity import (
    AttachmentStatus,
    AttachmentSubmission,
    AvailityAuthError,
    AvailityCircuitOpenError,
    AvailityClient,
    AvailityError,
    AvailityInvalidSubmissionError,
    AvailityNotFoundError,
    AvailityParameterViolationsError,
    AvailityProtocolError,
    AvailityRateLimitedError,
    AvailityRequestRejectedError,
    AvailityServerError,
    AvailityStatusPendingError,
    AvailitySubmissionUnconfirmedError,
    AvailityTimeoutError,
    AvailityUnavailableError,
    ParameterViolation,
    parse_submission,
)
from handlers.partners.errors import PartnerError
from handlers.partners.integrex import (
    ClaimInfo,
    ClaimStatusRequest,
    ClaimStatusResult,
    IntegrexAuthError,
    IntegrexCircuitOpenError,
    IntegrexClient,
    IntegrexError,
    IntegrexInquiryUnconfirmedError,
    IntegrexProtocolError,
    IntegrexRateLimitedError,
    IntegrexRequestRejectedError,
    IntegrexResultNotFoundError,
    IntegrexResultPendingError,
    IntegrexServerError,
    IntegrexTimeoutError,
    IntegrexUnavailableError,
)
from handlers.partners.integrex_codes import CategoryGroup, ClaimStatusCategory
from handlers.partners.metrics import PartnerMetrics

__all__ = [
    "AttachmentStatus",
    "AttachmentSubmission",
    "AvailityAuthError",
    "AvailityCircuitOpenError",
    "AvailityClient",
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
    "CategoryGroup",
    "ClaimInfo",
    "ClaimStatusCategory",
    "ClaimStatusRequest",
    "ClaimStatusResult",
    "IntegrexAuthError",
    "IntegrexCircuitOpenError",
    "IntegrexClient",
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
    "ParameterViolation",
    "PartnerError",
    "PartnerMetrics",
    "parse_submission",
]
