"""The per-claim messages the router publishes: the contract downstream consumers build on.

Every message carries a stable ``message_id`` derived from the Redox log id and the claim's
position in the batch, so a redelivered batch yields the same ids (consumers de-duplicate on
it). Messages are keyed by the claim's SubmissionNumber so all events of one claim stay in
order on one partition. Redox objects keep Redox's field names; our own fields are snake_case.
JSON Schemas of these models are published in docs/schemas/ (``claimflow schemas export``).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from router.headers import RedoxOrigin, message_headers
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
_MESSAGE_NAMESPACE_BYTES = _MESSAGE_NAMESPACE.bytes
_WEBHOOK_NAMESPACE_BYTES = _WEBHOOK_NAMESPACE.bytes

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


def _uuid5(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` without building a UUID object (RFC 4122 4.3:
    SHA-1 of namespace and name, then the version and variant bits)."""
    digest = bytearray(hashlib.sha1(namespace + name.encode(), usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def message_id(log_id: str, transaction: int, payment: int, claim: int) -> str:
    return _uuid5(_MESSAGE_NAMESPACE_BYTES, f"{log_id}/{transaction}/{payment}/{claim}")


def claim_key(submission_number: str | None, control_number: str | None, fallback: str) -> str:
    """Partition key: the provider's claim number; else the payer's; else the message id."""
    for candidate in (submission_number, control_number):
        if candidate and candidate.strip():
            return candidate.strip()
    return fallback


def _dump(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()


_PAYMENT_DATE_TIME: TypeAdapter[RedoxDateTime | None] = TypeAdapter(RedoxDateTime | None)


def _position(t_index: int, p_index: int, c_index: int, total: int) -> bytes:
    """``Position`` as ``model_dump_json`` writes it (four ints, in field order)."""
    return (
        f'{{"transaction":{t_index},"payment":{p_index},"claim":{c_index},'
        f'"claims_in_batch":{total}}}'
    ).encode()


def split_payment_batch(batch: PaymentBatch, *, log_id: str) -> list[SplitMessage]:
    """One message per ``Transactions[].Payments[].Claims[]``, in batch order.

    Each message is the bytes ``ClaimPaymentMessage(...).model_dump_json(by_alias=True)``
    would write, assembled from pieces serialised once where they are shared: the delivery
    once per batch, the transaction header (payer, payee) once per transaction, the payment's
    date and patient once per payment; only the id, position and claim once per claim.
    """
    delivery = _dump(RedoxDelivery.from_meta(batch.meta, log_id=log_id))
    total = sum(len(p.claims) for t in batch.transactions for p in t.payments)
    out: list[SplitMessage] = []
    for t_index, transaction in enumerate(batch.transactions):
        header = transaction.model_dump_json(by_alias=True, exclude={"payments"}).encode()
        for p_index, payment in enumerate(transaction.payments):
            shared = b"".join(
                (
                    b',"transaction":',
                    header,
                    b',"payment_date_time":',
                    _PAYMENT_DATE_TIME.dump_json(payment.date_time),
                    b',"patient":',
                    _dump(payment.patient) if payment.patient is not None else b"null",
                    b',"claim":',
                )
            )
            for c_index, claim in enumerate(payment.claims):
                mid = message_id(log_id, t_index, p_index, c_index)
                value = b"".join(
                    (
                        b'{"schema":"' + CLAIM_PAYMENT_SCHEMA.encode() + b'","message_id":"',
                        mid.encode(),
                        b'","delivery":',
                        delivery,
                        b',"position":',
                        _position(t_index, p_index, c_index, total),
                        shared,
                        _dump(claim),
                        b"}",
                    )
                )
                key = claim_key(claim.submission_number, claim.control_number, mid)
                out.append(SplitMessage(key, mid, value, CLAIM_PAYMENT_SCHEMA))
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
    return _uuid5(_WEBHOOK_NAMESPACE_BYTES, log_id)


def webhook_headers(meta: Meta, *, log_id: str, message_id: str) -> Headers:
    """The headers of a webhook message (router.headers.message_headers), values UTF-8."""
    return message_headers(
        test=bool(meta.test),
        message_id=message_id,
        schema=f"redox.{meta.data_model}.{meta.event_type}",
        redox=RedoxOrigin(meta.data_model, meta.event_type, log_id, meta.attempt_id),
    )
