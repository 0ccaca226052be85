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


def add_member(tracker: QueueTracker, interface: str, at: float, name: str = "") -> None:
    tracker.apply(event("QueueMemberAdded", Interface=interface, MemberName=name or interface, Status="1",
                        Paused="0"), at)


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
    for interface in ("Local/a@agents", "Local/b@agents", "Local/c@agents"):
        add_member(tracker, interface, T0)
    for uid in ("1", "2", "3"):
        join(tracker, uid, T0)
    # ringall-style: two phones ring for caller 1; one gives up, the other is still ringing at the leave.
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/a@agents"), T0 + 1)
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/b@agents"), T0 + 1)
    tracker.apply(event("AgentRingNoAnswer", Uniqueid="1", Interface="Local/a@agents"), T0 + 16)
    assert tracker.apply(event("QueueCallerLeave", Uniqueid="1"), T0 + 17)[0]["reason"] == "connecting"
    # Caller 2 was rung by a phone that then logged out: once its ring has ended (AgentRingNoAnswer comes after
    # QueueMemberRemoved), leaving afterwards is an exit.
    tracker.apply(event("AgentCalled", Uniqueid="2", Interface="Local/c@agents"), T0 + 18)
    tracker.apply(event("QueueMemberRemoved", Interface="Local/c@agents"), T0 + 19)
    tracker.apply(event("AgentRingNoAnswer", Uniqueid="2", Interface="Local/c@agents", RingTime="1000"), T0 + 19)
    assert tracker.apply(event("QueueCallerLeave", Uniqueid="2"), T0 + 20)[0]["reason"] == "exited"
    # The phone that rang moved on to caller 3 (a new AgentCalled): caller 1's ring no longer counts for 3.
    tracker.apply(event("AgentCalled", Uniqueid="3", Interface="Local/b@agents"), T0 + 21)
    assert tracker.queues["hotline"].ringing == {"3": 1}
    assert tracker.queues["hotline"].caller("3") is not None and tracker.queues["hotline"].caller("1") is None


def test_a_caller_hanging_up_while_a_phone_rings_leaves_that_phone_free() -> None:
    """On a real Asterisk 22 an abandon while ringing ends with QueueCallerAbandon and QueueCallerLeave only: no
    AgentRingNoAnswer follows, so the member must not stay "ringing" until its next call."""
    tracker = QueueTracker()
    add_member(tracker, "Local/a@agents", T0)
    join(tracker, "1", T0)
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/a@agents"), T0 + 1)
    assert tracker.queues["hotline"].members["Local/a@agents"].state == "ringing"
    tracker.apply(event("QueueCallerAbandon", Uniqueid="1", HoldTime="3"), T0 + 3)
    changes = tracker.apply(event("QueueCallerLeave", Uniqueid="1"), T0 + 3)
    assert changes[0]["reason"] == "abandoned"
    assert [c["member"]["state"] for c in changes if c["type"] == "member"] == ["free"]
    assert tracker.queues["hotline"].members["Local/a@agents"].state == "free"
    assert tracker.queues["hotline"].ringing == {}


def test_service_level_and_speed_of_answer() -> None:
    tracker = QueueTracker(service_level_seconds=20)
    for uid, hold in (("1", 5), ("2", 20), ("3", 45)):
        join(tracker, uid, T0)
        interface = f"Local/{uid}@agents"
        add_member(tracker, interface, T0, f"op{uid}")
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
    add_member(tracker, "Local/1@agents", T0, "op1")
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


# -- members: only QueueMemberAdded (or a resync) makes one -------------------------------------------------------


def test_a_member_removed_while_ringing_does_not_come_back_as_a_free_ghost() -> None:
    """Asterisk 22 sends AgentRingNoAnswer AFTER QueueMemberRemoved for a member removed while being rung."""
    tracker = QueueTracker()
    add_member(tracker, "Local/1@agents", T0, "op1")
    add_member(tracker, "Local/2@agents", T0, "op2")
    join(tracker, "1", T0)
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/1@agents", MemberName="op1"), T0 + 1)
    tracker.apply(event("QueueMemberRemoved", Interface="Local/1@agents", MemberName="op1"), T0 + 2)
    queue = tracker.queues["hotline"]
    # Until its ring has ended, the caller is still being rung by the phone that left.
    assert queue.ringing == {"1": 1}
    assert tracker.apply(event("AgentRingNoAnswer", Uniqueid="1", Interface="Local/1@agents", MemberName="op1",
                               RingTime="1000"), T0 + 2) == []
    for late in (event("QueueMemberStatus", Interface="Local/1@agents", MemberName="op1", Status="1"),
                 event("QueueMemberPause", Interface="Local/1@agents", MemberName="op1", Paused="0"),
                 event("QueueMemberPenalty", Interface="Local/1@agents", Penalty="1"),
                 event("AgentDump", Uniqueid="1", Interface="Local/1@agents")):
        assert tracker.apply(late, T0 + 3) == []
    assert list(queue.members) == ["Local/2@agents"]
    assert queue.ringing == {} and queue.stray_rings == {}
    # The caller goes to the other operator: one answer, no exit.
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/2@agents", MemberName="op2"), T0 + 4)
    assert tracker.apply(event("QueueCallerLeave", Uniqueid="1"), T0 + 6)[0]["reason"] == "connecting"
    tracker.apply(event("AgentConnect", Uniqueid="1", Interface="Local/2@agents", HoldTime="6"), T0 + 6)
    assert (queue.counters.answered, queue.counters.exited) == (1, 0)
    assert {m.interface: m.state for m in queue.members.values()} == {"Local/2@agents": "talking"}


def test_a_caller_answered_by_a_phone_that_left_meanwhile_is_answered_without_a_ghost() -> None:
    tracker = QueueTracker()
    add_member(tracker, "Local/1@agents", T0, "op1")
    join(tracker, "1", T0)
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/1@agents", MemberName="op1"), T0 + 1)
    tracker.apply(event("QueueMemberRemoved", Interface="Local/1@agents"), T0 + 2)
    # The removal raced the answer: the leave and the connect still follow.
    assert tracker.apply(event("QueueCallerLeave", Uniqueid="1"), T0 + 2)[0]["reason"] == "connecting"
    changes = tracker.apply(event("AgentConnect", Uniqueid="1", Interface="Local/1@agents", MemberName="op1",
                                  HoldTime="2", CallerIDNum="5551"), T0 + 2)
    queue = tracker.queues["hotline"]
    assert [c["type"] for c in changes] == ["call_connected", "counters"]
    assert changes[0]["interface"] == "Local/1@agents" and changes[0]["member_name"] == "op1"
    assert (queue.counters.answered, queue.counters.exited, queue.counters.answered_within_threshold) == (1, 0, 1)
    assert queue.members == {} and queue.calls == {} and queue.ringing == {}
    completed = tracker.apply(event("AgentComplete", Uniqueid="1", Interface="Local/1@agents", TalkTime="90",
                                    Reason="agent"), T0 + 92)
    assert completed[0]["type"] == "call_completed" and completed[0]["talk_seconds"] == 90
    assert (queue.counters.completed, queue.counters.talk_seconds) == (1, 90)
    assert queue.members == {} and queue.departed_calls == {}


def test_a_member_removed_mid_call_has_its_call_completed_but_does_not_come_back() -> None:
    tracker = QueueTracker()
    add_member(tracker, "Local/1@agents", T0, "op1")
    join(tracker, "1", T0)
    tracker.apply(event("AgentCalled", Uniqueid="1", Interface="Local/1@agents"), T0 + 1)
    tracker.apply(event("QueueCallerLeave", Uniqueid="1"), T0 + 2)
    tracker.apply(event("AgentConnect", Uniqueid="1", Interface="Local/1@agents", HoldTime="2"), T0 + 2)
    tracker.apply(event("QueueMemberRemoved", Interface="Local/1@agents"), T0 + 30)
    queue = tracker.queues["hotline"]
    assert queue.members == {} and queue.calls == {}  # the estimates count no server that has left
    tracker.apply(event("AgentComplete", Interface="Local/1@agents", TalkTime="60", Reason="caller"), T0 + 62)
    tracker.apply(event("QueueMemberStatus", Interface="Local/1@agents", Status="1"), T0 + 62)
    assert queue.members == {}
    assert (queue.counters.answered, queue.counters.completed, queue.counters.talk_seconds) == (1, 1, 60)


def test_events_about_a_stranger_change_nothing() -> None:
    tracker = QueueTracker()
    add_member(tracker, "Local/1@agents", T0, "op1")
    queue = tracker.queues["hotline"]
    before = tracker.snapshot()
    for stray in (event("AgentComplete", Interface="Local/9@agents", TalkTime="60", Reason="agent"),
                  event("AgentRingNoAnswer", Uniqueid="5", Interface="Local/9@agents"),
                  event("QueueMemberStatus", Interface="Local/9@agents", Status="1"),
                  event("QueueMemberPause", Interface="Local/9@agents", Paused="1")):
        assert tracker.apply(stray, T0 + 1) == []
    assert tracker.snapshot() == before
    assert list(queue.members) == ["Local/1@agents"]
    # QueueMemberAdded does make one, with the device app_queue watches for it.
    tracker.apply(event("QueueMemberAdded", Interface="Local/9@agents", MemberName="op9",
                        StateInterface="PJSIP/9", Status="5"), T0 + 2)
    assert queue.members["Local/9@agents"].state_interface == "PJSIP/9"
    assert queue.members["Local/9@agents"].state == "unavailable"
    assert queue.members["Local/1@agents"].state_interface == "Local/1@agents"  # none given: the interface


def test_a_resync_makes_members_with_their_state_interface() -> None:
    tracker = QueueTracker()
    tracker.resync([item("QueueParams", Completed="0", Abandoned="0"),
                    item("QueueMember", Name="op1", Location="Local/1@agents", StateInterface="PJSIP/1",
                         Status="5", Paused="0", InCall="0")], T0)
    member = tracker.queues["hotline"].members["Local/1@agents"]
    assert (member.name, member.state_interface, member.state) == ("op1", "PJSIP/1", "unavailable")


# -- a restarted service continues today's counters ----------------------------------------------------------------


def _live_day(tracker: QueueTracker) -> list[dict[str, str]]:
    """A morning on a live tracker; returns the report's facts it made (as the FactRecorder writes them)."""
    from callcenter.reports.facts import call_facts

    facts: list[dict[str, str]] = []

    def apply(message: Message, at: float) -> None:
        facts.extend(f for change in tracker.apply(message, at) if (f := call_facts(change, at)) is not None)

    apply(event("QueueMemberAdded", Interface="Local/1@agents", MemberName="op1", Status="1"), T0)
    for uid in ("1", "2", "3", "4", "5"):
        apply(event("QueueCallerJoin", Uniqueid=uid, Channel=f"c{uid}", CallerIDNum=f"555{uid}"), T0 + int(uid))
    # 1 is answered after 10 s and talks 100 s; 2 gives up after 40 s; 3 presses 2; 4 and 5 still wait.
    apply(event("AgentCalled", Uniqueid="1", Interface="Local/1@agents"), T0 + 9)
    apply(event("QueueCallerLeave", Uniqueid="1"), T0 + 11)
    apply(event("AgentConnect", Uniqueid="1", Interface="Local/1@agents", HoldTime="10", RingTime="2"), T0 + 11)
    apply(event("QueueCallerAbandon", Uniqueid="2", HoldTime="40"), T0 + 42)
    apply(event("QueueCallerLeave", Uniqueid="2"), T0 + 42)
    apply(event("QueueCallerLeave", Uniqueid="3"), T0 + 50)
    apply(event("AgentComplete", Interface="Local/1@agents", TalkTime="100", Reason="agent"), T0 + 111)
    return facts


def test_counters_restored_from_the_facts_equal_the_live_ones() -> None:
    from callcenter.reports.facts import day_record

    live = QueueTracker()
    facts = _live_day(live)
    restarted = QueueTracker()
    record = day_record(facts + facts[:4], "2026-11-23", ZoneInfo("Europe/Moscow"), 20)  # duplicates count once
    assert restarted.restore_today("hotline", record, T0 + 120)
    assert restarted.queues["hotline"].counters == live.queues["hotline"].counters
    assert record.unsettled == {"4", "5"}
    # The estimates continue too: the handle time and the patience learnt from the same calls.
    assert restarted.queues["hotline"].stats.handle == live.queues["hotline"].stats.handle
    assert restarted.queues["hotline"].stats.abandon == live.queues["hotline"].stats.abandon
    assert restarted.queues["hotline"].stats.recent_joins == live.queues["hotline"].stats.recent_joins


def test_the_first_resync_after_a_restart_neither_offers_twice_nor_loses_a_caller() -> None:
    from callcenter.reports.facts import day_record

    facts = _live_day(QueueTracker())
    tracker = QueueTracker()
    tracker.restore_today("hotline", day_record(facts, "2026-11-23", ZoneInfo("Europe/Moscow"), 20), T0 + 120)
    midnight = datetime(2026, 11, 23, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()
    # While the service was down: 5 went away, 6 joined and waits; 4 still waits; 7 has waited since yesterday.
    tracker.resync([item("QueueParams", Completed="1", Abandoned="3"),
                    item("QueueEntry", Uniqueid="4", Position="1", Wait="200", CallerIDNum="5554"),
                    item("QueueEntry", Uniqueid="6", Position="2", Wait="30", CallerIDNum="5556"),
                    item("QueueEntry", Uniqueid="7", Position="3", Wait=str(int(T0 + 300 - midnight) + 60),
                         CallerIDNum="5557")], T0 + 300)
    queue = tracker.queues["hotline"]
    assert [c.uniqueid for c in queue.waiting] == ["4", "6", "7"]
    counters = queue.counters
    assert (counters.offered, counters.answered, counters.abandoned, counters.exited) == (6, 1, 1, 1)
    assert counters.unknown_outcome == 1 and queue.unsettled == set()
    # 4 is answered now: counted once, as any caller this tracker saw wait.
    tracker.apply(event("AgentCalled", Uniqueid="4", Interface="Local/1@agents"), T0 + 301)
    tracker.apply(event("QueueCallerLeave", Uniqueid="4"), T0 + 302)
    tracker.apply(event("AgentConnect", Uniqueid="4", Interface="Local/1@agents", HoldTime="298"), T0 + 302)
    assert (counters.offered, counters.answered) == (6, 2)
    # A second resync changes nothing.
    tracker.resync([item("QueueParams", Completed="1", Abandoned="3"),
                    item("QueueEntry", Uniqueid="6", Position="1", Wait="33", CallerIDNum="5556")], T0 + 303)
    assert (counters.offered, counters.unknown_outcome) == (6, 2)  # 7 went away in between: unknown


def test_a_record_of_another_day_is_not_restored() -> None:
    from callcenter.pbx.tracker import Counters, DayRecord

    tracker = QueueTracker()
    assert not tracker.restore_today("hotline", DayRecord(Counters(day="2026-11-22", offered=9)), T0)
    assert tracker.queues["hotline"].counters.offered == 0
    assert not QueueTracker(queues=["other"]).restore_today("hotline", DayRecord(Counters(day="2026-11-23")), T0)


def test_a_caller_settled_live_before_the_first_resync_is_not_also_unknown() -> None:
    from callcenter.reports.facts import day_record

    facts = _live_day(QueueTracker())
    tracker = QueueTracker()
    tracker.restore_today("hotline", day_record(facts, "2026-11-23", ZoneInfo("Europe/Moscow"), 20), T0 + 120)
    add_member(tracker, "Local/1@agents", T0 + 120)
    # Between the login and the resync: 5 is answered, 4 gives up.
    tracker.apply(event("AgentConnect", Uniqueid="5", Interface="Local/1@agents", HoldTime="116"), T0 + 121)
    tracker.apply(event("QueueCallerAbandon", Uniqueid="4", HoldTime="117"), T0 + 121)
    tracker.resync([item("QueueParams", Completed="1", Abandoned="2")], T0 + 122)
    counters = tracker.queues["hotline"].counters
    assert (counters.offered, counters.answered, counters.abandoned, counters.unknown_outcome) == (5, 2, 2, 0)

