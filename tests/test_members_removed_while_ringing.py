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

Below are the queue events of the two sessions, byte for byte except that the line ends are LF and an empty
value's trailing space ("PausedReason: ") is dropped; `recorded()` restores both.
"""

from __future__ import annotations

import asyncio

from callcenter.pbx.ami import AmiClient
from callcenter.pbx.protocol import Message, parse_frame, split_stream
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.pbx.tracker import QueueTracker

# op1 rings until its timeout; it is removed a second into the ring; the caller gives up 21 s after joining.
REMOVED_WHILE_RINGING = """\
Event: QueueMemberAdded
Privilege: agent,all
Timestamp: 1796107011.627346
Queue: hotline
MemberName: op1
Interface: Local/11@adhoc-ringer
StateInterface: Local/11@adhoc-ringer
Membership: dynamic
Penalty: 0
CallsTaken: 0
LastCall: 0
LastPause: 0
LoginTime: 1796107011
InCall: 0
Status: 1
Paused: 0
PausedReason:
Ringinuse: 0
Wrapuptime: 0

Event: QueueMemberAdded
Privilege: agent,all
Timestamp: 1796107011.627687
Queue: hotline
MemberName: op102
Interface: Local/102@agents
StateInterface: PJSIP/102
Membership: dynamic
Penalty: 0
CallsTaken: 0
LastCall: 0
LastPause: 0
LoginTime: 1796107011
InCall: 0
Status: 5
Paused: 0
PausedReason:
Ringinuse: 0
Wrapuptime: 0

Event: QueueCallerJoin
Privilege: agent,all
Timestamp: 1796107011.629144
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107011.0
Linkedid: 1796107011.0
Queue: hotline
Position: 1
Count: 1

Event: AgentCalled
Privilege: agent,all
Timestamp: 1796107011.629642
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107011.0
Linkedid: 1796107011.0
DestChannel: Local/11@adhoc-ringer-00000001;1
DestChannelState: 0
DestChannelStateDesc: Down
DestCallerIDNum: 5559001
DestCallerIDName: <unknown>
DestConnectedLineNum: 5559001
DestConnectedLineName: <unknown>
DestLanguage: en
DestAccountCode:
DestContext: adhoc-ringer
DestExten: s
DestPriority: 1
DestUniqueid: 1796107011.2
DestLinkedid: 1796107011.0
Queue: hotline
Interface: Local/11@adhoc-ringer
MemberName: op1

Event: QueueMemberStatus
Privilege: agent,all
Timestamp: 1796107011.629860
Queue: hotline
MemberName: op1
Interface: Local/11@adhoc-ringer
StateInterface: Local/11@adhoc-ringer
Membership: dynamic
Penalty: 0
CallsTaken: 0
LastCall: 0
LastPause: 0
LoginTime: 1796107011
InCall: 0
Status: 2
Paused: 0
PausedReason:
Ringinuse: 0
Wrapuptime: 0

Event: QueueMemberRemoved
Privilege: agent,all
Timestamp: 1796107012.730407
Queue: hotline
MemberName: op1
Interface: Local/11@adhoc-ringer
StateInterface: Local/11@adhoc-ringer
Membership: dynamic
Penalty: 0
CallsTaken: 0
LastCall: 0
LastPause: 0
LoginTime: 1796107011
InCall: 0
Status: 2
Paused: 0
PausedReason:
Ringinuse: 0
Wrapuptime: 0

Event: AgentRingNoAnswer
Privilege: agent,all
Timestamp: 1796107026.629932
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107011.0
Linkedid: 1796107011.0
DestChannel: Local/11@adhoc-ringer-00000001;1
DestChannelState: 5
DestChannelStateDesc: Ringing
DestCallerIDNum: 5559001
DestCallerIDName: <unknown>
DestConnectedLineNum: 5559001
DestConnectedLineName: <unknown>
DestLanguage: en
DestAccountCode:
DestContext: adhoc-ringer
DestExten: s
DestPriority: 1
DestUniqueid: 1796107011.2
DestLinkedid: 1796107011.0
Queue: hotline
Interface: Local/11@adhoc-ringer
MemberName: op1
RingTime: 15000

Event: QueueCallerAbandon
Privilege: agent,all
Timestamp: 1796107032.734473
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107011.0
Linkedid: 1796107011.0
Queue: hotline
Position: 1
OriginalPosition: 1
HoldTime: 21

Event: QueueCallerLeave
Privilege: agent,all
Timestamp: 1796107032.734478
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107011.0
Linkedid: 1796107011.0
Queue: hotline
Position: 1
Count: 0
"""

# op1 answers after a 3 s ring; it was removed a second into the ring; the call lasts 5 s.
REMOVED_THEN_ANSWERS = """\
Event: QueueMemberAdded
Privilege: agent,all
Timestamp: 1796107040.007769
Queue: hotline
MemberName: op1
Interface: Local/11@adhoc-answer
StateInterface: Local/11@adhoc-answer
Membership: dynamic
Penalty: 0
CallsTaken: 0
LastCall: 0
LastPause: 0
LoginTime: 1796107040
InCall: 0
Status: 1
Paused: 0
PausedReason:
Ringinuse: 0
Wrapuptime: 0

Event: QueueMemberAdded
Privilege: agent,all
Timestamp: 1796107040.008116
Queue: hotline
MemberName: op102
Interface: Local/102@agents
StateInterface: PJSIP/102
Membership: dynamic
Penalty: 0
CallsTaken: 0
LastCall: 0
LastPause: 0
LoginTime: 1796107040
InCall: 0
Status: 5
Paused: 0
PausedReason:
Ringinuse: 0
Wrapuptime: 0

Event: QueueCallerJoin
Privilege: agent,all
Timestamp: 1796107040.009653
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107040.0
Linkedid: 1796107040.0
Queue: hotline
Position: 1
Count: 1

Event: AgentCalled
Privilege: agent,all
Timestamp: 1796107040.009726
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107040.0
Linkedid: 1796107040.0
DestChannel: Local/11@adhoc-answer-00000001;1
DestChannelState: 0
DestChannelStateDesc: Down
DestCallerIDNum: 5559001
DestCallerIDName: <unknown>
DestConnectedLineNum: 5559001
DestConnectedLineName: <unknown>
DestLanguage: en
DestAccountCode:
DestContext: adhoc-answer
DestExten: s
DestPriority: 1
DestUniqueid: 1796107040.2
DestLinkedid: 1796107040.0
Queue: hotline
Interface: Local/11@adhoc-answer
MemberName: op1

Event: QueueMemberStatus
Privilege: agent,all
Timestamp: 1796107040.010354
Queue: hotline
MemberName: op1
Interface: Local/11@adhoc-answer
StateInterface: Local/11@adhoc-answer
Membership: dynamic
Penalty: 0
CallsTaken: 0
LastCall: 0
LastPause: 0
LoginTime: 1796107040
InCall: 0
Status: 2
Paused: 0
PausedReason:
Ringinuse: 0
Wrapuptime: 0

Event: QueueMemberRemoved
Privilege: agent,all
Timestamp: 1796107041.111072
Queue: hotline
MemberName: op1
Interface: Local/11@adhoc-answer
StateInterface: Local/11@adhoc-answer
Membership: dynamic
Penalty: 0
CallsTaken: 0
LastCall: 0
LastPause: 0
LoginTime: 1796107040
InCall: 0
Status: 2
Paused: 0
PausedReason:
Ringinuse: 0
Wrapuptime: 0

Event: QueueCallerLeave
Privilege: agent,all
Timestamp: 1796107043.012442
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107040.0
Linkedid: 1796107040.0
Queue: hotline
Position: 1
Count: 0

Event: AgentConnect
Privilege: agent,all
Timestamp: 1796107043.012467
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107040.0
Linkedid: 1796107040.0
DestChannel: Local/11@adhoc-answer-00000001;1
DestChannelState: 6
DestChannelStateDesc: Up
DestCallerIDNum: 5559001
DestCallerIDName: <unknown>
DestConnectedLineNum: 5559001
DestConnectedLineName: <unknown>
DestLanguage: en
DestAccountCode:
DestContext: adhoc-answer
DestExten: s
DestPriority: 1
DestUniqueid: 1796107040.2
DestLinkedid: 1796107040.0
Queue: hotline
Interface: Local/11@adhoc-answer
MemberName: op1
HoldTime: 3
RingTime: 3

Event: AgentComplete
Privilege: agent,all
Timestamp: 1796107048.030457
Channel: Local/s@adhoc-hold-00000000;1
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: 5559001
CallerIDName: <unknown>
ConnectedLineNum: 5559001
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: adhoc-hold
Exten: s
Priority: 1
Uniqueid: 1796107040.0
Linkedid: 1796107040.0
DestChannel: Local/11@adhoc-answer-00000001;1
DestChannelState: 6
DestChannelStateDesc: Up
DestCallerIDNum: 5559001
DestCallerIDName: <unknown>
DestConnectedLineNum: 5559001
DestConnectedLineName: <unknown>
DestLanguage: en
DestAccountCode:
DestContext: adhoc-answer
DestExten: s
DestPriority: 1
DestUniqueid: 1796107040.2
DestLinkedid: 1796107040.0
Queue: hotline
Interface: Local/11@adhoc-answer
MemberName: op1
HoldTime: 3
TalkTime: 5
Reason: agent
"""

QUEUE_EVENTS = frozenset({"QueueMemberAdded", "QueueMemberRemoved", "QueueMemberStatus", "QueueCallerJoin",
                          "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentRingNoAnswer",
                          "AgentConnect", "AgentComplete"})


def recorded(excerpt: str) -> list[Message]:
    lines = [line + " " if line.endswith(":") else line for line in excerpt.split("\n")]
    _, frames = split_stream("\r\n".join(lines).encode() + b"\r\n\r\n", expect_banner=False)
    return [parse_frame(frame) for frame in frames]


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
