"""Queue members on a real Asterisk 22: an operator whose phone is not registered is never rung."""

from __future__ import annotations

from typing import Any

from tests.asterisk.conftest import Events
from tests.asterisk.pbx import REGISTERED_OPERATOR, UNREGISTERED_OPERATOR, RealPbx
from tests.asterisk.people import Resident


async def test_an_operator_with_an_unregistered_phone_shows_unavailable_and_is_not_rung(
        pbx: RealPbx, events: Events, service_factory: Any, desk: Any) -> None:
    service = await service_factory()
    offline = await desk(service, UNREGISTERED_OPERATOR)
    online = await desk(service, REGISTERED_OPERATOR, paused=True)
    shown = await pbx.command("queue show hotline")
    line = next(text for text in shown.splitlines() if f"Local/{UNREGISTERED_OPERATOR}@agents" in text)
    assert f"PJSIP/{UNREGISTERED_OPERATOR}" in line and "Unavailable" in line, shown
    resident = Resident(pbx, events, "+79160009001")
    await resident.joins_the_queue()
    # The registered operator comes back: the caller goes to them; the offline phone was never tried meanwhile.
    await online.pause(False)
    connected = await events.wait(lambda m: m.name == "AgentConnect" and m.get("Uniqueid") == resident.line_id, 30,
                                  "the caller connected")
    assert connected.get("Interface") == online.interface
    rung = [m for m in events.seen if m.name == "AgentCalled" and m.get("Interface") == offline.interface]
    assert rung == [], "app_queue rang an operator whose phone is offline"
    # The service shows the offline operator as unavailable, not free.
    assert online.session is not None
    async with online.session.get(f"{service.url}/api/queue") as response:
        members = {m["interface"]: m for m in (await response.json())["queue"]["members"]}
    assert members[offline.interface]["state"] == "unavailable", members[offline.interface]
    await resident.hang_up()
