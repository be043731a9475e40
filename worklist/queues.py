"""The worklist's queues: what each kind of open item is, in a billing office's words."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["QUEUES", "Queue", "QueueKind", "SortKey"]


class QueueKind(enum.StrEnum):
    NEEDS_REVIEW = "needs-review"
    UNMATCHED = "unmatched"
    DENIED = "denied"
    OVERPAID = "overpaid"
    UNBALANCED = "unbalanced"
    TRANSACTION_TOTAL = "transaction-total"
    PARTNER_ANSWERED = "partner-answered"
    ATTACHMENT_UNKNOWN = "attachment-unknown"


class SortKey(enum.StrEnum):
    OLDEST = "oldest"
    NEWEST = "newest"
    LARGEST = "largest"
    SMALLEST = "smallest"


@dataclass(frozen=True, slots=True)
class Queue:
    kind: QueueKind
    title: str
    description: str
    amount_label: str
    available: bool = True


QUEUES: dict[QueueKind, Queue] = {
    queue.kind: queue
    for queue in (
        Queue(
            QueueKind.NEEDS_REVIEW,
            "Needs review",
            "Payments that match more than one claim or a claim only by patient details, and "
            "payments held off a claim: possible duplicates, reversals without their original, "
            "negative payments.",
            "Payment",
        ),
        Queue(
            QueueKind.UNMATCHED,
            "Unmatched payments",
            "Payments whose claim is not on file; they post once the claim arrives.",
            "Payment",
        ),
        Queue(
            QueueKind.DENIED,
            "Denied",
            "Claims the payer denied, waiting for a decision.",
            "Charged",
        ),
        Queue(
            QueueKind.OVERPAID,
            "Overpaid (credit balance)",
            "Claims whose payments exceed what they may receive (a credit balance).",
            "Credit balance",
        ),
        Queue(
            QueueKind.UNBALANCED,
            "Unbalanced",
            "Claim payments whose amounts do not add up as the 835 says they must.",
            "Payment",
        ),
        Queue(
            QueueKind.TRANSACTION_TOTAL,
            "Transaction total differs",
            "Checks or EFTs whose total is not the sum of their claim payments.",
            "Transaction total",
        ),
        Queue(
            QueueKind.PARTNER_ANSWERED,
            "Partner answered (action needed)",
            "Claim status checks whose answer needs a person (denied, rejected, documents "
            "asked for, not found, no answer) and attachments the payer rejected or that were "
            "never sent.",
            "Open balance",
        ),
        Queue(
            QueueKind.ATTACHMENT_UNKNOWN,
            "Attachment outcome unknown",
            "Attachments that may or may not have reached the payer: check at Availity, then "
            "mark each sent or not sent.",
            "Open balance",
        ),
    )
}
