"""Matching a claim payment to the ledger's claim, strongest evidence first.

1. ``submission_number``: the payment's SubmissionNumber (CLP01) is our claim number exactly
   (only surrounding spaces trimmed).
2. ``submission_number_normalised``: equal once both are normalised (upper-cased, spaces and
   separators stripped, leading zeros dropped: ``" abc-00123 "`` is ``ABC00123``, ``0042`` is
   ``42``). Its own, lower confidence; two claims with the same normalised number are a
   collision and go to review.
3. ``control_number``: the payer's ControlNumber (CLP07) was remembered from an earlier
   payment of a claim (needed for reversals, corrections and later payments).
4. ``submission_number_prefix``: the payer truncated our claim number (some cut to 17 or 20
   characters); only for long keys, and only where the charged amounts agree.
5. ``demographic``: patient last name, first name (exact or prefix), date of birth and member
   id, after hard filters on the total charge and the service dates. Names are compared folded
   (``fold_name``: NFKD, marks stripped, Ø/ß/Æ/Œ/Ł/Þ transliterated, upper case, punctuation
   dropped; letters of every script kept). Never auto-posted: a unique
   demographic candidate is *suggested* and the payment goes to review.

Several candidates at any step is never a guess: the result is ``needs_review``, with the
candidates ranked (demographic: member id, exact first name, date of birth and service date
agreeing rank a claim higher; otherwise by ledger id). A claim that arrives later re-ranks
them (posting.Poster.add_claim). No candidate
at all is ``unmatched`` (the ledger parks the payment until its claim arrives).
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from router.messages import ClaimPaymentMessage

__all__ = [
    "Candidate",
    "CandidateLookup",
    "MatchMethod",
    "MatchResult",
    "MatchStatus",
    "PaymentKeys",
    "fold_name",
    "match_payment",
    "normalise_key",
    "normalise_name",
]

MIN_PREFIX_LENGTH = 10
_SEPARATORS = re.compile(r"[^0-9A-Z]")
_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")


@functools.lru_cache(maxsize=4096)  # a batch asks for the same keys several times
def normalise_key(value: str | None) -> str:
    """``" 667-296 59983 "`` -> ``"66729659983"``, ``"0042"`` -> ``"42"``: the normalised tier.

    Upper case, every character but letters and digits dropped, and the leading zeros of
    every run of digits (``"ACCT-000451"`` -> ``"ACCT451"``; ``"000"`` -> ``"0"``).
    """
    if not value:
        return ""
    return _LEADING_ZEROS.sub("", _SEPARATORS.sub("", value.upper()))


# Letters NFKD does not take apart into a base letter and a mark.
_TRANSLITERATION = str.maketrans(
    {
        "Ø": "O",
        "ø": "o",
        "ß": "ss",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ð": "D",
        "ð": "d",
        "Þ": "TH",
        "þ": "th",
        "\u0131": "i",  # dotless i
        "Ħ": "H",
        "ħ": "h",
    }
)


def fold_name(value: str | None) -> str:
    """``"Núñez-Ødegård"`` -> ``"NUNEZODEGARD"``; ``"山田"`` stays ``"山田"`` (never dropped)."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKD", value.translate(_TRANSLITERATION))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).upper()
    return "".join(ch for ch in text if ch.isalnum())


def normalise_name(value: str | None) -> str:
    """The form every patient name is compared in (``fold_name``)."""
    return fold_name(value)


def _normalise_member(value: str | None) -> str:
    return normalise_key(value).lstrip("0")


class MatchStatus(enum.Enum):
    MATCHED = "matched"
    NEEDS_REVIEW = "needs_review"
    UNMATCHED = "unmatched"


class MatchMethod(enum.Enum):
    SUBMISSION_NUMBER = "submission_number"
    SUBMISSION_NUMBER_NORMALISED = "submission_number_normalised"
    CONTROL_NUMBER = "control_number"
    SUBMISSION_NUMBER_PREFIX = "submission_number_prefix"
    DEMOGRAPHIC = "demographic"
    CHOSEN_BY_PERSON = "chosen_by_person"
    NONE = "none"


_CONFIDENCE = {
    MatchMethod.SUBMISSION_NUMBER: Decimal("1.00"),
    MatchMethod.SUBMISSION_NUMBER_NORMALISED: Decimal("0.97"),
    MatchMethod.CONTROL_NUMBER: Decimal("0.95"),
    MatchMethod.SUBMISSION_NUMBER_PREFIX: Decimal("0.85"),
    MatchMethod.DEMOGRAPHIC: Decimal("0.60"),
    MatchMethod.CHOSEN_BY_PERSON: Decimal("1.00"),
    MatchMethod.NONE: Decimal("0.00"),
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ledger claim as matching sees it (identifiers are PHI: never log them)."""

    claim_id: int
    claim_number: str
    charged_amount: Decimal | None = None
    service_start: date | None = None
    service_end: date | None = None
    patient_first_name: str | None = None
    patient_last_name: str | None = None
    patient_dob: date | None = None
    member_id: str | None = None


class CandidateLookup(Protocol):
    """Where candidates come from: the ledger store, or a dict in unit tests."""

    async def by_claim_key(self, key: str) -> Sequence[Candidate]: ...

    async def by_control_number(self, key: str) -> Sequence[Candidate]: ...

    async def by_claim_key_prefix(self, prefix: str) -> Sequence[Candidate]: ...

    async def by_patient(self, last_name: str) -> Sequence[Candidate]: ...


@dataclass(frozen=True, slots=True)
class PaymentKeys:
    """What a claim payment offers to match on."""

    submission_number: str | None
    control_number: str | None
    charged_amount: Decimal | None = None
    service_start: date | None = None
    service_end: date | None = None
    patient_first_name: str | None = None
    patient_last_name: str | None = None
    patient_dob: date | None = None
    member_ids: tuple[str, ...] = ()

    @classmethod
    def from_message(cls, message: ClaimPaymentMessage) -> PaymentKeys:
        claim = message.claim
        demographics = message.patient.demographics if message.patient else None
        members = [
            ref.id
            for ref in claim.reference_numbers
            if ref.id and "member" in (ref.id_type or "").lower()
        ]
        return cls(
            submission_number=claim.submission_number,
            control_number=claim.control_number,
            charged_amount=claim.charged_amount,
            service_start=_as_date(claim.start_date_time),
            service_end=_as_date(claim.end_date_time),
            patient_first_name=demographics.first_name if demographics else None,
            patient_last_name=demographics.last_name if demographics else None,
            patient_dob=_as_date(demographics.dob) if demographics else None,
            member_ids=tuple(members),
        )


def _as_date(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True, slots=True)
class MatchResult:
    status: MatchStatus
    method: MatchMethod
    confidence: Decimal
    claim_id: int | None
    candidates: tuple[int, ...]
    reason: str

    @property
    def matched(self) -> bool:
        return self.status is MatchStatus.MATCHED


def _decide(method: MatchMethod, found: Sequence[Candidate], *, post: bool) -> MatchResult | None:
    """One claim: matched (or suggested); several: review, candidates in the order given."""
    ids = tuple(dict.fromkeys(c.claim_id for c in found))
    if not ids:
        return None
    if len(ids) > 1:
        return MatchResult(
            MatchStatus.NEEDS_REVIEW,
            method,
            _CONFIDENCE[MatchMethod.NONE],
            None,
            ids,
            f"{len(ids)} claims match by {method.value}",
        )
    status = MatchStatus.MATCHED if post else MatchStatus.NEEDS_REVIEW
    reason = f"one claim by {method.value}" + ("" if post else "; a person must confirm it")
    return MatchResult(status, method, _CONFIDENCE[method], ids[0], ids, reason)


def _same_charge(keys: PaymentKeys, candidate: Candidate) -> bool:
    if keys.charged_amount is None or candidate.charged_amount is None:
        return False
    return abs(keys.charged_amount) == abs(candidate.charged_amount)


def _dates_overlap(keys: PaymentKeys, candidate: Candidate) -> bool:
    start, end = keys.service_start, keys.service_end or keys.service_start
    c_start, c_end = candidate.service_start, candidate.service_end or candidate.service_start
    if start is None or end is None or c_start is None or c_end is None:
        return True
    return start <= c_end and c_start <= end


def _closeness(keys: PaymentKeys, candidate: Candidate) -> int:
    """How much more than the hard filters a demographic candidate agrees on (ranks review)."""
    score = 0
    if normalise_name(keys.patient_first_name) == normalise_name(candidate.patient_first_name):
        score += 1
    if keys.patient_dob is not None and keys.patient_dob == candidate.patient_dob:
        score += 1
    members = {_normalise_member(m) for m in keys.member_ids}
    if candidate.member_id and _normalise_member(candidate.member_id) in members:
        score += 2
    if keys.service_start is not None and keys.service_start == candidate.service_start:
        score += 1
    return score


def _same_person(keys: PaymentKeys, candidate: Candidate) -> bool:
    first, c_first = (
        normalise_name(keys.patient_first_name),
        normalise_name(candidate.patient_first_name),
    )
    if not first or not c_first or not (first.startswith(c_first) or c_first.startswith(first)):
        return False
    if keys.patient_dob and candidate.patient_dob and keys.patient_dob != candidate.patient_dob:
        return False
    members = {_normalise_member(m) for m in keys.member_ids}
    if members and candidate.member_id:
        return _normalise_member(candidate.member_id) in members
    return True


async def match_payment(keys: PaymentKeys, lookup: CandidateLookup) -> MatchResult:
    """The best match for one claim payment, or why there is none (module docstring)."""
    key = normalise_key(keys.submission_number)
    if key:
        same_key = sorted(await lookup.by_claim_key(key), key=lambda c: c.claim_id)
        exact = (keys.submission_number or "").strip()
        if found := _decide(
            MatchMethod.SUBMISSION_NUMBER,
            [c for c in same_key if c.claim_number.strip() == exact],
            post=True,
        ):
            return found
        if found := _decide(MatchMethod.SUBMISSION_NUMBER_NORMALISED, same_key, post=True):
            return found
    control = normalise_key(keys.control_number)
    if control and (
        found := _decide(
            MatchMethod.CONTROL_NUMBER,
            sorted(await lookup.by_control_number(control), key=lambda c: c.claim_id),
            post=True,
        )
    ):
        return found
    if len(key) >= MIN_PREFIX_LENGTH:
        prefixed = sorted(
            (c for c in await lookup.by_claim_key_prefix(key) if _same_charge(keys, c)),
            key=lambda c: c.claim_id,
        )
        if found := _decide(MatchMethod.SUBMISSION_NUMBER_PREFIX, prefixed, post=True):
            return found
    last = normalise_name(keys.patient_last_name)
    if last:
        people = sorted(
            (
                c
                for c in await lookup.by_patient(last)
                if _same_charge(keys, c) and _dates_overlap(keys, c) and _same_person(keys, c)
            ),
            key=lambda c: (-_closeness(keys, c), c.claim_id),
        )
        if found := _decide(MatchMethod.DEMOGRAPHIC, people, post=False):
            return found
    return MatchResult(
        MatchStatus.UNMATCHED,
        MatchMethod.NONE,
        _CONFIDENCE[MatchMethod.NONE],
        None,
        (),
        "no claim in the ledger matches",
    )
