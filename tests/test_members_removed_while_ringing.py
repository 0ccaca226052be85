"""A member removed while its phone rings, as a real Asterisk 22.10.1 does it, and as the simulator and the tracker
must follow it.

Recorded here on Asterisk 22.10.1 (the tests/asterisk harness: the project's queues.conf and manager.conf, the
service's `callcenter` user and its event filters), with two test-only member contexts: `[adhoc-ringer]` rings
and never answers, `[adhoc-answer]` rings 3 s, answers and talks 5 s. `op102` is the project's
`Local/102@agents` added with `StateInterface: PJSIP/102`, a phone that is not registered: Status 5, never rung.
The caller is `Originate Local/s@adhoc-hold` (answers, waits) into `Queue(hotline)`; `QueueRemove` of op1 about
a second after its AgentCalled. What was learnt:

- The removal does not end the ring: the phone rings on, and its AgentRingNoAnswer comes AFTER
  QueueMemberRemoved, at the ring timeout (RingTime 15000 ms).
- A phone that answers after its member was removed is connected all the same: QueueMemberRemoved, then
  QueueCallerLeave, AgentConnect and AgentComplete for an interface that is no longer a member (and no
  QueueMemberStatus for it after the call).

The two sessions are in tests/data/ami/asterisk22-members/, as the service's user received them.
"""

from __future__ import annotations

import asyncio

from callcenter.pbx.ami import AmiClient
from callcenter.pbx.protocol import Message, parse_frame, split_stream
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.pbx.tracker import QueueTracker
from tests.conftest import TRANSCRIPTS

# The two sessions, byte for byte (tests/data/ami/asterisk22-members/). In the first, op1 rings until its timeout:
# it is removed a second into the ring and the caller gives up 21 s after joining. In the second, op1 is removed
# while ringing and answers anyway.
RECORDINGS = TRANSCRIPTS / "asterisk22-members"
REMOVED_WHILE_RINGING = "removed_while_ringing"
REMOVED_THEN_ANSWERS = "removed_then_answers"

QUEUE_EVENTS = frozenset({"QueueMemberAdded", "QueueMemberRemoved", "QueueMemberStatus", "QueueCallerJoin",
                          "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentRingNoAnswer",
                          "AgentConnect", "AgentComplete"})


def recorded(name: str) -> list[Message]:
    """The queue events of a recorded session, in the order Asterisk sent them."""
    _, frames = split_stream((RECORDINGS / f"{name}.ami").read_bytes())
    messages = [parse_frame(frame) for frame in frames]
    return [message for message in messages if message.kind == "event" and message.name in QUEUE_EVENTS]


def sequence(messages: list[Message]) -> list[tuple[str, str | None]]:
    return [(m.name, m.get("MemberName")) for m in messages]


# -- the tracker on the recordings ---------------------------------------------------------------------------------


def test_the_recording_leaves_no_ghost_when_the_removed_phone_gives_up() -> None:
    tracker = QueueTracker()
    for message in recorded(REMOVED_WHILE_RINGING):
        tracker.apply(message, 0.0)
    queue = tracker.queues["hotline"]
    assert {i: m.state for i, m in queue.members.items()} == {"Local/102@agents": "unavailable"}
    assert queue.members["Local/102@agents"].state_interface == "PJSIP/102"
    assert queue.ringing == {} and queue.stray_rings == {} and queue.waiting == []
    counters = queue.counters
    assert (counters.offered, counters.answered, counters.abandoned, counters.exited) == (1, 0, 1, 0)


def test_the_recording_counts_the_answer_of_the_removed_phone_without_a_ghost() -> None:
    tracker = QueueTracker()
    changes = [change for message in recorded(REMOVED_THEN_ANSWERS) for change in tracker.apply(message, 0.0)]
    queue = tracker.queues["hotline"]
    assert list(queue.members) == ["Local/102@agents"]
    assert [c["reason"] for c in changes if c["type"] == "caller_left"] == ["connecting"]
    connected = next(c for c in changes if c["type"] == "call_connected")
    assert (connected["interface"], connected["member_name"], connected["hold_seconds"]) == \
        ("Local/11@adhoc-answer", "op1", 3)
    counters = queue.counters
    assert (counters.offered, counters.answered, counters.exited, counters.answered_within_threshold) == (1, 1, 0, 1)
    assert (counters.completed, counters.talk_seconds) == (1, 5)
    assert queue.calls == {} and queue.departed_calls == {} and queue.ringing == {}
    # No change ever showed op1 again after its removal.
    removed_at = next(i for i, c in enumerate(changes) if c["type"] == "member_removed")
    assert not [c for c in changes[removed_at:] if c["type"] == "member"]


# -- the simulator plays the same sessions -------------------------------------------------------------------------


async def simulate(answers: bool) -> list[Message]:
    """The recorded session on the simulator: same members, the caller, op1 removed while it rings."""
    # Either way the removal has 0.75 s (real) to come while the phone rings: 3 simulated seconds to the answer at
    # 4x, 15 to the ring timeout at 20x.
    sim = PbxSimulator(SimConfig(agents=0, secret="s", generate_traffic=False, acceleration=4 if answers else 20,
                                 agent_no_answer=0.0 if answers else 1.0, unregistered=("PJSIP/102",)))
    await sim.start()
    client = AmiClient("127.0.0.1", sim.port, "callcenter", "s")
    stream = client.subscribe(QUEUE_EVENTS)
    await client.connect()
    events: list[Message] = []

    async def until(name: str) -> None:
        async with asyncio.timeout(20):
            while not events or events[-1].name != name:
                events.append(await anext(stream))

    interface = "Local/11@adhoc-answer" if answers else "Local/11@adhoc-ringer"
    try:
        await client.send_action("QueueAdd", [("Queue", "hotline"), ("Interface", interface), ("MemberName", "op1"),
                                              ("Paused", "false")])
        await client.send_action("QueueAdd", [("Queue", "hotline"), ("Interface", "Local/102@agents"),
                                              ("MemberName", "op102"), ("StateInterface", "PJSIP/102"),
                                              ("Paused", "false")])
        sim.caller_arrives("5559001", "<unknown>", patience=21, handle=5)
        await until("AgentCalled")
        await client.send_action("QueueRemove", [("Queue", "hotline"), ("Interface", interface)])
        await until("AgentComplete" if answers else "QueueCallerLeave")
        # Whatever the PBX says right after (a QueueMemberStatus for the phone that left would come before this).
        sim.caller_arrives("5559002", "Marker", patience=1000)
        await until("QueueCallerJoin")
    finally:
        await client.close()
        await sim.stop()
    return events


async def test_the_simulator_lets_a_removed_phone_ring_on_until_its_timeout_as_asterisk_does() -> None:
    real, (*simulated, marker) = recorded(REMOVED_WHILE_RINGING), await simulate(answers=False)
    assert marker["CallerIDNum"] == "5559002"
    assert sequence(simulated) == sequence(real)
    assert [tuple(m.keys()) for m in simulated] == [tuple(m.keys()) for m in real]
    no_answer = next(m for m in simulated if m.name == "AgentRingNoAnswer")
    assert (no_answer["Interface"], no_answer["RingTime"]) == ("Local/11@adhoc-ringer", "15000")
    # op102's phone is not registered: Status 5, as recorded, and never rung.
    assert [(m["StateInterface"], m["Status"]) for m in simulated if m.name == "QueueMemberAdded"] == \
        [(m["StateInterface"], m["Status"]) for m in real if m.name == "QueueMemberAdded"]


async def test_the_simulator_connects_a_removed_phone_that_answers_as_asterisk_does() -> None:
    real, (*simulated, marker) = recorded(REMOVED_THEN_ANSWERS), await simulate(answers=True)
    assert marker["CallerIDNum"] == "5559002"  # no QueueMemberStatus for the phone that left, after its call
    assert sequence(simulated) == sequence(real)
    assert [tuple(m.keys()) for m in simulated] == [tuple(m.keys()) for m in real]
    connect = next(m for m in simulated if m.name == "AgentConnect")
    assert (connect["Interface"], connect["HoldTime"], connect["RingTime"]) == ("Local/11@adhoc-answer", "3", "3")
    complete = next(m for m in simulated if m.name == "AgentComplete")
    assert (complete["TalkTime"], complete["Reason"]) == ("5", "agent")
