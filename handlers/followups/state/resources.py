"""What a partner handler opens in ``start`` and closes in ``stop``: its client and state store.

The client is opened first, so missing credentials are refused before anything else is opened;
the database engine and the store on it come next. ``stop`` closes the client's connection pool,
then disposes of the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.database import create_engine
from claimflow.settings import DatabaseSettings
from handlers.followups.partners.client import PartnerClient

__all__ = ["PartnerResources"]

StoreT = TypeVar("StoreT")
ClientT = TypeVar("ClientT", bound=PartnerClient)


class PartnerResources(Generic[StoreT, ClientT]):
    def __init__(
        self,
        *,
        database: DatabaseSettings,
        open_client: Callable[[], ClientT],
        open_store: Callable[[AsyncEngine], StoreT],
    ) -> None:
        self._database = database
        self._open_client = open_client
        self._open_store = open_store
        self._engine: AsyncEngine | None = None
        self._client: ClientT | None = None
        self._store: StoreT | None = None

    async def open(self) -> None:
        # The client first: it refuses missing credentials before anything is opened.
        self._client = self._open_client()
        self._engine = create_engine(self._database)
        self._store = self._open_store(self._engine)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._engine is not None:
            await self._engine.dispose()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the handler was not started")
        return self._engine

    @property
    def ready(self) -> tuple[StoreT, ClientT]:
        if self._store is None or self._client is None:
            raise RuntimeError("the handler was not started")
        return self._store, self._client
