"""The status-check handler: Integrex claim status inquiries for the ledger's follow-ups."""

from handlers.followups.status_check.handler import StatusCheckHandler, build_status_check_handler

__all__ = ["StatusCheckHandler", "build_status_check_handler"]
