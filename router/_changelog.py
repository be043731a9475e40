"""The router's de-duplication state: which Redox deliveries it has already routed.

The state lives in the compacted topic ``TopicSet.router_seen_deliveries``, keyed by Redox log
id and co-partitioned with the webhook topics: a delivery read from partition *p* of a webhook
topic is recorded in partition *p* of the changelog, in the same transaction as its claim
messages and its consumed offset. Whoever owns input partition *p* next (after a restart, a
crash or a rebalance to another replica) reads changelog partition *p* to its end, committed
records only, before it routes anything, so it knows every delivery committed before it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["SeenRecord", "restore_seen"]

_RESTORE_POLL_MS = 200
# Longer than the transaction timeout: an abandoned transaction may hold the end back that long.
_RESTORE_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class SeenRecord:
    """The changelog record of one routed delivery (its value says where it was read)."""

    log_id: str
    topic: str
    partition: int
    offset: int
    claim_messages: int

    def key(self) -> bytes:
        return self.log_id.encode()

    def value(self) -> bytes:
        return json.dumps(
            {
                "topic": self.topic,
                "partition": self.partition,
                "offset": self.offset,
                "claim_messages": self.claim_messages,
                "routed_at_ms": int(time.time() * 1000),
            },
            separators=(",", ":"),
        ).encode()


def _input_topic(value: bytes | None) -> str | None:
    if not value:
        return None  # a tombstone: the delivery was forgotten on purpose
    try:
        document: Any = json.loads(value)
    except ValueError:
        return None
    topic = document.get("topic") if isinstance(document, dict) else None
    return topic if isinstance(topic, str) else None


async def restore_seen(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, dict[str, set[str]]]:
    """Read changelog ``partitions`` to their end: ``{partition: {input topic: {log ids}}}``.

    ``consumer`` must be a group-less read_committed consumer used only for restoring; its
    end offsets are then the last stable offsets, so the restored set holds exactly the
    committed deliveries.
    """
    wanted = sorted(set(partitions), key=lambda tp: (tp.topic, tp.partition))
    seen: dict[TopicPartition, dict[str, set[str]]] = {tp: defaultdict(set) for tp in wanted}
    if not wanted:
        return seen
    consumer.assign(wanted)
    await consumer.seek_to_beginning(*wanted)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(wanted)
    async with asyncio.timeout(_RESTORE_TIMEOUT_SECONDS):
        pending = [tp for tp in wanted if await consumer.position(tp) < ends[tp]]
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=_RESTORE_POLL_MS)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp] or record.key is None:
                        continue
                    log_id = record.key.decode()
                    topic = _input_topic(record.value)
                    if topic is None:
                        for ids in seen[tp].values():
                            ids.discard(log_id)
                    else:
                        seen[tp][topic].add(log_id)
            pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]
    consumer.assign([])
    return seen
