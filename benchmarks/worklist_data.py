"""A large made-up ledger for the worklist benchmark and its N+1 test, written in bulk.

``load(engine, claims=100_000, open_items=20_000)`` writes ``claims`` claims, each with a
posted payment and two timeline events, status checks that need nothing (pending) for a fifth
of them, and ``open_items`` open items spread over the eight queues in fixed shares. Rows go
in with multi-row INSERTs in chunks (SQLAlchemy's insertmanyvalues), ids given, in a few
transactions. Every name and number is invented.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    ParkedPayment,
    PaymentReceipt,
    Reconciliation,
    TimelineEvent,
    TransactionResult,
)
from worklist.demo import payment_json
from worklist.followup_state import insert_attachments, insert_status_checks
from worklist.queues import QueueKind

__all__ = ["SHARES", "LoadedLedger", "load"]

PAYERS = ("Northwind Health", "Contoso Mutual", "Fabrikam Medicare", "Tailspin Dental",
          "Litware Benefits", "Adatum Care")  # fmt: skip
START = datetime(2026, 8, 1, 8, 0, tzinfo=UTC)
CHUNK = 5_000

#: Share of the open items per queue (sums to 1).
SHARES: dict[QueueKind, float] = {
    QueueKind.NEEDS_REVIEW: 0.25,
    QueueKind.UNMATCHED: 0.15,
    QueueKind.DENIED: 0.20,
    QueueKind.OVERPAID: 0.05,
    QueueKind.UNBALANCED: 0.10,
    QueueKind.TRANSACTION_TOTAL: 0.025,
    QueueKind.PARTNER_ANSWERED: 0.175,
    QueueKind.ATTACHMENT_UNKNOWN: 0.05,
}


@dataclass(frozen=True, slots=True)
class LoadedLedger:
    claims: int
    open_items: dict[QueueKind, int]
    seconds: float


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


async def _insert(connection: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        await connection.execute(insert(table), chunk)


def _money(index: int) -> Decimal:
    return Decimal(5_000 + (index * 7_919) % 495_000) / 100


def _share(open_items: int, kind: QueueKind) -> int:
    return int(open_items * SHARES[kind])


async def load(engine: AsyncEngine, *, claims: int, open_items: int) -> LoadedLedger:
    """Write the ledger into a migrated, empty database (ledger and partner tables)."""
    import time

    started = time.perf_counter()
    counts = {kind: _share(open_items, kind) for kind in SHARES}
    denied = set(range(1, claims + 1, max(1, claims // max(1, counts[QueueKind.DENIED]))))
    denied = set(sorted(denied)[: counts[QueueKind.DENIED]])
    overpaid_every = max(1, claims // max(1, counts[QueueKind.OVERPAID]))
    overpaid = {i for i in range(3, claims + 1, overpaid_every) if i not in denied}
    overpaid = set(sorted(overpaid)[: counts[QueueKind.OVERPAID]])
    claim_rows, payment_rows, event_rows = [], [], []
    for i in range(1, claims + 1):
        charged = _money(i)
        status, paid = "paid_in_full", charged
        if i in denied:
            status, paid = "denied", Decimal("0.00")
        elif i in overpaid:
            paid = charged + Decimal("25.00")
        at = START + timedelta(minutes=i)
        service = date(2026, 7, 1) + timedelta(days=i % 60)
        claim_rows.append(
            {
                "id": i,
                "claim_number": f"BW-{i:07d}",
                "claim_key": f"BW{i:07d}",
                "payer_id": f"P{i % len(PAYERS)}",
                "payer_name": PAYERS[i % len(PAYERS)],
                "provider_name": "Lakeside Family Practice",
                "provider_npi": "1234567893",
                "patient_first_name": "Pat",
                "patient_last_name": f"Doe{i % 997}",
                "patient_last_key": f"DOE{i % 997}",
                "patient_dob": date(1950 + i % 50, 1 + i % 12, 1 + i % 27),
                "member_id": f"M{i:08d}",
                "service_start": service,
                "service_end": service,
                "submitted_on": service + timedelta(days=2),
                "charged_amount": charged,
                "paid_amount": paid,
                "patient_responsibility": Decimal("0.00"),
                "adjusted_amount": Decimal("0.00"),
                "status": status,
                "source": "bench",
                "created_at": at,
                "updated_at": at + timedelta(days=9),
            }
        )
        payment_rows.append(
            {
                "id": i,
                "message_id": f"bw-pay-{i}",
                "claim_id": i,
                "control_number": f"PCN{i}",
                "status_text": "Denied" if status == "denied" else "Processed as Primary",
                "outcome": status,
                "charged_amount": charged,
                "paid_amount": paid,
                "patient_responsibility": Decimal("0.00"),
                "adjusted_amount": Decimal("0.00"),
                "adjustments": [],
                "match_method": "submission_number",
                "match_confidence": Decimal("1.00"),
                "paid_at": at + timedelta(days=9),
                "applied_at": at + timedelta(days=9),
                "payer_name": PAYERS[i % len(PAYERS)],
            }
        )
        event_rows.append(
            {"claim_id": i, "at": at, "kind": "submitted", "summary": "Claim imported"}
        )
        event_rows.append(
            {
                "claim_id": i,
                "at": at + timedelta(days=9),
                "kind": "posted",
                "summary": f"Payment of {paid} posted: {status.replace('_', ' ')}",
                "message_id": f"bw-pay-{i}",
            }
        )
    async with engine.begin() as connection:
        await _insert(connection, Claim, claim_rows)
    async with engine.begin() as connection:
        await _insert(connection, AppliedPayment, payment_rows)
    async with engine.begin() as connection:
        await _insert(connection, TimelineEvent, event_rows)
    del claim_rows, payment_rows, event_rows

    parked_rows: list[dict[str, Any]] = []
    review, unmatched = counts[QueueKind.NEEDS_REVIEW], counts[QueueKind.UNMATCHED]
    for n in range(review + unmatched):
        matched = n < review
        claim_id = 1 + (n * 37) % claims
        paid = _money(n + 11)
        mid = f"bw-parked-{n}"
        parked_rows.append(
            {
                "message_id": mid,
                "reason": "needs_review" if matched else "unmatched",
                "submission_key": f"BWX{n}",
                "control_key": f"PCNX{n}",
                "candidates": [claim_id, 1 + (claim_id % claims)] if matched else [],
                "payload": payment_json(
                    message_id=mid,
                    claim_number=f"BW-{claim_id:07d}X" if matched else f"UNK-{n:06d}",
                    payer=PAYERS[n % len(PAYERS)],
                    paid=paid,
                    test=n % 10 == 0,
                ),
                "parked_at": START + timedelta(days=30, minutes=n),
            }
        )
    receipts, reconciliations = [], []
    for n in range(counts[QueueKind.UNBALANCED]):
        claim_id = 1 + (n * 53) % claims
        mid = f"bw-unbalanced-{n}"
        paid = _money(n + 5)
        receipts.append(
            {
                "message_id": mid,
                "fingerprint": f"fp-{n}",
                "delivery_id": f"bw-delivery-{n % 200}",
                "transaction_index": 0,
                "claims_in_batch": 10,
                "paid_amount": paid,
                "state": "applied",
                "outcome": "paid_in_full",
                "claim_id": claim_id,
                "payload": payment_json(
                    message_id=mid,
                    claim_number=f"BW-{claim_id:07d}",
                    payer=PAYERS[n % len(PAYERS)],
                    paid=paid,
                ),
                "received_at": START + timedelta(days=40, minutes=n),
            }
        )
        reconciliations.append(
            {
                "message_id": mid,
                "claim_id": claim_id,
                "outcome": "paid_in_full",
                "match_status": "matched",
                "match_method": "submission_number",
                "match_confidence": Decimal("1.00"),
                "balanced": False,
                "differences": [
                    {"check": "claim_balance", "expected": str(paid), "actual": "0.00"}
                ],
                "flags": [],
                "created_at": START + timedelta(days=40, minutes=n),
            }
        )
    totals = [
        {
            "delivery_id": f"bw-delivery-{n}",
            "transaction_index": 0,
            "transaction_id": f"EFT{n:06d}",
            "total_amount": _money(n) + Decimal("10.00"),
            "payments_amount": _money(n),
            "balanced": False,
            "differences": [],
            "created_at": START + timedelta(days=41, minutes=n),
        }
        for n in range(counts[QueueKind.TRANSACTION_TOTAL])
    ]
    async with engine.begin() as connection:
        await _insert(connection, ParkedPayment, parked_rows)
        await _insert(connection, PaymentReceipt, receipts)
        await _insert(connection, Reconciliation, reconciliations)
        await _insert(connection, TransactionResult, totals)

    answered = counts[QueueKind.PARTNER_ANSWERED]
    rejected = answered // 7
    checks: list[dict[str, Any]] = []
    for n in range(claims // 5 + answered - rejected):
        needs_person = n < answered - rejected
        claim_id = 1 + (n * 13) % claims
        checks.append(
            {
                "command_id": f"bw-sc-{n}",
                "claim_id": str(claim_id),
                "submission_number": f"BW-{claim_id:07d}",
                "state": "answered",
                "result": {
                    "outcome": "answered",
                    "category_code": "F2" if needs_person else "P1",
                    "category_meaning": "Finalized/Denial" if needs_person else "Pending",
                },
                "attempts": 1,
                "lane": "production",
                "created_at": START + timedelta(days=50, seconds=n),
                "updated_at": START + timedelta(days=50, seconds=n, minutes=1),
            }
        )
    attachments: list[dict[str, Any]] = []
    for n in range(rejected + counts[QueueKind.ATTACHMENT_UNKNOWN]):
        claim_id = 1 + (n * 29) % claims
        state = "rejected" if n < rejected else "needs_review"
        attachments.append(
            {
                "attachment_control_number": f"BWACN{n:07d}",
                "command_id": f"bw-at-{n}",
                "loinc_codes": "11506-3",
                "claim_id": str(claim_id),
                "submission_number": f"BW-{claim_id:07d}",
                "request_number": "",
                "solicited": False,
                "state": state,
                "result": {"outcome": "pending", "violations": []},
                "attempts": 1,
                "lane": "production",
                "created_at": START + timedelta(days=55, seconds=n),
                "updated_at": START + timedelta(days=55, seconds=n, minutes=1),
            }
        )
    async with engine.begin() as connection:
        for chunk in _chunks(checks):
            await insert_status_checks(connection, chunk)
        for chunk in _chunks(attachments):
            await insert_attachments(connection, chunk)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
    return LoadedLedger(claims, counts, time.perf_counter() - started)
