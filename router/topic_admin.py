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


# Webhook bodies may be up to 5 MiB (ReceiverSettings.max_body_bytes) plus headers.
WEBHOOK_MAX_MESSAGE_BYTES = 6 * 1024 * 1024
_DAY_MS = 24 * 3600 * 1000


def topic_config(name: str) -> dict[str, str]:
    """Per-topic configuration.

    The de-duplication state is compacted and kept 30 days; dead letters are kept 30 days (a
    person has to look at them, holidays included); everything else 7 days, enough to replay
    after a weekend outage without PHI piling up. The worklist's decisions and access records
    are an audit trail: kept 90 days, so an archive or SIEM that fell
    behind can still read every record (the audit table stays the system of record). Topics
    that carry whole webhooks accept 6 MiB messages.
    """
    if "router.seen-deliveries" in name:
        # Compacted (one record per Redox log id) and deleted after 30 days, far beyond Redox's
        # retry window, so the de-duplication state the router rebuilds stays bounded.
        return {
            "cleanup.policy": "compact,delete",
            "min.compaction.lag.ms": str(7 * _DAY_MS),
            "retention.ms": str(30 * _DAY_MS),
        }
    if ".worklist." in name:
        return {"retention.ms": str(90 * _DAY_MS)}
    config = {"retention.ms": str((30 if "dead-letter" in name else 7) * _DAY_MS)}
    if ".redox." in name or "router.dead-letter" in name:
        config["max.message.bytes"] = str(WEBHOOK_MAX_MESSAGE_BYTES)
    return config


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
