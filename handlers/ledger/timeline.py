"""``claimflow claim show``: a claim's history as a readable timeline (no patient identifiers)."""

from __future__ import annotations

from handlers.ledger.messages import money
from handlers.ledger.tables import Claim, FollowUp, TimelineEvent

__all__ = ["render_timeline"]


def render_timeline(claim: Claim, events: list[TimelineEvent], follow_ups: list[FollowUp]) -> str:
    balance = claim.charged_amount - claim.paid_amount - claim.patient_responsibility
    balance -= claim.adjusted_amount
    lines = [
        f"Claim {claim.claim_number}  (ledger id {claim.id})",
        f"  status:  {claim.status.replace('_', ' ')}",
        f"  payer:   {claim.payer_name or claim.payer_id or 'unknown'}",
        f"  money:   charged {money(claim.charged_amount)} = paid {money(claim.paid_amount)}"
        f" + patient responsibility {money(claim.patient_responsibility)}"
        f" + adjusted {money(claim.adjusted_amount)} + open {money(balance)}",
    ]
    if claim.service_start:
        end = claim.service_end or claim.service_start
        lines.append(f"  service: {claim.service_start.isoformat()} to {end.isoformat()}")
    lines.append(f"  follow-ups: {len(follow_ups)}")
    lines.append("")
    width = max((len(e.kind) for e in events), default=8)
    for event in events:
        at = event.at.strftime("%Y-%m-%d %H:%M:%SZ")
        lines.append(f"{at}  {event.kind:<{width}}  {event.summary}")
    return "\n".join(lines)
