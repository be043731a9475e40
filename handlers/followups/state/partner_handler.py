"""What the status-check and attachment handlers share: a partner, a budget and a due poller.

Both handlers only record each command in ``handle``; the :class:`DuePoller` started in
``start`` works the due rows, one step at a time, against the partner's client, within the
partner's request budget (per second and per UTC day, counted in the database so that every
replica shares it). A subclass names its partner and builds its steps; the rest is here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.settings import Settings
from handlers.followups.partners.budget import RequestBudget
from handlers.followups.partners.client import PartnerClient
from handlers.followups.partners.metrics import PartnerMetrics
from handlers.followups.state.budgets import RequestBudgetStore
from handlers.followups.state.resources import PartnerResources
from handlers.followups.state.timers import DuePoller, Step, TimerStore
from handlers.runtime import Publisher
from router.topics import TopicSet

__all__ = ["PartnerLimits", "PartnerRequestHandler"]

StoreT = TypeVar("StoreT", bound=TimerStore[Any])
ClientT = TypeVar("ClientT", bound=PartnerClient)


class PartnerLimits(Protocol):
    """The partner's request budget, as its settings give it."""

    @property
    def requests_per_second(self) -> float: ...

    @property
    def daily_request_limit(self) -> int | None: ...


class PartnerRequestHandler(Generic[StoreT, ClientT]):
    """A handler whose timer, not its ``handle``, calls the partner."""

    name: ClassVar[str]
    partner: ClassVar[str]
    """The partner's name in budgets and metrics (``integrex``, ``availity``)."""

    def __init__(
        self,
        *,
        settings: Settings,
        topics: TopicSet,
        publisher: Publisher,
        metrics: PartnerMetrics | None,
        limits: PartnerLimits,
        open_client: Callable[[PartnerMetrics], ClientT],
        open_store: Callable[[AsyncEngine], StoreT],
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._publisher = publisher
        self._metrics = metrics if metrics is not None else PartnerMetrics()
        self._limits = limits
        self._resources = PartnerResources(
            database=settings.database,
            open_client=lambda: open_client(self._metrics),
            open_store=open_store,
        )
        self._poller: DuePoller | None = None

    def _steps(self, store: StoreT, client: ClientT, budget: RequestBudget) -> Step:
        """The step the poller runs on each leased row."""
        raise NotImplementedError

    async def start(self) -> None:
        await self._resources.open()
        store, client = self._resources.ready
        budget = RequestBudget(
            partner=self.partner,
            per_second=self._limits.requests_per_second,
            per_day=self._limits.daily_request_limit,
            counter=RequestBudgetStore(self._resources.engine),
            metrics=self._metrics,
        )
        lane = self._settings.handlers.lane
        follow_up_settings = self._settings.followups
        self._poller = DuePoller(
            name=self.name,
            claim=lambda n: store.claim_due(
                lane=lane, limit=n, lease_seconds=follow_up_settings.lease_seconds
            ),
            step=self._steps(store, client, budget),
            settings=follow_up_settings,
            report=lambda: self._report_states(store, lane),
        )
        self._poller.start()

    async def _report_states(self, store: StoreT, lane: str) -> None:
        self._metrics.followup_states(self.name, await store.count_by_state(lane))

    async def stop(self) -> None:
        try:
            if self._poller is not None:
                await self._poller.stop()
        finally:
            await self._resources.close()

    @property
    def poller(self) -> DuePoller | None:
        return self._poller

    def _wake_poller(self) -> None:
        """A new command is recorded: let the poller look at once."""
        if self._poller is not None:
            self._poller.wake()
