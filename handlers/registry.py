"""The handlers ``claimflow handle NAME`` can run: a name -> factory mapping.

To make a handler runnable, add its factory here, keyed by the handler's ``name``::

    from handlers.ledger.handler import build_ledger_handler

    HANDLER_FACTORIES["ledger"] = build_ledger_handler

A factory takes a ``handlers.runtime.HandlerContext`` (settings, the lane's ``TopicSet``, a
durable ``Publisher``) and returns a ``handlers.runtime.Handler``. It must not connect to
anything: resources are opened in the handler's optional ``start`` and closed in ``stop``.
This module is imported only when a handler command runs, so its imports may be heavy.
"""

from __future__ import annotations

from handlers.followups.attachment import build_attachment_handler
from handlers.followups.status_check import build_status_check_handler
from handlers.ledger.handler import build_ledger_handler
from handlers.runtime import HandlerFactory

__all__ = ["HANDLER_FACTORIES"]

HANDLER_FACTORIES: dict[str, HandlerFactory] = {}
HANDLER_FACTORIES["ledger"] = build_ledger_handler
HANDLER_FACTORIES["status-check"] = build_status_check_handler
HANDLER_FACTORIES["attachment"] = build_attachment_handler
