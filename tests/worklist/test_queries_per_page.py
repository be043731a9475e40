"""No page issues N+1 queries: the SQL statements of a page do not grow with what it shows.

Counted with SQLAlchemy's ``before_cursor_execute`` event on the app's engine, on SQLite and
PostgreSQL, over the benchmark's ledger (benchmarks/worklist_data.py) at a small size: every
queue list at 5 rows a page and at 50, and a claim with one payment and two events against a
claim with dozens of events, follow-ups, status checks and attachments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from worklist_support import running, sign_in, web_settings

from benchmarks.worklist_data import load
from claimflow.devstack.identity import LocalIdentityProvider
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import FollowUp
from worklist.app import create_app
from worklist.followup_state import insert_attachments, insert_status_checks
from worklist.queues import QUEUES


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


@asynccontextmanager
async def _signed_in(
    engine: AsyncEngine, url: str, provider: LocalIdentityProvider, page_size: int
) -> AsyncIterator[AsyncClient]:
    app = create_app(web_settings(provider.issuer, url, page_size=page_size), engine=engine)
    async with running(app) as client:
        await sign_in(client, provider, "pat@example.org", ["poster"])
        yield client


async def _statements(engine: AsyncEngine, client: AsyncClient, path: str) -> int:
    await client.get(path)  # warm: the first request of a kind may prepare or reflect
    with counting(engine) as statements:
        answer = await client.get(path)
    assert answer.status_code == 200, answer.text[:300]
    return len(statements)


async def _busy_claim(engine: AsyncEngine, claim_id: int) -> None:
    at = datetime(2026, 10, 1, tzinfo=UTC)
    async with ClaimLedger(engine).unit() as unit:
        for n in range(40):
            unit.event(claim_id, "note" if n % 2 else "posted", f"Event {n}")
        for n in range(6):
            unit.add(FollowUp(command_id=f"busy-{n}", claim_id=claim_id, action="status_check",
                              rule="r", reason="why", trigger_message_id=f"t{n}",
                              created_at=at))  # fmt: skip
    number = f"BW-{claim_id:07d}"
    async with engine.begin() as connection:
        await insert_status_checks(
            connection,
            [
                {
                    "command_id": f"busy-sc-{n}",
                    "claim_id": str(claim_id),
                    "submission_number": number,
                    "state": "answered",
                    "result": {"outcome": "answered", "category_code": "F2"},
                    "attempts": 1,
                    "lane": "production",
                    "created_at": at + timedelta(minutes=n),
                    "updated_at": at + timedelta(minutes=n),
                }
                for n in range(5)
            ],
        )
        await insert_attachments(
            connection,
            [
                {
                    "attachment_control_number": f"BUSY{n}",
                    "command_id": f"busy-at-{n}",
                    "loinc_codes": "11506-3",
                    "claim_id": str(claim_id),
                    "submission_number": number,
                    "request_number": "",
                    "solicited": False,
                    "state": "needs_review",
                    "result": None,
                    "attempts": 1,
                    "lane": "production",
                    "created_at": at,
                    "updated_at": at,
                }
                for n in range(4)
            ],
        )


async def test_every_page_issues_the_same_statements_whatever_it_shows(
    worklist_engine: AsyncEngine, worklist_url: str, identity_provider: LocalIdentityProvider
) -> None:
    await load(worklist_engine, claims=400, open_items=400)
    await _busy_claim(worklist_engine, 2)
    few: dict[str, int] = {}
    many: dict[str, int] = {}
    paths = ["/", *(f"/queues/{kind.value}" for kind in QUEUES)]
    for size, into in ((5, few), (50, many)):
        async with _signed_in(worklist_engine, worklist_url, identity_provider, size) as client:
            for path in paths:
                into[path] = await _statements(worklist_engine, client, path)
            into["claim"] = await _statements(worklist_engine, client, "/claims/1" if size == 5
                                              else "/claims/2")  # fmt: skip
    assert few == many, (few, many)
    assert max(few.values()) <= 20, few  # a page is a handful of queries and its access record
