"""The claim document store: layout, allowed types, size limit, and no way out of its root."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from followup_support import PDF, attachment, availity_settings, claim

from handlers.followups.attachment.submission import (
    attachment_control_number,
    build_submission,
    request_number_of,
)
from handlers.followups.documents import (
    DocumentRejectedError,
    DocumentsMissingError,
    DocumentStore,
    claim_directory_name,
)


def store(root: Path, max_bytes: int = 1024) -> DocumentStore:
    return DocumentStore(root, max_bytes=max_bytes)


def test_documents_are_read_by_claim_and_loinc_code_with_their_types(tmp_path: Path) -> None:
    (tmp_path / "CLM-1" / "11506-3").mkdir(parents=True)
    (tmp_path / "CLM-1" / "11506-3" / "note.PDF").write_bytes(PDF)
    (tmp_path / "CLM-1" / "11506-3" / "scan.tiff").write_bytes(b"II*\x00")
    (tmp_path / "CLM-1" / "11506-3" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "CLM-1" / "18726-0").mkdir()
    (tmp_path / "CLM-1" / "18726-0" / "xray.jpeg").write_bytes(b"\xff\xd8")

    documents = store(tmp_path).gather("CLM-1", ["11506-3", "18726-0"])

    assert [(d.loinc_code, d.filename, d.content_type) for d in documents] == [
        ("11506-3", "note.PDF", ("application", "pdf")),
        ("11506-3", "scan.tiff", ("image", "tiff")),
        ("18726-0", "xray.jpeg", ("image", "jpeg")),
    ]
    assert documents[0].data == PDF


def test_every_requested_code_must_have_a_document(tmp_path: Path) -> None:
    (tmp_path / "CLM-1" / "11506-3").mkdir(parents=True)
    (tmp_path / "CLM-1" / "11506-3" / "note.pdf").write_bytes(PDF)
    (tmp_path / "CLM-1" / "34117-2").mkdir()

    with pytest.raises(DocumentsMissingError) as caught:
        store(tmp_path).gather("CLM-1", ["11506-3", "34117-2", "18842-5"])
    assert caught.value.loinc_codes == ["34117-2", "18842-5"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.docx", b"PK", r"type that is not allowed \(\.docx\)"),
        ("big.pdf", b"%" * 1025, "1025 bytes, over the 1024 limit"),
        ("empty.pdf", b"", "is empty"),
    ],
)
def test_documents_of_a_wrong_type_or_size_are_refused(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / "CLM-1" / "11506-3").mkdir(parents=True)
    (tmp_path / "CLM-1" / "11506-3" / name).write_bytes(content)

    with pytest.raises(DocumentRejectedError, match=message):
        store(tmp_path).gather("CLM-1", ["11506-3"])


@pytest.mark.parametrize("number", ["../outside", "..", "a/../../outside", "/etc"])
def test_a_claim_number_cannot_lead_out_of_the_store(tmp_path: Path, number: str) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (tmp_path / "outside" / "11506-3").mkdir(parents=True)
    (tmp_path / "outside" / "11506-3" / "secret.pdf").write_bytes(PDF)

    with pytest.raises((DocumentsMissingError, DocumentRejectedError)):
        store(root).gather(number, ["11506-3"])
    assert "/" not in claim_directory_name("a/../../b")


def test_a_loinc_code_cannot_lead_out_of_the_store(tmp_path: Path) -> None:
    with pytest.raises(DocumentRejectedError):
        store(tmp_path).gather("CLM-1", ["../../etc"])


def test_a_symlink_out_of_the_store_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "CLM-1" / "11506-3").mkdir(parents=True)
    (tmp_path / "secret.pdf").write_bytes(PDF)
    (root / "CLM-1" / "11506-3" / "note.pdf").symlink_to(tmp_path / "secret.pdf")

    with pytest.raises(DocumentRejectedError, match="outside the store"):
        store(root).gather("CLM-1", ["11506-3"])


def test_the_submission_carries_each_code_with_its_base64_documents(tmp_path: Path) -> None:
    command = attachment(claim("CLM-9"))
    for code in command.loinc_codes:
        (tmp_path / "CLM-9" / code).mkdir(parents=True)
        (tmp_path / "CLM-9" / code / f"{code}.pdf").write_bytes(PDF)
    documents = store(tmp_path).gather("CLM-9", list(command.loinc_codes))
    acn = attachment_control_number(command)

    submission = build_submission(
        command, documents, request_number=acn, settings=availity_settings("http://x")
    ).to_payload()

    assert submission["encounter"]["requestNumber"] == acn
    assert submission["encounter"]["claimNumber"] == "PCN-7788"
    assert submission["submitter"] == {"id": "477823", "state": "TX"}
    assert [p["reasonCodes"] for p in submission["payloads"]] == [
        [{"codeType": "LOINC", "value": "11506-3"}],
        [{"codeType": "LOINC", "value": "34117-2"}],
    ]
    content = submission["payloads"][0]["contents"][0]
    assert content["contentType"] == {"type": "application", "subtype": "pdf"}
    assert base64.b64decode(content["data"]) == PDF


def test_the_attachment_control_number_is_derived_from_command_and_codes() -> None:
    command = attachment()
    same = command.model_copy(update={"loinc_codes": list(reversed(command.loinc_codes))})
    other = command.model_copy(update={"loinc_codes": ["18842-5"]})

    acn = attachment_control_number(command)
    assert acn == attachment_control_number(same)
    assert acn != attachment_control_number(other)
    assert acn.startswith("CF")
    assert len(acn) == 26


def test_each_attachment_carries_its_own_control_number_unless_solicited(tmp_path: Path) -> None:
    command = attachment(claim("CLM-9"))
    for code in command.loinc_codes:
        (tmp_path / "CLM-9" / code).mkdir(parents=True)
        (tmp_path / "CLM-9" / code / f"{code}.pdf").write_bytes(PDF)
    documents = store(tmp_path).gather("CLM-9", list(command.loinc_codes))
    acn = attachment_control_number(command)
    settings = availity_settings("http://x")

    unsolicited = build_submission(
        command,
        documents,
        request_number=request_number_of(command, acn) or "",
        settings=settings,
        control_number=acn,
    ).to_payload()
    solicited_command = command.model_copy(
        update={"solicited": True, "payer_request_number": "RFAI-0042"}
    )
    solicited = build_submission(
        solicited_command,
        documents,
        request_number="RFAI-0042",
        settings=settings,
        control_number=acn,
    ).to_payload()

    assert [p["requestNumber"] for p in unsolicited["payloads"]] == [f"{acn}-1", f"{acn}-2"]
    assert unsolicited["encounter"]["requestNumber"] == f"{acn}-1"
    assert [p["requestNumber"] for p in solicited["payloads"]] == ["RFAI-0042", "RFAI-0042"]
    assert solicited["encounter"]["requestNumber"] == "RFAI-0042"
