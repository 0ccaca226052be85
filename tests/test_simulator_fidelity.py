"""The simulator against the recordings: same scenario, same event names in the same order, same keys."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from callcenter.pbx.ami import AmiClient
from callcenter.pbx.protocol import Message
from callcenter.pbx.replay import replay
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from tests.conftest import TRANSCRIPTS

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


async def play(scenario: str) -> list[Message]:
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False, timestamps=False,
                                 acceleration=50, agent_no_answer=0.0))
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
    simulated = await play("abandon")
    assert [m.name for m in simulated] == [m.name for m in recorded("queue_caller_abandon")]
    keys = recorded_key_lists()
    for message in simulated:
        assert tuple(message.keys()) in keys[message.name], message.name
    abandon = next(m for m in simulated if m.name == "QueueCallerAbandon")
    assert abandon["HoldTime"] == "4"
