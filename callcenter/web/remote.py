"""The resident's address behind a reverse proxy: from X-Forwarded-For, when the request comes from a proxy the
configuration trusts (`http.trusted_proxies`), and never otherwise, so that nobody can choose their own address.

Per-address limits (callback requests, case look-up lockout) count residents, not the proxy in front of the
service: without this, every resident behind nginx shares one address and one lockout. aiohttp-remotes was
considered: its strict mode refuses every request that did not pass the proxy (the PBX's IVR calls and health
checks come directly) with a plain-text 400, and its filtered mode honours the header from any peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def in_networks(address: str, allowed: Sequence[Network]) -> bool:
    """Whether an address (as aiohttp gives it; anything else is not) lies in one of the networks."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in allowed)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str | None:
    """The right-most address not a trusted proxy, walking back from the peer (pure). A header that is not a
    list of addresses is ignored: the proxy's own address stands."""
    if peer is None or not forwarded_for or not in_networks(peer, trusted):
        return peer
    hops = [part.strip() for header in forwarded_for for part in header.split(",")]
    try:
        addresses = [str(ipaddress.ip_address(hop)) for hop in hops]
    except ValueError:
        return peer
    for address in reversed(addresses):
        if not in_networks(address, trusted):
            return address
    return addresses[0] if addresses else peer


def forwarded_middleware(trusted: Sequence[Network]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def forwarded(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        remote = client_address(request.remote, request.headers.getall("X-Forwarded-For", []), trusted)
        if remote != request.remote and remote is not None:
            request = request.clone(remote=remote)
        return await handler(request)

    return forwarded
