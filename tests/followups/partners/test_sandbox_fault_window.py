"""A sandbox fault can be a window in time: a partner slow or down "for a while"."""

from __future__ import annotations

import time

from sandboxes.control import Fault, SandboxControl
from sandboxes.tokens import TokenIssuer


def _control() -> SandboxControl:
    return SandboxControl(tokens=TokenIssuer(lifetime_seconds=60), error_body=lambda s: {})


def test_a_windowed_fault_plays_on_every_request_until_its_window_closes() -> None:
    control = _control()
    control.faults.append(Fault.from_json({"kind": "error", "status": 503, "for_seconds": 0.2}))
    assert all(control.take_fault("claim_info.submit") is not None for _ in range(10))
    time.sleep(0.25)
    assert control.take_fault("claim_info.submit") is None
    assert control.faults == []


def test_a_counted_fault_still_plays_count_times() -> None:
    control = _control()
    control.faults.append(Fault.from_json({"kind": "slow", "count": 2}))
    assert [control.take_fault("any") is not None for _ in range(3)] == [True, True, False]
