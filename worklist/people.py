"""``Person``: who is signed in, and what their roles let them do.

Roles come from a claim of the identity provider's ID token (``web.roles_claim``): a
``viewer`` sees the worklist, a ``poster`` also decides. ``web.allowed_groups``, when set,
admits only members of those groups (``web.groups_claim``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claimflow.settings import WebSettings
from worklist.errors import AccessDeniedError

__all__ = ["POSTER", "VIEWER", "Person", "person_from_claims"]

VIEWER = "viewer"
POSTER = "poster"
_ROLES = frozenset({VIEWER, POSTER})


@dataclass(frozen=True, slots=True)
class Person:
    subject: str
    name: str
    roles: frozenset[str]

    @property
    def can_view(self) -> bool:
        return bool(self.roles & _ROLES)

    @property
    def can_decide(self) -> bool:
        return POSTER in self.roles

    def as_session(self) -> dict[str, Any]:
        return {"sub": self.subject, "name": self.name, "roles": sorted(self.roles)}

    @classmethod
    def from_session(cls, data: Mapping[str, Any]) -> Person:
        return cls(str(data["sub"]), str(data["name"]), frozenset(map(str, data["roles"])))


def _names(value: Any) -> set[str]:
    if isinstance(value, str):
        return {part for part in value.replace(",", " ").split() if part}
    if isinstance(value, list | tuple):
        return {str(item) for item in value}
    return set()


def person_from_claims(claims: Mapping[str, Any], settings: WebSettings) -> Person:
    """The person an ID token's claims name; ``AccessDeniedError`` without a role or group."""
    subject = str(claims.get("sub") or "")
    name = str(claims.get("name") or claims.get("email") or subject)
    roles = frozenset(_names(claims.get(settings.roles_claim)) & _ROLES)
    if settings.allowed_groups:
        groups = _names(claims.get(settings.groups_claim))
        if not groups & set(settings.allowed_groups):
            raise AccessDeniedError(
                "Your account is not in a group allowed to use the worklist.", subject=subject
            )
    if not roles:
        raise AccessDeniedError(
            "You are signed in, but your account has no worklist role (viewer or poster). "
            "Ask your administrator for one.",
            subject=subject,
        )
    return Person(subject=subject, name=name, roles=roles)
