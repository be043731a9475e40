"""Binding a listening socket before a server starts, so a taken port is one clear error."""

from __future__ import annotations

import errno
import socket

from claimflow.errors import PortInUse, UsageError

__all__ = ["bind_listener"]


def bind_listener(host: str, port: int, *, what: str, setting: str) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening) for ``what``.

    A port in use raises ``PortInUse`` naming ``setting`` (how to choose another port); an
    address that is not this machine's raises ``UsageError``.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(host, port, what=what, setting=setting) from exc
        raise UsageError(
            f"cannot listen on {host}:{port} for {what} ({exc.strerror}); check {setting}"
        ) from exc
    return sock
