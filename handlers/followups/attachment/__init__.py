"""The attachment handler: claim documents to the payer through Availity, exactly once."""

from handlers.followups.attachment.handler import AttachmentHandler, build_attachment_handler

__all__ = ["AttachmentHandler", "build_attachment_handler"]
