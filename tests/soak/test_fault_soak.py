"""A minute of the fault soak (``make soak`` runs ten): nothing lost, nothing doubled.

The whole stack runs as separate processes on a broker of its own (the schedule restarts it)
and a SQLite ledger, while each role is killed with SIGKILL in turn, the broker restarts and the
Integrex sandbox is slow and then down. Only the correctness figures are asserted; the timings
are the soak's report, never a test's verdict.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claimflow.devstack.soak import KILLED_ROLES, SoakOptions, run_soak

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_a_minute_of_kills_a_broker_restart_and_a_failing_partner_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    report = run_soak(
        SoakOptions(state_dir=tmp_path, seconds=60, rate=1.0, database="sqlite", drain_seconds=60)
    )
    print(report.table())

    assert report.deliveries_sent >= 55
    assert report.webhooks_acknowledged == report.deliveries_sent
    assert report.payments_posted == report.webhooks_acknowledged * report.claims_per_webhook
    assert report.payments_posted_twice == 0
    assert report.claim_messages_duplicated == 0
    assert report.integrex_submitted_twice == 0
    assert report.availity_submitted_twice == 0
    assert report.violations() == []
    killed = {fault.name.removeprefix("kill -9 ") for fault in report.faults}
    assert set(KILLED_ROLES) <= killed
    assert any(fault.name == "broker restart" for fault in report.faults)
