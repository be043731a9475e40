"""The worklist's exceptions: one root, each with the HTTP status the page answers with.

::

    WorklistError
    ├── SignInRequiredError        (302 to sign-in)  no session, or it expired or was forged
    ├── SignInFailedError          (401)  the identity provider's answer was refused
    ├── AccessDeniedError          (403)  signed in, but no role or group allows this
    ├── CsrfRejectedError          (403)  a state-changing request without the session's token
    ├── ClaimNotFoundError         (404)
    ├── InvalidDecisionError       (422)  a form field is wrong; names the field
    ├── StaleDecisionError         (409)  the claim changed since the person saw it
    └── AttachmentChangedError     (409)  the attachment's state moved since it was shown
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AttachmentChangedError",
    "ClaimNotFoundError",
    "CsrfRejectedError",
    "InvalidDecisionError",
    "SignInFailedError",
    "SignInRequiredError",
    "StaleDecisionError",
    "WorklistError",
]


class WorklistError(Exception):
    status_code = 500
    title = "Something went wrong"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SignInRequiredError(WorklistError):
    status_code = 302
    title = "Sign in"


class SignInFailedError(WorklistError):
    status_code = 401
    title = "Sign-in refused"


class AccessDeniedError(WorklistError):
    status_code = 403
    title = "Not allowed"

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject


class CsrfRejectedError(WorklistError):
    status_code = 403
    title = "Request refused"


class ClaimNotFoundError(WorklistError):
    status_code = 404
    title = "No such claim"


class InvalidDecisionError(WorklistError):
    status_code = 422
    title = "Check the form"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class StaleDecisionError(WorklistError):
    status_code = 409
    title = "The claim changed"

    def __init__(self, claim_id: int, current_version: str, *, what: str = "note") -> None:
        super().__init__(
            f"This claim changed after you opened it, so your {what} was not saved. "
            f"Its current state is shown below; read it and ask again if it still applies."
            if what != "note"
            else "This claim changed after you opened it, so your note was not saved. "
            "Its current state is shown below; read it and add your note again if it still "
            "applies."
        )
        self.claim_id = claim_id
        self.current_version = current_version


class AttachmentChangedError(WorklistError):
    status_code = 409
    title = "The attachment changed"

    def __init__(self, control_number: str, state: str | None) -> None:
        now = f" (it is now {state.replace('_', ' ')})" if state else ""
        super().__init__(
            f"Attachment {control_number} changed after you opened it{now}, so your mark was "
            "not saved. Its current state is shown below; mark it again if it still applies."
        )
        self.control_number = control_number
        self.state = state
