"""The callback monitor's event handling: one callback's events in order, different callbacks side by side."""

from __future__ import annotations

import asyncio

from callcenter.callbacks.model import attempt_action_id, attempt_uniqueid
from callcenter.callbacks.monitor import CallbackMonitor, callback_key, queue_log_message
from callcenter.config import Settings
from callcenter.hours import WorkingHours
from callcenter.pbx.protocol import Message
from callcenter.pbx.queuelog import parse_line


def event(name: str, **headers: str) -> Message:
    return Message("event", name, [("Event", name), *headers.items()])


def test_every_kind_of_callback_event_names_its_callback() -> None:
    assert callback_key(event("OriginateResponse", ActionID=attempt_action_id("cb01", 2))) == "cb01"
    assert callback_key(event("AgentConnect", Uniqueid=attempt_uniqueid("cb02", 1))) == "cb02"
    assert callback_key(event("UserEvent", UserEvent="CallbackResult", CallbackId="cb03")) == "cb03"


async def test_a_slow_callback_does_not_hold_up_the_others_nor_lose_its_order() -> None:
    settings = Settings()
    monitor = CallbackMonitor(store=None, settings=settings,  # type: ignore[arg-type]
                              hours=WorkingHours.from_settings(settings.hours, settings.hotline.timezone),
                              scheduler=None, sweep_interval=3600)  # type: ignore[arg-type]
    release = asyncio.Event()
    handled: list[tuple[str, str]] = []

    async def handle(message: Message) -> None:
        key = callback_key(message)
        if key == "cbslow" and message.name == "OriginateResponse":
            await release.wait()  # its store is slow to answer
        handled.append((key, message.name))

    monitor.handle = handle  # type: ignore[method-assign]
    running = asyncio.create_task(monitor.run())
    try:
        monitor.on_event(event("OriginateResponse", ActionID=attempt_action_id("cbslow", 1)))
        monitor.on_event(event("AgentConnect", Uniqueid=attempt_uniqueid("cbslow", 1)))
        monitor.on_event(event("OriginateResponse", ActionID=attempt_action_id("cbquick", 1)))
        monitor.on_event(event("AgentConnect", Uniqueid=attempt_uniqueid("cbquick", 1)))
        async with asyncio.timeout(5):
            while len(handled) < 2:
                await asyncio.sleep(0.01)
        assert handled == [("cbquick", "OriginateResponse"), ("cbquick", "AgentConnect")]
        release.set()
        async with asyncio.timeout(5):
            while len(handled) < 4:
                await asyncio.sleep(0.01)
        assert handled[2:] == [("cbslow", "OriginateResponse"), ("cbslow", "AgentConnect")]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert monitor.backlog == 0




async def test_an_event_that_meets_a_store_blip_is_tried_again() -> None:
    settings = Settings()
    monitor = CallbackMonitor(store=None, settings=settings,  # type: ignore[arg-type]
                              hours=WorkingHours.from_settings(settings.hours, settings.hotline.timezone),
                              scheduler=None, sweep_interval=3600)  # type: ignore[arg-type]
    tries: list[str] = []

    async def handle(message: Message) -> None:
        tries.append(message.name)
        if len(tries) == 1:
            raise ConnectionError("store restarting")

    monitor.handle = handle  # type: ignore[method-assign]
    running = asyncio.create_task(monitor.run())
    try:
        monitor.on_event(event("AgentConnect", Uniqueid=attempt_uniqueid("cb07", 1)))
        async with asyncio.timeout(5):
            while monitor.handled < 1:
                await asyncio.sleep(0.01)
        assert tries == ["AgentConnect", "AgentConnect"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def test_the_dialplans_queue_log_lines_stand_for_the_lost_user_events() -> None:
    answered = queue_log_message(parse_line("1795507201|cb0a1b2c-2|hotline|NONE|CALLBACKANSWERED|\n"))
    assert answered is not None and answered.name == "UserEvent"
    assert (answered.get("UserEvent"), answered.get("CallbackId"), answered.get("Attempt")) == \
        ("CallbackAnswered", "cb0a1b2c", "2")
    result = queue_log_message(parse_line("1795507260|cb0a1b2c-2|hotline|NONE|CALLBACKRESULT|BUSY\n"))
    assert result is not None and (result.get("UserEvent"), result.get("DialStatus")) == ("CallbackResult", "BUSY")
    assert callback_key(result) == "cb0a1b2c" and CallbackMonitor.concerns_callbacks(result)
    # app_queue's own lines about a placeholder, and other calls' lines, are the reports' business.
    for line in ("1795507201|cb0a1b2c-2|hotline|op1|CONNECT|5|x|1\n",
                 "1795507201|1795507000.12|hotline|NONE|CALLBACKRESULT|ANSWER\n"):
        assert queue_log_message(parse_line(line)) is None  # type: ignore[arg-type]
