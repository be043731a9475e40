"""Redox's verification token, and the destination verification handshake.

Every delivery carries the destination's token in the ``verification-token`` header; it is
compared with ours in constant time (``hmac.compare_digest``) so that timing does not leak it.

When a destination is created or its URL changes, Redox verifies it with a challenge
(https://docs.redoxengine.com/how-to-use-redox/manage-your-redox-configuration/create-and-verify-an-endpoint/):

* POST verification: a JSON body ``{"verification-token": "…", "challenge": "…"}``;
* GET verification: query parameters ``?challenge=…&verification-token=…``.

The endpoint answers 200 with the challenge value as the body. The older guide
(developer.redoxengine.com/getting-started/handling-destination-verification-requests/) says
"only the challenge value", so we answer it as ``text/plain``, nothing around it. A challenge
whose token is wrong is never answered (401).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from receiver.errors import BadRequest, Unauthorized

__all__ = ["TOKEN_HEADER", "TokenVerifier", "challenge_of", "token_of"]

TOKEN_HEADER = "verification-token"  # noqa: S105 - a header name, not a secret
_CHALLENGE = "challenge"
_MAX_CHALLENGE_CHARS = 1024


class TokenVerifier:
    """Holds our token as bytes, unwrapped once, and checks presented tokens against it."""

    def __init__(self, token: SecretStr) -> None:
        self._expected = token.get_secret_value().encode()

    def check(self, presented: str | None) -> None:
        """Raise ``Unauthorized`` unless ``presented`` is our token."""
        if presented is None or not hmac.compare_digest(presented.encode(), self._expected):
            raise Unauthorized("missing or wrong verification-token")


def challenge_of(document: Mapping[str, Any]) -> str | None:
    """The challenge of a verification request, or None when this is not one.

    A verification request has a ``challenge`` and no ``Meta``: a webhook always has Meta.
    """
    if _CHALLENGE not in document or "Meta" in document:
        return None
    challenge = document[_CHALLENGE]
    if not isinstance(challenge, str) or not 0 < len(challenge) <= _MAX_CHALLENGE_CHARS:
        raise BadRequest("the challenge must be a non-empty string")
    return challenge


def token_of(document: Mapping[str, Any], header: str | None) -> str | None:
    """The token a verification request presents: in its body or query, else the header."""
    if TOKEN_HEADER not in document:
        return header
    token = document[TOKEN_HEADER]
    if not isinstance(token, str):
        raise BadRequest("the verification-token must be a string")
    return token
