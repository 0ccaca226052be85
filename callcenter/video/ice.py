"""Which local addresses aiortc offers as ICE host candidates.

aioice leaves 127.0.0.1 and ::1 out of its host candidates, so on a machine whose only interface is the
loopback (a developer's laptop offline, these CI machines) it gathers nothing and no call connects. The
service offers the configured addresses, or aioice's own choice plus the loopback when it found none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aioice.ice

_original: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses


def use_host_addresses(addresses: Sequence[str] = ()) -> None:
    """Offer `addresses`; with none given, whatever aioice finds, or 127.0.0.1 when it finds nothing."""
    fixed = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        if fixed:
            return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]
        found = _original(use_ipv4, use_ipv6)
        return found or (["127.0.0.1"] if use_ipv4 else [])

    aioice.ice.get_host_addresses = host_addresses
