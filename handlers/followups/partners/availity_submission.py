"""The body of Availity's ``POST .../medical-attachments/ma/external/rest/response``, validated.

Every rule of the Claim Attachments 1.0.0 reference is checked here, before anything is sent:
the eight objects, each object's required fields (an empty or blank string counts as missing,
as Availity's own "Patient Last Name is required." answer to ``""`` shows), ``payer.id`` at most
35 characters, ``filename`` 1-255 characters, ``codeType`` only ``LOINC`` with a real LOINC code
(check digit verified: custom codes are refused) unique within its attachment, ``product``
exactly ``MEDICAL``/``CLAIM``, ``data`` valid base64. ``encounter.claimNumber`` is required for a
solicited attachment (an answer to a payer's 277RFAI). Beyond the reference, a submission must
carry at least one payload with at least one content: claimflow only sends documents.

The reference puts ``reasonCodes`` on the payload in its field table and on each content in its
sample; both places are accepted. ``contentType.subtype`` is sent as the sample spells it
(``subType`` of the field table is accepted on input). Unknown fields are refused.

Violations name the field path and the rule, never the value (names and member numbers are PHI).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "AttachmentSubmission",
    "Content",
    "ContentType",
    "Encounter",
    "ParameterViolation",
    "Patient",
    "Payer",
    "Payload",
    "Product",
    "Provider",
    "ReasonCode",
    "Submitter",
    "Subscriber",
    "is_loinc_code",
    "violations_of",
]

_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/\r\n]*={0,2}$")


def is_loinc_code(value: str) -> bool:
    """Whether ``value`` is a well-formed LOINC code: digits, hyphen, Mod 10 check digit."""
    match = _LOINC.match(value)
    if match is None:
        return False
    digits, check = match.group(1), int(match.group(2))
    from_right = digits[::-1]
    odd = "".join(reversed(from_right[0::2]))  # 1st, 3rd, ... positions from the right
    even = "".join(reversed(from_right[1::2]))
    total = sum(int(d) for d in even + str(int(odd) * 2))
    return (10 - total % 10) % 10 == check


def _present(value: str) -> str:
    if not value.strip():
        raise ValueError("is required")
    return value


def _loinc(value: str) -> str:
    if not is_loinc_code(value):
        raise ValueError("must be a LOINC code (custom codes are not allowed)")
    return value


def _base64(value: str | None) -> str | None:
    # The alphabet only, not a full decode: the reference's own sample is an elided excerpt
    # whose length is not a multiple of four, and Availity accepted it as shown.
    if value is not None and not _BASE64.match(value):
        raise ValueError("must be base64-encoded")
    return value


Required = Annotated[str, AfterValidator(_present)]
Phi = Annotated[str, AfterValidator(_present), Field(repr=False)]
OptionalPhi = Annotated[str | None, Field(repr=False)]


class _Part(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class Submitter(_Part):
    id: Required
    state: Required


class Subscriber(_Part):
    first_name: Phi
    middle_name: OptionalPhi = None
    last_name: Phi
    account_number: Phi
    member_number: Phi
    relationship_to_patient_code: str | None = None
    date_of_birth: OptionalPhi = None
    gender: str | None = None
    address: list[JsonValue] | None = Field(default=None, repr=False)


class Patient(_Part):
    first_name: Phi
    middle_name: OptionalPhi = None
    last_name: Phi
    account_number: Phi
    member_number: Phi
    date_of_birth: OptionalPhi = None
    gender: str | None = None
    address: list[JsonValue] | None = Field(default=None, repr=False)


class Provider(_Part):
    last_name: Required
    first_name: str | None = None
    middle_name: str | None = None
    npi: str | None = None
    tax_id: str | None = None
    address: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None


class Payer(_Part):
    id: Annotated[str, Field(max_length=35), AfterValidator(_present)]


class Encounter(_Part):
    claim_number: str | None = None
    service_from: Required
    request_number: Required
    service_to: str | None = None
    submit_date: str | None = None
    service_charge_amount: str | None = None
    auth_number: str | None = None
    provider_control_number: str | None = None


class ReasonCode(_Part):
    code_type: Literal["LOINC"]
    value: Annotated[str, AfterValidator(_loinc)]


class ContentType(_Part):
    type: str | None = None
    sub_type: str | None = Field(
        default=None,
        validation_alias=AliasChoices("subtype", "subType", "sub_type"),
        serialization_alias="subtype",
    )


class Content(_Part):
    content_type: ContentType
    filename: Annotated[str, Field(min_length=1, max_length=255)]
    data: Annotated[str | None, AfterValidator(_base64), Field(repr=False)] = None
    reason_codes: list[ReasonCode] | None = None


class Payload(_Part):
    reason_codes: list[ReasonCode] | None = None
    request_number: str | None = None
    contents: Annotated[list[Content], Field(min_length=1)]

    @model_validator(mode="after")
    def _reason_codes_unique(self) -> Self:
        values = [code.value for code in self.reason_codes or ()]
        for content in self.contents:
            values.extend(code.value for code in content.reason_codes or ())
        if len(values) != len(set(values)):
            raise ValueError("reasonCodes values must be unique within an attachment")
        return self


class Product(_Part):
    category: Literal["MEDICAL"]
    type: Literal["CLAIM"]


class AttachmentSubmission(_Part):
    """One attachment submission; build with keyword arguments or ``model_validate(json)``."""

    submitter: Submitter
    subscriber: Subscriber
    patient: Patient
    provider: Provider
    payer: Payer
    encounter: Encounter
    payloads: Annotated[list[Payload], Field(min_length=1)]
    product: Product
    #: An answer to a payer's 277RFAI: then ``encounter.claimNumber`` is required. Not sent.
    solicited: bool = Field(default=False, exclude=True)

    @model_validator(mode="after")
    def _claim_number_when_solicited(self) -> Self:
        if self.solicited and not (self.encounter.claim_number or "").strip():
            raise ValueError("encounter.claimNumber is required for a solicited attachment")
        return self

    @property
    def request_number(self) -> str:
        """The Attachment Control Number (``encounter.requestNumber``), our idempotency key."""
        return self.encounter.request_number

    def to_payload(self) -> dict[str, Any]:
        """The JSON body, camelCase as the reference shows, absent fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass(frozen=True)
class ParameterViolation:
    """One broken rule: Availity's ``parameterViolations`` entry, or a local one alike."""

    path: str
    message: str
    constraint_type: str = "PARAMETER"
    value: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> ParameterViolation:
        value = entry.get("value")
        return cls(
            path=str(entry.get("path", "")),
            message=str(entry.get("message", "")),
            constraint_type=str(entry.get("constraintType", "PARAMETER")),
            value=None if value is None else str(value),
        )


def violations_of(error: ValidationError) -> tuple[ParameterViolation, ...]:
    """Pydantic's errors as violations: path and rule only (pydantic's text echoes input)."""
    return tuple(
        ParameterViolation(
            path=".".join(str(part) for part in err["loc"]) or "body",
            message=err["msg"],
        )
        for err in error.errors(include_input=False, include_url=False)
    )
