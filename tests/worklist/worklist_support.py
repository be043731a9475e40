"""Signing in to the worklist through the real provider, as a browser would, over HTTP.

The app runs in-process behind httpx's ASGI transport, its lifespan run as a server would
(base URL https://testserver, so the Secure session cookie is sent); the provider is a real
process. The test plays the browser: it follows the
app's redirect to the provider, answers the provider's sign-in form, and brings the code back
to the app's callback.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claimflow.devstack.identity import LocalIdentityProvider
from claimflow.settings import DatabaseSettings, Settings, WebSettings

CLIENT_ID = "claimflow-worklist"
SESSION_SECRET = "test-session-secret-0123456789abcdef"

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION = re.compile(r'name="version" value="([^"]+)"')


@asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan as a server would, and give a client that talks to it."""
    state: dict[str, Any] = {}
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def send(message: Message) -> None:
        await from_app.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    task = asyncio.create_task(app(scope, to_app.get, send))  # type: ignore[arg-type]
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        await task
        raise RuntimeError(f"start-up failed: {started.get('message')}")

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    transport = httpx.ASGITransport(app=with_state, client=("10.1.2.3", 50000))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="https://testserver", follow_redirects=False
        ) as client:
            yield client
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


async def provider_redirect(client: httpx.AsyncClient, next_path: str = "/") -> str:
    answer = await client.get("/login", params={"next": next_path})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def answer_provider(authorize_url: str, subject: str) -> str:
    """Sign in at the provider as ``subject``; the callback URL it sends the browser to."""
    answer = httpx.post(authorize_url, data={"sub": subject}, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def callback(client: httpx.AsyncClient, callback_url: str) -> httpx.Response:
    parts = urlsplit(callback_url)
    return await client.get(f"{parts.path}?{parts.query}")


async def sign_in(
    client: httpx.AsyncClient,
    provider: LocalIdentityProvider,
    subject: str,
    roles: list[str],
    *,
    groups: list[str] | None = None,
    next_path: str = "/",
) -> httpx.Response:
    provider.set_user(
        subject, {"name": subject.split("@")[0].title(), "roles": roles, "groups": groups or []}
    )
    authorize = await provider_redirect(client, next_path)
    return await callback(client, answer_provider(authorize, subject))


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def form_values(page: str) -> tuple[str, str]:
    """The CSRF token and claim version of a claim page's note form."""
    csrf, version = CSRF.search(page), VERSION.search(page)
    assert csrf, "the page has no note form"
    assert version, "the page has no note form"
    return csrf.group(1), version.group(1)


def web_settings(issuer: str, database_url: str, **changes: Any) -> Settings:
    web = WebSettings(
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret=SecretStr("worklist-client-secret"),
        session_secret=SecretStr(SESSION_SECRET),
        public_url="https://testserver",
        **changes,
    )
    return Settings(web=web, database=DatabaseSettings(url=SecretStr(database_url)))
