"""The soak's verdict: what counts as lost or doubled, and the table it writes."""

from __future__ import annotations

from datetime import UTC, datetime

from claimflow.devstack.soak import FaultRecord, SoakReport


def _clean_run() -> SoakReport:
    report = SoakReport(
        started=datetime(2026, 11, 30, 14, 22, tzinfo=UTC),
        seconds=600,
        rate=2,
        database="postgresql",
        claims_per_webhook=2,
        deliveries_sent=1200,
        webhooks_acknowledged=1200,
        payments_posted=2400,
        claim_messages=2400,
    )
    report.ack_latencies = [0.05, 0.06, 18.0]
    report.faults = [FaultRecord(name="kill -9 ledger", measured_as="posted", at=172)]
    return report


def test_a_run_where_every_acknowledged_payment_is_posted_once_has_no_violations() -> None:
    assert _clean_run().violations() == []


def test_a_missing_payment_a_doubled_one_and_a_second_partner_submission_are_violations() -> None:
    report = _clean_run()
    report.payments_posted = 2399
    report.payments_posted_twice = 1
    report.claim_messages_duplicated = 1
    report.integrex_submitted_twice = 1
    report.availity_submitted_twice = 1
    report.webhooks_acknowledged = 1199

    problems = report.violations()

    assert "1 deliveries never acknowledged" in problems
    assert "2399 claim payments posted for 2398 acknowledged" in problems
    assert "1 claim payments posted twice" in problems
    assert "1 claim messages duplicated on the claim-payments topic" in problems
    assert "1 Integrex submissions made twice" in problems
    assert "1 Availity submissions made twice" in problems


def test_the_table_names_the_figures_and_each_fault_with_its_recovery() -> None:
    table = _clean_run().table()

    assert "| claim payments acknowledged (x2) / posted in the ledger | 2400 / 2400 |" in table
    assert "| kill -9 ledger | 172 s | - | posted |" in table
    assert "p50 / p99" in table
