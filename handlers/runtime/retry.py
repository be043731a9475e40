"""When to try a failed message again, and what its retry and dead-letter copies carry.

A message gets ``max_attempts`` in-process attempts with exponential backoff and full jitter.
If they all fail with a retriable error, the message is parked on the handler's retry topic
(and its offset marked done, so the partition moves on); the runtime re-handles it from there
no sooner than ``backoff_max_seconds`` later, with a fresh in-process budget. After
``retry_topic_attempts`` passes through the retry topic it goes to the dead-letter topic. A
``PermanentError`` goes to the dead-letter topic at once.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass

from claimflow.settings import HandlerSettings
from router.headers import Failure, is_test, message_headers

__all__ = ["Origin", "RetryPolicy", "Verdict", "copy_headers"]


class Verdict(enum.Enum):
    """What happens to a message after a failed attempt."""

    RETRY_NOW = "retry"
    PARK = "parked"
    DEAD_LETTER = "dead_lettered"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message was first consumed: kept across passes through the retry topic."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_attempts: int
    retry_topic_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float

    @classmethod
    def from_settings(cls, settings: HandlerSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            retry_topic_attempts=settings.retry_topic_attempts,
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_max_seconds=settings.backoff_max_seconds,
        )

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed in-process ``attempt`` (1-based): full jitter."""
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    @property
    def retry_delay(self) -> float:
        """Seconds a parked message waits on the retry topic before it is handled again."""
        return self.backoff_max_seconds

    def verdict(self, *, retriable: bool, attempt_in_pass: int, attempts: int) -> Verdict:
        """What to do after attempt number ``attempts`` (``attempt_in_pass`` in this pass)."""
        if not retriable:
            return Verdict.DEAD_LETTER
        if attempt_in_pass < self.max_attempts:
            return Verdict.RETRY_NOW
        # Every pass ends after max_attempts attempts: the first on the source topic, the
        # others on the retry topic.
        retry_passes_done = attempts // self.max_attempts - 1
        if retry_passes_done < self.retry_topic_attempts:
            return Verdict.PARK
        return Verdict.DEAD_LETTER


def copy_headers(
    headers: Mapping[str, bytes], *, handler: str, origin: Origin, attempts: int, error: str
) -> dict[str, bytes]:
    """The headers of a retry or dead-letter copy: the original's plus the runtime's."""
    failure = Failure(
        error=error,
        original_topic=origin.topic,
        original_partition=origin.partition,
        original_offset=origin.offset,
        handler=handler,
        attempts=attempts,
    )
    return dict(message_headers(test=is_test(headers), carried=headers.items(), failure=failure))
