"""Reading a webhook body: JSON only, capped in size while it streams in."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request

from receiver.errors import BadRequest, BodyTooLarge, UnsupportedMediaType

__all__ = ["is_json", "parse_json", "read_body", "require_json"]


def is_json(headers: Headers) -> bool:
    """``application/json`` or a ``+json`` type, any parameters (charset) allowed."""
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def require_json(headers: Headers) -> None:
    if not is_json(headers):
        raise UnsupportedMediaType("the body must be application/json")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refused (413) as soon as it is known to exceed ``max_bytes``.

    A declared Content-Length over the cap is refused before one byte is read; a body without
    one (chunked) or that lies about it is refused the moment the running total passes the cap,
    so a client can never make us buffer more than ``max_bytes``.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("invalid Content-Length")
        if int(declared) > max_bytes:
            raise BodyTooLarge(f"the body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise BodyTooLarge(f"the body exceeds {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        # Nobody will read our answer; this only names the outcome of the request.
        raise BadRequest("the client left before sending the whole body") from exc
    return b"".join(chunks)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON (no NaN/Infinity); anything unparsable is a 400 that names no content."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError is a body
        # nested deeper than the parser's stack. Neither message is echoed: it quotes the body.
        raise BadRequest("the body is not valid JSON") from None
