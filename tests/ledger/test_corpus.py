"""Every corpus case, through the ledger store, on SQLite and on PostgreSQL.

The original corpus runs one case per fresh database. The posting-rule cases
(``corpus_rules.py``) run all in one database per engine, each in its own namespace (claim and
control numbers, Redox log ids, patient name), which keeps them fast on PostgreSQL and shows
that the cases do not disturb one another.
"""

from __future__ import annotations

import copy
import string
from decimal import Decimal
from typing import Any

import pytest

from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from tests.ledger.corpus import CORPUS, Batch, Case, Claims
from tests.ledger.corpus_rules import RULE_CASES
from tests.ledger.support import reconciliations, run_steps, transaction_checks


async def assert_case(ledger: ClaimLedger, poster: Poster, case: Case) -> None:
    """Run a case's steps and check everything it expects (on top of what the ledger holds)."""
    transactions_before = len(await transaction_checks(ledger))
    recs_before = len(await reconciliations(ledger))
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
    assert (await transaction_checks(ledger))[transactions_before:] == case.transactions
    recs = (await reconciliations(ledger))[recs_before:]
    assert sorted({flag for r in recs for flag in r.flags}) == sorted(case.flags)
    if case.match_methods:
        assert [r.match_method for r in recs] == case.match_methods


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
async def test_corpus_case_has_its_expected_outcome(
    case: Case, ledger: ClaimLedger, poster: Poster
) -> None:
    await assert_case(ledger, poster, case)


def _namespaced_payload(payload: dict[str, Any], ns: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    for log in out["Meta"]["Logs"]:
        log["ID"] = f"{ns}-{log['ID']}"
        log["AttemptID"] = f"{ns}-{log['AttemptID']}"
    for transaction in out["Transactions"]:
        transaction["ID"] = f"{ns}-{transaction['ID']}"
        for payment in transaction["Payments"]:
            demographics = payment["Patient"]["Demographics"]
            demographics["LastName"] = f"{demographics['LastName']}{ns}"
            for claim in payment["Claims"]:
                for key in ("SubmissionNumber", "ControlNumber"):
                    if claim.get(key):
                        claim[key] = f"{ns}-{claim[key]}"
    return out


def namespaced(case: Case, ns: str) -> Case:
    """The same story under other claim numbers, control numbers, log ids and patient name."""
    steps: list[Claims | Batch] = []
    for step in case.steps:
        if isinstance(step, Claims):
            steps.append(
                Claims(
                    [
                        c.model_copy(
                            update={
                                "claim_number": f"{ns}-{c.claim_number}",
                                "patient_last_name": f"{c.patient_last_name or ''}{ns}",
                            }
                        )
                        for c in step.claims
                    ]
                )
            )
        else:
            log = f"{ns}-{step.log_id}" if step.log_id else None
            steps.append(Batch(_namespaced_payload(step.payload, ns), log))
    return Case(
        name=case.name,
        steps=steps,
        postings=case.postings,
        claims={f"{ns}-{n}": e for n, e in case.claims.items()},
        follow_ups={f"{ns}-{n}": f for n, f in case.follow_ups.items()},
        transactions=case.transactions,
        flags=case.flags,
        match_methods=case.match_methods,
    )


async def test_every_posting_rule_case_has_its_expected_outcome_in_one_ledger(
    ledger: ClaimLedger, poster: Poster
) -> None:
    failures: list[str] = []
    letters = string.ascii_lowercase
    for index, case in enumerate(RULE_CASES):
        ns = "q" + letters[index // 26] + letters[index % 26]
        try:
            await assert_case(ledger, poster, namespaced(case, ns))
        except AssertionError as exc:
            failures.append(f"{case.name}: {exc}")
    assert not failures, "\n\n".join(failures)
