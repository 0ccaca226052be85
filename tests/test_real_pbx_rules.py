"""What a real Asterisk 22 refused or did that the simulator had let pass, each as a test without a PBX.

The same behaviours are proved on a real Asterisk in tests/asterisk/; these keep the simulator and the
service honest where no Asterisk is installed.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from callcenter.callbacks.dialer import Dialer
from callcenter.callbacks.model import (
    Status,
    attempt_action_id,
    attempt_dial_channel_id,
    attempt_uniqueid,
    ids_collide,
)
from callcenter.config import Settings
from callcenter.hours import WorkingHours
from callcenter.pbx.ami import AmiClient
from callcenter.pbx.protocol import Message
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.server import CALLBACK_MONITOR
from callcenter.video.service import operator_half_uniqueid, placeholder_uniqueid
from callcenter.web.hotline import PBX_LINK
from tests.test_callbacks_e2e import running_hotline


def test_no_originate_gives_its_two_halves_ids_that_extend_each_other() -> None:
    # Asterisk's channel.c refuses a Uniqueid that is a prefix of a live channel's, ignoring case.
    assert ids_collide("cb48ab-1-1", "cb48ab-1") and ids_collide("CB48AB-1", "cb48ab-1-1")
    for attempt in range(1, 13):
        assert not ids_collide(attempt_dial_channel_id("cb48ab", attempt), attempt_uniqueid("cb48ab", attempt))
    assert not ids_collide(operator_half_uniqueid("v12ab"), placeholder_uniqueid("v12ab"))


async def test_the_simulator_refuses_prefix_colliding_ids_as_asterisk_does() -> None:
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False))
    await sim.start()
    client = AmiClient("127.0.0.1", sim.port, "callcenter", "s")
    responses: list[Message] = []
    sim.event_hooks.append(lambda m: responses.append(m) if m.name == "OriginateResponse" else None)
    client.start()
    try:
        await client.wait_connected(5)
        await client.send_action("Originate", [
            ("Channel", "Local/cb48ab@callback-placeholder"), ("Context", "callback-dial"), ("Exten", "+74951234567"),
            ("Priority", "1"), ("ChannelId", "cb48ab-1-1"), ("OtherChannelId", "cb48ab-1"), ("Async", "true")],
            action_id="cb-cb48ab-1")
        async with asyncio.timeout(5):
            while not responses:
                await asyncio.sleep(0.01)
        assert responses[0].get("Response") == "Failure" and responses[0].get("Reason") == "0"
        assert sim.waiting == []
    finally:
        await client.close()
        await sim.stop()


async def test_a_placeholder_lost_with_the_pbx_is_placed_again_without_charging_the_resident(
        settings: Settings, redis: aioredis.Redis) -> None:
    async with running_hotline(settings, redis) as hotline:
        request = await hotline.ask("84951234567")
        assert await hotline.dial(request["id"]) == "dialled"
        await hotline.settled(request["id"], {Status.QUEUED})
        # `core stop now`: Asterisk hangs the placeholder up, and its Originate fails (Reason 1).
        link = hotline.client.app[PBX_LINK]
        await link.client.send_action("Hangup", [("Channel", attempt_uniqueid(request["id"], 1))])
        again = await hotline.settled(request["id"], {Status.SCHEDULED})
        assert (again.rings, again.last_outcome) == (0, "lost")
        assert again.due_at <= hotline.clock() + 1  # back at once, at the resident's place


async def test_asterisks_failure_report_arriving_before_the_queued_mark_is_not_dropped(
        settings: Settings, redis: aioredis.Redis) -> None:
    async with running_hotline(settings, redis) as hotline:
        request = await hotline.ask("84951234567")
        monitor = hotline.client.app[CALLBACK_MONITOR]

        class FailingAtOnce:
            """Asterisk answering the Originate with a failure before the worker wrote anything more."""

            async def originate(self, headers: list[tuple[str, str]]) -> None:
                action_id = dict(headers)["ActionID"]
                await monitor.handle(Message("event", "OriginateResponse", [
                    ("Event", "OriginateResponse"), ("ActionID", action_id), ("Response", "Failure"),
                    ("Channel", f"Local/{request['id']}@callback-placeholder"), ("Reason", "1")]))

            async def queue_entries(self, queue: str) -> list[Message]:
                return []

        hours = WorkingHours.from_settings(hotline.settings.hours, hotline.settings.hotline.timezone)
        dialer = Dialer(hotline.store, hotline.settings, hours, FailingAtOnce(), hotline.scheduler, owner="w")
        assert await dialer.place(request["id"], now=hotline.clock()) == "dialled"
        callback = await hotline.store.get(request["id"])
        # Not "queued" with no placeholder for 12 hours: the failure was settled.
        assert (callback.status, callback.last_outcome) == (Status.SCHEDULED, "lost")


async def test_an_operator_hanging_up_mid_ring_is_retried_at_once_and_not_charged(
        settings: Settings, redis: aioredis.Redis) -> None:
    async with running_hotline(settings, redis) as hotline:
        request = await hotline.ask("84951234567")
        monitor = hotline.client.app[CALLBACK_MONITOR]
        assert await hotline.dial(request["id"]) == "dialled"
        await monitor.handle(Message("event", "OriginateResponse", [
            ("Event", "OriginateResponse"), ("ActionID", attempt_action_id(request["id"], 1)),
            ("Response", "Success"), ("Channel", f"Local/{request['id']}@callback-placeholder-0001;1"),
            ("Reason", "4")]))
        assert (await hotline.store.get(request["id"])).status == Status.DIALLING
        # [cc-callback-result] dial: the operator's hang-up cut the Dial short.
        await monitor.handle(Message("event", "UserEvent", [
            ("Event", "UserEvent"), ("UserEvent", "CallbackResult"), ("CallbackId", request["id"]),
            ("Attempt", "1"), ("DialStatus", "CANCEL")]))
        callback = await hotline.store.get(request["id"])
        assert (callback.status, callback.rings, callback.last_outcome) == (Status.SCHEDULED, 0, "operator_left")


async def test_after_a_reconnect_a_placeholder_asterisk_no_longer_has_is_placed_again(
        settings: Settings, redis: aioredis.Redis) -> None:
    async with running_hotline(settings, redis) as hotline:
        request = await hotline.ask("84951234567")
        monitor = hotline.client.app[CALLBACK_MONITOR]
        assert await hotline.dial(request["id"]) == "dialled"
        await hotline.settled(request["id"], {Status.QUEUED})
        assert await monitor.reconcile() == 0  # it is there
        # The PBX restarted while the link was down: its queue no longer has the placeholder.
        hotline.sim.waiting.clear()
        hotline.clock.now += 3600
        monitor.placeholder_waiting = lambda uniqueid: False
        assert await monitor.reconcile() == 1
        callback = await hotline.store.get(request["id"])
        assert (callback.status, callback.rings, callback.last_outcome) == (Status.SCHEDULED, 0, "lost")


def test_every_operator_extension_reaches_a_phone_including_one_digit_ones() -> None:
    from tests.test_dialplan import CONTEXTS, exten_matches

    for extension in ("1", "7", "101", "2045"):
        assert any(exten_matches(pattern, extension) for pattern in CONTEXTS["agents"].extensions), extension
