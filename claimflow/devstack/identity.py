"""A local OpenID Connect provider for the dev stack and the tests: ``oidc-provider-mock``.

It is a real provider over HTTP (discovery, JWKS, authorization code flow, RS256-signed ID
tokens), started as its own process. Its sign-in page lists the predefined users: one click
signs in as that user, with the claims given here (``roles``, ``groups``, ``name``). Tests set
a user's claims at run time with ``PUT /users/<sub>``. It holds no real identities.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = ["DEMO_USERS", "IdentityProviderError", "LocalIdentityProvider"]

DEMO_USERS: tuple[Mapping[str, Any], ...] = (
    {"sub": "poster@example.org", "name": "Pat Poster", "roles": ["poster"], "groups": ["billing"]},
    {"sub": "viewer@example.org", "name": "Val Viewer", "roles": ["viewer"], "groups": ["billing"]},
)


class IdentityProviderError(RuntimeError):
    """The local identity provider did not start."""


@dataclass
class LocalIdentityProvider:
    port: int
    users: Sequence[Mapping[str, Any]] = DEMO_USERS
    token_max_age_seconds: int = 3600
    log_file: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def argv(self) -> list[str]:
        """The provider's command line (the dev stack runs it as one of its processes)."""
        argv = [
            sys.executable,
            "-m",
            "oidc_provider_mock",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            f"--token-max-age={self.token_max_age_seconds}",
        ]
        for user in self.users:
            argv += ["--user-claims", json.dumps(dict(user))]
        return argv

    def start(self, timeout: float = 120.0) -> None:
        argv = self.argv()
        log = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115
        try:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                argv,
                stdout=log or subprocess.DEVNULL,
                stderr=log or subprocess.DEVNULL,
                env={**os.environ, "NO_COLOR": "1"},
            )
        finally:
            if log is not None:
                log.close()  # the provider has its own descriptor
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise IdentityProviderError(
                    f"oidc-provider-mock exited ({self._process.returncode})"
                )
            try:
                answer = httpx.get(self.discovery_url, timeout=2)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise IdentityProviderError("oidc-provider-mock did not answer in time")
            time.sleep(0.1)

    def set_user(self, subject: str, claims: Mapping[str, Any]) -> None:
        """Give ``subject`` these claims from now on (the provider's test API)."""
        httpx.put(f"{self.issuer}/users/{subject}", json=dict(claims), timeout=5).raise_for_status()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
