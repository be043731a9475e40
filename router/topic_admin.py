"""Create the topics of the contract on a broker (dev stack, tests, and a one-off ops job).

On Kubernetes the Strimzi KafkaTopic resources in k8s/ are the source of truth; this is for
brokers that claimflow runs itself and for ``claimflow topics create``.
"""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from router.topics import all_topic_names

__all__ = ["ensure_topics", "topic_config"]


def topic_config(name: str) -> dict[str, str]:
    """Per-topic configuration: the de-duplication state is compacted, the rest kept 7 days."""
    if "router.seen-deliveries" in name:
        return {"cleanup.policy": "compact", "min.compaction.lag.ms": "604800000"}
    return {"retention.ms": str(7 * 24 * 3600 * 1000)}


async def ensure_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "claimflow.",
    partitions: int = 3,
    replication_factor: int = 1,
) -> list[str]:
    """Create every topic of the contract that is missing; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in all_topic_names(prefix) if name not in existing]
        if missing:
            # Another process may create them concurrently: that is what we wanted.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name=name,
                            num_partitions=partitions,
                            replication_factor=replication_factor,
                            topic_configs=topic_config(name),
                        )
                        for name in missing
                    ]
                )
        return missing
    finally:
        await admin.close()
