"""A handler process for the crash tests: ``python runtime_recording_handler.py LEDGER.db``.

Its effect is a row per message id in a SQLite file, written idempotently (the pattern every
handler follows: the effect and its de-duplication key commit in one local transaction), and a
row per delivery, so that a test sees redeliveries happen and effects stay single. Settings
come from the environment, as in ``claimflow handle``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

from claimflow.logging import configure_logging
from claimflow.settings import load_settings
from handlers.runtime import (
    Handler,
    HandlerContext,
    InboundMessage,
    PoisonMessageError,
    serve_handler,
)
from router.topics import TopicSet

SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (message_id TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (message_id TEXT NOT NULL);
"""


class RecordingHandler:
    name = "recorder"

    def __init__(self, ledger: Path, *, per_message_seconds: float = 0.01) -> None:
        self._ledger = ledger
        self._pause = per_message_seconds

    def topics(self, topic_set: TopicSet) -> list[str]:
        return [topic_set.claim_payments]

    async def handle(self, message: InboundMessage) -> None:
        if message.message_id is None:
            raise PoisonMessageError("message has no claimflow-message-id header")
        await asyncio.sleep(self._pause)  # some work, so that a kill lands mid-batch
        with sqlite3.connect(self._ledger) as db:  # one transaction: effect + its key
            db.execute("INSERT INTO deliveries (message_id) VALUES (?)", (message.message_id,))
            db.execute(
                "INSERT INTO effects (message_id, value) VALUES (?, ?)"
                " ON CONFLICT (message_id) DO NOTHING",
                (message.message_id, message.value),
            )
        db.close()


def create_ledger(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
    finally:
        db.close()


def main() -> None:
    ledger = Path(sys.argv[1])
    create_ledger(ledger)

    def factory(context: HandlerContext) -> Handler:
        return RecordingHandler(ledger)

    settings = load_settings()
    configure_logging(settings.logging)
    asyncio.run(serve_handler(settings, factory))


if __name__ == "__main__":
    main()
