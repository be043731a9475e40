"""``claimflow ledger post FILE...``: PaymentBatch files into the ledger (SQLite, PostgreSQL)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from claimflow.cli import main
from claimflow.errors import DataRefused, ExitCode, FileProblem
from claimflow.settings import Settings
from handlers.ledger.cli import import_claims, post_payment_files
from handlers.ledger.followup_rules import load_rules
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


async def post(url: str, *paths: Path) -> list[str]:
    lines: list[str] = []
    await post_payment_files(settings_for(url), list(paths), echo=lines.append)
    return lines


def write(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload))
    return path


async def test_the_sample_is_posted_once_however_often_its_file_is_posted(
    ledger_url: str, ledger: ClaimLedger, sample_bytes: bytes, tmp_path: Path
) -> None:
    assert await import_claims(settings_for(ledger_url), SAMPLE_CLAIMS, echo=lambda _: None) == 0
    sample = tmp_path / "remittance.json"
    sample.write_bytes(sample_bytes)

    assert await post(ledger_url, sample) == [
        "1 file(s): 2 posted, 0 review, 0 parked, 0 duplicates, 0 already posted, 1 flagged"
    ]
    events = await ledger.count(TimelineEvent)
    assert await post(ledger_url, sample) == [
        "1 file(s): 0 posted, 0 review, 0 parked, 0 duplicates, 2 already posted, 0 flagged"
    ]
    assert await ledger.count(TimelineEvent) == events
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

    lines = await post(ledger_url, sample)

    assert "0 parked" in lines[0]
    assert "2 already posted" in lines[0]
    assert await ledger.count(PaymentReceipt) == 2
    assert await ledger.count(ParkedPayment) == 2
    assert await ledger.count(TimelineEvent) == events


async def test_a_bad_file_stops_the_command_naming_file_field_and_reason_and_nothing_is_posted(
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
    refused: list[tuple[Path, type[Exception], str]] = [
        (
            bad,
            DataRefused,
            f"{bad}: Transactions[0].Payments[1].Claims[0].PaymentAmount: must be a decimal "
            'amount, like "100.00"; nothing posted: fix the file',
        ),
        (broken, FileProblem, f"{broken}: not valid JSON; nothing posted"),
        (unlogged, DataRefused, f"{unlogged}: Meta.Logs: no log ID; nothing posted: fix the file"),
        (
            missing,
            FileProblem,
            f"cannot read the remittance file {missing}: no such file or directory; nothing posted",
        ),
    ]
    for path, error, line in refused:
        with pytest.raises(error) as raised:
            await post(ledger_url, good, path)
        assert str(raised.value) == line
        assert "SECRET" not in line
        assert "8o" not in line

    assert await ledger.count(PaymentReceipt) == 0  # not even the good file's


@pytest.mark.usefixtures("ledger")
def test_ledger_post_on_the_command_line_answers_a_bad_file_in_one_line_with_exit_code_4(
    ledger_url: str,
    tmp_path: Path,
    sample_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLAIMFLOW_DATABASE__URL", ledger_url)
    sample = tmp_path / "remittance.json"
    sample.write_bytes(sample_bytes)
    no_log = batch("x", claim("X-1"))
    no_log["Meta"]["Logs"] = []
    unlogged = write(tmp_path / "unlogged.json", no_log)

    assert main(["ledger", "post", str(sample), str(unlogged)]) == ExitCode.REFUSED
    captured = capsys.readouterr()
    assert "file(s)" not in captured.out  # nothing posted (stdout may hold a service's log)
    assert captured.err.splitlines() == [
        f"claimflow: {unlogged}: Meta.Logs: no log ID; nothing posted: fix the file"
    ]

    assert main(["ledger", "post", str(sample)]) == ExitCode.OK
    captured = capsys.readouterr()
    summary = [line for line in captured.out.splitlines() if "file(s)" in line]
    assert len(summary) == 1
    assert summary[0].startswith("1 file(s): 0 posted, 0 review, 2 parked, 0 duplicates")
    assert "Traceback" not in captured.err


async def test_a_large_file_is_posted_in_chunks_with_progress_lines_off_a_terminal(
    ledger_url: str, ledger: ClaimLedger, tmp_path: Path
) -> None:
    numbers = [f"LARGE-{i:04d}" for i in range(1_001)]
    path = write(tmp_path / "large.json", batch("large-file", *(claim(n) for n in numbers)))
    stream = io.StringIO()
    lines: list[str] = []

    await post_payment_files(
        settings_for(ledger_url), [path], echo=lines.append, stream=stream, interval=0.0
    )

    assert "1001 parked" in lines[0]
    progress = stream.getvalue().splitlines()
    # claimflow.progress off a terminal: a line per chunk of 500 (interval 0 here), and a last.
    assert [p.split(",")[0] for p in progress[:3]] == [
        "posting large.json: 500/1001 claim payments",
        "posting large.json: 1000/1001 claim payments",
        "posting large.json: 1001/1001 claim payments",
    ]
    assert progress[-1].startswith("posting large.json: 1001/1001 claim payments")
    assert "\r" not in stream.getvalue()
    assert await ledger.count(TransactionResult) == 1


async def test_claims_imported_after_their_payments_each_get_their_own_with_no_stale_review(
    ledger_url: str, ledger: ClaimLedger, sample_bytes: bytes, tmp_path: Path
) -> None:
    sample = tmp_path / "remittance.json"
    sample.write_bytes(sample_bytes)
    assert "2 parked" in (await post(ledger_url, sample))[0]

    # Both claims of the file (same patient, same charge) are on file before the parked
    # payments are matched again, so neither payment is suggested to the other's claim.
    assert await import_claims(settings_for(ledger_url), SAMPLE_CLAIMS, echo=lambda _: None) == 0

    assert await ledger.count(AppliedPayment) == 2
    assert await ledger.count(ParkedPayment, ParkedPayment.resolved_at.is_(None)) == 0
    assert await ledger.count(TimelineEvent, TimelineEvent.kind == "review") == 0
    assert await ledger.count(TimelineEvent, TimelineEvent.kind == "matched") == 2


async def test_a_file_of_several_chunks_checks_its_transaction_once_at_the_end(
    ledger_url: str, ledger: ClaimLedger, tmp_path: Path
) -> None:
    """1,100 claim payments (three transactions of posting): the delivery is counted a chunk
    at a time, and its transaction checked once, when the last chunk brings its last claims;
    a total 10.00 short of the payments is the one flagged result."""
    numbers = [f"ONBOARD-{i:04d}" for i in range(1_100)]
    claims_file = tmp_path / "claims.csv"
    claims_file.write_text(
        "claim_number,charged_amount\n" + "".join(f"{n},100.00\n" for n in numbers)
    )
    assert await import_claims(settings_for(ledger_url), claims_file, echo=lambda _: None) == 0
    remittance = write(
        tmp_path / "onboarding.json",
        batch("onboarding-1", *(claim(n) for n in numbers), total="87990.00"),
    )

    assert await post(ledger_url, remittance) == [
        "1 file(s): 1100 posted, 0 review, 0 parked, 0 duplicates, 0 already posted, 1 flagged"
    ]
    assert await ledger.count(AppliedPayment) == 1_100
    assert await ledger.count(TransactionResult) == 1
    result = await ledger.count(TransactionResult, TransactionResult.balanced.is_(False))
    assert result == 1
