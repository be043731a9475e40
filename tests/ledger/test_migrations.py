"""The ledger's schema comes from its Alembic migrations, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.cli import main
from handlers.ledger.database import downgrade, upgrade
from handlers.ledger.tables import Base


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_the_migrations_make_exactly_the_models_tables_and_undo_them(
    ledger_engine: AsyncEngine,
) -> None:
    expected = set(Base.metadata.tables)
    assert await _tables(ledger_engine) == expected | {"alembic_version"}
    await upgrade(ledger_engine)  # again: nothing to do
    await downgrade(ledger_engine)
    assert await _tables(ledger_engine) == {"alembic_version"}
    await upgrade(ledger_engine)
    assert await _tables(ledger_engine) == expected | {"alembic_version"}


def test_db_upgrade_from_the_command_line(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMFLOW_DATABASE__URL", ledger_url)
    assert main(["db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out


_NOW = datetime(2026, 1, 1)


async def test_upgrading_a_ledger_recomputes_keys_so_parked_payments_still_match(
    ledger_engine: AsyncEngine,
) -> None:
    from sqlalchemy import text

    from tests.ledger.corpus import batch, claim
    from tests.ledger.support import payment_messages

    await downgrade(ledger_engine, "0001")
    payload = payment_messages(batch("log-old", claim("ACCT-00451")))[0].model_dump_json(
        by_alias=True
    )
    async with ledger_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO claims (claim_number, claim_key, patient_last_name, patient_last_key,"
                " charged_amount, paid_amount, patient_responsibility, adjusted_amount, status,"
                " source, created_at, updated_at) VALUES ('INV-0099', 'INV0099', 'Núñez',"
                " 'NEZ', '100.00', '0', '0', '0', 'submitted', 'old', :now, :now)"
            ),
            {"now": _NOW},
        )
        await connection.execute(
            text(
                "INSERT INTO parked_payments (message_id, reason, submission_key, control_key,"
                " candidates, payload, parked_at) VALUES ('m-old', 'unmatched', 'ACCT00451',"
                " 'CN1', '[]', :payload, :now)"
            ),
            {"payload": payload, "now": _NOW},
        )
    await upgrade(ledger_engine)
    async with ledger_engine.connect() as connection:
        claim_row = (
            await connection.execute(text("SELECT claim_key, patient_last_key FROM claims"))
        ).one()
        parked_row = (
            await connection.execute(
                text("SELECT submission_key, patient_last_key FROM parked_payments")
            )
        ).one()
    assert tuple(claim_row) == ("INV99", "NUNEZ")
    assert tuple(parked_row) == ("ACCT451", "BIXBY")


async def test_the_migrated_claim_indexes_are_the_models_including_the_worklists(
    ledger_engine: AsyncEngine,
) -> None:
    from handlers.ledger.tables import Claim

    postgres = ledger_engine.dialect.name == "postgresql"
    expected = {
        index.name
        for index in Claim.__table__.indexes
        if postgres or index.name != "ix_claims_credit_balance"
    }
    async with ledger_engine.connect() as connection:
        found = await connection.run_sync(
            lambda sync: {
                i["name"]
                for i in inspect(sync).get_indexes("claims")
                if i["name"].startswith("ix_")
            }
        )
    assert "ix_claims_status" in found
    assert found == expected


async def test_on_postgresql_the_overpaid_queue_can_use_the_credit_balance_index(
    ledger_engine: AsyncEngine,
) -> None:
    """The index's predicate (migration 0005) is implied by the queue's condition."""
    from sqlalchemy import func, select, text

    from handlers.ledger.tables import Claim, claim_credit_balance

    if ledger_engine.dialect.name != "postgresql":
        pytest.skip("a partial index of PostgreSQL only")
    query = select(func.count()).select_from(Claim).where(claim_credit_balance() > 0)
    async with ledger_engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))
        compiled = query.compile(ledger_engine.sync_engine, compile_kwargs={"literal_binds": True})
        plan = (await connection.execute(text(f"EXPLAIN {compiled}"))).scalars().all()
    assert any("ix_claims_credit_balance" in line for line in plan), plan


async def test_upgrading_recomputes_receipt_fingerprints_so_a_payment_sent_again_is_a_duplicate(
    ledger_engine: AsyncEngine,
) -> None:
    """Migration 0007: the receipts' fingerprints in the form ``posting.fingerprint`` hashes
    now (orjson's compact JSON), recomputed from their payloads, both ways."""
    from sqlalchemy import text

    from handlers.ledger.followup_rules import load_rules
    from handlers.ledger.posting import Poster, fingerprint
    from handlers.ledger.store import ClaimLedger
    from tests.ledger.corpus import batch, claim
    from tests.ledger.support import payment_messages

    async def stored() -> str:
        async with ledger_engine.connect() as connection:
            found = await connection.execute(text("SELECT fingerprint FROM payment_receipts"))
            return str(found.scalar_one())

    ledger, poster = ClaimLedger(ledger_engine), Poster(rules=load_rules())
    first = payment_messages(batch("log-first", claim("ACCT-00451")))[0]
    async with ledger.unit() as unit:
        assert (await poster.post_payment(unit, first)).state == "parked"  # no claim on file
    assert await stored() == fingerprint(first)
    await downgrade(ledger_engine, "0006_outbox_claims")
    assert await stored() != fingerprint(first)  # the spaced form of before
    await upgrade(ledger_engine)
    assert await stored() == fingerprint(first)
    # The same payment again, under another message id (Redox sent the batch again).
    again = first.model_copy(update={"message_id": "m-sent-again"})
    async with ledger.unit() as unit:
        assert (await poster.post_payment(unit, again)).state == "duplicate"
