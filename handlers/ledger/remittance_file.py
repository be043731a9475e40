"""A Redox Claim.PaymentBatch JSON file, streamed: validated whole, then split as the router does.

A remittance file can hold 100,000 claims, so it is never loaded at once: ``ijson`` walks it
and builds one payment (or one transaction header, or Meta) at a time. ``validate`` reads the
whole file and checks every part with the router's models (``router.redox``); the first
problem is a ``RemittanceFileError`` naming its field path and reason, never a value.
``claim_messages`` then reads the file again and yields the ``ClaimPaymentMessage`` of each
claim, with the message id and position ``router.messages.split_payment_batch`` gives it: a
file posted here and the same delivery through Kafka are one and the same to the ledger.

Numbers are read as JSON numbers are by the receiver: a float amount is refused ("a decimal
amount as a string"), an integer accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ijson  # type: ignore[import-untyped] # no type information published
from pydantic import ValidationError

from router.messages import ClaimPaymentMessage, Position, RedoxDelivery, message_id
from router.redox import Meta, Payment, TransactionHeader, field_path

__all__ = ["NOT_JSON", "RemittanceFile", "RemittanceFileError"]

NOT_JSON = "not valid JSON"

_PAYMENTS = "Transactions.item.Payments"


class RemittanceFileError(Exception):
    """The file cannot be posted; the text names the field path and the reason, no value."""


@dataclass(slots=True)
class _Part:
    kind: str  # meta, header, payment
    transaction: int
    payment: int
    value: Any


@dataclass(slots=True)
class RemittanceFile:
    """One PaymentBatch file; ``validate`` first, then ``claim_messages``."""

    path: Path
    log_id: str = ""
    claims: int = 0
    meta: Meta | None = None
    headers: dict[int, TransactionHeader] = field(default_factory=dict)

    def validate(self) -> None:
        """Check the whole file (Meta, every transaction and payment); count its claims."""
        self.claims, self.headers, self.meta = 0, {}, None
        for part in self._parts():
            if part.kind == "meta":
                self.meta = _valid(Meta, part.value, ("Meta",))
            elif part.kind == "header":
                self.headers[part.transaction] = _valid(
                    TransactionHeader, part.value, ("Transactions", part.transaction)
                )
            else:
                self.claims += len(
                    _valid(
                        Payment,
                        part.value,
                        ("Transactions", part.transaction, "Payments", part.payment),
                    ).claims
                )
        meta = self.meta
        if meta is None:
            raise RemittanceFileError("Meta: Field required")
        if (meta.data_model, meta.event_type) != ("Claim", "PaymentBatch"):
            raise RemittanceFileError("Meta.DataModel: not a Claim.PaymentBatch")
        if meta.log_id is None:
            raise RemittanceFileError("Meta.Logs: no log ID")
        self.log_id = meta.log_id

    def claim_messages(self) -> Iterator[ClaimPaymentMessage]:
        """Every claim's message, in batch order, as the router splits the batch."""
        assert self.meta is not None, "validate first"
        delivery = RedoxDelivery.from_meta(self.meta, log_id=self.log_id)
        for part in self._parts():
            if part.kind != "payment":
                continue
            payment = Payment.model_validate(part.value)
            t, p = part.transaction, part.payment
            for c, claim in enumerate(payment.claims):
                message = ClaimPaymentMessage(
                    message_id=message_id(self.log_id, t, p, c),
                    delivery=delivery,
                    position=Position(
                        transaction=t, payment=p, claim=c, claims_in_batch=self.claims
                    ),
                    transaction=self.headers[t],
                    payment_date_time=payment.date_time,
                    patient=payment.patient,
                    claim=claim,
                )
                # Through its JSON, as the ledger handler reads it from Kafka.
                yield ClaimPaymentMessage.model_validate_json(
                    message.model_dump_json(by_alias=True)
                )

    def _parts(self) -> Iterator[_Part]:
        try:
            with self.path.open("rb") as stream:
                yield from _walk(ijson.parse(stream, use_float=True))
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            # The parser's text quotes the file: only say where it failed to be JSON.
            raise RemittanceFileError(NOT_JSON) from exc


def _valid(model: Any, value: Any, where: tuple[int | str, ...]) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = field_path((*where, *error["loc"]))
        raise RemittanceFileError(f"{path}: {error['msg'].removeprefix('Value error, ')}") from exc


def _walk(events: Iterator[tuple[str, str, Any]]) -> Iterator[_Part]:
    """Meta, each transaction's header (at its end) and each payment, one at a time."""
    builder: Any = None
    depth = 0
    built: tuple[str, str] = ("", "")  # (kind, header key)
    t = p = -1
    header: dict[str, Any] = {}
    key = ""
    for prefix, event, value in events:
        if builder is not None:
            builder.event(event, value)
            depth += event in ("start_map", "start_array")
            depth -= event in ("end_map", "end_array")
            if depth == 0:
                kind, name = built
                if kind == "header":
                    header[name] = builder.value
                elif kind == "meta":
                    yield _Part("meta", -1, -1, builder.value)
                else:
                    yield _Part("payment", t, p, builder.value)
                builder = None
            continue
        if prefix == "" and event not in ("start_map", "end_map", "map_key"):
            raise RemittanceFileError("(root): Input should be an object")
        if prefix == "Transactions" and event not in ("start_array", "end_array"):
            raise RemittanceFileError("Transactions: Input should be a valid list")
        if prefix == "Transactions.item":
            if event == "start_map":
                t, p, header = t + 1, -1, {}
            elif event == "map_key":
                key = value
            elif event == "end_map":
                yield _Part("header", t, -1, header)
            else:
                raise RemittanceFileError(f"Transactions[{t + 1}]: Input should be an object")
            continue
        if prefix == _PAYMENTS and event not in ("start_array", "end_array"):
            raise RemittanceFileError(f"Transactions[{t}].Payments: Input should be a valid list")
        start = None
        if prefix == "Meta":
            start = ("meta", "")
        elif prefix == f"{_PAYMENTS}.item":
            p += 1
            start = ("payment", "")
        elif prefix == f"Transactions.item.{key}" and key != "Payments":
            start = ("header", key)
        if start is not None:
            builder, built, depth = ijson.ObjectBuilder(), start, 0
            builder.event(event, value)
            depth += event in ("start_map", "start_array")
            if depth == 0:  # a scalar value
                kind, name = built
                if kind == "header":
                    header[name] = builder.value
                else:
                    yield _Part(kind, -1 if kind == "meta" else t, p, builder.value)
                builder = None
