"""How the partner handlers read their commands and publish their results.

Delivery is at least once: a result is published after the state it reflects is committed, and
a re-delivered command re-publishes the same result under the same ``claimflow-message-id``
(derived from the command id, the kind of message and its outcome), so consumers drop copies by
message id, or by ``command_id`` and outcome. A later outcome of the same command (``pending``,
then ``accepted``) is a new message.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from handlers.runtime import InboundMessage, PoisonMessageError, Publisher, derive_message_id
from router.headers import message_headers

__all__ = ["decode_command", "publish_model"]

M = TypeVar("M", bound=BaseModel)


def decode_command(message: InboundMessage, model: type[M]) -> M:
    """The command in ``message``; ``PoisonMessageError`` (field paths only, no values) if not."""
    try:
        return model.model_validate_json(message.value)
    except ValidationError as exc:
        where = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()})
        raise PoisonMessageError(f"not a {model.__name__}: {', '.join(where)}") from None


async def publish_model(
    publisher: Publisher,
    topic: str,
    model: BaseModel,
    *,
    key: str,
    source_id: str,
    purpose: str,
    schema: str,
    test: bool,
) -> str:
    """Publish ``model`` as JSON durably; return its message id (stable for a source/purpose)."""
    message_id = derive_message_id(source_id, purpose)
    headers = dict(message_headers(test=test, message_id=message_id, schema=schema))
    await publisher.publish(
        topic,
        key=key.encode(),
        value=model.model_dump_json(by_alias=True).encode(),
        headers=headers,
    )
    return message_id
