"""Which device app_queue should watch for an operator's queue member (pure; no I/O, cheap to import).

An operator's member interface is a Local channel, `Local/<ext>@agents`, whose dialplan (`[agents]` in
dialplans/extensions.conf) does `Dial(PJSIP/<ext>)`. A Local channel's own device state is "not in use" whether
or not the phone behind it is registered, so a member added without a `StateInterface` looks free while its
softphone is offline, and app_queue rings it again every `retry` seconds. QueueAdd therefore sends
`StateInterface: PJSIP/<ext>` for such members: app_queue then sees the phone's real state (unavailable when it
is not registered) and skips it.
"""

from __future__ import annotations

import re

# The dialplan context whose extensions dial the operator's softphone by the same number.
AGENTS_CONTEXT = "agents"
_LOCAL_AGENT = re.compile(r"Local/(?P<exten>[^@/;\s]+)@" + AGENTS_CONTEXT + r"(?:/n)?")


def state_interface_for(interface: str) -> str:
    """The device whose state app_queue should follow for the member `interface`: `PJSIP/<ext>` for
    `Local/<ext>@agents` (with or without `/n`); "" when there is nothing better than the interface itself
    (a PJSIP member is its own device)."""
    match = _LOCAL_AGENT.fullmatch(interface.strip())
    return f"PJSIP/{match['exten']}" if match else ""
