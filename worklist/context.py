"""``WorklistContext``: what every request of the worklist uses, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.templating import Jinja2Templates

from claimflow.settings import Settings
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from worklist.audit import AccessLog
from worklist.messages import WorklistTopics
from worklist.read_model import ReadModel
from worklist.sign_in import IdentityProvider

__all__ = ["WorklistContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorklistContext:
    settings: Settings
    ledger: ClaimLedger
    poster: Poster
    read_model: ReadModel
    access_log: AccessLog
    topics: WorklistTopics
    identity: IdentityProvider
    templates: Jinja2Templates
