"""State of the partner handlers (status checks, attachment submissions) and its migrations."""

from handlers.followups.state.database import upgrade
from handlers.followups.state.tables import AttachmentRow, StatusCheckRow

__all__ = ["AttachmentRow", "StatusCheckRow", "upgrade"]
