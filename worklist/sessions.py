"""Signed-cookie sessions with idle and absolute timeouts, and the CSRF token they carry.

Starlette's ``SessionMiddleware`` signs the cookie (itsdangerous) and sets it HttpOnly,
SameSite=Lax and, with ``web.secure_cookies``, Secure; a cookie with a bad signature reads as
no session at all. The session holds who is signed in (subject, display name, roles), when
they signed in, when they were last seen and the CSRF token: never a token of the identity
provider, never PHI.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from claimflow.settings import WebSettings
from worklist.errors import CsrfRejectedError, SignInRequiredError
from worklist.people import Person

__all__ = [
    "SESSION_COOKIE",
    "check_csrf",
    "csrf_token",
    "current_person",
    "end_session",
    "start_session",
]

SESSION_COOKIE = "claimflow_worklist"


def start_session(request: Request, person: Person) -> None:
    """A fresh session for ``person`` (a new CSRF token; nothing of the sign-in kept)."""
    now = int(time.time())
    request.session.clear()
    request.session.update(
        {
            "person": person.as_session(),
            "signed_in_at": now,
            "seen_at": now,
            "csrf": secrets.token_urlsafe(32),
        }
    )


def end_session(request: Request) -> None:
    request.session.clear()


def current_person(request: Request, settings: WebSettings) -> Person:
    """The signed-in person; ``SignInRequiredError`` when there is none or the session timed out."""
    session = request.session
    if "person" not in session:
        raise SignInRequiredError("Please sign in.")
    now = int(time.time())
    signed_in_at = int(session.get("signed_in_at", 0))
    seen_at = int(session.get("seen_at", 0))
    if now - signed_in_at > settings.session_absolute_hours * 3600:
        session.clear()
        raise SignInRequiredError("Your session reached its time limit; please sign in again.")
    if now - seen_at > settings.session_idle_minutes * 60:
        session.clear()
        raise SignInRequiredError("Your session ended after a quiet spell; please sign in again.")
    session["seen_at"] = now
    return Person.from_session(session["person"])


def csrf_token(request: Request) -> str:
    return str(request.session.get("csrf", ""))


def check_csrf(request: Request, form: Mapping[str, Any], public_url: str) -> None:
    """Refuse a state-changing request without the session's token or from another origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != _origin(public_url):
        raise CsrfRejectedError("This request came from another site and was refused.")
    expected = csrf_token(request)
    given = form.get("csrf_token")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        raise CsrfRejectedError(
            "This form has expired or did not come from the worklist. Reload the page and "
            "try again."
        )


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
