"""Fixtures of the partner client tests: fresh sandboxes over real HTTP, clients aimed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from partner_support import (
    AVAILITY_SECRET,
    CLIENT_ID,
    INTEGREX_SECRET,
    RunningSandbox,
    availity_settings_for,
    integrex_settings_for,
    serve,
)

from handlers.followups.partners.availity import AvailityClient
from handlers.followups.partners.integrex import IntegrexClient
from handlers.followups.partners.metrics import PartnerMetrics
from sandboxes import availity as availity_app
from sandboxes import integrex as integrex_app


@pytest.fixture
def integrex_sandbox() -> Iterator[RunningSandbox]:
    app = integrex_app.create_app(client_id=CLIENT_ID, client_secret=INTEGREX_SECRET)
    with serve(app) as url:
        yield RunningSandbox(url=url, app=app)


@pytest.fixture
def availity_sandbox() -> Iterator[RunningSandbox]:
    # The reference shows one status, SUBMITTED (not final); a payer's final one follows it.
    app = availity_app.create_app(
        client_id=CLIENT_ID,
        client_secret=AVAILITY_SECRET,
        status_sequence=["SUBMITTED", "ACCEPTED"],
    )
    with serve(app) as url:
        yield RunningSandbox(url=url, app=app)


@pytest.fixture
def metrics() -> PartnerMetrics:
    return PartnerMetrics()


@pytest.fixture
async def integrex_client(
    integrex_sandbox: RunningSandbox, metrics: PartnerMetrics
) -> AsyncIterator[IntegrexClient]:
    async with IntegrexClient(
        settings=integrex_settings_for(integrex_sandbox.url), metrics=metrics
    ) as client:
        yield client


@pytest.fixture
async def availity_client(
    availity_sandbox: RunningSandbox, metrics: PartnerMetrics
) -> AsyncIterator[AvailityClient]:
    async with AvailityClient(
        settings=availity_settings_for(availity_sandbox.url), metrics=metrics
    ) as client:
        yield client
