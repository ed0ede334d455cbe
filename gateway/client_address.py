"""Which client a request comes from, for the per-client limits.

The client is the connection's peer (``request.remote``), unless that peer is one of
``PARLEY_TRUSTED_PROXIES``: then ``X-Forwarded-For`` is read from the right (each proxy
appends the address it saw), skipping the trusted proxies, and the first address not
theirs is the client. Anything to the left of it was written by the client itself and is
not believed, so a client cannot pick its own address; from a peer that is not trusted
the header is ignored altogether. An entry that is not an address ends the walk at the
last trusted hop, which is then the client (the limit falls on that proxy, not on a name
the client chose).

IPv6 clients are counted per /64 network: one subscriber usually holds a whole /64 and
can use a new address from it for every request. IPv4-mapped IPv6 addresses count as
their IPv4 address. A peer that is not an IP address (a Unix socket) is ``"local"``.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from gateway.limit_settings import Network

__all__ = ["client_address"]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(request: web.Request, trusted: tuple[Network, ...] = ()) -> str:
    """The key the per-client limits count ``request`` under."""
    peer = _parse(request.remote or "")
    if peer is None:
        return "local"
    if trusted and _trusted(peer, trusted):
        hops = [hop.strip() for value in request.headers.getall("X-Forwarded-For", ())
                for hop in value.split(",")]
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:
                break
            peer = address
            if not _trusted(address, trusted):
                break
    return _key(peer)


def _parse(text: str) -> _Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: _Address, trusted: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def _key(address: _Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
