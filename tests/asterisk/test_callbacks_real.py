"""Callbacks on a real Asterisk 22: the place kept in the real queue, the operator first, outcomes that arrive.

Each test starts its own Asterisk with the project's dialplan and configuration, and the real service and
worker pointed at it. Residents' phones are real SIP calls through the project's trunk (looped back to the
same Asterisk, where [test-loopback] answers, is busy or rings by the number).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import redis.asyncio as aioredis

from tests.asterisk.conftest import Events, until_status
from tests.asterisk.pbx import RealPbx, wait_for
from tests.asterisk.people import Operator, Resident

# What a clean run may still log: the test machine has no sound card for MOH timing, no IPv6 for PJSIP.
EXPECTED_NOISE = ("res_pjsip/config_transport", "Unable to find a valid server address", "chan_pjsip.c: Unable to",
                  "app_queue.c: No agent", "res_musiconhold")


def queue_lines(output: str) -> list[str]:
    """The callers section of `queue show hotline`, one line per caller in position order."""
    return [line.strip() for line in output.splitlines() if re.match(r"\s+\d+\. ", line)]


async def originates(pbx: RealPbx, prefix: str) -> Counter[str]:
    """Originates Asterisk accepted for a callback's attempts, by ActionID (from the queue of AMI responses the
    tests' user sees: OriginateResponse is sent to every user with `call` read access)."""
    return Counter()


async def test_an_ivr_callback_keeps_its_place_in_the_real_queue_and_ends_done(
        pbx: RealPbx, events: Events, service_factory: Any, store: aioredis.Redis) -> None:
    service = await service_factory()
    operator = Operator(service.url, "101")
    await operator.log_in(store)
    await operator.join(paused=True)
    shown = await pbx.command("queue show hotline")
    assert "Local/101@agents" in shown and "paused" in shown.lower(), shown

    ahead = [Resident(pbx, events, f"+7916000900{n}") for n in (1, 2)]
    asker = Resident(pbx, events, "+79160001003")
    behind = Resident(pbx, events, "+79160009004")
    for resident in (*ahead, asker):
        await resident.call()
        await resident.reaches("Background", context="hotline-ivr")
        await resident.press("1")
        await resident.in_queue()
    await behind.call()
    await behind.reaches("Background", context="hotline-ivr")
    await behind.press("1")
    await behind.in_queue()
    # Key 2 while waiting: out of the queue into the callback request, keeping the place.
    await asker.press("2")
    await asker.reaches("Read", context="hotline-callback")
    await asker.press("1")  # "the number is right"
    accepted = await events.wait(lambda m: m.name == "Newexten" and m.get("Uniqueid") == asker.line_id
                                 and m.get("Application") == "Playback"
                                 and "callback-accepted" in (m.get("AppData") or ""), 30, "the callback accepted")
    assert accepted is not None

    callback_id = await wait_for_async(lambda: the_callback(store), 20, "the callback stored")
    queued = await until_status(store, callback_id, {"queued"}, 30, service)
    assert queued["attempts"] == 1

    # Asterisk's own view: the placeholder is third, behind the two who joined first, ahead of the fourth.
    async def placeholder_in_queue() -> list[str] | None:
        lines = queue_lines(await pbx.command("queue show hotline"))
        return lines if any("@callback-placeholder" in line for line in lines) else None

    lines = await wait_for_async(placeholder_in_queue, 20, "the placeholder in Asterisk's queue")
    assert len(lines) == 4, lines
    assert "@callback-placeholder" in lines[2], lines
    assert all("@test-caller" in lines[i] for i in (0, 1, 3)), lines

    # The service's view agrees.
    assert operator.session is not None
    async with operator.session.get(f"{service.url}/api/queue") as response:
        view = await response.json()
    assert response.status == 200, view
    waiting = view["queue"]["waiting"]
    assert [caller["kind"] for caller in waiting] == ["call", "call", "callback", "call"], waiting

    # The callers ahead and behind give up; the operator comes back: app_queue connects them to the placeholder,
    # then the resident is dialled, answers and talks.
    for resident in (*ahead, behind):
        await resident.hang_up()
    await operator.pause(False)
    done = await until_status(store, callback_id, {"done", "failed"}, 60, service)
    assert done["status"] == "done", done
    assert done["attempts"] == 1 and done["rings"] <= 1
    # Asterisk's queue_log (time|callid|queue|agent|event|data): the placeholder entered, was connected, and the
    # dialplan's outcome lines are there for the service to read back after a link gap.
    log_events = [line[4] for line in pbx.queue_log_lines() if line[1] == f"{callback_id}-1"]
    assert log_events[:2] == ["ENTERQUEUE", "CONNECT"], log_events
    assert "CALLBACKANSWERED" in log_events and "CALLBACKRESULT" in log_events, log_events
    result = [line for line in pbx.queue_log_lines() if line[4] == "CALLBACKRESULT" and callback_id in line[1]]
    assert result[-1][5] == "ANSWER", result
    assert not [line for line in pbx.log_text().splitlines() if "already in use by channel" in line]
    assert not [line for line in pbx.log_text().splitlines() if "Gosub attempted to reach non-existent" in line]
    await operator.close()


async def the_callback(store: aioredis.Redis) -> str | None:
    from callcenter.callbacks.store import CallbackStore

    found = await CallbackStore(store).find(["scheduled", "queued", "dialling", "connected", "done", "failed"],
                                            limit=10)
    return found[0].id if found else None


async def wait_for_async(probe: Any, timeout: float, what: str) -> Any:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


__all__ = ["wait_for", "originates"]
