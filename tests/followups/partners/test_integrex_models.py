"""Reading Integrex's claim-info result: every field of the reference, nulls and spellings."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.followups.partners.integrex_codes import (
    CategoryGroup,
    category_meaning,
    status_meaning,
)
from handlers.followups.partners.integrex_models import ClaimInfo, ClaimInfoResponse

SAMPLE = Path(__file__).parent / "fixtures" / "integrex-claim-info.json"


@pytest.fixture
def sample_entry() -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(SAMPLE.read_text())["claim-info"][0]
    return entry


def test_reference_sample_is_read_field_by_field(sample_entry: dict[str, Any]) -> None:
    (info,) = ClaimInfoResponse.model_validate({"claim-info": [sample_entry]}).claim_info

    assert info.charge_amt == Decimal("12345678.9")
    assert info.date_of_service == date(2020, 12, 31)
    assert info.response_date == date(2022, 7, 26)
    assert info.integrex_id == "c4408281-a5b6-4e2e-b170-883c0c5539ae"
    assert info.payer_id == "AETNA"
    assert info.sub_id == "A000000000"
    assert info.check_number == ""
    assert info.svc_line == 0
    assert info.category.group is CategoryGroup.NOT_FOUND
    assert info.status_meaning == "Claim/encounter not found"


def test_every_reference_field_has_a_model_field(sample_entry: dict[str, Any]) -> None:
    aliases = {field.alias for field in ClaimInfo.model_fields.values()}
    aliases |= {"authorizationCaseld"}  # read through AliasChoices
    assert set(sample_entry) <= aliases


def test_nulls_everywhere_are_tolerated(sample_entry: dict[str, Any]) -> None:
    info = ClaimInfo.model_validate(dict.fromkeys(sample_entry))
    assert info.category.group is CategoryGroup.UNKNOWN
    assert info.status_meaning is None


def test_both_spellings_of_the_authorization_case_id_are_read(
    sample_entry: dict[str, Any],
) -> None:
    misspelled = ClaimInfo.model_validate({**sample_entry, "authorizationCaseld": "AUTH-1"})
    del sample_entry["authorizationCaseld"]
    spelled = ClaimInfo.model_validate({**sample_entry, "authorizationCaseId": "AUTH-2"})
    assert misspelled.authorization_case_id == "AUTH-1"
    assert spelled.authorization_case_id == "AUTH-2"


def test_older_dates_blank_values_and_numbers_are_tolerated(
    sample_entry: dict[str, Any],
) -> None:
    info = ClaimInfo.model_validate(
        {
            **sample_entry,
            "adjudicationDate": "01/02/2021",
            "checkDate": "",
            "paymentAmt": 120.5,
            "allowedAmount": "",
            "checkNumber": 778899,
            "discountDays": "5",
            "lifetimeReserveDays": "",
        }
    )
    assert info.adjudication_date == date(2021, 1, 2)
    assert info.check_date is None
    assert info.payment_amt == Decimal("120.5")
    assert info.allowed_amount is None
    assert info.check_number == "778899"
    assert info.discount_days == 5
    assert info.lifetime_reserve_days is None


def test_repr_leaves_out_patient_identifiers(sample_entry: dict[str, Any]) -> None:
    text = repr(ClaimInfo.model_validate(sample_entry))
    assert "JANE" not in text
    assert "A000000000" not in text
    assert "1234567890" not in text


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("A1", CategoryGroup.RECEIVED),
        ("a2", CategoryGroup.RECEIVED),
        ("A7", CategoryGroup.REJECTED),
        ("D0", CategoryGroup.NOT_FOUND),
        ("P3", CategoryGroup.PENDING),
        ("F2", CategoryGroup.FINALIZED),
        ("R4", CategoryGroup.REQUEST_FOR_INFORMATION),
        ("E2", CategoryGroup.ERROR),
        ("Z9", CategoryGroup.UNKNOWN),
        (None, CategoryGroup.UNKNOWN),
    ],
)
def test_category_codes_map_to_their_x12_group(code: str | None, group: CategoryGroup) -> None:
    assert category_meaning(code).group is group


def test_status_codes_are_read_with_or_without_leading_zeros() -> None:
    assert status_meaning("035") == "Claim/encounter not found"
    assert status_meaning("9999") is None
    assert status_meaning(None) is None
