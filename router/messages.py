"""The per-claim messages the router publishes: the contract downstream consumers build on.

Every message carries a stable ``message_id`` derived from the Redox log id and the claim's
position in the batch, so a redelivered batch yields the same ids (consumers de-duplicate on
it). Messages are keyed by the claim's SubmissionNumber so all events of one claim stay in
order on one partition. Redox objects keep Redox's field names; our own fields are snake_case.
JSON Schemas of these models are published in docs/schemas/ (``claimflow schemas export``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from router.redox import (
    ClaimPayment,
    ClaimSubmission,
    Meta,
    Patient,
    PaymentBatch,
    RedoxDateTime,
    SubmissionTransactionHeader,
    SubmittedClaim,
    TransactionHeader,
)
from router.topics import HEADERS

__all__ = [
    "CLAIM_PAYMENT_SCHEMA",
    "CLAIM_SUBMISSION_SCHEMA",
    "ClaimPaymentMessage",
    "ClaimSubmissionMessage",
    "Headers",
    "Position",
    "RedoxDelivery",
    "SplitMessage",
    "claim_key",
    "message_id",
    "split_claim_submission",
    "split_payment_batch",
    "webhook_headers",
    "webhook_message_id",
]

CLAIM_PAYMENT_SCHEMA: Literal["claimflow.claim-payment.v1"] = "claimflow.claim-payment.v1"
CLAIM_SUBMISSION_SCHEMA: Literal["claimflow.claim-submission.v1"] = "claimflow.claim-submission.v1"

# Fixed namespaces: message ids must stay the same across releases, replicas and restarts.
_MESSAGE_NAMESPACE = uuid.UUID("5d1b2c1e-7f0a-4c54-9a47-0c7c1f3e9b21")
_WEBHOOK_NAMESPACE = uuid.UUID("0b7c5a4e-3f29-4d8e-9a61-2f1c8e7d4b10")

Headers = list[tuple[str, bytes]]
"""Kafka record headers as aiokafka takes them: (name, UTF-8 value)."""


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class RedoxDelivery(_Contract):
    """Where a message came from: the Redox delivery, the same for every claim of a batch."""

    log_id: str = Field(description="Meta.Logs[0].ID: the same on every retry of a delivery.")
    attempt_id: str | None = Field(None, description="Meta.Logs[0].AttemptID of the attempt.")
    data_model: str = Field(description="Meta.DataModel, e.g. Claim.")
    event_type: str = Field(description="Meta.EventType, e.g. PaymentBatch.")
    event_date_time: RedoxDateTime | None = Field(None, description="Meta.EventDateTime.")
    test: bool = Field(description="Meta.Test: test traffic travels on the claimflow.test. lane.")
    source_id: str | None = Field(None, description="Meta.Source.ID.")
    source_name: str | None = Field(None, description="Meta.Source.Name.")

    @classmethod
    def from_meta(cls, meta: Meta, *, log_id: str) -> RedoxDelivery:
        return cls(
            log_id=log_id,
            attempt_id=meta.attempt_id,
            data_model=meta.data_model,
            event_type=meta.event_type,
            event_date_time=meta.event_date_time,
            test=bool(meta.test),
            source_id=meta.source.id if meta.source else None,
            source_name=meta.source.name if meta.source else None,
        )


class Position(_Contract):
    """Where the claim sits in its batch (zero-based), and how many claims the batch has."""

    transaction: int = Field(ge=0)
    payment: int = Field(0, ge=0, description="Always 0 for claim submissions.")
    claim: int = Field(ge=0)
    claims_in_batch: int = Field(ge=1)


class ClaimPaymentMessage(_Contract):
    """One claim's payment notification, with the context a consumer needs to act on it."""

    schema_name: Literal["claimflow.claim-payment.v1"] = Field(CLAIM_PAYMENT_SCHEMA, alias="schema")
    message_id: str = Field(description="Stable id: uuid5 of the Redox log id and position.")
    delivery: RedoxDelivery
    position: Position
    transaction: TransactionHeader = Field(description="Payer (Submitter), payee (Receiver).")
    payment_date_time: RedoxDateTime | None = Field(None, description="Payments[].DateTime.")
    patient: Patient | None = Field(None, description="Payments[].Patient (PHI).")
    claim: ClaimPayment

    model_config = ConfigDict(populate_by_name=True)


class ClaimSubmissionMessage(_Contract):
    """One submitted claim, as the provider billed it."""

    schema_name: Literal["claimflow.claim-submission.v1"] = Field(
        CLAIM_SUBMISSION_SCHEMA, alias="schema"
    )
    message_id: str
    delivery: RedoxDelivery
    position: Position
    transaction: SubmissionTransactionHeader
    claim: SubmittedClaim

    model_config = ConfigDict(populate_by_name=True)


@dataclass(frozen=True, slots=True)
class SplitMessage:
    """A message ready to publish: its key, its id and its JSON value."""

    key: str
    message_id: str
    value: bytes
    schema: str


def message_id(log_id: str, transaction: int, payment: int, claim: int) -> str:
    return str(uuid.uuid5(_MESSAGE_NAMESPACE, f"{log_id}/{transaction}/{payment}/{claim}"))


def claim_key(submission_number: str | None, control_number: str | None, fallback: str) -> str:
    """Partition key: the provider's claim number; else the payer's; else the message id."""
    for candidate in (submission_number, control_number):
        if candidate and candidate.strip():
            return candidate.strip()
    return fallback


def _dump(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()


def split_payment_batch(batch: PaymentBatch, *, log_id: str) -> list[SplitMessage]:
    """One message per ``Transactions[].Payments[].Claims[]``, in batch order."""
    delivery = RedoxDelivery.from_meta(batch.meta, log_id=log_id)
    total = sum(len(p.claims) for t in batch.transactions for p in t.payments)
    out: list[SplitMessage] = []
    for t_index, transaction in enumerate(batch.transactions):
        header = TransactionHeader.model_validate(
            transaction.model_dump(by_alias=True, exclude={"payments"})
        )
        for p_index, payment in enumerate(transaction.payments):
            for c_index, claim in enumerate(payment.claims):
                mid = message_id(log_id, t_index, p_index, c_index)
                message = ClaimPaymentMessage(
                    message_id=mid,
                    delivery=delivery,
                    position=Position(
                        transaction=t_index, payment=p_index, claim=c_index, claims_in_batch=total
                    ),
                    transaction=header,
                    payment_date_time=payment.date_time,
                    patient=payment.patient,
                    claim=claim,
                )
                key = claim_key(claim.submission_number, claim.control_number, mid)
                out.append(SplitMessage(key, mid, _dump(message), CLAIM_PAYMENT_SCHEMA))
    return out


def split_claim_submission(submission: ClaimSubmission, *, log_id: str) -> list[SplitMessage]:
    """One message per ``Transactions[].Claims[]``, in batch order."""
    delivery = RedoxDelivery.from_meta(submission.meta, log_id=log_id)
    total = sum(len(t.claims) for t in submission.transactions)
    out: list[SplitMessage] = []
    for t_index, transaction in enumerate(submission.transactions):
        header = SubmissionTransactionHeader.model_validate(
            transaction.model_dump(by_alias=True, exclude={"claims"})
        )
        for c_index, claim in enumerate(transaction.claims):
            mid = message_id(log_id, t_index, 0, c_index)
            message = ClaimSubmissionMessage(
                message_id=mid,
                delivery=delivery,
                position=Position(
                    transaction=t_index, payment=0, claim=c_index, claims_in_batch=total
                ),
                transaction=header,
                claim=claim,
            )
            key = claim_key(claim.submission_number, None, mid)
            out.append(SplitMessage(key, mid, _dump(message), CLAIM_SUBMISSION_SCHEMA))
    return out


def webhook_message_id(log_id: str) -> str:
    """The webhook message's id: derived from Redox's log id, so equal for every retry."""
    return str(uuid.uuid5(_WEBHOOK_NAMESPACE, log_id))


def webhook_headers(meta: Meta, *, log_id: str, message_id: str) -> Headers:
    """The headers of a webhook message (router.topics.HEADERS), values UTF-8."""
    headers = [
        (HEADERS.MESSAGE_ID, message_id),
        (HEADERS.SCHEMA, f"redox.{meta.data_model}.{meta.event_type}"),
        (HEADERS.CONTENT_TYPE, "application/json"),
        (HEADERS.DATA_MODEL, meta.data_model),
        (HEADERS.EVENT_TYPE, meta.event_type),
        (HEADERS.REDOX_LOG_ID, log_id),
        (HEADERS.TEST, "true" if meta.test else "false"),
    ]
    if meta.attempt_id is not None:
        headers.append((HEADERS.REDOX_ATTEMPT_ID, meta.attempt_id))
    return [(name, value.encode()) for name, value in headers]
