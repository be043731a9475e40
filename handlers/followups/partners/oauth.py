"""OAuth2 client-credentials access tokens, cached until shortly before they expire.

Partner-neutral: each client supplies the coroutine that asks its token endpoint (Integrex wants
HTTP Basic, Availity a form body) and gets back an :class:`AccessToken`. The cache

* fetches on first use and again ``refresh_skew`` seconds before expiry (never later than half
  the token's lifetime, so a short-lived token is not fetched on every call);
* lets one caller fetch while the others wait for its result;
* drops a token the partner called stale (:meth:`TokenCache.invalidate`, after a 401) unless a
  concurrent caller already replaced it, so one 401 burst causes one refresh.

Tokens stay ``SecretStr`` until the ``Authorization`` header is built.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

__all__ = [
    "AccessToken",
    "TokenCache",
    "TokenResponseError",
    "basic_authorization",
    "parse_token_response",
]


@dataclass(frozen=True)
class AccessToken:
    value: SecretStr
    expires_in: float


class TokenResponseError(ValueError):
    """The token endpoint answered 200 with a body that is not a token (no content echoed)."""


class _TokenResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: SecretStr = Field(min_length=1)
    expires_in: float = Field(gt=0)
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret


def basic_authorization(client_id: str, client_secret: SecretStr) -> dict[str, str]:
    """The ``Authorization: Basic`` header, as ``curl -u id:secret`` sends it."""
    pair = f"{client_id}:{client_secret.get_secret_value()}".encode()
    return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}


def parse_token_response(body: Mapping[str, Any] | Any) -> AccessToken:
    """Read an RFC 6749 token response; errors name the fields, never their values."""
    try:
        parsed = _TokenResponse.model_validate(body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors()})
        raise TokenResponseError(f"token response invalid at {', '.join(fields)}") from None
    if parsed.token_type.lower() != "bearer":
        raise TokenResponseError("token response is not a bearer token")
    return AccessToken(value=parsed.access_token, expires_in=parsed.expires_in)


class TokenCache:
    """One client's current access token."""

    def __init__(
        self,
        *,
        fetch: Callable[[], Awaitable[AccessToken]],
        refresh_skew: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_skew = refresh_skew
        self._clock = clock
        self._token: SecretStr | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> SecretStr:
        """A token that is not about to expire, fetched if needed."""
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                fetched_at = self._clock()
                token = await self._fetch()
                skew = min(self._refresh_skew, token.expires_in / 2)
                self._token = token.value
                self._refresh_at = fetched_at + token.expires_in - skew
            return self._token

    def invalidate(self, stale: SecretStr) -> None:
        """Forget ``stale`` (the partner answered 401 to it) unless it was already replaced."""
        if self._token is not None and (self._token.get_secret_value() == stale.get_secret_value()):
            self._token = None
