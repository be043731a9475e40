"""The access log's "from where": X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from worklist_support import running, sign_in, web_settings

from claimflow.devstack.identity import LocalIdentityProvider
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import AccessRecord
from worklist.app import create_app
from worklist.client_address import client_address
from worklist.demo import seed_demo_ledger


def _networks(*texts: str) -> list[object]:
    from pydantic import IPvAnyNetwork

    return [TypeAdapter(IPvAnyNetwork).validate_python(text) for text in texts]


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 443), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", ["198.51.100.7"], [], "203.0.113.9"),  # no proxy trusted
        ("203.0.113.9", ["198.51.100.7"], ["10.0.0.0/8"], "203.0.113.9"),  # not from a proxy
        ("10.2.0.5", ["198.51.100.7"], ["10.0.0.0/8"], "198.51.100.7"),
        ("10.2.0.5", ["6.6.6.6, 198.51.100.7"], ["10.0.0.0/8"], "198.51.100.7"),  # forged left
        ("10.2.0.5", ["198.51.100.7, 10.9.9.9"], ["10.0.0.0/8"], "198.51.100.7"),  # two proxies
        ("10.2.0.5", ["6.6.6.6", "198.51.100.7"], ["10.0.0.0/8"], "198.51.100.7"),  # 2 headers
        ("10.2.0.5", ["not-an-address"], ["10.0.0.0/8"], "10.2.0.5"),
        ("10.2.0.5", ["198.51.100.7:5123"], ["10.0.0.0/8"], "198.51.100.7"),
        ("10.2.0.5", ["[2001:db8::1]:443"], ["10.0.0.0/8"], "2001:db8::1"),
        ("10.2.0.5", [], ["10.0.0.0/8"], "10.2.0.5"),
        ("::1", ["198.51.100.7"], ["::1/128"], "198.51.100.7"),
    ],
)
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str, forwarded: list[str], trusted: list[str], expected: str
) -> None:
    assert client_address(_request(peer, *forwarded), _networks(*trusted)) == expected  # type: ignore[arg-type]


async def test_the_access_log_records_the_person_s_address_behind_the_trusted_ingress(
    worklist_engine: AsyncEngine, worklist_url: str, identity_provider: LocalIdentityProvider
) -> None:
    await seed_demo_ledger(worklist_engine)
    # The test client connects from 10.1.2.3: the ingress controller's network is trusted.
    settings = web_settings(identity_provider.issuer, worklist_url, trusted_proxies=["10.0.0.0/8"])
    async with running(create_app(settings)) as client:
        await sign_in(client, identity_provider, "pat@example.org", ["poster"])
        page = await client.get("/", headers={"x-forwarded-for": "6.6.6.6, 198.51.100.7"})
        assert page.status_code == 200
    untrusted = web_settings(identity_provider.issuer, worklist_url)
    async with running(create_app(untrusted)) as client:
        await sign_in(client, identity_provider, "pat@example.org", ["poster"])
        await client.get("/", headers={"x-forwarded-for": "198.51.100.7"})
    async with ClaimLedger(worklist_engine).unit() as unit:
        records = list(
            await unit.session.scalars(
                select(AccessRecord)
                .where(AccessRecord.action == "view_queues")
                .order_by(AccessRecord.id)
            )
        )
    assert [r.client_address for r in records] == ["198.51.100.7", "10.1.2.3"]
