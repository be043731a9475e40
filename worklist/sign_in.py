"""Sign-in with the organisation's identity provider: OpenID Connect, authorization code + PKCE.

authlib does the protocol: discovery, the authorization redirect with ``state``, ``nonce`` and
an S256 ``code_challenge``, the code exchange with the verifier, and the ID token's checks
(signature against the provider's keys, issuer, audience = our client id, expiry, nonce). Any
failure there is a :class:`~worklist.errors.SignInFailedError`; a token without a worklist role or
an allowed group is an :class:`~worklist.errors.AccessDeniedError`.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse

from claimflow.settings import Settings, WebSettings
from worklist.errors import SignInFailedError
from worklist.people import Person, person_from_claims

with warnings.catch_warnings():
    # authlib's httpx integration warns that it will move to a new package; nothing to act on.
    # authlib.deprecate installs an "always" filter when imported, so ours goes in after it.
    import authlib.deprecate  # noqa: F401 - imported for its filter, replaced just below

    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.common.errors import AuthlibBaseError
    from authlib.integrations.starlette_client import OAuth

__all__ = ["IdentityProvider"]

_NAME = "idp"


class IdentityProvider:
    """The OIDC client of the worklist; built once in the lifespan, no network until sign-in."""

    def __init__(self, settings: Settings) -> None:
        web = settings.web
        self._settings = web
        issuer = (web.issuer or "").rstrip("/")
        self._oauth = OAuth()
        self._oauth.register(
            name=_NAME,
            client_id=web.client_id,
            client_secret=(
                web.client_secret.get_secret_value() if web.client_secret is not None else None
            ),
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": web.scopes,
                "code_challenge_method": "S256",
                "timeout": web.http_timeout_seconds,
            },
        )

    @property
    def settings(self) -> WebSettings:
        return self._settings

    @property
    def callback_url(self) -> str:
        return self._settings.public_url.rstrip("/") + "/auth/callback"

    def _client(self) -> Any:
        return self._oauth.create_client(_NAME)

    async def redirect(self, request: Request) -> RedirectResponse:
        """Send the browser to the provider (state, nonce and PKCE verifier in the session)."""
        try:
            response: RedirectResponse = await self._client().authorize_redirect(
                request, self.callback_url
            )
        except (httpx.HTTPError, AuthlibBaseError) as exc:
            raise SignInFailedError(
                "The identity provider cannot be reached; try again in a minute."
            ) from exc
        return response

    async def complete(self, request: Request) -> Person:
        """Finish sign-in from the provider's callback: the person the ID token names."""
        try:
            token = await self._client().authorize_access_token(request)
        except (httpx.HTTPError, AuthlibBaseError, JoseError, ValueError) as exc:
            raise SignInFailedError(_why(exc)) from exc
        claims = token.get("userinfo")
        if not claims:
            raise SignInFailedError("The identity provider sent no ID token.")
        return person_from_claims(claims, self._settings)

    async def check_id_token(self, token: dict[str, Any], *, nonce: str) -> Person:
        """The checks ``complete`` makes, on a token response got some other way."""
        try:
            claims = await self._client().parse_id_token(token, nonce=nonce)
        except (httpx.HTTPError, AuthlibBaseError, JoseError, ValueError) as exc:
            raise SignInFailedError(_why(exc)) from exc
        return person_from_claims(claims, self._settings)


def _why(exc: Exception) -> str:
    """The reason in words, without the token or any claim value."""
    name = type(exc).__name__
    if name == "ExpiredTokenError":
        return "The identity provider's ID token had expired."
    if name in ("InvalidClaimError", "MissingClaimError"):
        claim = str(getattr(exc, "claim", "") or "a claim")
        if claim in ("aud", "azp"):
            return "The ID token was issued for another application (audience)."
        return f"The ID token failed its check of {claim}."
    if name == "MismatchingStateError":
        return "The sign-in took too long or was started elsewhere; please sign in again."
    if isinstance(exc, httpx.HTTPError):
        return "The identity provider cannot be reached; try again in a minute."
    return "The identity provider's answer was refused."
