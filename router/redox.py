"""Pydantic models of the Redox Claim webhooks: the schema of the webhook topics.

``PaymentBatch`` models every field of Redox's Claim.PaymentBatch (shared/reference/
redox-claim-paymentbatch-schema.txt). Redox adds fields over time, so unknown fields are
accepted and kept (``extra="allow"``). Money is exact (``Decimal`` from the JSON string; a JSON
float is refused because it may already have lost cents); dates are ISO 8601 dates or date-times.

``ClaimSubmission`` models Claim.Submit / Claim.SubmissionBatch, which the reference does not
cover: it follows the shape of PaymentBatch (Meta, Transactions[], Claims[]) with the fields a
claims ledger needs, and keeps everything else as extra fields.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_pascal

__all__ = [
    "Address",
    "Adjustment",
    "ClaimPayment",
    "ClaimSubmission",
    "Identifier",
    "Meta",
    "Money",
    "Party",
    "Patient",
    "Payment",
    "PaymentBatch",
    "RedoxDateTime",
    "Service",
    "SubmissionTransaction",
    "SubmissionTransactionHeader",
    "SubmittedClaim",
    "Transaction",
    "TransactionHeader",
    "WebhookEnvelope",
    "field_path",
]

_MONEY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _parse_money(value: object) -> object:
    if type(value) is str and value.isascii() and value.replace(".", "", 1).isdecimal():
        return Decimal(value)  # the usual shape ("580.00"), a subset of what _MONEY accepts
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError('must be a decimal amount as a string, like "100.00"')
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if _MONEY.match(text):
            try:
                return Decimal(text)
            except InvalidOperation:  # pragma: no cover - the pattern already guards this
                pass
        raise ValueError('must be a decimal amount, like "100.00"')
    raise ValueError('must be a decimal amount as a string, like "100.00"')


def _parse_datetime(value: object) -> object:
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date or date-time string")
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an ISO 8601 date or date-time") from None


def _serialize_datetime(value: date | datetime) -> str:
    if isinstance(value, datetime) and value.utcoffset() is not None and not value.utcoffset():
        return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return value.isoformat()


# What _parse_money accepts, for JSON Schema: an integer, or a string that is a plain decimal
# once surrounding whitespace and every comma are removed ("1,234.50", " 12 ", ".5").
_MONEY_JSON_SCHEMA = {
    "anyOf": [
        {"type": "integer"},
        {
            "type": "string",
            "pattern": r"^\s*,*[+-]?,*(\d[\d,]*(\.[\d,]*)?|\.,*\d[\d,]*)\s*$",
            "examples": ["100.00"],
        },
    ]
}

Money = Annotated[
    Decimal,
    BeforeValidator(_parse_money),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
    WithJsonSchema(_MONEY_JSON_SCHEMA, mode="validation"),
]
"""Exact money: a JSON string such as ``"100.00"`` (or an integer), never a float."""

RedoxDateTime = Annotated[
    date | datetime,
    BeforeValidator(_parse_datetime),
    PlainSerializer(_serialize_datetime, return_type=str, when_used="json"),
]
"""An ISO 8601 date (``2016-10-31``) or date-time (``2016-11-11T02:11:03.111Z``)."""


class RedoxModel(BaseModel):
    """Redox's PascalCase field names; unknown fields kept; values never echoed in errors."""

    model_config = ConfigDict(
        alias_generator=to_pascal,
        populate_by_name=True,
        extra="allow",
        hide_input_in_errors=True,
        frozen=True,
    )


class Identifier(RedoxModel):
    id: str | None = Field(None, alias="ID")
    id_type: str | None = Field(None, alias="IDType")


class Source(RedoxModel):
    id: str | None = Field(None, alias="ID")
    name: str | None = None


class Destination(RedoxModel):
    id: str | None = Field(None, alias="ID")
    name: str | None = None


class Log(RedoxModel):
    id: str | None = Field(None, alias="ID")
    attempt_id: str | None = Field(None, alias="AttemptID")


class Meta(RedoxModel):
    data_model: str
    event_type: str
    event_date_time: RedoxDateTime | None = None
    test: bool | None = None
    source: Source | None = None
    destinations: list[Destination] = Field(default_factory=list)
    logs: list[Log] = Field(default_factory=list)
    facility_code: str | None = None

    @property
    def log_id(self) -> str | None:
        """Redox's id of this delivery, the same on every retry of it."""
        return next((log.id for log in self.logs if log.id), None)

    @property
    def attempt_id(self) -> str | None:
        """Redox's id of this attempt, new on every retry."""
        return next((log.attempt_id for log in self.logs if log.attempt_id), None)


class WebhookEnvelope(RedoxModel):
    """Just the Meta envelope: what every Redox webhook has, whatever its data model."""

    meta: Meta


class Address(RedoxModel):
    street_address: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = Field(None, alias="ZIP")
    county: str | None = None
    country: str | None = None


class OfficePhone(RedoxModel):
    office: str | None = None
    fax: str | None = None


class Party(RedoxModel):
    """A transaction's Submitter (the payer) or Receiver (the provider)."""

    identifiers: list[Identifier] = Field(default_factory=list)
    name: str | None = None
    address: Address | None = None
    email_address: str | None = None
    phone_number: OfficePhone | None = None


class PatientPhone(RedoxModel):
    home: str | None = None
    office: str | None = None
    mobile: str | None = None


class Demographics(RedoxModel):
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    dob: RedoxDateTime | None = Field(None, alias="DOB")
    ssn: str | None = Field(None, alias="SSN")
    sex: str | None = None
    race: str | None = None
    is_hispanic: bool | None = None
    religion: str | None = None
    marital_status: str | None = None
    is_deceased: bool | None = None
    death_date_time: RedoxDateTime | None = None
    phone_number: PatientPhone | None = None
    email_addresses: list[str] = Field(default_factory=list)
    language: str | None = None
    citizenship: list[str] = Field(default_factory=list)
    address: Address | None = None


class Patient(RedoxModel):
    identifiers: list[Identifier] = Field(default_factory=list)
    demographics: Demographics | None = None
    notes: list[str] = Field(default_factory=list)


class Adjustment(RedoxModel):
    """Why a claim or line was paid differently than billed; positive reduces payment."""

    amount: Money | None = None
    quantity: str | None = None
    type: str | None = None
    reason: str | None = None


class ServiceCode(RedoxModel):
    code: str | None = None
    codeset: str | None = None
    description: str | None = None
    modifiers: list[str] = Field(default_factory=list)


class Service(RedoxModel):
    charged_amount: Money | None = None
    payment_amount: Money | None = None
    charged_units: str | None = None
    payment_units: str | None = None
    allowed_amount: Money | None = None
    submitted_service: ServiceCode | None = None
    adjudicated_service: ServiceCode | None = None
    adjustments: list[Adjustment] = Field(default_factory=list)
    start_date_time: RedoxDateTime | None = None
    end_date_time: RedoxDateTime | None = None
    reference_numbers: list[Identifier] = Field(default_factory=list)


class ClaimPayment(RedoxModel):
    """One claim's payment (or denial, reversal, ...) inside a payment."""

    control_number: str | None = None
    submission_number: str | None = None
    received_date: RedoxDateTime | None = None
    start_date_time: RedoxDateTime | None = None
    end_date_time: RedoxDateTime | None = None
    status: str | None = None
    charged_amount: Money | None = None
    payment_amount: Money | None = None
    patient_responsibility_amount: Money | None = None
    reference_numbers: list[Identifier] = Field(default_factory=list)
    adjustments: list[Adjustment] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)


class Payment(RedoxModel):
    date_time: RedoxDateTime | None = None
    patient: Patient | None = None
    claims: list[ClaimPayment] = Field(default_factory=list)


class TransactionHeader(RedoxModel):
    """A payment transaction without its payments: the context each claim message carries."""

    id: str | None = Field(None, alias="ID")
    id_type: str | None = Field(None, alias="IDType")
    type: str | None = None
    total_payment_amount: Money | None = None
    credit_or_debit: str | None = None
    payment_method: str | None = None
    payment_date_time: RedoxDateTime | None = None
    tracking_number: str | None = None
    submitter: Party | None = None
    receiver: Party | None = None


class Transaction(TransactionHeader):
    payments: list[Payment] = Field(default_factory=list)


class PaymentBatch(RedoxModel):
    """Redox Claim.PaymentBatch: a batch of payment notifications from a payer."""

    meta: Meta
    transactions: list[Transaction] = Field(default_factory=list)


class Provider(RedoxModel):
    npi: str | None = Field(None, alias="NPI")
    tax_id: str | None = Field(None, alias="TaxID")
    name: str | None = None
    address: Address | None = None


class Subscriber(RedoxModel):
    member_id: str | None = Field(None, alias="MemberID")
    relationship_to_patient: str | None = None
    demographics: Demographics | None = None


class Payer(RedoxModel):
    id: str | None = Field(None, alias="ID")
    name: str | None = None


class SubmittedClaim(RedoxModel):
    """One claim as the provider submitted it (the ledger's source of truth)."""

    submission_number: str | None = None
    type: str | None = None
    patient: Patient | None = None
    subscriber: Subscriber | None = None
    payer: Payer | None = None
    billing_provider: Provider | None = None
    charged_amount: Money | None = None
    start_date_time: RedoxDateTime | None = None
    end_date_time: RedoxDateTime | None = None
    reference_numbers: list[Identifier] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)


class SubmissionTransactionHeader(RedoxModel):
    id: str | None = Field(None, alias="ID")
    id_type: str | None = Field(None, alias="IDType")
    type: str | None = None
    submitter: Party | None = None
    receiver: Party | None = None


class SubmissionTransaction(SubmissionTransactionHeader):
    claims: list[SubmittedClaim] = Field(default_factory=list)


class ClaimSubmission(RedoxModel):
    """Redox Claim.Submit / Claim.SubmissionBatch: claims sent from provider to payer."""

    meta: Meta
    transactions: list[SubmissionTransaction] = Field(default_factory=list)


def field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as the JSON path Redox users know.

    ``("Transactions", 0, "Payments", 1, "Claims", 0, "ChargedAmount")`` becomes
    ``Transactions[0].Payments[1].Claims[0].ChargedAmount``.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
