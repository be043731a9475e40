"""How every claimflow process connects to Kafka: one place for connection settings.

Each role adds its own semantics on top (the receiver's idempotent acks=all producer, the
router's transactional producer, the handlers' read_committed consumers).
"""

from __future__ import annotations

import ssl
from typing import Any

from claimflow.settings import KafkaSettings

__all__ = ["connection_kwargs", "consumer_kwargs", "producer_kwargs"]


def connection_kwargs(settings: KafkaSettings, *, role: str) -> dict[str, Any]:
    """bootstrap servers, client id, TLS and SASL, as aiokafka clients take them."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": f"{settings.client_id}-{role}",
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            kwargs["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return kwargs


def producer_kwargs(settings: KafkaSettings, *, role: str) -> dict[str, Any]:
    """A durable producer: idempotent, acks from every in-sync replica."""
    return {
        **connection_kwargs(settings, role=role),
        "acks": "all",
        "enable_idempotence": True,
        # Whole webhooks (up to ReceiverSettings.max_body_bytes, 5 MiB) travel as one record;
        # the topics that carry them accept 6 MiB (router.topic_admin.topic_config).
        "max_request_size": 6 * 1024 * 1024,
    }


def consumer_kwargs(settings: KafkaSettings, *, role: str, group_id: str) -> dict[str, Any]:
    """A consumer that sees only committed records and commits offsets itself."""
    return {
        **connection_kwargs(settings, role=role),
        "group_id": group_id,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
    }
