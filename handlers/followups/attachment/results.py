"""The results the attachment handler publishes, and how an attempt ends with one.

``Outcome`` is raised (or returned) to end an attempt with the row state to commit and the
``AttachmentResult`` to publish. ``violations`` are ``"path: message"`` entries: Availity's
``parameterViolations``, local validation, ``documents: …`` from the document store, or
``reconciliation: …`` for a submission parked for a person.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from handlers.followups.partners.availity import ParameterViolation
from router.followups import AttachmentRequest, AttachmentResult

__all__ = ["NEEDS_REVIEW_STATUS", "Outcome", "failed", "needs_review", "outcome", "violations"]

_log = structlog.get_logger(__name__)

#: ``AttachmentResult.status`` of a submission parked for a person.
NEEDS_REVIEW_STATUS = "needs_review"


class Outcome(Exception):  # noqa: N818 - ends an attempt; not an error
    def __init__(self, state: str, result: AttachmentResult) -> None:
        super().__init__(state)
        self.state = state
        self.result = result


def outcome(
    state: str,
    command: AttachmentRequest,
    acn: str,
    *,
    result: str,
    request_id: int | None = None,
    status: str | None = None,
    violations: list[str] | None = None,
) -> Outcome:
    return Outcome(
        state,
        AttachmentResult.model_validate(
            {
                "command_id": command.command_id,
                "claim_id": command.claim.claim_id,
                "submission_number": command.claim.submission_number,
                "outcome": result,
                "availity_request_id": request_id,
                "attachment_control_number": acn,
                "status": status,
                "violations": violations or [],
                "finished_at": datetime.now(UTC),
            }
        ),
    )


def failed(command: AttachmentRequest, acn: str, found: list[str]) -> Outcome:
    """Never sent: documents or the submission itself are not acceptable."""
    return outcome("failed", command, acn, result="failed", violations=found)


def needs_review(
    command: AttachmentRequest, acn: str, why: str, request_id: int | None = None
) -> Outcome:
    """Perhaps filed, not confirmed: parked for a person, never sent again."""
    _log.warning("attachment.needs_review", command_id=command.command_id, acn=acn, reason=why)
    return outcome(
        "needs_review",
        command,
        acn,
        result="pending",
        request_id=request_id,
        status=NEEDS_REVIEW_STATUS,
        violations=[f"reconciliation: {why}; not re-sent, a person must check"],
    )


def violations(found: tuple[ParameterViolation, ...]) -> list[str]:
    """``path: message`` of each violation (never its value: names are PHI)."""
    return [f"{v.path}: {v.message}" for v in found]
