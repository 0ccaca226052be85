"""The simulator against the recordings: same scenario, same event names in the same order, same keys."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from callcenter.pbx.ami import AmiClient
from callcenter.pbx.clock import VirtualClock
from callcenter.pbx.protocol import Message
from callcenter.pbx.replay import replay
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.pbx.tracker import QueueTracker
from tests.conftest import TRANSCRIPTS
from tests.test_replay_hotline_transcripts import VIDEO

QUEUE_EVENTS = {"QueueMemberAdded", "QueueCallerJoin", "AgentCalled", "QueueMemberStatus", "QueueCallerLeave",
                "AgentConnect", "AgentComplete", "QueueMemberRemoved", "QueueCallerAbandon", "QueueMemberPause"}


def recorded(name: str) -> list[Message]:
    messages = replay((TRANSCRIPTS / f"{name}.ami").read_bytes(), keep_messages=True).messages
    return [m for m in messages if m.kind == "event" and m.name in QUEUE_EVENTS]


def recorded_key_lists() -> dict[str, set[tuple[str, ...]]]:
    keys: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for path in TRANSCRIPTS.glob("*.ami"):
        for message in replay(path.read_bytes(), keep_messages=True).messages:
            if message.kind == "event" and message.name in QUEUE_EVENTS:
                keys[message.name].add(tuple(message.keys()))
    return keys


async def play(scenario: str, acceleration: float = 50) -> list[Message]:
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False, timestamps=False,
                                 acceleration=acceleration, agent_no_answer=0.0))
    await sim.start()
    client = AmiClient("127.0.0.1", sim.port, "callcenter", "s")
    seen = client.subscribe(QUEUE_EVENTS)
    await client.connect()
    events: list[Message] = []

    async def until(name: str) -> None:
        async with asyncio.timeout(10):
            while True:
                events.append(await anext(seen))
                if events[-1].name == name:
                    return

    try:
        if scenario == "answered":
            await client.send_action("QueueAdd", [("Queue", "hotline"), ("Interface", "Local/1@agent-sim"),
                                                  ("MemberName", "op1"), ("Penalty", "0"), ("Paused", "false")])
            await until("QueueMemberAdded")
            sim.caller_arrives("5551001", "Alice Customer", patience=1000, handle=3)
            await until("AgentComplete")
            await until("QueueMemberStatus")
            await client.send_action("QueueRemove", [("Queue", "hotline"), ("Interface", "Local/1@agent-sim")])
            await until("QueueMemberRemoved")
        else:
            sim.caller_arrives("5551002", "Bob Customer", patience=4, handle=3)
            await until("QueueCallerLeave")
    finally:
        await client.close()
        await sim.stop()
    return events


async def test_answered_call_matches_the_recording() -> None:
    simulated = await play("answered")
    assert [m.name for m in simulated] == [m.name for m in recorded("queue_call_answered")]
    keys = recorded_key_lists()
    for message in simulated:
        assert tuple(message.keys()) in keys[message.name], message.name


async def test_abandon_matches_the_recording() -> None:
    # 4 simulated seconds in 0.4 s: at 50x a 20 ms stall of a loaded machine was already a simulated second
    # more of HoldTime (seen: "5").
    simulated = await play("abandon", acceleration=10)
    assert [m.name for m in simulated] == [m.name for m in recorded("queue_caller_abandon")]
    keys = recorded_key_lists()
    for message in simulated:
        assert tuple(message.keys()) in keys[message.name], message.name
    abandon = next(m for m in simulated if m.name == "QueueCallerAbandon")
    assert abandon["HoldTime"] == "4"


# -- queue members: the device app_queue watches, and removal while ringing ---------------------------------------

MEMBER_EVENTS = QUEUE_EVENTS | {"AgentRingNoAnswer"}


class Listener:
    """An AMI session on a simulator, collecting queue events until the one awaited."""

    def __init__(self, sim: PbxSimulator) -> None:
        self.sim = sim
        self.client = AmiClient("127.0.0.1", sim.port, "callcenter", "s")
        self.stream = self.client.subscribe(MEMBER_EVENTS)
        self.events: list[Message] = []

    async def until(self, name: str, **headers: str) -> Message:
        async with asyncio.timeout(10):
            while True:
                message = await anext(self.stream)
                self.events.append(message)
                if message.name == name and all(message.get(k) == v for k, v in headers.items()):
                    return message


async def listening(config: SimConfig) -> Listener:
    sim = PbxSimulator(config)
    await sim.start()
    listener = Listener(sim)
    await listener.client.connect()
    return listener


async def test_a_member_removed_while_ringing_gets_its_ring_no_answer_after_the_removal() -> None:
    """As Asterisk 22 (tests/test_members_removed_while_ringing.py has the recording): QueueMemberRemoved, the
    phone rings on to its timeout, then AgentRingNoAnswer; the caller is then offered to the next member. A
    tracker fed the same stream keeps no ghost of the removed member."""
    # Every ring lasts its 15 s timeout (0.75 s at 20x): the removal comes while the phone rings.
    listener = await listening(SimConfig(agents=0, secret="s", generate_traffic=False, agent_no_answer=1.0,
                                         acceleration=20))
    client, sim = listener.client, listener.sim
    try:
        await client.send_action("QueueAdd", [("Queue", "hotline"), ("Interface", "Local/1@agents"),
                                              ("MemberName", "op1")])
        await listener.until("QueueMemberAdded")
        caller = sim.caller_arrives("5551001", "Alice Customer", patience=1000, handle=3)
        await listener.until("AgentCalled", Interface="Local/1@agents")
        await client.send_action("QueueAdd", [("Queue", "hotline"), ("Interface", "Local/2@agents"),
                                              ("MemberName", "op2")])
        await listener.until("QueueMemberAdded", Interface="Local/2@agents")
        await client.send_action("QueueRemove", [("Queue", "hotline"), ("Interface", "Local/1@agents")])
        await listener.until("AgentCalled", Interface="Local/2@agents")
    finally:
        await client.close()
        await sim.stop()
    names = [(m.name, m.get("Interface")) for m in listener.events]
    removed = names.index(("QueueMemberRemoved", "Local/1@agents"))
    assert names[removed + 1] == ("AgentRingNoAnswer", "Local/1@agents")
    assert names[removed + 2] == ("AgentCalled", "Local/2@agents")
    no_answer = listener.events[removed + 1]
    assert (no_answer["Uniqueid"], no_answer["RingTime"]) == (caller.uniqueid, "15000")
    tracker = QueueTracker()
    for message in listener.events:
        tracker.apply(message, 0.0)
    queue = tracker.queues["hotline"]
    assert list(queue.members) == ["Local/2@agents"] and queue.ringing == {caller.uniqueid: 1}


async def test_a_member_whose_phone_is_not_registered_is_unavailable_and_never_rung() -> None:
    """QueueAdd's StateInterface is taken and reported (QueueMemberAdded, QueueStatus); a member watching a
    phone that is not registered has Status 5 and is skipped, until the phone registers."""
    listener = await listening(SimConfig(agents=0, secret="s", generate_traffic=False, agent_no_answer=0.0,
                                         timestamps=False, unregistered=("PJSIP/7",)))
    client, sim = listener.client, listener.sim
    keys = recorded_key_lists()
    try:
        await client.send_action("QueueAdd", [("Queue", "hotline"), ("Interface", "Local/7@agents"),
                                              ("MemberName", "op7"), ("StateInterface", "PJSIP/7")])
        added = await listener.until("QueueMemberAdded")
        assert (added["StateInterface"], added["Status"]) == ("PJSIP/7", "5")
        assert tuple(added.keys()) in keys["QueueMemberAdded"]
        status = await client.send_action("QueueStatus", [("Queue", "hotline")])
        member = next(m for m in status.events if m.name == "QueueMember")
        assert (member["Location"], member["StateInterface"], member["Status"]) == ("Local/7@agents", "PJSIP/7", "5")
        first = sim.caller_arrives("5551001", "Alice Customer", patience=1000, handle=1000)
        # A registered phone joins: the caller goes to it, never to the offline one.
        await client.send_action("QueueAdd", [("Queue", "hotline"), ("Interface", "Local/8@agents"),
                                              ("MemberName", "op8"), ("StateInterface", "PJSIP/8")])
        called = await listener.until("AgentCalled")
        assert (called["Interface"], called["Uniqueid"]) == ("Local/8@agents", first.uniqueid)
        ringing = await listener.until("QueueMemberStatus", Interface="Local/8@agents")
        assert ringing["Status"] == "2"
        # The phone registers: its member is available again, and the next caller rings it.
        sim.set_registered("PJSIP/7", True)
        back = await listener.until("QueueMemberStatus", Interface="Local/7@agents")
        assert back["Status"] == "1"
        second = sim.caller_arrives("5551002", "Bob Customer", patience=1000, handle=1000)
        called = await listener.until("AgentCalled", Uniqueid=second.uniqueid)
        assert called["Interface"] == "Local/7@agents"
    finally:
        await client.close()
        await sim.stop()
    assert [m.get("Interface") for m in listener.events if m.name == "AgentCalled"] == \
        ["Local/8@agents", "Local/7@agents"]


def test_the_simulated_floor_logs_in_with_each_operators_phone_as_state_interface() -> None:
    """The simulator's own operators join as the service's QueueAdd makes them join: watching PJSIP/<ext>."""
    sim = PbxSimulator(SimConfig(agents=2, secret="s", generate_traffic=False, unregistered=("PJSIP/2",)),
                       clock=VirtualClock(1_795_000_000.0))
    seen: list[Message] = []
    sim.event_hooks.append(seen.append)
    sim.open_day()
    added = [(m["Interface"], m["StateInterface"], m["Status"]) for m in seen if m.name == "QueueMemberAdded"]
    assert added == [("Local/1@agents", "PJSIP/1", "1"), ("Local/2@agents", "PJSIP/2", "5")]
    sim.caller_arrives("5551001", "Alice Customer", patience=1000, handle=1000)
    assert [m["Interface"] for m in seen if m.name == "AgentCalled"] == ["Local/1@agents"]


async def test_a_video_placeholder_joins_with_the_originates_caller_id_as_on_asterisk() -> None:
    """Asterisk gives the queued half of a Local placeholder the Originate's CallerID ("VIDEO <session>" <video>);
    the simulator once showed the Originate's extension ("s") as the caller's number, and the dashboard with it."""
    path = TRANSCRIPTS / "asterisk22-hotline" / f"{VIDEO}.ami"
    real = next(m for m in replay(path.read_bytes(), keep_messages=True).messages
                if m.name == "QueueCallerJoin" and "@video-placeholder" in (m.get("Channel") or ""))
    session = (real.get("CallerIDName") or "").removeprefix("VIDEO ")
    listener = await listening(SimConfig(agents=0, secret="s", generate_traffic=False, timestamps=False))
    try:
        await listener.client.send_action("Originate", [
            ("Channel", f"Local/{session}@video-placeholder"), ("Context", "video-operator"), ("Exten", "s"),
            ("Priority", "1"), ("CallerID", f'"VIDEO {session}" <video>'), ("ChannelId", f"operator-video-{session}"),
            ("OtherChannelId", f"video-{session}"), ("Async", "true")])
        joined = await listener.until("QueueCallerJoin")
    finally:
        await listener.client.close()
        await listener.sim.stop()
    shown = ("CallerIDNum", "CallerIDName")
    assert [joined.get(key) for key in shown] == [real.get(key) for key in shown]
    assert joined.get("CallerIDNum") == "video"
