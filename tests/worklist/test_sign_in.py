"""Who may see the worklist: sign-in with the real provider, sessions, roles, audit, no PHI.

Every refusal here comes from the real provider's real tokens: a code issued to another
application, an ID token that has expired, an account without a worklist role or group, and a
session cookie that was tampered with or signed with another key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import itsdangerous
import pytest
import structlog
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from worklist_support import (
    CLIENT_ID,
    answer_provider,
    callback,
    provider_redirect,
    query_of,
    running,
    sign_in,
    web_settings,
)

from claimflow.devstack.identity import LocalIdentityProvider
from claimflow.settings import WebSettings
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import AccessRecord, Claim, OutboxMessage
from worklist.app import create_app
from worklist.demo import seed_demo_ledger
from worklist.errors import SignInFailedError, SignInRequiredError
from worklist.sessions import SESSION_COOKIE, current_person
from worklist.sign_in import IdentityProvider


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Sign-in does not depend on the database: SQLite only here (the pages run on both)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
async def ids(worklist_engine: AsyncEngine) -> dict[str, int]:
    return await seed_demo_ledger(worklist_engine)


@pytest.fixture
async def client(
    ids: dict[str, int], worklist_url: str, identity_provider: LocalIdentityProvider
) -> AsyncIterator[AsyncClient]:
    async with running(create_app(web_settings(identity_provider.issuer, worklist_url))) as c:
        yield c


async def _records(engine: AsyncEngine) -> list[AccessRecord]:
    async with ClaimLedger(engine).unit() as unit:
        return list(await unit.session.scalars(select(AccessRecord).order_by(AccessRecord.id)))


async def test_pages_send_strangers_to_sign_in_keeping_where_they_were_going(
    client: AsyncClient,
) -> None:
    answer = await client.get("/queues/denied", params={"sort": "largest"})
    assert answer.status_code == 303
    assert query_of(answer.headers["location"]) == {"next": ["/queues/denied?sort=largest"]}


async def test_sign_in_uses_the_code_flow_with_pkce_state_and_nonce(
    client: AsyncClient, identity_provider: LocalIdentityProvider
) -> None:
    authorize = await provider_redirect(client, "/queues/denied")
    assert authorize.startswith(f"{identity_provider.issuer}/oauth2/authorize?")
    asked = query_of(authorize)
    assert asked["response_type"] == ["code"]
    assert asked["client_id"] == [CLIENT_ID]
    assert asked["code_challenge_method"] == ["S256"]
    assert len(asked["code_challenge"][0]) >= 43
    assert asked["state"]
    assert asked["nonce"]
    assert asked["redirect_uri"] == ["https://testserver/auth/callback"]
    identity_provider.set_user("ann@example.org", {"name": "Ann", "roles": ["viewer"]})
    done = await callback(client, answer_provider(authorize, "ann@example.org"))
    assert done.status_code == 303
    assert done.headers["location"] == "/queues/denied"
    cookie = done.headers["set-cookie"].lower()
    assert SESSION_COOKIE in cookie
    for attribute in ("httponly", "secure", "samesite=lax", "max-age=36000"):
        assert attribute in cookie


async def test_a_code_issued_to_another_application_is_refused_and_audited(
    client: AsyncClient, identity_provider: LocalIdentityProvider, worklist_engine: AsyncEngine
) -> None:
    authorize = await provider_redirect(client)
    other = authorize.replace(f"client_id={CLIENT_ID}", "client_id=another-application")
    identity_provider.set_user("ann@example.org", {"roles": ["poster"]})
    refused = await callback(client, answer_provider(other, "ann@example.org"))
    assert refused.status_code == 401
    assert (await client.get("/")).status_code == 303  # still not signed in
    assert [(r.actor, r.action, r.outcome) for r in await _records(worklist_engine)] == [
        ("anonymous", "sign_in", "refused")
    ]


async def test_an_id_token_for_another_audience_fails_the_audience_check(
    client: AsyncClient, identity_provider: LocalIdentityProvider, worklist_url: str
) -> None:
    """A real ID token the provider issued to another application, checked as ours would be."""
    identity_provider.set_user("ann@example.org", {"roles": ["poster"]})
    redirect = "https://other.example/callback"
    authorize = httpx.Request(
        "GET",
        f"{identity_provider.issuer}/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": "another-application",
            "scope": "openid",
            "redirect_uri": redirect,
            "state": "s",
            "nonce": "n-1",
        },
    ).url
    code = query_of(answer_provider(str(authorize), "ann@example.org"))["code"][0]
    answer = await asyncio.to_thread(
        httpx.post,
        f"{identity_provider.issuer}/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
        auth=("another-application", "x"),
        timeout=10,
    )
    token = answer.json()
    ours = IdentityProvider(web_settings(identity_provider.issuer, worklist_url))
    with pytest.raises(SignInFailedError, match="another application"):
        await ours.check_id_token(token, nonce="n-1")


async def test_an_expired_id_token_is_refused(
    expiring_identity_provider: LocalIdentityProvider, ids: dict[str, int], worklist_url: str
) -> None:
    expired = expiring_identity_provider
    async with running(create_app(web_settings(expired.issuer, worklist_url))) as client:
        refused = await sign_in(client, expired, "ann@example.org", ["poster"])
        assert refused.status_code == 401
        assert "expired" in refused.text
        assert (await client.get("/")).status_code == 303


async def test_an_account_without_a_worklist_role_is_refused_and_audited(
    client: AsyncClient, identity_provider: LocalIdentityProvider, worklist_engine: AsyncEngine
) -> None:
    refused = await sign_in(client, identity_provider, "bob@example.org", ["nurse"])
    assert refused.status_code == 403
    assert "no worklist role" in refused.text
    assert (await client.get("/")).status_code == 303
    records = await _records(worklist_engine)
    assert [(r.actor, r.action, r.outcome) for r in records] == [
        ("bob@example.org", "sign_in", "refused")
    ]


async def test_only_allowed_groups_may_sign_in(
    ids: dict[str, int], worklist_url: str, identity_provider: LocalIdentityProvider
) -> None:
    settings = web_settings(identity_provider.issuer, worklist_url, allowed_groups=("billing",))
    async with running(create_app(settings)) as client:
        outsider = await sign_in(client, identity_provider, "eve@example.org", ["poster"],
                                 groups=["radiology"])  # fmt: skip
        assert outsider.status_code == 403
        assert "group" in outsider.text
        member = await sign_in(client, identity_provider, "bea@example.org", ["viewer"],
                               groups=["billing"])  # fmt: skip
        assert member.status_code == 303
        assert (await client.get("/")).status_code == 200


async def test_a_forged_or_foreign_session_cookie_is_no_session(
    client: AsyncClient, identity_provider: LocalIdentityProvider
) -> None:
    await sign_in(client, identity_provider, "val@example.org", ["viewer"])
    assert (await client.get("/")).status_code == 200
    genuine = client.cookies[SESSION_COOKIE]
    payload, _, signature = genuine.partition(".")
    data = json.loads(base64.b64decode(payload))
    data["person"]["roles"] = ["poster"]  # promote oneself
    tampered = base64.b64encode(json.dumps(data).encode()).decode() + "." + signature
    foreign = (
        itsdangerous.TimestampSigner("another-key-0123456789abcdefghij")
        .sign(base64.b64encode(json.dumps(data).encode()))
        .decode()
    )
    for forged in (tampered, foreign, genuine[:-3] + "AAA"):
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, forged, domain="testserver")
        answer = await client.get("/")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")


def _request_with(session: dict[str, object]) -> Request:
    return Request({"type": "http", "session": session, "headers": []})


def test_sessions_end_after_the_idle_and_the_absolute_timeout() -> None:
    settings = WebSettings(session_idle_minutes=30, session_absolute_hours=10)
    person = {"sub": "s", "name": "S", "roles": ["viewer"]}
    now = int(time.time())
    fresh = {"person": person, "signed_in_at": now - 60, "seen_at": now - 60}
    assert current_person(_request_with(fresh), settings).subject == "s"
    idle = {"person": person, "signed_in_at": now - 3600, "seen_at": now - 31 * 60}
    with pytest.raises(SignInRequiredError, match="quiet spell"):
        current_person(_request_with(idle), settings)
    old = {"person": person, "signed_in_at": now - 10 * 3600 - 1, "seen_at": now - 5}
    with pytest.raises(SignInRequiredError, match="time limit"):
        current_person(_request_with(old), settings)


async def test_sign_in_never_sends_people_to_another_site(
    client: AsyncClient, identity_provider: LocalIdentityProvider
) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        signed = await sign_in(client, identity_provider, "val@example.org", ["viewer"],
                               next_path=target)  # fmt: skip
        assert signed.headers["location"] == "/"


async def test_pages_with_phi_are_audited_without_phi_and_no_phi_reaches_logs_or_urls(
    client: AsyncClient,
    identity_provider: LocalIdentityProvider,
    ids: dict[str, int],
    worklist_engine: AsyncEngine,
) -> None:
    async with ClaimLedger(worklist_engine).unit() as unit:
        claims = list(await unit.session.scalars(select(Claim)))
    phi = {c.patient_last_name for c in claims} | {c.member_id for c in claims}
    phi |= {c.patient_dob.isoformat() for c in claims if c.patient_dob}
    phi.discard(None)
    with structlog.testing.capture_logs() as logs:
        await sign_in(client, identity_provider, "pat@example.org", ["poster"])
        claim_page = await client.get(f"/claims/{ids['denied']}")
        assert claim_page.status_code == 200
        assert any(name in claim_page.text for name in phi)  # the page does show PHI
        urls = [str(claim_page.url)]
        for kind in ("needs-review", "unmatched", "denied", "overpaid", "unbalanced"):
            listing = await client.get(f"/queues/{kind}")
            urls.append(str(listing.url))
            urls += [part.split('"')[0] for part in listing.text.split('href="')[1:]]
    logged = json.dumps(logs, default=str)
    for value in phi:
        assert value not in logged, "PHI in a log line"
        assert not any(value in url for url in urls), "PHI in a URL"
    records = await _records(worklist_engine)
    assert [r.action for r in records][:2] == ["sign_in", "view_claim"]
    view = records[1]
    assert (view.actor, view.claim_id, view.client_address) == (
        "pat@example.org", ids["denied"], "10.1.2.3",
    )  # fmt: skip
    async with ClaimLedger(worklist_engine).unit() as unit:
        published = [
            m.value
            for m in await unit.session.scalars(select(OutboxMessage))
            if m.topic == "claimflow.worklist.access.v1"
        ]
    assert len(published) == len(records)
    for value in phi:
        assert not any(value in message for message in published), "PHI in an access record"
