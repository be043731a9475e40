"""Running corpus cases through the ledger, as the handler does: one unit per message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.ledger.posting import Poster, PostingResult
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import Reconciliation, TransactionResult
from handlers.runtime import TransientError
from router.messages import ClaimPaymentMessage, split_payment_batch
from router.redox import PaymentBatch
from router.topics import HEADERS
from tests.ledger.corpus import Batch, Case, Claims


def payment_messages(
    payload: dict[str, Any], log_id: str | None = None
) -> list[ClaimPaymentMessage]:
    batch = PaymentBatch.model_validate(payload)
    log = log_id or batch.meta.log_id or "no-log-id"
    return [
        ClaimPaymentMessage.model_validate_json(m.value)
        for m in split_payment_batch(batch, log_id=log)
    ]


async def run_steps(ledger: ClaimLedger, poster: Poster, case: Case) -> list[PostingResult]:
    results: list[PostingResult] = []
    for step in case.steps:
        if isinstance(step, Claims):
            async with ledger.unit() as unit:
                for new in step.claims:
                    _, posted = await poster.add_claim(unit, new, source="corpus")
                    results.extend(posted)
        elif isinstance(step, Batch):
            for message in payment_messages(step.payload, step.log_id):
                async with ledger.unit() as unit:
                    results.append(await poster.post_payment(unit, message))
    return results


async def transaction_checks(ledger: ClaimLedger) -> list[str | None]:
    async with ledger.unit() as unit:
        rows = await unit.session.scalars(select(TransactionResult).order_by(TransactionResult.id))
        return [None if row.balanced else str(row.differences[0]["difference"]) for row in rows]


async def reconciliations(ledger: ClaimLedger) -> list[Reconciliation]:
    async with ledger.unit() as unit:
        rows = await unit.session.scalars(select(Reconciliation).order_by(Reconciliation.id))
        return list(rows)


async def refuse_rows(engine: AsyncEngine, table: str, column: str, value: str) -> None:
    """Make the database refuse one row: a trigger that fails the INSERT of ``value``."""
    async with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            await connection.execute(
                text(
                    f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                    f"WHEN NEW.{column} = '{value}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
            return
        await connection.execute(
            text(
                f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN IF NEW.{column} = '{value}' THEN RAISE EXCEPTION 'refused'; "
                "END IF; RETURN NEW; END $$"
            )
        )
        await connection.execute(
            text(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"
            )
        )


async def allow_rows(engine: AsyncEngine, table: str) -> None:
    async with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            await connection.execute(text(f"DROP TRIGGER refuse_{table}"))
        else:
            await connection.execute(text(f"DROP TRIGGER refuse_{table} ON {table}"))
            await connection.execute(text(f"DROP FUNCTION refuse_{table}()"))


@dataclass
class RecordingPublisher:
    """Stands in for Kafka: what is published (topic, headers, value), in order; fails the
    next ``fail_next`` publishes as a broker that does not acknowledge."""

    fail_next: int = 0
    sent: list[tuple[str, dict[str, bytes], bytes]] = field(default_factory=list)

    async def publish(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Mapping[str, bytes]
    ) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("broker did not acknowledge")
        self.sent.append((topic, dict(headers), value))

    @property
    def message_ids(self) -> list[str]:
        return [headers[HEADERS.MESSAGE_ID].decode() for _, headers, _ in self.sent]
