"""The claim status request Integrex takes and the ``claim-info`` result it gives back.

Field names follow Integrex's v2 quick start byte for byte, including its spellings
(``payerID``, ``subID``, ``authorizationCaseld`` -- a lower-case L where the Postman screenshot
shows ``authorizationCaseId``; both are read). Every result field may be ``null``; empty strings in
date, amount and number fields are read as ``null``; dates are ISO or the older ``MM/DD/YYYY``.

PHI fields (names, dates of birth, member and account numbers) are left out of ``repr`` so that a
model that finds its way into a log line or an error does not carry them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from handlers.followups.partners.integrex_codes import (
    ClaimStatusCategory,
    category_meaning,
    status_meaning,
)

__all__ = ["ClaimInfo", "ClaimStatusRequest"]


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _lenient_date(value: Any) -> Any:
    value = _blank_to_none(value)
    if isinstance(value, str):
        for layout in ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"):
            try:
                return datetime.strptime(value.strip()[:10], layout).date()
            except ValueError:
                continue
    return value


OptionalDate = Annotated[date | None, BeforeValidator(_lenient_date)]
OptionalAmount = Annotated[Decimal | None, BeforeValidator(_blank_to_none)]
OptionalInt = Annotated[int | None, BeforeValidator(_blank_to_none)]


def _phi() -> Any:
    """An optional field that holds PHI: kept out of ``repr``."""
    return Field(default=None, repr=False)


class ClaimStatusRequest(BaseModel):
    """The body of ``POST /api/v2/claim-info`` (a 276 claim status inquiry in JSON)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    patient_dob: date = Field(repr=False)
    patient_first_name: str = Field(min_length=1, repr=False)
    patient_last_name: str = Field(min_length=1, repr=False)
    subscriber_id: str = Field(min_length=1, repr=False)
    subscriber_first_name: str | None = _phi()
    subscriber_last_name: str | None = _phi()
    billing_provider_npi: str = Field(pattern=r"^\d{10}$")
    billing_provider_name: str | None = None
    tax_id: str | None = None
    admit_date: date | None = Field(default=None, repr=False)
    total_charges: Decimal | None = None
    payer_id: str | None = None
    payer_name: str | None = None
    tracking_id1: str | None = Field(default=None, repr=False)
    tracking_id2: str | None = Field(default=None, repr=False)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body as the reference shows it: camelCase, ISO dates, amounts as strings."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ClaimInfo(BaseModel):
    """One entry of the ``claim-info`` array: a claim's (or a service line's) status."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        coerce_numbers_to_str=True,
    )

    adjudication_date: OptionalDate = None
    allowed_amount: OptionalAmount = None
    amount_paid_by_other_insurance_company: OptionalAmount = None
    authorization_case_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("authorizationCaseld", "authorizationCaseId"),
        serialization_alias="authorizationCaseld",
    )
    authorization_description: str | None = None
    benefit_exhaust_date: OptionalDate = None
    billing_entity_name: str | None = None
    category_code: str | None = None
    category_description: str | None = None
    charge_amt: OptionalAmount = None
    check_date: OptionalDate = None
    check_number: str | None = None
    check_status: str | None = None
    claim_receipt_date: OptionalDate = None
    co_insurance_amount: OptionalAmount = None
    co_payment_amount: OptionalAmount = None
    date_check_cashed: OptionalDate = None
    date_of_service: OptionalDate = _phi()
    deductible_amount: OptionalAmount = None
    discount_days: OptionalInt = None
    integrex_id: str | None = None
    interest_paid: OptionalAmount = None
    internal_account_number: str | None = _phi()
    internal_account_number2: str | None = _phi()
    lifetime_reserve_amount: OptionalAmount = None
    lifetime_reserve_days: OptionalInt = None
    managed_care_penalty_amount: OptionalAmount = None
    non_covered_amount: OptionalAmount = None
    patient_account_number: str | None = _phi()
    patient_first_name: str | None = _phi()
    patient_last_name: str | None = _phi()
    payer_cln_no: str | None = None
    payer_contact_name: str | None = None
    payer_contact_phone: str | None = None
    payer_id: str | None = Field(default=None, alias="payerID")
    payment_amt: OptionalAmount = None
    procedure_cd: str | None = None
    procedure_cd_qual: str | None = None
    provider_organization_name: str | None = None
    reason_source_cd1: str | None = None
    reason_source_cd2: str | None = None
    reason_source_cd3: str | None = None
    reason_source_cd_desc_txt1: str | None = None
    reason_source_cd_desc_txt2: str | None = None
    reason_source_cd_desc_txt3: str | None = None
    response_date: OptionalDate = None
    revenue_cd: str | None = None
    service_provider_address: str | None = None
    service_provider_name: str | None = None
    status_code: str | None = None
    status_description: str | None = None
    sub_id: str | None = Field(default=None, alias="subID", repr=False)
    svc_line: OptionalInt = None
    svc_ln_qty: OptionalAmount = None

    @property
    def category(self) -> ClaimStatusCategory:
        """The X12 meaning and group of ``categoryCode`` (``UNKNOWN`` when absent or new)."""
        return category_meaning(self.category_code)

    @property
    def status_meaning(self) -> str | None:
        """The X12 meaning of ``statusCode`` when known; else see ``status_description``."""
        return status_meaning(self.status_code)


class ClaimInfoResponse(BaseModel):
    """The 200 answer of ``GET /api/v2/claim-info``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    claim_info: list[ClaimInfo] = Field(alias="claim-info")
