"""Recording follow-up decisions on a claim and queueing their commands.

Each decision of the rules (``handlers.ledger.followup_rules``) becomes a ``FollowUp`` row, a
timeline event and a command in the outbox: a ``StatusCheckRequest`` on
``status_check_requests`` or an ``AttachmentRequest`` on ``attachment_requests``. A
``work_by_hand`` decision is a worklist item for billing staff: the row and the timeline event,
no command. The command
id is derived from the claim, the action, the rule and the triggering message, so deciding
again (a redelivery, a restart) adds nothing and re-publishes the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from handlers.ledger.followup_rules import Decision, FollowUpFacts, RuleSet, decide
from handlers.ledger.outbox import enqueue
from handlers.ledger.store import LedgerUnit
from handlers.ledger.tables import Claim, FollowUp
from router.followups import (
    AttachmentRequest,
    FollowUpClaim,
    StatusCheckRequest,
    command_id,
)
from router.topics import TopicSet

__all__ = ["FollowUpContext", "FollowUps", "follow_up_claim"]

_ACTION_WORDS = {
    "status_check": "claim status check",
    "attachment": "attachment",
    "work_by_hand": "work by hand",
}


def follow_up_claim(claim: Claim, control_number: str | None) -> FollowUpClaim:
    return FollowUpClaim(
        claim_id=str(claim.id),
        submission_number=claim.claim_number,
        payer_control_number=control_number,
        payer_id=claim.payer_id,
        payer_name=claim.payer_name,
        patient_first_name=claim.patient_first_name,
        patient_last_name=claim.patient_last_name,
        patient_dob=claim.patient_dob,
        patient_account_number=claim.patient_account_number,
        subscriber_id=claim.member_id,
        billing_provider_npi=claim.provider_npi,
        billing_provider_tax_id=claim.provider_tax_id,
        billing_provider_name=claim.provider_name,
        service_from=claim.service_start,
        service_to=claim.service_end,
        submitted_on=claim.submitted_on,
        charged_amount=claim.charged_amount,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUpContext:
    """Where a decision came from, and what its command must echo."""

    trigger_message_id: str
    test: bool
    control_number: str | None
    tracking_number: str | None
    payer_request_number: str | None
    now: datetime


class FollowUps:
    def __init__(self, rules: RuleSet, *, topic_prefix: str) -> None:
        self.rules = rules
        self._prefix = topic_prefix

    async def record(
        self, unit: LedgerUnit, claim: Claim, facts: FollowUpFacts, ctx: FollowUpContext
    ) -> list[Decision]:
        """Decide, and record every new decision; returns the decisions that were new."""
        topics = TopicSet(prefix=self._prefix, lane="test" if ctx.test else "production")
        new: list[Decision] = []
        for decision in decide(facts, self.rules):
            cid = command_id(
                claim.claim_number, decision.action, decision.rule, ctx.trigger_message_id
            )
            if await unit.follow_up_exists(cid):
                continue
            new.append(decision)
            unit.add(
                FollowUp(
                    command_id=cid,
                    claim_id=claim.id,
                    action=decision.action,
                    rule=decision.rule,
                    reason=decision.reason,
                    trigger_message_id=ctx.trigger_message_id,
                    created_at=ctx.now,
                )
            )
            what = _ACTION_WORDS[decision.action]
            documents = (
                f" (LOINC {', '.join(decision.loinc_codes)})" if decision.loinc_codes else ""
            )
            verb = "for billing staff" if decision.action == "work_by_hand" else "requested"
            unit.event(
                claim.id,
                "follow-up",
                f"{what} {verb}{documents}: {decision.reason} [rule {decision.rule}]",
                message_id=ctx.trigger_message_id,
            )
            if decision.action == "work_by_hand":
                continue  # a worklist item: no partner command
            subject = follow_up_claim(claim, ctx.control_number)
            if decision.action == "attachment":
                command: AttachmentRequest | StatusCheckRequest = AttachmentRequest(
                    command_id=cid,
                    reason=decision.reason,
                    rule=decision.rule,
                    trigger_message_id=ctx.trigger_message_id,
                    requested_at=ctx.now,
                    test=ctx.test,
                    claim=subject,
                    loinc_codes=list(decision.loinc_codes),
                    solicited=ctx.payer_request_number is not None,
                    payer_request_number=ctx.payer_request_number,
                )
                topic = topics.attachment_requests
            else:
                command = StatusCheckRequest(
                    command_id=cid,
                    reason=decision.reason,
                    rule=decision.rule,
                    trigger_message_id=ctx.trigger_message_id,
                    requested_at=ctx.now,
                    test=ctx.test,
                    claim=subject,
                    tracking_number=ctx.tracking_number,
                )
                topic = topics.status_check_requests
            await enqueue(
                unit,
                topic=topic,
                key=claim.claim_number,
                message_id=cid,
                model=command,
                test=ctx.test,
            )
        return new
