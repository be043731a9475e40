"""``claimflow ledger post FILE...``: PaymentBatch files into the ledger (SQLite, PostgreSQL)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from claimflow.settings import Settings
from handlers.followup.rules import load_rules
from handlers.ledger.cli import import_claims, post_payment_files
from handlers.ledger.offline import Progress
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import (
    AppliedPayment,
    OutboxMessage,
    ParkedPayment,
    PaymentReceipt,
    TimelineEvent,
    TransactionResult,
)
from router.messages import ClaimPaymentMessage, split_payment_batch
from router.redox import PaymentBatch
from tests.ledger.corpus import batch, claim

SAMPLE_CLAIMS = Path(__file__).parent / "fixtures" / "redox-sample-claims.csv"


def settings_for(url: str) -> Settings:
    return Settings.model_validate({"database": {"url": url}})


async def post(url: str, *paths: Path) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = await post_payment_files(settings_for(url), list(paths), echo=lines.append)
    return code, lines


def write(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload))
    return path


async def test_the_sample_is_posted_once_however_often_its_file_is_posted(
    ledger_url: str, ledger: ClaimLedger, sample_bytes: bytes, tmp_path: Path
) -> None:
    assert await import_claims(settings_for(ledger_url), SAMPLE_CLAIMS, echo=lambda _: None) == 0
    sample = tmp_path / "remittance.json"
    sample.write_bytes(sample_bytes)

    code, lines = await post(ledger_url, sample)
    assert code == 0
    assert lines == [
        "1 file(s): 2 posted, 0 review, 0 parked, 0 duplicates, 0 already posted, 1 flagged"
    ]
    code, lines = await post(ledger_url, sample)
    assert code == 0
    assert "2 already posted" in lines[0]
    assert await ledger.count(PaymentReceipt) == 2
    assert await ledger.count(AppliedPayment) == 2
    assert await ledger.count(TransactionResult) == 1
    # What the postings cause waits in the outbox for the ledger handler to publish: two
    # claim results, the transaction's (its total differs) and a status check per claim.
    assert await ledger.count(OutboxMessage, OutboxMessage.sent_at.is_(None)) == 5


async def test_a_file_posted_after_its_delivery_came_through_kafka_changes_nothing(
    ledger_url: str, ledger: ClaimLedger, sample_bytes: bytes, tmp_path: Path
) -> None:
    poster = Poster(rules=load_rules())
    payload = PaymentBatch.model_validate_json(sample_bytes)
    for split in split_payment_batch(payload, log_id=payload.meta.log_id or ""):
        async with ledger.unit() as unit:
            await poster.post_payment(unit, ClaimPaymentMessage.model_validate_json(split.value))
    events = await ledger.count(TimelineEvent)
    sample = tmp_path / "remittance.json"
    sample.write_bytes(sample_bytes)

    code, lines = await post(ledger_url, sample)

    assert code == 0
    assert "0 parked" in lines[0]
    assert "2 already posted" in lines[0]
    assert await ledger.count(PaymentReceipt) == 2
    assert await ledger.count(ParkedPayment) == 2
    assert await ledger.count(TimelineEvent) == events


async def test_a_bad_file_fails_with_one_line_naming_file_field_and_reason_and_posts_nothing(
    ledger_url: str, ledger: ClaimLedger, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.json", batch("good-file", claim("GOOD-1")))
    payload = batch("bad-file", claim("OK-1"), claim("SECRET-7", paid="80.00"))
    payload["Transactions"][0]["Payments"][1]["Claims"][0]["PaymentAmount"] = "8o.00"
    bad = write(tmp_path / "bad.json", payload)
    broken = tmp_path / "broken.json"
    broken.write_text('{"Meta": {"DataModel": "Claim", "SECRET-NAME')
    no_log = batch("x", claim("X-1"))
    no_log["Meta"]["Logs"] = []
    unlogged = write(tmp_path / "unlogged.json", no_log)
    missing = tmp_path / "missing.json"

    code, lines = await post(ledger_url, bad, broken, unlogged, missing, good)

    assert code == 1
    assert lines == [
        f"claimflow: {bad}: Transactions[0].Payments[1].Claims[0].PaymentAmount: must be a "
        'decimal amount, like "100.00"; nothing posted from it',
        f"claimflow: {broken}: not valid JSON; nothing posted from it",
        f"claimflow: {unlogged}: Meta.Logs: no log ID; nothing posted from it",
        f"claimflow: {missing}: cannot read the file (No such file or directory); nothing posted",
        "1 file(s): 0 posted, 0 review, 1 parked, 0 duplicates, 0 already posted, 0 flagged",
    ]
    assert "SECRET" not in "\n".join(lines)
    assert "8o" not in "\n".join(lines)
    assert await ledger.count(PaymentReceipt) == 1  # the good file's only


async def test_a_large_file_is_posted_in_chunks_with_progress_lines_off_a_terminal(
    ledger_url: str, ledger: ClaimLedger, tmp_path: Path
) -> None:
    from handlers.ledger import offline

    numbers = [f"LARGE-{i:04d}" for i in range(1_001)]
    path = write(tmp_path / "large.json", batch("large-file", *(claim(n) for n in numbers)))
    stream = io.StringIO()
    poster = Poster(rules=load_rules())

    status, summary = await offline.post_files(
        ledger, poster, [path], echo=lambda _: None, progress=Progress(stream, every=0.0)
    )

    assert status == 0
    assert summary.counts["parked"] == 1_001
    assert stream.getvalue().splitlines()[-1].startswith("large.json: 1,001 of 1,001 claim")
    assert len(stream.getvalue().splitlines()) == 3  # one line per chunk of 500
    assert "\r" not in stream.getvalue()
    assert await ledger.count(TransactionResult) == 1
