"""The tracker on hand-made event sequences, for the cases no recording shows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from callcenter.pbx.protocol import Message
from callcenter.pbx.tracker import QueueTracker

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()


def event(name: str, **headers: str) -> Message:
    return Message("event", name, [("Event", name), ("Queue", "hotline"), *headers.items()])


def item(name: str, **headers: str) -> Message:
    return Message("event", name, [("Event", name), ("Queue", "hotline"), *headers.items()])


def join(tracker: QueueTracker, uid: str, at: float) -> None:
    queue = tracker.queues.get("hotline")
    position = len(queue.waiting) + 1 if queue else 1
    tracker.apply(event("QueueCallerJoin", Uniqueid=uid, CallerIDNum=f"555{uid}", Channel=f"c{uid}",
                        Position=str(position)), at)


def test_positions_close_up_when_someone_ahead_leaves() -> None:
    tracker = QueueTracker()
    for index in range(1, 5):
        join(tracker, str(index), T0 + index)
    tracker.apply(event("QueueCallerAbandon", Uniqueid="2", HoldTime="30"), T0 + 30)
    changes = tracker.apply(event("QueueCallerLeave", Uniqueid="2", Position="2"), T0 + 30)
    assert changes[0] == {"type": "caller_left", "queue": "hotline", "uniqueid": "2", "reason": "abandoned",
                          "hold_seconds": 30}
    waiting = tracker.queues["hotline"].waiting
    assert [(c.uniqueid, c.position) for c in waiting] == [("1", 1), ("3", 2), ("4", 3)]


def test_leaving_without_an_operator_ringing_is_an_exit_not_an_answer() -> None:
    tracker = QueueTracker()
    join(tracker, "1", T0)
    tracker.apply(event("QueueCallerLeave", Uniqueid="1"), T0 + 10)  # pressed the callback key
    counters = tracker.queues["hotline"].counters
    assert (counters.exited, counters.answered, counters.abandoned) == (1, 0, 0)


def test_a_leave_is_connecting_only_while_some_operator_still_rings_for_that_caller() -> None:
    tracker = QueueTracker()
    for uid in ("1", "2", "3"):
        join(tracker, uid, T0)
    # ringall-style: two phones ring for caller 1; one gives up, the other is still ringing at the leave.
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/a@agents"), T0 + 1)
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/b@agents"), T0 + 1)
    tracker.apply(event("AgentRingNoAnswer", Uniqueid="1", Interface="Local/a@agents"), T0 + 16)
    assert tracker.apply(event("QueueCallerLeave", Uniqueid="1"), T0 + 17)[0]["reason"] == "connecting"
    # Caller 2 was rung by a phone that then logged out: leaving afterwards is an exit.
    tracker.apply(event("AgentCalled", Uniqueid="2", Interface="Local/c@agents"), T0 + 18)
    tracker.apply(event("QueueMemberRemoved", Interface="Local/c@agents"), T0 + 19)
    assert tracker.apply(event("QueueCallerLeave", Uniqueid="2"), T0 + 20)[0]["reason"] == "exited"
    # The phone that rang moved on to caller 3 (a new AgentCalled): caller 1's ring no longer counts for 3.
    tracker.apply(event("AgentCalled", Uniqueid="3", Interface="Local/b@agents"), T0 + 21)
    assert tracker.queues["hotline"].ringing == {"3": 1}
    assert tracker.queues["hotline"].caller("3") is not None and tracker.queues["hotline"].caller("1") is None


def test_service_level_and_speed_of_answer() -> None:
    tracker = QueueTracker(service_level_seconds=20)
    for uid, hold in (("1", 5), ("2", 20), ("3", 45)):
        join(tracker, uid, T0)
        interface = f"Local/{uid}@agents"
        tracker.apply(event("AgentCalled", Uniqueid=uid, Interface=interface, MemberName=f"op{uid}"), T0 + hold)
        tracker.apply(event("QueueCallerLeave", Uniqueid=uid), T0 + hold)
        tracker.apply(event("AgentConnect", Uniqueid=uid, Interface=interface, MemberName=f"op{uid}",
                            HoldTime=str(hold), CallerIDNum=f"555{uid}"), T0 + hold)
    counters = tracker.queues["hotline"].counters
    assert (counters.answered, counters.answered_within_threshold) == (3, 2)
    assert counters.wait_seconds_answered == 70
    assert counters.longest_wait_answered == 45
    members = tracker.queues["hotline"].members
    assert {m.state for m in members.values()} == {"talking"}


def test_agent_complete_without_channel_headers_matches_by_interface() -> None:
    tracker = QueueTracker()
    join(tracker, "1", T0)
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/1@agents", MemberName="op1"), T0 + 2)
    tracker.apply(event("QueueCallerLeave", Uniqueid="1"), T0 + 3)
    tracker.apply(event("AgentConnect", Uniqueid="1", Interface="Local/1@agents", HoldTime="3"), T0 + 3)
    tracker.apply(event("AgentComplete", Interface="Local/1@agents", TalkTime="120", HoldTime="3",
                        Reason="agent"), T0 + 123)
    queue = tracker.queues["hotline"]
    assert queue.calls == {}
    assert (queue.counters.completed, queue.counters.talk_seconds) == (1, 120)
    assert queue.members["Local/1@agents"].state == "free"


def test_counters_start_afresh_at_local_midnight_without_recounting_who_still_waits() -> None:
    tracker = QueueTracker()
    late = datetime(2026, 11, 23, 23, 59, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()
    join(tracker, "1", late)
    assert tracker.queues["hotline"].counters.offered == 1
    tracker.apply(event("QueueCallerAbandon", Uniqueid="1", HoldTime="120"), late + 120)
    queue = tracker.queues["hotline"]
    assert queue.counters.day == "2026-11-24"
    assert (queue.counters.offered, queue.counters.abandoned) == (0, 1)


def test_resync_settles_callers_lost_in_a_gap_from_asterisk_counters() -> None:
    tracker = QueueTracker()
    params = {"Completed": "10", "Abandoned": "4"}
    tracker.resync([item("QueueParams", **params)], T0)
    for uid in ("1", "2", "3"):
        join(tracker, uid, T0 + 1)
    # While disconnected: "1" and "2" gave up, "3" was answered and finished; "9" joined and still waits.
    tracker.resync([item("QueueParams", Completed="11", Abandoned="6"),
                    item("QueueEntry", Uniqueid="9", Position="1", Wait="5", CallerIDNum="5559")], T0 + 60)
    queue = tracker.queues["hotline"]
    assert [c.uniqueid for c in queue.waiting] == ["9"]
    assert queue.waiting[0].joined_at == T0 + 55
    assert (queue.counters.offered, queue.counters.abandoned, queue.counters.unknown_outcome) == (4, 2, 1)
    # A second identical resync changes nothing.
    tracker.resync([item("QueueParams", Completed="11", Abandoned="6"),
                    item("QueueEntry", Uniqueid="9", Position="1", Wait="6", CallerIDNum="5559")], T0 + 61)
    assert (queue.counters.offered, queue.counters.abandoned, queue.counters.unknown_outcome) == (4, 2, 1)


def test_other_queues_are_ignored_when_the_tracker_is_scoped() -> None:
    tracker = QueueTracker(queues=["hotline"])
    tracker.apply(Message("event", "QueueCallerJoin", [("Event", "QueueCallerJoin"), ("Queue", "sales"),
                                                       ("Uniqueid", "1")]), T0)
    assert tracker.queues == {}
