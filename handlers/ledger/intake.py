"""Claims entering the ledger: from a ``Claim.Submit`` message, or from a CSV/JSON file.

A file is validated row by row with :class:`NewClaim`; the report names each bad row, column
and reason, and never echoes a value (claim files hold PHI). A file with any bad row imports
nothing (``claimflow claims import``). Rows are read as a stream (``claim_rows``), so a file
of 100,000 claims is never held in memory at once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ijson  # type: ignore[import-untyped] # no type information published
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from router.messages import ClaimSubmissionMessage
from router.redox import Money

__all__ = [
    "COLUMNS",
    "ImportReport",
    "NewClaim",
    "RowError",
    "claim_rows",
    "parse_claims_file",
    "validate_row",
]


class NewClaim(BaseModel):
    """One claim as the provider billed it: a row of a claims file."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    claim_number: str = Field(min_length=1, max_length=80, description="SubmissionNumber.")
    charged_amount: Money = Field(description="Total charge, e.g. 100.00.")
    payer_id: str | None = Field(None, max_length=80)
    payer_name: str | None = Field(None, max_length=200)
    provider_npi: str | None = Field(None, max_length=20)
    provider_tax_id: str | None = Field(None, max_length=20)
    provider_name: str | None = Field(None, max_length=200)
    patient_first_name: str | None = Field(None, max_length=100)
    patient_last_name: str | None = Field(None, max_length=100)
    patient_dob: date | None = None
    member_id: str | None = Field(None, max_length=80)
    patient_account_number: str | None = Field(None, max_length=80)
    service_start: date | None = None
    service_end: date | None = None
    submitted_on: date | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("charged_amount")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise ValueError("must have at most two decimal places")
        return value

    @classmethod
    def from_submission(cls, message: ClaimSubmissionMessage) -> NewClaim:
        """The ledger's claim from a router ``ClaimSubmissionMessage``."""
        claim = message.claim
        demographics = claim.patient.demographics if claim.patient else None
        account = next(
            (i.id for i in (claim.patient.identifiers if claim.patient else []) if i.id), None
        )
        return cls(
            claim_number=claim.submission_number or "",
            charged_amount=claim.charged_amount if claim.charged_amount is not None else "",
            payer_id=claim.payer.id if claim.payer else None,
            payer_name=claim.payer.name if claim.payer else None,
            provider_npi=claim.billing_provider.npi if claim.billing_provider else None,
            provider_tax_id=claim.billing_provider.tax_id if claim.billing_provider else None,
            provider_name=claim.billing_provider.name if claim.billing_provider else None,
            patient_first_name=demographics.first_name if demographics else None,
            patient_last_name=demographics.last_name if demographics else None,
            patient_dob=_as_date(demographics.dob) if demographics else None,
            member_id=claim.subscriber.member_id if claim.subscriber else None,
            patient_account_number=account,
            service_start=_as_date(claim.start_date_time),
            service_end=_as_date(claim.end_date_time),
            submitted_on=_as_date(message.delivery.event_date_time),
        )


def _as_date(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


COLUMNS = tuple(NewClaim.model_fields)


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    claims: list[tuple[int, NewClaim]]
    errors: list[RowError]


def claim_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """``(row number, row)`` of a claims file, streamed; ``ValueError`` for a bad file."""
    if path.suffix.lower() == ".json":
        yield from _json_rows(path)
        return
    with path.open(encoding="utf-8-sig", newline="") as stream:
        reader = csv.DictReader(stream)
        unknown = [c for c in reader.fieldnames or [] if c not in COLUMNS]
        if unknown:
            raise ValueError(
                f"unknown CSV columns: {', '.join(unknown)}; known: {', '.join(COLUMNS)}"
            )
        # Row numbers are the file's line numbers: the header is line 1.
        yield from enumerate(reader, start=2)


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as stream:
        head = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        stream.seek(0)
        if head not in (b"[", b"{"):
            raise ValueError('a JSON claims file holds a list of claims (or {"claims": [...]})')
        prefix = "item" if head == b"[" else "claims.item"
        try:
            yield from enumerate(ijson.items(stream, prefix, use_float=True), start=1)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise ValueError("not valid JSON") from exc


def _reason(kind: str, message: str, value: Any) -> str:
    if kind == "extra_forbidden":
        return "unknown column"
    if kind == "missing" or value is None or (isinstance(value, str) and not value.strip()):
        return "is required"
    return message.removeprefix("Value error, ")


def validate_row(row_number: int, row: Any) -> NewClaim | list[RowError]:
    """The row as a claim, or its errors (row, column, reason; never the value)."""
    if not isinstance(row, dict):
        return [RowError(row_number, "-", "must be an object of column: value")]
    try:
        return NewClaim.model_validate(row)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            column = ".".join(str(p) for p in error["loc"]) or "-"
            reason = _reason(error["type"], error["msg"], row.get(column))
            errors.append(RowError(row_number, column, reason))
        return errors


def parse_claims_file(path: Path) -> ImportReport:
    """Every row validated; errors name row, column and reason, never the value."""
    claims: list[tuple[int, NewClaim]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for row_number, row in claim_rows(path):
        claim = validate_row(row_number, row)
        if isinstance(claim, list):
            errors.extend(claim)
            continue
        if claim.claim_number in seen:
            errors.append(
                RowError(
                    row_number, "claim_number", f"same claim as row {seen[claim.claim_number]}"
                )
            )
            continue
        seen[claim.claim_number] = row_number
        claims.append((row_number, claim))
    return ImportReport(claims=claims, errors=errors)
