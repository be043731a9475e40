"""Clients of claimflow's partner APIs: Integrex claim status and Availity claim attachments.

One client per partner per process, built in the composition root from its settings group::

    async with IntegrexClient(settings=settings.integrex, metrics=metrics) as integrex:
        result = await integrex.check_claim_status(request)

Every error derives from :class:`PartnerError`; ``retriable`` says whether a later retry can
help (retry topic) or not (dead-letter topic). The trees are documented in
:mod:`handlers.followups.partners.integrex` and :mod:`handlers.followups.partners.availity`.
"""

from handlers.followups.partners.availity import (
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
from handlers.followups.partners.errors import PartnerError
from handlers.followups.partners.integrex import (
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
from handlers.followups.partners.integrex_codes import CategoryGroup, ClaimStatusCategory
from handlers.followups.partners.metrics import PartnerMetrics

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
