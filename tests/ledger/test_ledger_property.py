"""Random remittance histories of one claim: the money always adds up, whatever the order.

Hypothesis plays a sequence of claim payments on one claim (primary payments, split partial
payments, a secondary, reversals, redeliveries, reissued checks, a reversal of a payment
never seen), with the claim arriving before, between or after them, and checks:

- charged = paid + patient share + adjustments + open, and the claim's columns are what its
  posted payments say (``claim_money``);
- paid is never below zero unless a payment waits for review;
- a redelivery changes nothing;
- the final state is the same as when the claim came first.

Each example is isolated inside the test's database by its own claim number, control numbers,
Redox log ids and patient name. Example counts are modest: this runs in ``make test`` on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select

from claimflow.settings import DatabaseSettings
from handlers.ledger.claim_money import claim_money
from handlers.ledger.database import create_engine, upgrade
from handlers.ledger.followup_rules import load_rules
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import ParkedPayment
from tests.ledger.corpus import CO, OA, PR, adj, batch, claim, ledger_claim, service
from tests.ledger.corpus_rules import MEDICAID, for_patient, paid_by
from tests.ledger.support import payment_messages

CHARGED = Decimal("200.00")
CENTS = st.integers(min_value=0, max_value=20).map(lambda n: Decimal(n * 500) / 100)


@dataclass(frozen=True)
class Pay:
    """A primary payment of the whole claim (split=False) or of its first line of 100.00."""

    paid: Decimal
    patient: Decimal
    split: bool = False


@dataclass(frozen=True)
class Secondary:
    paid: Decimal
    patient: Decimal


@dataclass(frozen=True)
class Reverse:
    of: int  # index of an earlier operation (modulo)


@dataclass(frozen=True)
class Redeliver:
    of: int


@dataclass(frozen=True)
class Reissue:
    of: int


@dataclass(frozen=True)
class OrphanReversal:
    paid: Decimal


Op = Pay | Secondary | Reverse | Redeliver | Reissue | OrphanReversal


def _pay(draw_paid: Decimal, draw_patient: Decimal, split: bool) -> Pay:
    charge = Decimal("100.00") if split else CHARGED
    paid = min(draw_paid, charge)
    patient = min(draw_patient, charge - paid)
    return Pay(paid, patient, split)


OPS = st.one_of(
    st.builds(_pay, CENTS.map(lambda d: d * 2), CENTS, st.booleans()),
    st.builds(Secondary, CENTS, CENTS.map(lambda d: d / 5)),
    st.builds(Reverse, st.integers(0, 7)),
    st.builds(Redeliver, st.integers(0, 7)),
    st.builds(Reissue, st.integers(0, 7)),
    st.builds(OrphanReversal, CENTS.map(lambda d: d + 1)),
)


class Story:
    """Turns operations into PaymentBatch payloads for one claim."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.number = f"PROP-{tag}"
        self.last_name = "Bixby" + "".join(ch for ch in tag if ch.isalpha())
        self.payloads: list[dict[str, Any] | None] = []  # per operation, None if no delivery
        self.logs = 0

    def _deliver(self, payload: dict[str, Any]) -> dict[str, Any]:
        return for_patient(payload, "Timothy", self.last_name)

    def _log(self) -> str:
        self.logs += 1
        return f"{self.tag}-log-{self.logs}"

    def payload(self, index: int, op: Op, earlier: list[Op]) -> dict[str, Any] | None:
        """The delivery of operation ``index`` (None when it has none, e.g. nothing to reverse)."""
        if isinstance(op, Pay):
            charged = Decimal("100.00") if op.split else CHARGED
            written_off = charged - op.paid - op.patient
            lines = [adj(str(op.patient), PR, "2"), adj(str(written_off), CO, "45")]
            body = claim(
                self.number,
                control=f"{self.tag}-ICN-{index}",
                charged=str(charged),
                paid=str(op.paid),
                patient=str(op.patient),
                services=[service(str(charged), str(op.paid), *lines)],
            )
            return self._deliver(batch(self._log(), body))
        if isinstance(op, Secondary):
            prior = CHARGED - op.paid - op.patient
            body = claim(
                self.number,
                control=f"{self.tag}-SEC-{index}",
                status="Processed as Secondary",
                charged=str(CHARGED),
                paid=str(op.paid),
                patient=str(op.patient),
                services=[
                    service(
                        str(CHARGED),
                        str(op.paid),
                        adj(str(prior), OA, "23"),
                        adj(str(op.patient), PR, "2"),
                    )
                ],
            )
            return paid_by(self._deliver(batch(self._log(), body)), MEDICAID)
        if isinstance(op, OrphanReversal):
            body = claim(
                self.number,
                control=f"{self.tag}-GONE-{index}",
                status="Reversal of Previous Payment",
                charged=str(-op.paid),
                paid=str(-op.paid),
                patient="0.00",
                services=[service(str(-op.paid), str(-op.paid))],
            )
            return self._deliver(batch(self._log(), body))
        assert isinstance(op, Reverse | Redeliver | Reissue)
        targets = [i for i in range(index) if self.payloads[i] is not None]
        targets = [i for i in targets if isinstance(earlier[i], Pay | Secondary)]
        if not targets:
            return None
        target = targets[op.of % len(targets)]
        original = self.payloads[target]
        assert original is not None
        if isinstance(op, Redeliver):
            return original  # the same delivery again: same log id, same message ids
        if isinstance(op, Reissue):  # same claim payment, another check / delivery
            out = _copy(original)
            log = self._log()
            out["Meta"]["Logs"] = [{"ID": log, "AttemptID": f"{log}-attempt"}]
            out["Transactions"][0]["ID"] = f"tx-{log}"
            return out
        out = _copy(original)  # a reversal: every amount negated, same control number
        log = self._log()
        out["Meta"]["Logs"] = [{"ID": log, "AttemptID": f"{log}-attempt"}]
        transaction = out["Transactions"][0]
        transaction["ID"] = f"tx-{log}"
        transaction["CreditOrDebit"] = "Debit"
        body = transaction["Payments"][0]["Claims"][0]
        body["Status"] = "Reversal of Previous Payment"
        _negate(body)
        return out


def _copy(payload: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(payload)


def _negate(body: dict[str, Any]) -> None:
    for key in ("ChargedAmount", "PaymentAmount", "PatientResponsibilityAmount"):
        if body.get(key) is not None:
            body[key] = str(-Decimal(body[key]))
    for line in body["Services"]:
        for key in ("ChargedAmount", "PaymentAmount"):
            line[key] = str(-Decimal(line[key]))
        for a in line["Adjustments"]:
            a["Amount"] = str(-Decimal(a["Amount"]))


@dataclass(frozen=True)
class Final:
    paid: Decimal
    patient: Decimal
    adjusted: Decimal
    status: str
    waiting: int


async def _state(ledger: ClaimLedger, story: Story) -> Final | None:
    found = await ledger.find_claim(story.number)
    if found is None:
        return None
    async with ledger.unit() as unit:
        payments = await unit.posted_payments(found.id)
        waiting = list(
            await unit.session.scalars(
                select(ParkedPayment).where(
                    ParkedPayment.resolved_at.is_(None), ParkedPayment.claim_id == found.id
                )
            )
        )
    money = claim_money(found.charged_amount, payments)
    # charged = paid + patient share + adjustments + open, and the columns say the same
    assert money.charged == money.paid + money.patient_share + money.adjusted + money.open
    assert (found.paid_amount, found.patient_responsibility, found.adjusted_amount) == (
        money.paid,
        money.patient_share,
        money.adjusted,
    )
    # paid never below zero without a review item
    assert found.paid_amount >= 0 or waiting
    assert found.patient_responsibility >= 0 or waiting
    return Final(
        found.paid_amount,
        found.patient_responsibility,
        found.adjusted_amount,
        found.status,
        len(waiting),
    )


async def _play(url: str, tag: str, ops: list[Op], claim_at: int) -> Final:
    engine = create_engine(DatabaseSettings(url=SecretStr(url)))
    ledger = ClaimLedger(engine)
    poster = Poster(rules=load_rules())
    story = Story(tag)
    try:
        for index, op in enumerate([*ops, None]):
            if index == claim_at:
                async with ledger.unit() as unit:
                    await poster.add_claim(
                        unit,
                        ledger_claim(story.number, str(CHARGED), patient_last_name=story.last_name),
                        source="property",
                    )
            if op is None:
                break
            payload = story.payload(index, op, ops)
            story.payloads.append(payload if not isinstance(op, Redeliver) else None)
            if payload is None:
                continue
            before = await _state(ledger, story)
            for message in payment_messages(payload):
                async with ledger.unit() as unit:
                    result = await poster.post_payment(unit, message)
                if isinstance(op, Redeliver):
                    assert result.state == "redelivered"
            if isinstance(op, Redeliver):
                assert await _state(ledger, story) == before  # a redelivery changes nothing
        final = await _state(ledger, story)
        assert final is not None
        return final
    finally:
        await engine.dispose()


def test_random_histories_of_one_claim_keep_the_money_right(ledger_url: str) -> None:
    async def migrate() -> None:
        engine = create_engine(DatabaseSettings(url=SecretStr(ledger_url)))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())

    @settings(
        max_examples=10,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(ops=st.lists(OPS, min_size=1, max_size=7), data=st.data())
    def story(ops: list[Op], data: st.DataObject) -> None:
        claim_at = data.draw(st.integers(0, len(ops)), label="claim arrives before op")
        tag = uuid.uuid4().hex[:12]
        first = asyncio.run(_play(ledger_url, tag + "a", ops, 0))
        late = asyncio.run(_play(ledger_url, tag + "b", ops, claim_at))
        assert late == first  # the claim's arrival time does not change the outcome

    story()
