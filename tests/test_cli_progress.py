"""claimflow.progress: a live bar on a terminal, plain periodic lines elsewhere, NO_COLOR."""

from __future__ import annotations

import io
import re

import pytest

from claimflow.progress import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_work_that_ends_quickly_prints_nothing_when_not_a_terminal() -> None:
    out = io.StringIO()
    with progress("importing claims", 3, unit="claims", stream=out) as bar:
        bar.advance(3)
    assert out.getvalue() == ""


def test_long_work_prints_plain_periodic_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    with progress("importing claims", 4, unit="claims", stream=out, interval=0.0) as bar:
        bar.advance()
        bar.advance(3)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("importing claims: 1/4 claims, ")
    assert lines[-1].startswith("importing claims: 4/4 claims, ")
    assert "\x1b" not in out.getvalue()


def test_unknown_totals_count_what_is_done() -> None:
    out = io.StringIO()
    with progress("dlq replay ledger", unit="dead letters", stream=out, interval=0.0) as bar:
        bar.advance(2)
    assert out.getvalue().splitlines()[0].startswith("dlq replay ledger: 2 dead letters, ")


def test_a_terminal_gets_a_bar_without_colour_under_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm")
    out = _Terminal()
    with progress("importing claims", 2, unit="claims", stream=out) as bar:
        bar.advance(2)
    text = out.getvalue()
    assert "importing claims" in text
    assert "2/2" in text
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", text)  # no foreground colour codes


def test_a_wait_reports_only_the_time_it_takes() -> None:
    out = io.StringIO()
    with progress("kafka starting on 127.0.0.1:9092", unit="", stream=out, interval=0.0) as bar:
        bar.advance(0)
    assert out.getvalue().splitlines()[0].startswith("kafka starting on 127.0.0.1:9092: 0s")
