"""OffsetTracker, the retry policy and error texts, on their own."""

from __future__ import annotations

import pytest

from handlers.runtime import OffsetTracker, PermanentError, PoisonMessageError, TransientError
from handlers.runtime.errors import error_text
from handlers.runtime.retry import RetryPolicy, Verdict


def test_out_of_order_completion_never_commits_past_a_gap() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12, 13):
        tracker.track(offset)
    tracker.done(12)
    tracker.done(13)
    assert tracker.position == 10
    tracker.done(11)
    assert tracker.position == 10
    tracker.done(10)
    assert tracker.position == 14


def test_gaps_in_offsets_from_transaction_markers_do_not_block_commits() -> None:
    tracker = OffsetTracker()
    for offset in (3, 5, 9):  # 4, 6-8: markers and aborted records a read_committed consumer skips
        tracker.track(offset)
    tracker.done(3)
    assert tracker.position == 5
    tracker.done(9)
    tracker.done(5)
    assert tracker.position == 10
    assert tracker.pending == 0


def test_a_position_is_offered_for_commit_once() -> None:
    tracker = OffsetTracker()
    assert tracker.to_commit() is None
    tracker.track(0)
    assert tracker.to_commit() == 0
    tracker.committed(0)
    assert tracker.to_commit() is None
    tracker.done(0)
    assert tracker.to_commit() == 1


def test_offsets_tracked_out_of_order_or_done_twice_are_rejected() -> None:
    tracker = OffsetTracker()
    tracker.track(5)
    with pytest.raises(ValueError, match="out of order"):
        tracker.track(5)
    tracker.done(5)
    with pytest.raises(ValueError, match="not pending"):
        tracker.done(5)


def _policy(max_attempts: int = 3, retry_topic_attempts: int = 2) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=max_attempts,
        retry_topic_attempts=retry_topic_attempts,
        backoff_base_seconds=0.5,
        backoff_max_seconds=4.0,
    )


def test_retriable_failures_retry_in_process_then_park_then_dead_letter() -> None:
    policy = _policy()
    verdicts = []
    attempts = 0
    for _ in range(3):  # the source pass and two passes through the retry topic
        for attempt_in_pass in range(1, 4):
            attempts += 1
            verdicts.append(
                policy.verdict(retriable=True, attempt_in_pass=attempt_in_pass, attempts=attempts)
            )
    retry, park, dead = Verdict.RETRY_NOW, Verdict.PARK, Verdict.DEAD_LETTER
    assert verdicts == [retry, retry, park, retry, retry, park, retry, retry, dead]


def test_permanent_failures_are_dead_lettered_at_once() -> None:
    verdict = _policy().verdict(retriable=False, attempt_in_pass=1, attempts=1)
    assert verdict is Verdict.DEAD_LETTER
    assert not PermanentError.retriable
    assert not PoisonMessageError.retriable
    assert TransientError.retriable


def test_without_retry_topic_passes_exhaustion_dead_letters() -> None:
    policy = _policy(max_attempts=2, retry_topic_attempts=0)
    assert policy.verdict(retriable=True, attempt_in_pass=2, attempts=2) is Verdict.DEAD_LETTER


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = _policy()
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 4.0)):
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)


def test_error_text_keeps_our_words_and_only_the_type_of_foreign_errors() -> None:
    assert error_text(PoisonMessageError("claim has no SubmissionNumber")) == (
        "PoisonMessageError: claim has no SubmissionNumber"
    )
    foreign = error_text(KeyError("Jane Doe 1970-01-01"))
    assert "Jane" not in foreign
    assert foreign == "unexpected builtins.KeyError"
    assert len(error_text(TransientError("x" * 1000))) <= 200
