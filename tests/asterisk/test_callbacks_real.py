"""Callbacks on a real Asterisk 22: the place kept in the real queue, the operator first, outcomes that arrive.

Each test starts its own Asterisk with the project's dialplan and configuration, and the real service and
worker pointed at it. Residents' phones are real SIP calls through the project's trunk (looped back to the
same Asterisk, where [test-loopback] answers, is busy or rings by the number).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.asterisk.conftest import Events, until_status
from tests.asterisk.pbx import RealPbx, wait_for_async
from tests.asterisk.people import Resident

# What a clean run may still log: the test machine has no sound card for MOH timing, no IPv6 for PJSIP.
EXPECTED_NOISE = ("res_pjsip/config_transport", "Unable to find a valid server address", "chan_pjsip.c: Unable to",
                  "app_queue.c: No agent", "res_musiconhold")


def queue_lines(output: str) -> list[str]:
    """The callers section of `queue show hotline`, one line per caller in position order."""
    return [line.strip() for line in output.splitlines() if re.match(r"\s+\d+\. ", line)]


@pytest.mark.usefixtures("transcript")
async def test_an_ivr_callback_keeps_its_place_in_the_real_queue_and_ends_done(
        pbx: RealPbx, events: Events, service_factory: Any, desk: Any, store: aioredis.Redis) -> None:
    service = await service_factory()
    operator = await desk(service, "101", paused=True)
    shown = await pbx.command("queue show hotline")
    assert "Local/101@agents" in shown and "paused" in shown.lower(), shown

    ahead = [Resident(pbx, events, f"+7916000900{n}") for n in (1, 2)]
    asker = Resident(pbx, events, "+79160001003")
    behind = Resident(pbx, events, "+79160009004")
    for resident in (*ahead, asker):
        await resident.joins_the_queue()
    await behind.joins_the_queue()
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


async def the_callback(store: aioredis.Redis) -> str | None:
    from callcenter.callbacks.store import CallbackStore

    found = await CallbackStore(store).find(["scheduled", "queued", "dialling", "connected", "done", "failed"],
                                            limit=10)
    return found[0].id if found else None




async def ask_for_callback(service: Any, phone: str) -> str:
    """A resident's request on the web page's endpoint, as the page sends it."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.post(
            f"{service.url}/api/callbacks", json={"phone": phone},
            headers={"Origin": service.url}) as response:
        body = await response.json()
        assert response.status == 201, body
        return str(body["id"])


async def test_a_busy_resident_is_retried_and_fails_after_three_attempts(
        pbx: RealPbx, events: Events, service_factory: Any, desk: Any, store: aioredis.Redis) -> None:
    service = await service_factory(CALLCENTER_CALLBACKS_RETRY_MINUTES_BUSY="0.02")
    await desk(service, "101")
    callback_id = await ask_for_callback(service, "+79160002001")  # the test trunk answers 2xxx busy
    failed = await until_status(store, callback_id, {"failed", "done"}, 120, service)
    assert failed["status"] == "failed" and failed["rings"] == 3 and failed["attempts"] == 3, failed
    assert failed["last_outcome"] == "busy" and "busy" in failed["reason"]
    results = [line[5] for line in pbx.queue_log_lines()
               if line[4] == "CALLBACKRESULT" and line[1].startswith(callback_id)]
    assert results == ["BUSY", "BUSY", "BUSY"], results
    # One Originate per attempt, each accepted by Asterisk (no id refused).
    placed = [line[1] for line in pbx.queue_log_lines() if line[4] == "ENTERQUEUE" and line[1].startswith(callback_id)]
    assert placed == [f"{callback_id}-1", f"{callback_id}-2", f"{callback_id}-3"], placed


async def test_the_operator_hanging_up_while_the_resident_rings_is_not_charged_and_retried_at_once(
        pbx: RealPbx, events: Events, service_factory: Any, desk: Any, store: aioredis.Redis) -> None:
    service = await service_factory()
    operator = await desk(service, "101")
    callback_id = await ask_for_callback(service, "+79160003001")  # 3xxx ring and never answer
    # The resident's phone rings: the operator's phone (the loopback side of PJSIP/101) hangs up.
    await events.wait(lambda m: m.name == "DialBegin" and "PJSIP/trunk" in (m.get("DestChannel") or ""), 60,
                      "the resident's phone ringing")
    phone = await events.wait(lambda m: m.name == "Newchannel" and m.get("Exten") == "op101", 5,
                              "the operator's phone")
    await operator.pause(True, "test: left")
    await pbx.action("Hangup", [("Channel", phone.get("Channel") or "")])
    result = await events.wait(lambda m: m.name == "UserEvent" and m.get("UserEvent") == "CallbackResult", 20,
                               "the dialplan's outcome")
    assert result.get("DialStatus") == "CANCEL"
    retried = await until_status(store, callback_id, {"queued"}, 30, service)
    assert retried["attempts"] == 2 and retried["rings"] == 0, retried
    assert retried["last_outcome"] == "operator_left"


async def test_an_asterisk_restart_with_a_callback_queued_puts_it_back_at_its_place(
        pbx: RealPbx, events: Events, service_factory: Any, desk: Any, store: aioredis.Redis) -> None:
    service = await service_factory()
    await desk(service, "101", paused=True)
    callback_id = await ask_for_callback(service, "+79160001001")
    await until_status(store, callback_id, {"queued"}, 30, service)
    assert "@callback-placeholder" in await pbx.command("queue show hotline")
    await pbx.stop("now")  # a planned `core stop now`: the placeholder dies with the PBX
    await pbx.start()
    # persistentmembers brings the operator back; the service reconnects, finds the place gone and places it
    # again (attempt 2), without charging the resident: their phone never rang.

    async def placed_again() -> dict[str, Any] | None:
        from tests.asterisk.conftest import callback_record

        record = await callback_record(store, callback_id)
        return record if record and record["attempts"] == 2 and record["status"] == "queued" else None

    record = await wait_for_async(placed_again, 90, "the callback placed again after the restart")
    assert record["rings"] == 0, record
    async def in_queue() -> bool:
        return "@callback-placeholder" in await pbx.command("queue show hotline")

    await wait_for_async(in_queue, 60, "the new placeholder in the restarted Asterisk's queue")


async def test_resident_first_is_done_only_when_an_operator_talked_to_them(
        pbx: RealPbx, events: Events, service_factory: Any, desk: Any, store: aioredis.Redis) -> None:
    service = await service_factory(CALLCENTER_CALLBACKS_MODE="resident_first",
                                    CALLCENTER_CALLBACKS_RETRY_MINUTES_FAILED="0.02")
    operator = await desk(service, "101", paused=True)
    callback_id = await ask_for_callback(service, "+79160004001")  # 4xxx answer and wait
    answered = await until_status(store, callback_id, {"connected"}, 60, service)
    assert answered["attempts"] == 1
    joined = await events.wait(lambda m: m.name == "QueueCallerJoin" and m.get("Uniqueid") == f"{callback_id}-1",
                               30, "the resident in the queue")
    assert "@callback-resident-first" in (joined.get("Channel") or "")
    # The resident gives up in the queue: not done, retried.
    resident_phone = await events.wait(lambda m: m.name == "Newchannel" and m.get("Exten") == "+79160004001", 5,
                                       "the resident's phone")
    await pbx.action("Hangup", [("Channel", resident_phone.get("Channel") or "")])
    result = await events.wait(lambda m: m.name == "UserEvent" and m.get("UserEvent") == "CallbackResult", 20,
                               "the dialplan's outcome")
    assert result.get("DialStatus") == "ABANDON"
    async def settled_as_abandoned() -> dict[str, Any] | None:
        from tests.asterisk.conftest import callback_record

        record = await callback_record(store, callback_id)
        return record if record and record["last_outcome"] == "abandoned" else None

    retried = await wait_for_async(settled_as_abandoned, 30, "the abandon settled")
    assert retried["status"] != "done" and retried["rings"] == 1, retried
    abandons = [line for line in pbx.queue_log_lines() if line[1] == f"{callback_id}-1" and line[4] == "ABANDON"]
    assert abandons, "Asterisk's own queue_log shows the abandon"
    # Attempt 2: the operator is back, takes the resident, they talk: now it is done.
    await events.wait(lambda m: m.name == "QueueCallerJoin" and m.get("Uniqueid") == f"{callback_id}-2", 60,
                      "the resident answering attempt 2 and waiting")
    await operator.pause(False)
    await events.wait(lambda m: m.name == "AgentConnect" and m.get("Uniqueid") == f"{callback_id}-2", 30,
                      "the operator connected to the resident")
    async def operator_assigned() -> dict[str, Any] | None:
        from tests.asterisk.conftest import callback_record

        record = await callback_record(store, callback_id)
        return record if record and record["operator"] else None

    talking = await wait_for_async(operator_assigned, 10, "the operator named on the callback")
    assert talking["status"] == "connected", talking
    phone = next(m for m in reversed(events.seen) if m.name == "Newchannel" and m.get("Exten") == "+79160004001")
    await pbx.action("Hangup", [("Channel", phone.get("Channel") or "")])
    done = await until_status(store, callback_id, {"done", "failed"}, 30, service)
    assert done["status"] == "done" and done["attempts"] == 2, done


async def test_key_2_leaves_the_queue_for_a_callback_from_any_position(
        pbx: RealPbx, events: Events, service_factory: Any, desk: Any, store: aioredis.Redis) -> None:
    """app_queue 22 loses a key pressed during "there are N calls ahead" (say_position joins its prompts with
    `||`); queues.conf announces only "you are next", so a caller at position 2 leaves when they press 2."""
    service = await service_factory()
    await desk(service, "101", paused=True)
    first, second = Resident(pbx, events, "+79160009001"), Resident(pbx, events, "+79160009002")
    for resident in (first, second):
        await resident.call()
        await resident.reaches("Background", context="hotline-ivr")
        await resident.press("1")
        joined = await resident.in_queue()
    assert joined.get("Position") == "2"
    await second.press("2")
    left = await events.wait(lambda m: m.name == "QueueCallerLeave" and m.get("Uniqueid") == second.line_id, 10,
                             "the caller at position 2 leaving on key 2")
    assert left is not None
    await second.reaches("Playback", context="hotline-callback")
    await first.hang_up()
    await second.hang_up()
