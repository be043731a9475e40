"""The receiver's composition root: everything a request needs, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from claimflow.settings import ReceiverSettings
from receiver.metrics import ReceiverMetrics, RecentDeliveries
from receiver.publisher import Publisher
from receiver.request_log import RequestLog
from receiver.verification import TokenVerifier
from router.routes import RouteTable

__all__ = ["ReceiverContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverContext:
    """Built by the app's lifespan and handed to every request as ``request.state.context``."""

    settings: ReceiverSettings
    routes: RouteTable
    publisher: Publisher
    verifier: TokenVerifier
    metrics: ReceiverMetrics
    recent: RecentDeliveries
    request_log: RequestLog

    @property
    def retry_after(self) -> str:
        return str(self.settings.retry_after_seconds)
