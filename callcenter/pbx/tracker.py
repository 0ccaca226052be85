"""The hotline queue as Asterisk sees it: a pure state machine fed by AMI messages (no I/O).

What the real Asterisk 22 stream taught (tests/data/ami/README.md):
- QueueCallerLeave comes BEFORE AgentConnect; an abandon is QueueCallerAbandon then QueueCallerLeave. So a
  leave is only an answer if an operator was being rung for that caller; it is settled at AgentConnect.
- AgentComplete may lack every channel header: it is matched to the call by queue + member interface.
- QueueMemberStatus' InCall is racy: "on a call" comes from AgentConnect/AgentComplete (or QueueStatus).
- A client that connects mid-call sees completions of calls it never saw start: they change member state but
  are not counted (they were answered before this tracker watched, or are already counted).
- Callers are counted as offered once per Uniqueid per day, so a resync after a reconnect never doubles a
  count. Callers who vanished during a link gap are settled from QueueParams' Abandoned counter when Asterisk
  still has the baseline, and otherwise counted as `unknown_outcome`.
- Only QueueMemberAdded (and a resync's QueueMember list) makes a member. A phone whose member is removed
  while it rings rings on: its AgentRingNoAnswer comes AFTER QueueMemberRemoved (at the ring timeout), or it
  answers and QueueCallerLeave, AgentConnect and AgentComplete follow for an interface that is no longer a
  member (recorded: tests/test_members_removed_while_ringing.py). An event about a member that is not (or no
  longer) in the queue changes no member: the ring or call it was part of is still settled (the caller
  answered, the talk time counted), but no "free" ghost appears in `members`.
- A restarted service continues today's counters from a record of them (`restore_today`, from the day
  report's facts); the callers in it count as already offered, so those still waiting at the first resync are
  not offered twice, and those gone by then are `unknown_outcome`.

Times are epoch seconds supplied by the caller of `apply` (the receive time), or the event's `Timestamp`
header when the PBX sends one (manager.conf timestampevents), which makes replays exact.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.hotline.estimate import (
    DEFAULT_HANDLE_SECONDS,
    RING_SECONDS,
    AbandonRate,
    AppQueueEstimate,
    EstimateMemo,
    LogNormalFit,
    RunningMean,
)
from callcenter.hotline.hazard import HazardCurve
from callcenter.pbx.protocol import Message

# Events the tracker acts on; everything else can be skipped unparsed.
TRACKED_EVENTS = frozenset(
    {
        b"QueueCallerJoin", b"QueueCallerLeave", b"QueueCallerAbandon", b"AgentCalled", b"AgentConnect",
        b"AgentComplete", b"AgentRingNoAnswer", b"AgentDump", b"QueueMemberAdded", b"QueueMemberRemoved",
        b"QueueMemberPause", b"QueueMemberStatus", b"QueueMemberPenalty", b"QueueParams", b"QueueMember",
        b"QueueEntry", b"FullyBooted",
    }
)
MEMBER_STATUS = {
    0: "unknown", 1: "not_in_use", 2: "in_use", 3: "busy", 4: "invalid", 5: "unavailable", 6: "ringing",
    7: "ring_in_use", 8: "on_hold",
}
# A pause this soon after the member's call ended is after-call work.
AFTER_CALL = 2.0
# Bound on callers remembered as "left, maybe being connected": a leave with no AgentConnect (a race, a
# transfer) must not grow memory for the whole day.
MAX_PENDING_CONNECTS = 1000

Change = dict[str, Any]


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


@dataclass
class Caller:
    uniqueid: str
    channel: str
    callerid: str
    callername: str
    position: int
    joined_at: float
    # "call": a resident on the line; "callback": a placeholder holding a callback's place; "video": a
    # placeholder holding a video session's place while it waits for an operator.
    kind: str = "call"


def caller_kind(channel: str) -> str:
    if "@callback-placeholder" in channel:
        return "callback"
    return "video" if "@video-placeholder" in channel else "call"


@dataclass
class Member:
    interface: str
    name: str
    status: int = 1
    paused: bool = False
    paused_reason: str = ""
    in_call: bool = False
    ringing_for: str | None = None
    calls_taken: int = 0
    last_call_end: float | None = None
    logged_in_at: float | None = None
    penalty: int = 0
    # The device app_queue watches for the member (QueueAdd's StateInterface; the interface itself if none).
    state_interface: str = ""
    # When this tracker saw the member pause (None: not paused, or paused before it watched).
    paused_at: float | None = None

    @property
    def state(self) -> str:
        """What the dashboard shows: paused, talking, ringing, unavailable or free."""
        if self.paused:
            return "paused"
        if self.in_call:
            return "talking"
        if self.ringing_for is not None:
            return "ringing"
        if self.status in (4, 5):
            return "unavailable"
        return "free"

    def to_json(self) -> dict[str, Any]:
        data = dict(vars(self))  # every field is a scalar: a shallow copy is the whole record, cheaply
        data["state"] = self.state
        data["status_text"] = MEMBER_STATUS.get(self.status, "unknown")
        return data


@dataclass
class ActiveCall:
    uniqueid: str | None
    callerid: str
    interface: str
    member_name: str
    answered_at: float
    hold_seconds: int


@dataclass
class Counters:
    day: str
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    exited: int = 0
    unknown_outcome: int = 0
    answered_within_threshold: int = 0
    callbacks_connected: int = 0
    wait_seconds_answered: float = 0.0
    wait_seconds_abandoned: float = 0.0
    longest_wait_answered: float = 0.0
    completed: int = 0
    talk_seconds: float = 0.0


@dataclass
class DayRecord:
    """Today's counters as recorded outside the tracker (the day report's facts), for a restarted service to
    continue from: the counters, who was already counted as offered, who of them has no recorded outcome (still
    waiting, or gone while nobody watched), and the samples the estimates learn from, in the order they came."""

    counters: Counters
    seen: set[str] = field(default_factory=set)
    unsettled: set[str] = field(default_factory=set)
    talk_seconds: list[float] = field(default_factory=list)
    waits: list[tuple[float, bool]] = field(default_factory=list)  # (seconds, abandoned)
    joins: list[float] = field(default_factory=list)  # when each caller offered today joined, in order


@dataclass
class QueueStats:
    """What the wait estimates learn from: handle time, patience, arrivals; and app_queue's own average."""

    handle: RunningMean = field(default_factory=lambda: RunningMean(DEFAULT_HANDLE_SECONDS))
    handle_fit: LogNormalFit = field(default_factory=LogNormalFit)
    ring: RunningMean = field(default_factory=lambda: RunningMean(RING_SECONDS, weight=0.1))
    abandon: AbandonRate = field(default_factory=AbandonRate)
    # Callers' patience (served callers' waits censored) and operators' pauses, with no shape assumed.
    patience: HazardCurve = field(default_factory=HazardCurve)
    pauses: HazardCurve = field(default_factory=HazardCurve)
    # Calls ended by members, and of them those followed at once by a pause (after-call work).
    completions: int = 0
    pauses_after_call: int = 0

    @property
    def after_call_share(self) -> float:
        return self.pauses_after_call / (self.completions + 5)  # a few calls before it says much
    app_queue: AppQueueEstimate = field(default_factory=AppQueueEstimate)
    # A deque trimmed from the left: rebuilding a list at every join was quadratic at ten joins a second.
    recent_joins: deque[float] = field(default_factory=deque)
    estimate_memo: EstimateMemo | None = None

    def joined(self, now: float, window: float = 900.0) -> None:
        self.recent_joins.append(now)
        cutoff = now - window
        while self.recent_joins and self.recent_joins[0] < cutoff:
            self.recent_joins.popleft()

    def arrival_rate(self, now: float, window: float = 900.0) -> float:
        """Joins per second over the last `window` seconds."""
        cutoff = now - window
        while self.recent_joins and self.recent_joins[0] < cutoff:
            self.recent_joins.popleft()
        return len(self.recent_joins) / window


@dataclass
class QueueState:
    name: str
    waiting: list[Caller] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    calls: dict[str, ActiveCall] = field(default_factory=dict)  # by member interface
    counters: Counters = field(default_factory=lambda: Counters(day=""))
    seen_today: set[str] = field(default_factory=set)
    pending_connect: OrderedDict[str, Caller] = field(default_factory=OrderedDict)
    pending_abandon: dict[str, int] = field(default_factory=dict)  # uniqueid -> hold seconds
    stats: QueueStats = field(default_factory=QueueStats)
    # Asterisk's own counters at the last QueueStatus, to settle callers lost in a link gap.
    baseline_abandoned: int | None = None
    baseline_completed: int | None = None
    abandoned_since_baseline: int = 0
    # Indexes kept beside `waiting` and the members' `ringing_for`: at a hundred times the traffic, with
    # hundreds waiting and ringing, scanning them on every event was the tracker's top cost.
    waiting_by_id: dict[str, Caller] = field(default_factory=dict)
    ringing: Counter[str] = field(default_factory=Counter)  # uniqueid -> members being rung for it
    # Rings and calls of interfaces that are not (or no longer) members: a member removed while its phone rang
    # or while talking. Kept out of `members` and `calls` (no ghost operator, no phantom server in the
    # estimates) until AgentRingNoAnswer/AgentConnect/AgentComplete settles them, or the next resync.
    stray_rings: dict[str, str] = field(default_factory=dict)  # interface -> uniqueid
    departed_calls: dict[str, ActiveCall] = field(default_factory=dict)  # by interface
    # Offered today by a previous run of the service (restore_today) with no outcome recorded; settled at the
    # next resync: still waiting, or gone while nobody watched (unknown_outcome).
    unsettled: set[str] = field(default_factory=set)

    def caller(self, uniqueid: str) -> Caller | None:
        return self.waiting_by_id.get(uniqueid)

    def set_waiting(self, callers: list[Caller]) -> None:
        self.waiting = callers
        self.waiting_by_id = {c.uniqueid: c for c in callers}
        self.renumber()

    def insert_waiting(self, index: int, caller: Caller) -> None:
        self.waiting.insert(index, caller)
        self.waiting_by_id[caller.uniqueid] = caller
        self.renumber()

    def remove_waiting(self, caller: Caller) -> None:
        self.waiting.remove(caller)
        self.waiting_by_id.pop(caller.uniqueid, None)
        self.renumber()

    def ring(self, member: Member, uniqueid: str | None) -> None:
        """Set who the member's phone rings for, keeping the count per caller."""
        if member.ringing_for is not None:
            self.ringing[member.ringing_for] -= 1
            if self.ringing[member.ringing_for] <= 0:
                del self.ringing[member.ringing_for]
        member.ringing_for = uniqueid
        if uniqueid is not None:
            self.ringing[uniqueid] += 1

    def ring_stray(self, interface: str, uniqueid: str | None) -> None:
        """As `ring`, for an interface that is not a member."""
        before = self.stray_rings.pop(interface, None)
        if before is not None:
            self.ringing[before] -= 1
            if self.ringing[before] <= 0:
                del self.ringing[before]
        if uniqueid is not None:
            self.stray_rings[interface] = uniqueid
            self.ringing[uniqueid] += 1

    def reindex_ringing(self) -> None:
        self.stray_rings.clear()
        self.ringing = Counter(m.ringing_for for m in self.members.values() if m.ringing_for is not None)

    def renumber(self) -> None:
        for index, waiting in enumerate(self.waiting, start=1):
            waiting.position = index


class QueueTracker:
    def __init__(self, timezone: str = "Europe/Moscow", service_level_seconds: int = 20,
                 queues: Iterable[str] | None = None) -> None:
        self.zone = ZoneInfo(timezone)
        self.threshold = service_level_seconds
        self.only = frozenset(queues) if queues is not None else None
        self.queues: dict[str, QueueState] = {}

    # -- helpers -------------------------------------------------------------------------------------------

    def _day(self, now: float) -> str:
        return datetime.fromtimestamp(now, self.zone).date().isoformat()

    def queue(self, name: str, now: float) -> QueueState:
        state = self.queues.get(name)
        if state is None:
            state = self.queues[name] = QueueState(name=name, counters=Counters(day=self._day(now)))
        self._roll_day(state, now)
        return state

    def _roll_day(self, state: QueueState, now: float) -> None:
        today = self._day(now)
        if state.counters.day != today:
            state.counters = Counters(day=today)
            # Callers still waiting at midnight stay known, so they are not offered twice.
            state.seen_today = {c.uniqueid for c in state.waiting}
            state.unsettled.clear()

    def _wanted(self, name: str | None) -> bool:
        return name is not None and (self.only is None or name in self.only)

    @staticmethod
    def _time(message: Message, now: float) -> float:
        stamp = message.get("Timestamp")
        if stamp:
            try:
                return float(stamp)
            except ValueError:
                pass
        return now

    # -- events --------------------------------------------------------------------------------------------

    def apply(self, message: Message, now: float) -> list[Change]:
        """Fold one event into the state; returns what changed, for live dashboards."""
        if message.kind != "event":
            return []
        handler = getattr(self, f"_on_{message.name}", None)
        if handler is None:
            return []
        if message.name == "FullyBooted":
            return handler(message, now)  # type: ignore[no-any-return]
        queue_name = message.get("Queue")
        if not self._wanted(queue_name):
            return []
        assert queue_name is not None
        return handler(self.queue(queue_name, now), message, self._time(message, now))  # type: ignore[no-any-return]

    def _on_FullyBooted(self, message: Message, now: float) -> list[Change]:
        # Seen at every login too; an Asterisk restart shows up as counters going down at the next resync.
        return []

    def _on_QueueCallerJoin(self, q: QueueState, m: Message, now: float) -> list[Change]:
        uniqueid = m.get("Uniqueid", "")
        assert uniqueid is not None
        if q.caller(uniqueid) is not None:
            return []
        channel = m.get("Channel", "") or ""
        caller = Caller(uniqueid, channel, m.get("CallerIDNum", "") or "", m.get("CallerIDName", "") or "",
                        _int(m.get("Position"), len(q.waiting) + 1), now, caller_kind(channel))
        index = min(max(caller.position - 1, 0), len(q.waiting))
        q.insert_waiting(index, caller)
        if caller.kind == "call" and uniqueid not in q.seen_today:
            q.seen_today.add(uniqueid)
            q.counters.offered += 1
        q.stats.joined(now)
        return [{"type": "caller_joined", "queue": q.name, "caller": dict(vars(caller))}, self._counters(q)]

    def _on_QueueCallerAbandon(self, q: QueueState, m: Message, now: float) -> list[Change]:
        uniqueid = m.get("Uniqueid", "") or ""
        caller = q.caller(uniqueid)
        if caller_kind(m.get("Channel") or "") != "call":
            q.pending_abandon[uniqueid] = 0  # a placeholder withdrawn (carried over): not a caller giving up
            return []
        hold = _int(m.get("HoldTime"), int(now - caller.joined_at) if caller else 0)
        q.unsettled.discard(uniqueid)
        q.counters.abandoned += 1
        q.abandoned_since_baseline += 1
        q.counters.wait_seconds_abandoned += hold
        q.stats.abandon.add_wait(hold, abandoned=True)
        q.stats.patience.add(hold, ended=True)
        q.pending_abandon[uniqueid] = hold
        return [self._counters(q)]

    def _on_QueueCallerLeave(self, q: QueueState, m: Message, now: float) -> list[Change]:
        uniqueid = m.get("Uniqueid", "") or ""
        caller = q.caller(uniqueid)
        if caller is None:
            return []
        q.remove_waiting(caller)
        hold = int(now - caller.joined_at)
        if uniqueid in q.pending_abandon:
            hold = q.pending_abandon.pop(uniqueid)
            reason = "abandoned" if caller.kind == "call" else "withdrawn"
            # A caller who hangs up while phones ring for them: Asterisk sends no AgentRingNoAnswer (seen on a
            # real Asterisk 22), so those phones stop ringing here or they would show "ringing" until their next
            # call.
            rung = [member for member in q.members.values() if member.ringing_for == uniqueid]
            for member in rung:
                q.ring(member, None)
            return [{"type": "caller_left", "queue": q.name, "uniqueid": uniqueid, "reason": reason,
                     "hold_seconds": hold}, self._counters(q), *(self._member_change(q, m) for m in rung)]
        elif q.ringing.get(uniqueid):
            q.pending_connect[uniqueid] = caller
            while len(q.pending_connect) > MAX_PENDING_CONNECTS:
                q.pending_connect.popitem(last=False)
            reason = "connecting"
        else:
            q.counters.exited += caller.kind == "call"
            reason = "exited"
        return [{"type": "caller_left", "queue": q.name, "uniqueid": uniqueid, "reason": reason,
                 "hold_seconds": hold}, self._counters(q)]

    @staticmethod
    def _interface(m: Message) -> str:
        return m.get("Interface") or m.get("Location") or ""

    def _known(self, q: QueueState, m: Message) -> Member | None:
        """The member an event is about; None if it is not (or no longer) in the queue. Only QueueMemberAdded
        and a resync create members: AgentRingNoAnswer comes after QueueMemberRemoved when a ringing member is
        removed, and any other event about a stranger would make a ghost that looks free."""
        return q.members.get(self._interface(m))

    def _member_change(self, q: QueueState, member: Member) -> Change:
        return {"type": "member", "queue": q.name, "member": member.to_json()}

    def _on_AgentCalled(self, q: QueueState, m: Message, now: float) -> list[Change]:
        member = self._known(q, m)
        if member is None:
            # Rung though not a member (a removal raced the ring): the caller's leave is still a connect.
            q.ring_stray(self._interface(m), m.get("Uniqueid"))
            return []
        q.ring(member, m.get("Uniqueid"))
        return [self._member_change(q, member)]

    def _on_AgentRingNoAnswer(self, q: QueueState, m: Message, now: float) -> list[Change]:
        member = self._known(q, m)
        if member is None:
            q.ring_stray(self._interface(m), None)
            return []
        q.ring(member, None)
        return [self._member_change(q, member)]

    _on_AgentDump = _on_AgentRingNoAnswer

    def _on_AgentConnect(self, q: QueueState, m: Message, now: float) -> list[Change]:
        interface = self._interface(m)
        member = self._known(q, m)
        uniqueid = m.get("Uniqueid")
        caller = q.pending_connect.pop(uniqueid, None) if uniqueid else None
        if caller is None and uniqueid:
            # AgentConnect without a preceding leave (not seen in Asterisk 22, but cheap to accept).
            caller = q.caller(uniqueid)
            if caller is not None:
                q.remove_waiting(caller)
        hold = _int(m.get("HoldTime"), int(now - caller.joined_at) if caller else 0)
        if uniqueid:
            q.unsettled.discard(uniqueid)  # settled live before the first resync after a restart
        name = member.name if member is not None else m.get("MemberName") or interface
        call = ActiveCall(uniqueid, m.get("CallerIDNum", "") or "", interface, name, now, hold)
        if member is not None:
            member.in_call = True
            q.ring(member, None)
            q.calls[interface] = call
        else:
            # Answered by a phone that has left the queue meanwhile: the caller was answered all the same.
            q.ring_stray(interface, None)
            q.departed_calls[interface] = call
        if caller is not None and caller.kind == "callback":
            q.counters.callbacks_connected += 1
        elif caller is not None and caller.kind == "video":
            pass  # a video session's operator: counted with the video sessions, not as an answered call
        elif uniqueid and (caller is not None or uniqueid in q.seen_today):
            q.counters.answered += 1
            q.counters.wait_seconds_answered += hold
            q.counters.longest_wait_answered = max(q.counters.longest_wait_answered, hold)
            if hold <= self.threshold:
                q.counters.answered_within_threshold += 1
            q.stats.abandon.add_wait(hold, abandoned=False)
            q.stats.patience.add(hold, ended=False)
            q.stats.app_queue.answered(hold)
            if "RingTime" in m:
                q.stats.ring.add(_int(m.get("RingTime")))
        change: Change = {"type": "call_connected", "queue": q.name, "interface": interface,
                          "member_name": name, "uniqueid": uniqueid,
                          "callerid": m.get("CallerIDNum", ""), "hold_seconds": hold}
        if member is None:
            return [change, self._counters(q)]
        return [change, self._member_change(q, member), self._counters(q)]

    def _on_AgentComplete(self, q: QueueState, m: Message, now: float) -> list[Change]:
        interface = self._interface(m)
        member = self._known(q, m)
        call = q.calls.pop(interface, None) if member is not None else None
        call = call or q.departed_calls.pop(interface, None)
        if member is None and call is None:
            return []  # a call this tracker never saw, of a phone that is not in the queue: nothing to settle
        changes: list[Change] = []
        if call is not None:
            q.counters.completed += 1
            q.stats.completions += member is not None
            talk = _int(m.get("TalkTime"), int(now - call.answered_at))
            q.counters.talk_seconds += talk
            q.stats.handle.add(talk)
            q.stats.handle_fit.add(talk)
            changes.append({"type": "call_completed", "queue": q.name, "interface": interface,
                            "uniqueid": call.uniqueid, "talk_seconds": _int(m.get("TalkTime")),
                            "reason": m.get("Reason", "")})
        if member is None:
            return [*changes, self._counters(q)]
        member.in_call = False
        q.ring(member, None)
        member.last_call_end = now
        return [*changes, self._member_change(q, member), self._counters(q)]

    def _on_QueueMemberAdded(self, q: QueueState, m: Message, now: float) -> list[Change]:
        interface = self._interface(m)
        member = q.members.get(interface)
        if member is None:
            member = q.members[interface] = Member(interface, m.get("MemberName") or interface, logged_in_at=now)
            q.ring_stray(interface, None)  # a ring of its previous membership no longer matters
        self._member_fields(member, m)
        return [self._member_change(q, member)]

    def _on_QueueMemberRemoved(self, q: QueueState, m: Message, now: float) -> list[Change]:
        interface = self._interface(m)
        removed = q.members.pop(interface, None)
        if removed is not None and removed.ringing_for is not None:
            # Its AgentRingNoAnswer (or AgentConnect) is still to come, after this event: until then the caller
            # is being rung, and a leave meanwhile is a connect.
            ringing_for = removed.ringing_for
            q.ring(removed, None)
            q.ring_stray(interface, ringing_for)
        call = q.calls.pop(interface, None)
        if call is not None:
            q.departed_calls[interface] = call  # the call goes on; its AgentComplete still counts its talk time
        return [{"type": "member_removed", "queue": q.name, "interface": interface}]

    def _on_QueueMemberPause(self, q: QueueState, m: Message, now: float) -> list[Change]:
        member = self._known(q, m)
        if member is None:
            return []
        paused = m.get("Paused") == "1"
        if paused and not member.paused:
            member.paused_at = now
            ended = member.last_call_end
            q.stats.pauses_after_call += not member.in_call and ended is not None and now - ended <= AFTER_CALL
        elif not paused and member.paused_at is not None:
            q.stats.pauses.add(now - member.paused_at, ended=True)  # how long operators stay away
            member.paused_at = None
        member.paused = paused
        member.paused_reason = m.get("PausedReason") or m.get("Reason") or "" if member.paused else ""
        return [self._member_change(q, member)]

    def _on_QueueMemberStatus(self, q: QueueState, m: Message, now: float) -> list[Change]:
        member = self._known(q, m)
        if member is None:
            return []
        self._member_fields(member, m)
        return [self._member_change(q, member)]

    _on_QueueMemberPenalty = _on_QueueMemberStatus

    @staticmethod
    def _member_fields(member: Member, m: Message) -> None:
        # Not InCall: it is racy in QueueMemberStatus; AgentConnect/AgentComplete say it reliably.
        member.status = _int(m.get("Status"), member.status)
        if "Paused" in m:
            member.paused = m.get("Paused") == "1"
            member.paused_reason = (m.get("PausedReason") or "") if member.paused else ""
        # Asterisk's own count; it may arrive before or after AgentComplete, so it is never added to ours.
        member.calls_taken = _int(m.get("CallsTaken"), member.calls_taken)
        member.penalty = _int(m.get("Penalty"), member.penalty)
        member.state_interface = m.get("StateInterface") or member.state_interface or member.interface
        name = m.get("MemberName") or m.get("Name")
        if name:
            member.name = name

    # QueueStatus items that arrive outside a resync (someone else asked) are ignored: a list result is
    # folded in whole by `resync`, or the state would flicker between partial lists.
    def _on_QueueParams(self, q: QueueState, m: Message, now: float) -> list[Change]:
        return []

    _on_QueueMember = _on_QueueParams
    _on_QueueEntry = _on_QueueParams

    # -- resync --------------------------------------------------------------------------------------------

    def resync(self, items: Iterable[Message], now: float) -> list[Change]:
        """Replace the live state with a QueueStatus result (after every (re)connect)."""
        params: dict[str, Message] = {}
        members: dict[str, list[Message]] = {}
        entries: dict[str, list[Message]] = {}
        for item in items:
            name = item.get("Queue")
            if not self._wanted(name):
                continue
            assert name is not None
            if item.name == "QueueParams":
                params[name] = item
            elif item.name == "QueueMember":
                members.setdefault(name, []).append(item)
            elif item.name == "QueueEntry":
                entries.setdefault(name, []).append(item)
        for name in params:
            q = self.queue(name, now)
            self._resync_members(q, members.get(name, []), now)
            self._resync_waiting(q, params[name], entries.get(name, []), now)
        return [{"type": "resync"}]

    def _resync_members(self, q: QueueState, items: list[Message], now: float) -> None:
        fresh: dict[str, Member] = {}
        for item in items:
            interface = item.get("Location") or item.get("Interface") or ""
            member = q.members.get(interface) or Member(interface, item.get("Name") or interface)
            self._member_fields(member, item)
            member.in_call = item.get("InCall") == "1"
            if not member.in_call:
                q.calls.pop(interface, None)
                member.ringing_for = None
            login = _int(item.get("LoginTime"))
            member.logged_in_at = float(login) if login else member.logged_in_at or now
            fresh[interface] = member
        for interface in list(q.calls):
            if interface not in fresh:
                del q.calls[interface]
        q.members = fresh
        q.reindex_ringing()  # and rings of non-members: their outcome came, if at all, while the link was down
        q.departed_calls.clear()

    def _resync_waiting(self, q: QueueState, params: Message, items: list[Message], now: float) -> None:
        known = {c.uniqueid: c for c in q.waiting}
        waiting: list[Caller] = []
        for item in sorted(items, key=lambda i: _int(i.get("Position"))):
            uniqueid = item.get("Uniqueid") or ""
            caller = known.pop(uniqueid, None)
            if caller is None:
                channel = item.get("Channel") or ""
                caller = Caller(uniqueid, channel, item.get("CallerIDNum") or "", item.get("CallerIDName") or "", 0,
                                now - _int(item.get("Wait")), caller_kind(channel))
            waiting.append(caller)
            # Someone who joined before midnight was offered yesterday (as a caller waiting at midnight is).
            if caller.kind == "call" and uniqueid not in q.seen_today and self._day(caller.joined_at) == q.counters.day:
                q.seen_today.add(uniqueid)
                q.counters.offered += 1
        q.set_waiting(waiting)
        q.pending_abandon.clear()
        # Offered before this service (re)started and gone since: their fate happened while nobody watched.
        q.unsettled.difference_update(q.waiting_by_id)
        q.counters.unknown_outcome += len(q.unsettled)
        q.unsettled.clear()
        # Callers who were waiting and are gone: their fate happened while the link was down.
        vanished = sum(1 for caller in known.values() if caller.kind == "call")
        abandoned_now = _int(params.get("Abandoned"), -1)
        completed_now = _int(params.get("Completed"), -1)
        if vanished:
            gap_abandons = 0
            if (q.baseline_abandoned is not None and abandoned_now >= q.baseline_abandoned
                    and q.baseline_completed is not None and completed_now >= q.baseline_completed):
                gap_abandons = max(0, abandoned_now - q.baseline_abandoned - q.abandoned_since_baseline)
            settled = min(vanished, gap_abandons)
            q.counters.abandoned += settled
            q.counters.unknown_outcome += vanished - settled
        q.baseline_abandoned = abandoned_now if abandoned_now >= 0 else None
        q.baseline_completed = completed_now if completed_now >= 0 else None
        q.abandoned_since_baseline = 0

    # -- a restarted service ---------------------------------------------------------------------------------

    def restore_today(self, queue: str, record: DayRecord, now: float) -> bool:
        """Continue today's counters from `record` (a new process, before its first event and resync); a
        record of another day is ignored. Says whether it was taken."""
        if not self._wanted(queue):
            return False
        q = self.queue(queue, now)
        if record.counters.day != q.counters.day:
            return False
        q.counters = record.counters
        q.seen_today |= record.seen
        q.unsettled = set(record.unsettled) - q.waiting_by_id.keys()
        for talk in record.talk_seconds:
            q.stats.handle.add(talk)
            q.stats.handle_fit.add(talk)
        for wait, abandoned in record.waits:
            q.stats.abandon.add_wait(wait, abandoned=abandoned)
            q.stats.patience.add(wait, ended=abandoned)
            if not abandoned:
                q.stats.app_queue.answered(wait)
        for joined_at in record.joins:
            q.stats.joined(joined_at)
        q.stats.arrival_rate(now)  # drops the joins older than its window
        return True

    # -- output --------------------------------------------------------------------------------------------

    def _counters(self, q: QueueState) -> Change:
        # Built for every event: a shallow copy (all fields are scalars), not dataclasses.asdict's deep walk.
        return {"type": "counters", "queue": q.name, "counters": dict(vars(q.counters))}

    def snapshot(self) -> dict[str, Any]:
        """The replay JSON shape (kept stable; more keys are fine)."""
        return {
            "queues": {
                name: {
                    "waiting": [asdict(c) for c in q.waiting],
                    "members": [m.to_json() for m in q.members.values()],
                    "calls": [asdict(c) for c in q.calls.values()],
                    "counters": asdict(q.counters),
                }
                for name, q in sorted(self.queues.items())
            }
        }

