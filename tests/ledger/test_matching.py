"""Matching over an in-memory candidate lookup (no database)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from handlers.ledger.matching import (
    Candidate,
    MatchMethod,
    MatchStatus,
    PaymentKeys,
    match_payment,
    normalise_key,
    normalise_name,
)


@dataclass
class Claims:
    claims: list[Candidate]
    control_numbers: dict[str, int] = field(default_factory=dict)

    async def by_claim_key(self, key: str) -> Sequence[Candidate]:
        return [c for c in self.claims if normalise_key(c.claim_number) == key]

    async def by_control_number(self, key: str) -> Sequence[Candidate]:
        return [c for c in self.claims if self.control_numbers.get(key) == c.claim_id]

    async def by_claim_key_prefix(self, prefix: str) -> Sequence[Candidate]:
        return [c for c in self.claims if normalise_key(c.claim_number).startswith(prefix)]

    async def by_patient(self, last_name: str) -> Sequence[Candidate]:
        return [c for c in self.claims if normalise_name(c.patient_last_name) == last_name]


def person(claim_id: int, number: str, charged: str = "100.00", **extra: object) -> Candidate:
    values: dict[str, object] = {
        "claim_id": claim_id,
        "claim_number": number,
        "charged_amount": Decimal(charged),
        "service_start": date(2016, 10, 20),
        "service_end": date(2016, 10, 20),
        "patient_first_name": "Timothy",
        "patient_last_name": "Bixby",
        "patient_dob": date(2008, 1, 6),
    }
    values.update(extra)
    return Candidate(**values)  # type: ignore[arg-type]


def keys(number: str | None, control: str | None = None, **extra: object) -> PaymentKeys:
    values: dict[str, object] = {
        "submission_number": number,
        "control_number": control,
        "charged_amount": Decimal("100.00"),
        "service_start": date(2016, 10, 20),
        "patient_first_name": "Tim",
        "patient_last_name": "BIXBY",
        "patient_dob": date(2008, 1, 6),
    }
    values.update(extra)
    return PaymentKeys(**values)  # type: ignore[arg-type]


async def test_the_exact_submission_number_matches_with_full_confidence() -> None:
    result = await match_payment(keys(" 66729659983 "), Claims([person(1, "66729659983")]))
    assert result.status is MatchStatus.MATCHED
    assert result.method is MatchMethod.SUBMISSION_NUMBER
    assert result.confidence == Decimal("1.00")
    assert result.claim_id == 1


async def test_the_submission_number_matches_after_normalising_with_lower_confidence() -> None:
    lookup = Claims([person(1, "00667-296-59983")])
    for sent in (" 667-296 59983 ", "66729659983", "0066729659983", "667.296.59983"):
        result = await match_payment(keys(sent), lookup)
        assert result.status is MatchStatus.MATCHED
        assert result.method is MatchMethod.SUBMISSION_NUMBER_NORMALISED
        assert result.confidence == Decimal("0.97")
        assert result.claim_id == 1


async def test_an_exact_number_wins_over_a_claim_that_only_normalises_the_same() -> None:
    lookup = Claims([person(1, "00123"), person(2, "123")])
    result = await match_payment(keys("123"), lookup)
    assert (result.status, result.method, result.claim_id) == (
        MatchStatus.MATCHED,
        MatchMethod.SUBMISSION_NUMBER,
        2,
    )
    collision = await match_payment(keys("0-123"), lookup)
    assert collision.status is MatchStatus.NEEDS_REVIEW
    assert collision.candidates == (1, 2)


def test_patient_names_are_compared_after_unicode_folding() -> None:
    assert normalise_name("Núñez-Ødegård") == normalise_name("NUNEZ-ODEGARD") == "NUNEZODEGARD"
    assert normalise_name("Straße") == "STRASSE"
    assert normalise_name("Ærøskøbing") == "AEROSKOBING"
    assert normalise_name("Łukasz") == "LUKASZ"
    assert normalise_name("\uff34\uff21\uff32\uff2f")  # full-width == "TARO"
    assert normalise_name("山田") == "山田"  # a CJK name is kept, never folded away
    assert normalise_name("O'Brien") == "OBRIEN"


async def test_a_folded_name_finds_the_patient_and_a_cjk_name_still_counts() -> None:
    nordic = Claims([person(1, "N-1", patient_last_name="NUNEZ-ODEGARD", patient_first_name="ASE")])
    result = await match_payment(
        keys("GARBLED", patient_last_name="Núñez-Ødegård", patient_first_name="Åse"), nordic
    )
    assert (result.method, result.candidates) == (MatchMethod.DEMOGRAPHIC, (1,))
    cjk = Claims([person(2, "J-1", patient_last_name="山田", patient_first_name="太郎")])
    same = await match_payment(
        keys("GARBLED", patient_last_name="山田", patient_first_name="太郎"), cjk
    )
    assert (same.method, same.candidates) == (MatchMethod.DEMOGRAPHIC, (2,))
    other = await match_payment(
        keys("GARBLED", patient_last_name="田中", patient_first_name="太郎"), cjk
    )
    assert other.status is MatchStatus.UNMATCHED


async def test_two_claims_with_the_same_normalised_number_go_to_review() -> None:
    lookup = Claims([person(1, "AB-123"), person(2, "AB 123")])
    result = await match_payment(keys("ab123"), lookup)
    assert result.status is MatchStatus.NEEDS_REVIEW
    assert result.claim_id is None
    assert result.candidates == (1, 2)


async def test_a_remembered_control_number_matches_when_the_claim_number_does_not() -> None:
    lookup = Claims([person(1, "C-1")], control_numbers={"PCN7": 1})
    result = await match_payment(keys(None, "pcn-7"), lookup)
    assert (result.method, result.claim_id) == (MatchMethod.CONTROL_NUMBER, 1)
    assert result.confidence == Decimal("0.95")


async def test_a_truncated_claim_number_matches_by_prefix_only_with_the_same_charge() -> None:
    lookup = Claims(
        [person(1, "ABCDEFGHIJKLMNOPQRSTUV"), person(2, "ABCDEFGHIJKLMNOPQRSTXX", "50")]
    )
    result = await match_payment(keys("ABCDEFGHIJKLMNOPQRST"), lookup)
    assert (result.status, result.method, result.claim_id) == (
        MatchStatus.MATCHED,
        MatchMethod.SUBMISSION_NUMBER_PREFIX,
        1,
    )


async def test_short_numbers_never_match_by_prefix() -> None:
    result = await match_payment(keys("ABC", patient_last_name=None), Claims([person(1, "ABCDEF")]))
    assert result.status is MatchStatus.UNMATCHED


async def test_a_unique_demographic_match_is_suggested_never_posted() -> None:
    lookup = Claims([person(1, "X-1"), person(2, "X-2", "250.00")])
    result = await match_payment(keys("NOPE"), lookup)
    assert result.status is MatchStatus.NEEDS_REVIEW
    assert result.method is MatchMethod.DEMOGRAPHIC
    assert result.claim_id == 1
    assert result.confidence == Decimal("0.60")


async def test_demographic_hard_filters_drop_other_dates_births_and_members() -> None:
    lookup = Claims(
        [
            person(1, "X-1", service_start=date(2017, 1, 1), service_end=date(2017, 1, 2)),
            person(2, "X-2", patient_dob=date(1990, 1, 1)),
            person(3, "X-3", member_id="M999"),
            person(4, "X-4", patient_first_name="Jane"),
        ]
    )
    result = await match_payment(keys("NOPE", member_ids=("M001",)), lookup)
    assert result.status is MatchStatus.UNMATCHED


async def test_a_demographic_match_needs_the_charged_amount() -> None:
    result = await match_payment(keys("NOPE", charged_amount=None), Claims([person(1, "X-1")]))
    assert result.status is MatchStatus.UNMATCHED


async def test_a_reversal_matches_its_claim_by_the_absolute_charge() -> None:
    result = await match_payment(
        keys("NOPE", charged_amount=Decimal("-100.00")), Claims([person(1, "X-1")])
    )
    assert result.candidates == (1,)


async def test_review_candidates_are_ranked_by_how_much_more_agrees() -> None:
    lookup = Claims(
        [
            person(1, "R-1", patient_first_name="Timothy"),
            person(2, "R-2", patient_first_name="Tim", member_id="M-77"),
        ]
    )
    result = await match_payment(keys("GARBLED", member_ids=("M-77",)), lookup)
    assert result.status is MatchStatus.NEEDS_REVIEW
    assert result.candidates == (2, 1)
