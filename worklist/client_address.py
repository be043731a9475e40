"""``client_address``: where a request came from, for the access log's "from where".

Behind a proxy (the Kubernetes ingress controller) every request arrives from the proxy; the
person's address is in ``X-Forwarded-For``. That header is believed only when the request
comes from a trusted proxy (``CLAIMFLOW_WEB__TRUSTED_PROXIES``): anyone else could write any
address into it. The list is read from the right (the address our proxy saw last), skipping
trusted proxies, and the first address that is not one is the client; a malformed entry ends
the walk at the last address known to be true.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from pydantic import IPvAnyNetwork
from starlette.requests import Request

__all__ = ["client_address"]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = text.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[IPvAnyNetwork]
) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(request: Request, trusted_proxies: Sequence[IPvAnyNetwork]) -> str | None:
    """The person's address: the peer, or what trusted proxies say it is."""
    peer = request.client.host if request.client else None
    if peer is None or not trusted_proxies:
        return peer
    peer_address = _address(peer)
    if peer_address is None or not _trusted(peer_address, trusted_proxies):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    current = peer
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        hop_address = _address(hop)
        if hop_address is None:
            return current
        current = str(hop_address)
        if not _trusted(hop_address, trusted_proxies):
            return current
    return current
