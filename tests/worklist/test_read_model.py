"""The worklist's read model over today's ledger tables, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import ParkedPayment, TimelineEvent, utcnow
from worklist.cursor import Cursor
from worklist.demo import payment_json, seed_demo_ledger
from worklist.queues import QUEUES, QueueKind, SortKey
from worklist.read_model import QueueFilter, ReadModel, collapse_timeline


async def test_counts_cover_every_queue_today_s_ledger_can_express(
    worklist_engine: AsyncEngine,
) -> None:
    await seed_demo_ledger(worklist_engine)
    counts = await ReadModel(worklist_engine).counts()
    assert counts == {
        QueueKind.NEEDS_REVIEW: 12,
        QueueKind.UNMATCHED: 6,
        QueueKind.DENIED: 4,
        QueueKind.OVERPAID: 2,
        QueueKind.UNBALANCED: 3,
        QueueKind.TRANSACTION_TOTAL: 1,
        QueueKind.PARTNER_ANSWERED: 4,
        QueueKind.ATTACHMENT_UNKNOWN: 2,
    }
    assert all(counts[kind] is None for kind, queue in QUEUES.items() if not queue.available)


async def test_rows_carry_exact_money_and_the_reason_in_words(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    model = ReadModel(worklist_engine)
    overpaid = (await model.queue(QueueKind.OVERPAID, QueueFilter())).rows
    row = next(r for r in overpaid if r.claim_id == ids["overpaid"])
    assert isinstance(row.amount, Decimal)
    assert row.amount > 0
    assert row.reason.startswith(f"Credit balance {row.amount:,.2f}: paid ")
    assert "charged" in row.reason
    unbalanced = (await model.queue(QueueKind.UNBALANCED, QueueFilter())).rows
    assert all("expected" in r.reason and r.amount is not None for r in unbalanced)
    total = (await model.queue(QueueKind.TRANSACTION_TOTAL, QueueFilter())).rows
    assert total[0].amount == Decimal("4210.00")
    assert total[0].reason == "Check total 4,210.00, but its claim payments add up to 4,185.00."


async def test_payments_held_off_a_claim_wait_in_needs_review_with_the_hold_in_words(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    model = ReadModel(worklist_engine)
    before = (await model.counts())[QueueKind.NEEDS_REVIEW]
    async with ClaimLedger(worklist_engine).unit() as unit:
        unit.add(
            ParkedPayment(
                message_id="held-1",
                reason="possible_duplicate",
                submission_key="x",
                control_key="x",
                candidates=[ids["partial"]],
                claim_id=ids["partial"],
                related_message_id="earlier-1",
                note="same payer, claim number, amounts and service lines as an earlier one",
                payload=payment_json(
                    message_id="held-1", claim_number="CLM-X", payer="Acme", paid=Decimal("120.00")
                ),
                parked_at=utcnow(),
            )
        )
    assert (await model.counts())[QueueKind.NEEDS_REVIEW] == (before or 0) + 1
    rows = (await model.queue(QueueKind.NEEDS_REVIEW, QueueFilter(), sort=SortKey.NEWEST)).rows
    [held] = [r for r in rows if r.claim_id == ids["partial"]]
    assert held.amount == Decimal("120.00")
    assert held.reason.startswith("Held off the claim's money: possible duplicate")


async def test_claim_page_money_per_payer_is_the_ledger_s_own_claim_view(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    view = await ReadModel(worklist_engine).claim(ids["partial"])
    assert view is not None
    ledger = view.ledger
    assert ledger.claim.id == ids["partial"]
    assert ledger.money.paid == sum((p.paid for p in ledger.payers), Decimal("0"))
    assert ledger.money.open == view.money.open


async def _park(engine: AsyncEngine, count: int) -> None:
    async with ClaimLedger(engine).unit() as unit:
        for index in range(count):
            unit.add(
                ParkedPayment(
                    message_id=f"m-{index:05d}",
                    reason="unmatched",
                    submission_key=f"K{index}",
                    control_key="",
                    candidates=[],
                    payload=payment_json(
                        message_id=f"m-{index:05d}",
                        claim_number=f"C-{index}",
                        payer=("Northwind Health Plan", "Contoso Mutual")[index % 2],
                        # many equal amounts and times: the id must break ties
                        paid=Decimal(index % 17) * Decimal("10.25"),
                        test=index % 5 == 0,
                    ),
                    parked_at=utcnow().replace(microsecond=0, second=index % 3),
                )
            )


async def _walk(model: ReadModel, sort: SortKey, where: QueueFilter) -> list[int]:
    seen: list[int] = []
    after: Cursor | None = None
    while True:
        page = await model.queue(QueueKind.UNMATCHED, where, sort=sort, cursor=after, limit=40)
        seen += [row.item_id for row in page.rows]
        if page.next_cursor is None:
            return seen
        after = Cursor.decode(page.next_cursor, kind=QueueKind.UNMATCHED, sort=sort)
        assert after is not None


async def test_cursor_paging_visits_every_item_once_in_order_for_every_sort(
    worklist_engine: AsyncEngine,
) -> None:
    await _park(worklist_engine, 230)
    model = ReadModel(worklist_engine)
    for sort in SortKey:
        seen = await _walk(model, sort, QueueFilter())
        assert len(seen) == 230, sort
        assert len(set(seen)) == 230, sort
    largest = await model.queue(QueueKind.UNMATCHED, QueueFilter(), sort=SortKey.LARGEST, limit=5)
    amounts = [row.amount for row in largest.rows]
    assert amounts == sorted(amounts, reverse=True)  # type: ignore[type-var]
    assert amounts[0] == Decimal("164.00")


async def test_filters_by_payer_amount_lane_and_date(worklist_engine: AsyncEngine) -> None:
    await _park(worklist_engine, 60)
    model = ReadModel(worklist_engine)
    where = QueueFilter(
        payer="northwind", amount_min=Decimal("20.50"), amount_max=Decimal("51.25"), lane="test"
    )
    rows = (await model.queue(QueueKind.UNMATCHED, where, limit=100)).rows
    assert rows
    for row in rows:
        assert row.payer == "Northwind Health Plan"
        assert row.lane == "test"
        assert row.amount is not None
        assert Decimal("20.50") <= row.amount <= Decimal("51.25")
    expected = {
        i for i in range(0, 60, 2) if i % 5 == 0 and 2 <= i % 17 <= 5
    }  # 10.25 x (2..5) within the range
    assert len(rows) == len(expected)
    today = utcnow().date()
    assert len((await model.queue(QueueKind.UNMATCHED, QueueFilter(received_from=today),
                                  limit=100)).rows) == 60  # fmt: skip
    tomorrow = date.fromordinal(today.toordinal() + 1)
    assert (await model.queue(QueueKind.UNMATCHED, QueueFilter(received_from=tomorrow))).rows == []


async def test_a_payer_filter_is_text_not_a_pattern(worklist_engine: AsyncEngine) -> None:
    await _park(worklist_engine, 4)
    rows = (
        await ReadModel(worklist_engine).queue(QueueKind.UNMATCHED, QueueFilter(payer="%"))
    ).rows
    assert rows == []


def test_a_cursor_from_another_list_or_a_tampered_one_starts_over() -> None:
    cursor = Cursor(QueueKind.DENIED, SortKey.LARGEST, "12.50", 7)
    assert Cursor.decode(cursor.encode(), kind=QueueKind.DENIED, sort=SortKey.LARGEST) == cursor
    assert Cursor.decode(cursor.encode(), kind=QueueKind.UNMATCHED, sort=SortKey.LARGEST) is None
    assert Cursor.decode(cursor.encode(), kind=QueueKind.DENIED, sort=SortKey.OLDEST) is None
    assert Cursor.decode("not-a-cursor", kind=QueueKind.DENIED, sort=SortKey.LARGEST) is None
    bad = Cursor(QueueKind.DENIED, SortKey.LARGEST, "DROP TABLE", 7).encode()
    assert Cursor.decode(bad, kind=QueueKind.DENIED, sort=SortKey.LARGEST) is None


async def test_claim_view_collapses_repeated_events_and_keeps_the_money_exact(
    worklist_engine: AsyncEngine,
) -> None:
    ids = await seed_demo_ledger(worklist_engine)
    view = await ReadModel(worklist_engine).claim(ids["partial"])
    assert view is not None
    assert [(entry.kind, entry.count) for entry in view.timeline] == [
        ("submitted", 1),
        ("posted", 1),
        ("review", 2000),
    ]
    money = view.money
    assert money.charged == money.paid + money.patient_share + money.adjusted + money.open
    assert len(view.payments) == 1
    assert view.payments[0].paid == money.paid
    assert await ReadModel(worklist_engine).claim(999_999) is None


def test_only_consecutive_identical_events_collapse() -> None:
    at = utcnow()
    events = [
        TimelineEvent(id=i, claim_id=1, at=at, kind=kind, summary=summary)
        for i, (kind, summary) in enumerate(
            [("review", "a"), ("review", "a"), ("posted", "b"), ("review", "a"), ("review", "c")]
        )
    ]
    assert [(e.kind, e.summary, e.count) for e in collapse_timeline(events)] == [
        ("review", "a", 2),
        ("posted", "b", 1),
        ("review", "a", 1),
        ("review", "c", 1),
    ]
