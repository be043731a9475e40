"""The attachment handler: claim documents to the payer through Availity, exactly once."""

from handlers.attachment.handler import AttachmentHandler, build_attachment_handler

__all__ = ["AttachmentHandler", "build_attachment_handler"]
