"""The split assembles claim messages from shared pieces, byte for byte as the models write them."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from router.messages import (
    ClaimPaymentMessage,
    Position,
    RedoxDelivery,
    message_id,
    split_payment_batch,
)
from router.redox import PaymentBatch, TransactionHeader


def _one_model_per_claim(batch: PaymentBatch, log_id: str) -> list[bytes]:
    """The messages as the contract's models write them, one model per claim."""
    delivery = RedoxDelivery.from_meta(batch.meta, log_id=log_id)
    total = sum(len(p.claims) for t in batch.transactions for p in t.payments)
    out = []
    for t, transaction in enumerate(batch.transactions):
        header = TransactionHeader.model_validate(
            transaction.model_dump(by_alias=True, exclude={"payments"})
        )
        for p, payment in enumerate(transaction.payments):
            for c, claim in enumerate(payment.claims):
                message = ClaimPaymentMessage(
                    message_id=message_id(log_id, t, p, c),
                    delivery=delivery,
                    position=Position(transaction=t, payment=p, claim=c, claims_in_batch=total),
                    transaction=header,
                    payment_date_time=payment.date_time,
                    patient=payment.patient,
                    claim=claim,
                )
                out.append(message.model_dump_json(by_alias=True).encode())
    return out


def _without_patient_and_date(payload: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    payment = changed["Transactions"][0]["Payments"][0]
    payment.pop("Patient", None)
    payment["DateTime"] = None
    changed["Transactions"][0]["RedoxAddedThisLater"] = {"Nested": ["é", 1, None]}
    return changed


def _two_transactions(payload: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    changed["Transactions"].append(copy.deepcopy(changed["Transactions"][0]))
    changed["Transactions"][1]["ID"] = "000000002"
    return changed


@pytest.mark.parametrize("variant", [lambda p: p, _without_patient_and_date, _two_transactions])
def test_split_messages_are_the_bytes_the_contract_models_write(
    sample_payload: dict[str, Any], variant: Any
) -> None:
    batch = PaymentBatch.model_validate(variant(sample_payload))
    log_id = str(uuid.uuid4())

    split = split_payment_batch(batch, log_id=log_id)

    assert [m.value for m in split] == _one_model_per_claim(batch, log_id)
    parsed = [ClaimPaymentMessage.model_validate_json(m.value) for m in split]
    assert [m.message_id for m in parsed] == [m.message_id for m in split]


def test_message_ids_are_uuid5_of_the_log_id_and_position() -> None:
    namespace = uuid.UUID("5d1b2c1e-7f0a-4c54-9a47-0c7c1f3e9b21")
    log_id = "d9f5d293-7110-461e-a875-3beb089e79f3"
    for position in [(0, 0, 0), (1, 2, 19), (10, 0, 999)]:
        expected = uuid.uuid5(namespace, f"{log_id}/{position[0]}/{position[1]}/{position[2]}")
        assert message_id(log_id, *position) == str(expected)
