"""Follow-up rules as data: the defaults, a custom file, and bad files (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.ledger.codes import ClaimStatus
from handlers.ledger.followup_rules import Decision, FollowUpFacts, RulesError, decide, load_rules


def facts(**overrides: object) -> FollowUpFacts:
    values: dict[str, object] = {
        "outcome": "paid_in_full",
        "status": ClaimStatus.PROCESSED,
        "carcs": frozenset(),
        "rarcs": frozenset(),
        "reasons": (),
        "match": "matched",
        "reconciled": True,
    }
    values.update(overrides)
    return FollowUpFacts(**values)  # type: ignore[arg-type]


def rules_of(decisions: list[Decision]) -> list[tuple[str, str]]:
    return [(d.action, d.rule) for d in decisions]


def test_a_clean_payment_needs_no_follow_up() -> None:
    assert decide(facts(), load_rules()) == []


def test_documentation_codes_ask_for_an_attachment_with_loinc_codes() -> None:
    decisions = decide(facts(outcome="denied", carcs=frozenset({"252"})), load_rules())
    assert rules_of(decisions) == [("attachment", "documentation-required")]
    assert decisions[0].loinc_codes == ("11506-3", "34117-2")


def test_carc_16_alone_is_not_an_attachment_request_but_with_m127_it_is() -> None:
    alone = decide(facts(outcome="denied", carcs=frozenset({"16"})), load_rules())
    assert rules_of(alone) == [("work_by_hand", "lacks-information")]
    remark = facts(outcome="denied", carcs=frozenset({"16"}), rarcs=frozenset({"M127"}))
    assert rules_of(decide(remark, load_rules())) == [("attachment", "missing-records-remark")]


def test_a_denial_without_a_documentation_reason_asks_for_the_claim_status() -> None:
    decisions = decide(facts(outcome="denied", carcs=frozenset({"29"})), load_rules())
    assert rules_of(decisions) == [("status_check", "denied-without-documentation-reason")]


def test_unmatched_and_ambiguous_payments_wait_for_a_person() -> None:
    assert decide(facts(outcome="unmatched", match="unmatched"), load_rules()) == []
    assert decide(facts(outcome="needs_review", match="needs_review"), load_rules()) == []


def test_transaction_rules_are_decided_only_with_the_whole_transaction() -> None:
    assert decide(facts(), load_rules()) == []
    decisions = decide(facts(transaction_balanced=False), load_rules())
    assert rules_of(decisions) == [("status_check", "transaction-total-differs")]
    assert decide(facts(transaction_balanced=True), load_rules()) == []


def test_a_status_answer_asking_for_documentation_gets_the_rules_files_loinc_codes() -> None:
    decisions = decide(FollowUpFacts.of_status_answer("R4", ["021"]), load_rules())
    assert rules_of(decisions) == [("attachment", "status-answer-requests-documentation")]
    assert decisions[0].loinc_codes == ("11506-3", "34117-2")


def test_other_requests_for_information_go_to_a_person_and_final_answers_to_nobody() -> None:
    for category in ("R3", "P3"):
        decisions = decide(FollowUpFacts.of_status_answer(category, []), load_rules())
        assert rules_of(decisions) == [("work_by_hand", "status-answer-requests-information")]
    assert decide(FollowUpFacts.of_status_answer("F1", ["65"]), load_rules()) == []


def test_status_answer_rules_are_decided_only_for_status_answers(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\nrules:\n"
        "  - {name: r4-code-21, when: {status_category: [r4], status_code: ['021']},\n"
        "     action: attachment, reason: documents, loinc: ['18842-5']}\n"
        "  - {name: any-denial, when: {outcome: [denied]}, action: status_check, reason: ask}\n"
    )
    rules = load_rules(path)
    answer = FollowUpFacts.of_status_answer("R4", ["21"])
    assert [(d.rule, d.loinc_codes) for d in decide(answer, rules)] == [
        ("r4-code-21", ("18842-5",))
    ]
    assert decide(FollowUpFacts.of_status_answer("R4", ["35"]), rules) == []
    assert rules_of(decide(facts(outcome="denied"), rules)) == [("status_check", "any-denial")]


def test_a_rules_file_replaces_the_defaults_and_matches_reason_text(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        """
version: 1
rules:
  - name: records-in-words
    when:
      reason_text: [medical record]
      claim_status: ["4", reversal]
    action: attachment
    reason: the payer's words ask for records
    loinc: ["18842-5"]
"""
    )
    rules = load_rules(path)
    denied = facts(status=ClaimStatus.DENIED, reasons=("Missing Medical Record",))
    assert rules_of(decide(denied, rules)) == [("attachment", "records-in-words")]
    assert decide(facts(reasons=("Missing medical record",)), rules) == []


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ("version: 1\nrules:\n  - name: x\n    action: attachment\n    reason: r\n", "loinc"),
        ("version: 1\nrules:\n  - name: x\n    action: call\n    reason: r\n", "rules.0.action"),
        (
            "version: 1\nrules:\n  - name: x\n    when: {claim_status: [paid]}\n"
            "    action: status_check\n    reason: r\n",
            "unknown claim status",
        ),
        ("version: 1\nrules:\n  - name: x\n    when: {colour: [red]}\n", "rules.0.when.colour"),
        ("rules: [", "cannot read rules"),
    ],
)
def test_a_bad_rules_file_names_what_is_wrong(tmp_path: Path, body: str, complaint: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(body)
    with pytest.raises(RulesError, match=r"rules\.yaml") as error:
        load_rules(path)
    assert complaint in str(error.value)
