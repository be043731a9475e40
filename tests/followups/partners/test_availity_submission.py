"""Local validation of an attachment submission: every rule of the Availity reference."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from handlers.followups.partners.availity import (
    AttachmentSubmission,
    AvailityInvalidSubmissionError,
    parse_submission,
)
from handlers.followups.partners.availity_submission import is_loinc_code

SAMPLE = Path(__file__).parent / "fixtures" / "availity-attachment-request.json"


@pytest.fixture
def body() -> dict[str, Any]:
    """The reference's POST/response sample, fresh and mutable."""
    sample: dict[str, Any] = json.loads(SAMPLE.read_text())
    return sample


def violations(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(AvailityInvalidSubmissionError) as caught:
        parse_submission(body)
    assert caught.value.retriable is False
    return {v.path: v.message for v in caught.value.violations}


def test_reference_sample_is_valid_and_sent_back_byte_for_byte(body: dict[str, Any]) -> None:
    submission = parse_submission(body)
    assert submission.to_payload() == body
    assert submission.request_number == "RN85363437337111"


@pytest.mark.parametrize(
    "obj", ["submitter", "subscriber", "patient", "provider", "payer", "encounter", "product"]
)
def test_every_required_object_is_required(body: dict[str, Any], obj: str) -> None:
    del body[obj]
    assert obj in violations(body)


def test_payloads_are_required_to_carry_a_document(body: dict[str, Any]) -> None:
    body["payloads"] = []
    assert "payloads" in violations(body)


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ("submitter", "id"),
        ("submitter", "state"),
        ("subscriber", "firstName"),
        ("subscriber", "lastName"),
        ("subscriber", "accountNumber"),
        ("subscriber", "memberNumber"),
        ("patient", "firstName"),
        ("patient", "lastName"),
        ("patient", "accountNumber"),
        ("patient", "memberNumber"),
        ("provider", "lastName"),
        ("payer", "id"),
        ("encounter", "serviceFrom"),
        ("encounter", "requestNumber"),
        ("product", "category"),
        ("product", "type"),
    ],
)
def test_every_required_field_is_required(body: dict[str, Any], obj: str, field: str) -> None:
    missing = copy.deepcopy(body)
    del missing[obj][field]
    assert f"{obj}.{field}" in violations(missing)


def test_an_empty_or_blank_required_string_counts_as_missing(body: dict[str, Any]) -> None:
    body["patient"]["lastName"] = ""
    body["encounter"]["requestNumber"] = "   "
    found = violations(body)
    assert {"patient.lastName", "encounter.requestNumber"} <= set(found)


def test_payer_id_is_at_most_35_characters(body: dict[str, Any]) -> None:
    body["payer"]["id"] = "9" * 35
    parse_submission(body)
    body["payer"]["id"] = "9" * 36
    assert "payer.id" in violations(body)


@pytest.mark.parametrize(("length", "valid"), [(0, False), (1, True), (255, True), (256, False)])
def test_filename_is_1_to_255_characters(body: dict[str, Any], length: int, valid: bool) -> None:
    body["payloads"][0]["contents"][0]["filename"] = "f" * length
    if valid:
        parse_submission(body)
    else:
        assert "payloads.0.contents.0.filename" in violations(body)


def test_content_type_is_required(body: dict[str, Any]) -> None:
    del body["payloads"][0]["contents"][0]["contentType"]
    assert "payloads.0.contents.0.contentType" in violations(body)


def test_reason_code_type_is_loinc_only(body: dict[str, Any]) -> None:
    body["payloads"][0]["contents"][0]["reasonCodes"][0]["codeType"] = "CUSTOM"
    assert "payloads.0.contents.0.reasonCodes.0.codeType" in violations(body)


@pytest.mark.parametrize("value", ["CUSTOM-1", "18842-4", "18842", ""])
def test_reason_code_value_must_be_a_real_loinc_code(body: dict[str, Any], value: str) -> None:
    body["payloads"][0]["contents"][0]["reasonCodes"][0]["value"] = value
    assert "payloads.0.contents.0.reasonCodes.0.value" in violations(body)


def test_reason_codes_on_the_payload_are_checked_too(body: dict[str, Any]) -> None:
    body["payloads"][0]["reasonCodes"] = [{"codeType": "LOINC", "value": "not-loinc"}]
    assert "payloads.0.reasonCodes.0.value" in violations(body)


def test_reason_code_values_are_unique_within_an_attachment(body: dict[str, Any]) -> None:
    body["payloads"][0]["reasonCodes"] = [{"codeType": "LOINC", "value": "76438-1"}]
    assert "payloads.0" in violations(body)


@pytest.mark.parametrize(("field", "value"), [("category", "DENTAL"), ("type", "ELIGIBILITY")])
def test_product_is_medical_claim_only(body: dict[str, Any], field: str, value: str) -> None:
    body["product"][field] = value
    assert f"product.{field}" in violations(body)


def test_data_must_be_base64(body: dict[str, Any]) -> None:
    body["payloads"][0]["contents"][0]["data"] = "not base64!"
    assert "payloads.0.contents.0.data" in violations(body)


def test_unknown_fields_are_refused(body: dict[str, Any]) -> None:
    body["patient"]["ssn"] = "000-00-0000"
    assert "patient.ssn" in violations(body)


def test_solicited_attachment_needs_the_claim_number(body: dict[str, Any]) -> None:
    with pytest.raises(AvailityInvalidSubmissionError):
        parse_submission({**body, "solicited": True})
    body["encounter"]["claimNumber"] = "CLM-1"
    submission = parse_submission({**body, "solicited": True})
    assert "solicited" not in submission.to_payload()


def test_field_table_spelling_of_subtype_is_accepted(body: dict[str, Any]) -> None:
    content_type = body["payloads"][0]["contents"][0]["contentType"]
    content_type["subType"] = content_type.pop("subtype")
    payload = parse_submission(body).to_payload()
    assert payload["payloads"][0]["contents"][0]["contentType"]["subtype"] == "pdf"


def test_violations_and_repr_never_carry_phi(body: dict[str, Any]) -> None:
    body["payer"]["id"] = "Ochoa" * 8
    body["patient"]["memberNumber"] = ""
    with pytest.raises(AvailityInvalidSubmissionError) as caught:
        parse_submission(body)
    assert "Ochoa" not in str(caught.value)
    assert "Ochoa" not in repr(caught.value.violations)
    del body["patient"]["memberNumber"]
    body["payer"]["id"] = "68069"
    body["patient"]["memberNumber"] = "524845471"
    text = repr(AttachmentSubmission.model_validate(body))
    assert "Ochoa" not in text
    assert "524845471" not in text


@pytest.mark.parametrize(
    "code", ["18842-5", "11506-3", "34117-2", "11488-4", "28570-0", "11504-8", "76438-1"]
)
def test_loinc_check_digit_accepts_the_codes_we_request(code: str) -> None:
    assert is_loinc_code(code)
