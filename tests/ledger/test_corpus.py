"""Every corpus case, through the ledger store, on SQLite and on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from tests.ledger.corpus import CORPUS, Case
from tests.ledger.corpus_rules import RULE_CASES
from tests.ledger.support import reconciliations, run_steps, transaction_checks

CASES = CORPUS + RULE_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_corpus_case_has_its_expected_outcome(
    case: Case, ledger: ClaimLedger, poster: Poster
) -> None:
    results = await run_steps(ledger, poster, case)

    assert [(r.state, r.outcome.value if r.outcome else None) for r in results] == case.postings
    for number, expected in case.claims.items():
        claim = await ledger.find_claim(number)
        assert claim is not None
        assert claim.status == expected.status
        assert claim.paid_amount == Decimal(expected.paid)
        assert claim.patient_responsibility == Decimal(expected.patient_responsibility)
        assert claim.adjusted_amount == Decimal(expected.adjusted)
        _, _, follow_ups, _ = await ledger.history(claim.id)
        decided = sorted((f.action, f.rule) for f in follow_ups)
        assert decided == sorted(case.follow_ups.get(number, []))
    assert await transaction_checks(ledger) == case.transactions
    recs = await reconciliations(ledger)
    assert sorted({flag for r in recs for flag in r.flags}) == sorted(case.flags)
    if case.match_methods:
        assert [r.match_method for r in recs] == case.match_methods
