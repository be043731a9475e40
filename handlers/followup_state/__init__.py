"""State of the partner handlers (status checks, attachment submissions) and its migrations."""

from handlers.followup_state.database import upgrade
from handlers.followup_state.tables import AttachmentRow, StatusCheckRow

__all__ = ["AttachmentRow", "StatusCheckRow", "upgrade"]
