"""The public surface of handlers.followups.partners grows only on purpose."""

from __future__ import annotations

import handlers.followups.partners
from handlers.followups.partners import PartnerError

EXPECTED = {
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
}


def test_public_surface_is_exactly_the_documented_names() -> None:
    assert set(handlers.followups.partners.__all__) == EXPECTED


def test_every_exported_error_has_its_retry_decision_on_the_type() -> None:
    errors = [
        getattr(handlers.followups.partners, name)
        for name in EXPECTED
        if isinstance(getattr(handlers.followups.partners, name), type)
        and issubclass(getattr(handlers.followups.partners, name), PartnerError)
    ]
    assert len(errors) == 27
    retriable = {e.__name__ for e in errors if e.retriable}
    assert retriable == {
        "AvailityCircuitOpenError",
        "AvailityRateLimitedError",
        "AvailityServerError",
        "AvailityStatusPendingError",
        "AvailityTimeoutError",
        "AvailityUnavailableError",
        "IntegrexCircuitOpenError",
        "IntegrexRateLimitedError",
        "IntegrexResultPendingError",
        "IntegrexServerError",
        "IntegrexTimeoutError",
        "IntegrexUnavailableError",
    }
