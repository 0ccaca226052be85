"""A PBX simulator that speaks AMI over real TCP, behaving like Asterisk 22's app_queue for this service.

Events carry the same names, keys and key order as the recordings in tests/data/ami (a test
compares them). The simulated day: callers arrive by the traffic model, join the queue, are offered to the
longest-idle free operator, wait, give up after their patience, or talk for their handle time. Originate works
(async, with OriginateResponse success or the real failure reasons). A time-acceleration factor runs the day
faster; events carry `Timestamp:` (as with manager.conf `timestampevents = yes`) in simulated time, so the
service measures waits in the simulation's seconds.

Only noise events that matter for realism are produced (Newchannel and Hangup around each caller); the
VarSet/Newexten chatter of a real dialplan is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from callcenter.accounts.interfaces import state_interface_for
from callcenter.pbx.clock import Clock, Handle, LoopClock
from callcenter.pbx.protocol import FrameSplitter, MalformedFrame, Message, encode_message, parse_frame
from callcenter.pbx.queuelog import QueueLogEntry, format_line
from callcenter.pbx.traffic import TrafficModel, caller_identity

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
RING_SECONDS = 3.0
# Originate outcomes and the Reason codes Asterisk reports (4 answered, 3 no answer, 5 busy, 8 congestion).
ORIGINATE_REASONS = {"answer": 4, "noanswer": 3, "busy": 5, "congestion": 8, "failed": 0, "hangup": 1}
MAX_SESSION_BACKLOG = 4 << 20


@dataclass(eq=False)  # identity: found in lists by `in` and `remove`, thousands of times a second
class SimMember:
    interface: str
    name: str
    paused: bool = False
    paused_reason: str = ""
    in_call: bool = False
    ringing: bool = False
    calls_taken: int = 0
    last_call: float = 0.0
    last_pause: float = 0.0
    login_time: float = 0.0
    penalty: int = 0
    # QueueAdd's StateInterface: the device whose state app_queue follows ("": the interface itself).
    state_interface: str = ""

    @property
    def device(self) -> str:
        return self.state_interface or self.interface


@dataclass(eq=False)  # identity: found in lists by `in` and `remove`, thousands of times a second
class SimCaller:
    uniqueid: str
    linkedid: str
    channel: str
    number: str
    name: str
    joined_at: float
    original_position: int
    handle: float
    patience_timer: Handle | None = None
    member: SimMember | None = None
    answered_at: float = 0.0
    # A callback's placeholder: the Originate that created it (answered when an operator is connected).
    originate: Message | None = None
    # Whether a listening AMI session saw the caller join (or, later, learn their fate).
    seen: bool = False
    # app_queue's QUEUE_PRIO: a caller joins behind those of the same or a higher priority, ahead of the rest.
    priority: int = 0


@dataclass
class OriginateRecord:
    """Every Originate received, for tests that must prove a callback was dialled exactly once."""

    at: float
    headers: dict[str, str]
    outcome: str = ""


@dataclass
class Session:
    writer: asyncio.StreamWriter
    authenticated: bool = False
    events: bool = True
    challenge: str = ""


@dataclass
class SimConfig:
    queue: str = "hotline"
    agents: int = 8
    username: str = "callcenter"
    secret: str = ""
    acceleration: float = 1.0
    seed: int = 0
    timezone: str = "Europe/Moscow"
    traffic: TrafficModel = field(default_factory=TrafficModel)
    generate_traffic: bool = True
    agent_no_answer: float = 0.02
    originate_answer_probability: float = 0.8
    # manager.conf `timestampevents`: on by default so the service measures in simulated seconds.
    timestamps: bool = True
    # Append every Originate received to this file (JSON lines), for tests that run the simulator as a process.
    originate_log: str = ""
    # How a resident answers a callback: probability of answering (else no answer).
    resident_answer_probability: float = 0.85
    # Of the callers whose patience runs out, this share presses 2 for a callback instead of hanging up: they
    # leave the queue and the dialplan asks the service (POST callback_url, as [hotline-queue-exit] does).
    callback_share: float = 0.0
    callback_url: str = ""
    # No new callers after this moment (epoch; 0: none): a simulation of part of a day.
    traffic_until: float = 0.0
    # Append app_queue's queue_log lines to this file, as Asterisk does (empty: none).
    queue_log: str = ""
    # Devices (PJSIP/101) whose phone is not registered at the start: a member whose StateInterface is one of
    # them is unavailable (Status 5) and never rung, as app_queue with ringinuse=no. Every other device is
    # registered; `set_registered` changes it during a run.
    unregistered: tuple[str, ...] = ()


class PbxSimulator:
    def __init__(self, config: SimConfig, *, start_time: float | None = None, clock: Clock | None = None) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.zone = ZoneInfo(config.timezone)
        origin = float(start_time if start_time is not None else time.time())
        self.boot = int(origin)
        self.clock: Clock = clock or LoopClock(origin, config.acceleration)
        # Every event as a Message, for in-process observers (benchmarks, simulations) that need no socket.
        self.event_hooks: list[Callable[[Message], None]] = []
        self._counter = 0
        self._channel_counter = 0
        self.members: dict[str, SimMember] = {}
        self.unregistered: set[str] = set(config.unregistered)
        self.waiting: list[SimCaller] = []
        self.in_call: dict[str, SimCaller] = {}
        self.completed = 0
        self.abandoned = 0
        self.offered = 0
        self.answered = 0
        self.exited_for_callback = 0
        # Of the voice calls, what a listening AMI session was told: joins, answers, abandons, exits.
        self.observed: Counter[str] = Counter()
        # Everything above again, per local day of the caller's arrival (a simulation may run into the next day).
        self.daily: dict[str, Counter[str]] = {}
        self.ivr_callbacks: list[dict[str, Any]] = []
        self._requests: set[asyncio.Task[None]] = set()
        self.sessions: list[Session] = []
        self.originates: list[OriginateRecord] = []
        self.actions: list[Message] = []
        self.originate_script: dict[str, deque[str]] = {}
        self.on_originate: list[Callable[[OriginateRecord], None]] = []
        self._server: asyncio.Server | None = None
        self._traffic_timer: Handle | None = None
        self._next_arrival_at: float | None = None
        self.port = 0
        self.stalled = False
        self._queue_log: TextIO | None = None
        if config.queue_log:
            self._queue_log = open(config.queue_log, "a", encoding="utf-8")  # noqa: SIM115 - open for the run

    # -- clock ---------------------------------------------------------------------------------------------

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self.clock.now()

    def later(self, sim_seconds: float, callback: Callable[..., None], *args: object) -> Handle:
        return self.clock.later(sim_seconds, callback, *args)

    def open_day(self) -> None:
        """Log the operators in and start the traffic; `start` does this, a virtual-clock run calls it."""
        for index in range(1, self.config.agents + 1):
            interface = f"Local/{index}@agents"  # logged in as the service's QueueAdd does it
            self._add_member(interface, f"op{index}", paused=False, state_interface=state_interface_for(interface))
        if self.config.generate_traffic:
            self._schedule_arrival()

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        if isinstance(self.clock, LoopClock):
            self.clock.attach(asyncio.get_running_loop())
        self.open_day()
        self._server = await asyncio.start_server(self._session, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("PBX simulator listening", extra={"host": host, "port": self.port, "agents": self.config.agents})
        return self.port

    async def stop(self) -> None:
        if self._traffic_timer is not None:
            self._traffic_timer.cancel()
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        if self._queue_log is not None:
            self._queue_log.close()
            self._queue_log = None

    def drop_connections(self) -> None:
        """Close every AMI session at once (fault tests: a restarting or unreachable PBX)."""
        for session in list(self.sessions):
            session.writer.transport.abort()
        self.sessions.clear()

    # -- ids -----------------------------------------------------------------------------------------------

    def _uniqueid(self) -> str:
        uniqueid = f"{self.boot}.{self._counter}"
        self._counter += 1
        return uniqueid

    def _local_pair(self, exten: str, context: str) -> str:
        name = f"Local/{exten}@{context}-{self._channel_counter:08x}"
        self._channel_counter += 1
        return name

    # -- events --------------------------------------------------------------------------------------------

    def queue_log(self, caller: SimCaller, agent: str, event: str, *data: object) -> None:
        """One app_queue queue_log line, flushed at once: a reader filling a link gap must find it."""
        self._queue_log_line(caller.uniqueid, agent, event, *data)

    def _queue_log_line(self, callid: str, agent: str, event: str, *data: object) -> None:
        if self._queue_log is not None:
            self._queue_log.write(format_line(QueueLogEntry(self.now(), callid, self.config.queue,
                                                            agent, event, tuple(str(d) for d in data))))
            self._queue_log.flush()

    def _callback_logged(self, variables: dict[str, str], event: str, *data: str) -> None:
        """The dialplan's QueueLog() beside each callback UserEvent (extensions.conf, [cc-lib] and
        [callback-dial])."""
        callid = f"{variables.get('CC_CALLBACK_ID', '')}-{variables.get('CC_ATTEMPT', '')}"
        self._queue_log_line(callid, "NONE", event, *data)

    def emit(self, name: str, privilege: str, headers: Iterable[tuple[str, str]]) -> bool:
        """Sends an event to every listening session; says whether any session took it (a day simulation
        compares the service's report with what the service could have seen)."""
        stamp = [("Timestamp", f"{self.now():.6f}")] if self.config.timestamps else []
        all_headers = [("Privilege", privilege), *stamp, *headers]
        if self.event_hooks:
            message = Message("event", name, [("Event", name), *all_headers])
            for hook in self.event_hooks:
                hook(message)
        if not self.sessions:
            return False
        data = encode_message(("Event", name), all_headers)
        delivered = False
        for session in list(self.sessions):
            if session.authenticated and session.events:
                delivered = self._write(session, data) or delivered
        return delivered

    def _write(self, session: Session, data: bytes) -> bool:
        transport = session.writer.transport
        if transport.is_closing():
            return False
        if transport.get_write_buffer_size() > MAX_SESSION_BACKLOG:
            # Asterisk drops a manager session that does not read; so do we.
            log.warning("simulator: dropping a session that stopped reading")
            transport.abort()
            with contextlib.suppress(ValueError):
                self.sessions.remove(session)
            return False
        session.writer.write(data)
        return True

    @staticmethod
    def _channel_block(caller: SimCaller, prefix: str = "", context: str = "hotline-queue",
                       channel: str | None = None, uniqueid: str | None = None, state: tuple[str, str] = ("6", "Up"),
                       exten: str = "s", priority: str = "4") -> list[tuple[str, str]]:
        return [
            (f"{prefix}Channel", channel or caller.channel),
            (f"{prefix}ChannelState", state[0]),
            (f"{prefix}ChannelStateDesc", state[1]),
            (f"{prefix}CallerIDNum", caller.number),
            (f"{prefix}CallerIDName", caller.name),
            (f"{prefix}ConnectedLineNum", caller.number),
            (f"{prefix}ConnectedLineName", caller.name),
            (f"{prefix}Language", "ru"),
            (f"{prefix}AccountCode", ""),
            (f"{prefix}Context", context),
            (f"{prefix}Exten", exten),
            (f"{prefix}Priority", priority),
            (f"{prefix}Uniqueid", uniqueid or caller.uniqueid),
            (f"{prefix}Linkedid", caller.linkedid),
        ]

    def _unavailable(self, member: SimMember) -> bool:
        return member.device in self.unregistered

    def _member_status(self, member: SimMember) -> str:
        """app_queue's Status: the device state of the member's StateInterface, in use (2) while it rings or
        talks (a phone would say 6 while ringing; this simulator sends no status change at the answer, so it
        says 2 throughout), unavailable (5) when that device is not registered, else not in use (1)."""
        if member.in_call or member.ringing:
            return "2"
        return "5" if self._unavailable(member) else "1"

    def set_registered(self, device: str, registered: bool) -> None:
        """A phone registers or goes offline: members watching it change status (QueueMemberStatus), and one
        that is back is rung again."""
        if registered:
            self.unregistered.discard(device)
        else:
            self.unregistered.add(device)
        for member in list(self.members.values()):
            if member.device == device:
                self.emit("QueueMemberStatus", "agent,all", self._member_block(member))
        if registered:
            self._dispatch()

    def _member_block(self, member: SimMember) -> list[tuple[str, str]]:
        return [
            ("Queue", self.config.queue), ("MemberName", member.name), ("Interface", member.interface),
            ("StateInterface", member.device), ("Membership", "dynamic"), ("Penalty", str(member.penalty)),
            ("CallsTaken", str(member.calls_taken)), ("LastCall", str(int(member.last_call))),
            ("LastPause", str(int(member.last_pause))), ("LoginTime", str(int(member.login_time))),
            ("InCall", "1" if member.in_call else "0"), ("Status", self._member_status(member)),
            ("Paused", "1" if member.paused else "0"), ("PausedReason", member.paused_reason),
            ("Ringinuse", "0"), ("Wrapuptime", "0"),
        ]

    def _dest_block(self, caller: SimCaller, member: SimMember, state: tuple[str, str]) -> list[tuple[str, str]]:
        agent_channel = member.interface.replace("@agents", f"@agents-{self._channel_counter:08x};1")
        return self._channel_block(caller, "Dest", context="agents", channel=agent_channel,
                                   uniqueid=f"{caller.uniqueid}-a", state=state, priority="1")

    # -- queue behaviour -----------------------------------------------------------------------------------

    def _add_member(self, interface: str, name: str, paused: bool, emit: bool = True, penalty: int = 0,
                    state_interface: str = "") -> None:
        member = SimMember(interface, name, paused=paused, login_time=self.now(), penalty=penalty,
                           state_interface=state_interface)
        self.members[interface] = member
        if emit:
            self.emit("QueueMemberAdded", "agent,all", self._member_block(member))
            self._dispatch()

    def caller_arrives(self, number: str | None = None, name: str | None = None,
                       patience: float | None = None, handle: float | None = None, priority: int = 0) -> SimCaller:
        """A caller dials in and joins the queue (the traffic generator, trace replays and tests call this)."""
        if number is None or name is None:
            number, name = caller_identity(self.rng)
        linkedid = self._uniqueid()
        uniqueid = self._uniqueid()
        channel = self._local_pair("s", "hotline-queue") + ";2"
        index = len(self.waiting)
        if priority:
            index = next((i for i, c in enumerate(self.waiting) if c.priority < priority), index)
        caller = SimCaller(uniqueid, linkedid, channel, number, name, self.now(), index + 1,
                           handle if handle is not None else self.config.traffic.handle_time(self.rng),
                           priority=priority)
        self.offered += 1
        self.emit("Newchannel", "call,all", self._channel_block(caller, context="hotline-queue",
                                                                 state=("0", "Down"), priority="1"))
        self.waiting.insert(index, caller)
        self.queue_log(caller, "NONE", "ENTERQUEUE", "", number, index + 1)
        caller.seen = self.emit("QueueCallerJoin", "agent,all", [
            *self._channel_block(caller), ("Queue", self.config.queue), ("Position", str(index + 1)),
            ("Count", str(len(self.waiting)))])
        wait_limit = patience if patience is not None else self.config.traffic.patience(self.rng)
        wants_callback = self.config.callback_url and self.rng.random() < self.config.callback_share
        caller.patience_timer = self.later(wait_limit, self._leave_for_callback if wants_callback else self._abandon,
                                           caller)
        self._dispatch()
        return caller

    def _leave_for_callback(self, caller: SimCaller) -> None:
        """Key 2 in the queue: the caller leaves (not an abandon) and the dialplan requests the callback."""
        if caller not in self.waiting:
            return
        if caller.member is not None:  # an operator's phone is ringing for them: they press 2 a moment later
            caller.patience_timer = self.later(RING_SECONDS, self._leave_for_callback, caller)
            return
        self.exited_for_callback += 1
        self.queue_log(caller, "NONE", "EXITWITHKEY", "2", self.waiting.index(caller) + 1, caller.original_position,
                       int(self.now() - caller.joined_at))
        self._observe(caller, "exited", bool(self._leave(caller)))
        self.emit("Hangup", "call,all", [*self._channel_block(caller), ("Cause", "16"),
                                         ("Cause-txt", "Normal Clearing")])
        task = asyncio.ensure_future(self._request_callback(caller))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)
        self._dispatch()

    async def _request_callback(self, caller: SimCaller) -> None:
        import aiohttp

        form = {"phone": "+" + caller.number if not caller.number.startswith("+") else caller.number,
                "uniqueid": caller.uniqueid, "joined_at": f"{caller.joined_at:.3f}"}
        record: dict[str, Any] = {"uniqueid": caller.uniqueid, "phone": form["phone"], "at": self.now()}
        for attempt in range(5):  # the dialplan's CURL is retried by the caller's patience, not forever
            try:
                async with aiohttp.ClientSession() as http, \
                        http.post(self.config.callback_url, data=form, timeout=aiohttp.ClientTimeout(total=10)) as r:
                    record.update(status=r.status, answer=await r.text())
                    if r.status < 500:
                        break
            except (aiohttp.ClientError, TimeoutError) as exc:
                record.update(status=0, answer=str(exc))
            await asyncio.sleep(0.5 * (attempt + 1))
        self.ivr_callbacks.append(record)

    def stats(self) -> dict[str, Any]:
        """What the PBX counted, for checks against the service's report."""
        return {"offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
                "exited_for_callback": self.exited_for_callback, "completed": self.completed,
                "waiting_calls": sum(1 for c in self.waiting if c.originate is None),
                "originates": len(self.originates), "observed": dict(self.observed),
                "daily": {day: dict(counts) for day, counts in self.daily.items()},
                "ivr_callbacks": self.ivr_callbacks}

    def _free_members(self) -> list[SimMember]:
        free = [m for m in self.members.values() if not (m.paused or m.in_call or m.ringing)]
        # ringinuse=no: app_queue rings only members whose device is free (an offline phone is unavailable).
        return [m for m in free if not self._unavailable(m)] if self.unregistered else free

    def _dispatch(self) -> None:
        """Offer waiting callers, in order, to free operators (the longest idle first)."""
        free: list[SimMember] | None = None
        for caller in self.waiting:
            if caller.member is not None:
                continue  # being rung already
            if free is None:
                # Found once per dispatch, and the best taken with min(): sorting a floor of 1,400 members for
                # every waiting caller was the simulator's top cost at scale 100.
                free = self._free_members()
            if not free:
                return
            member = min(free, key=lambda m: (m.penalty, m.last_call))
            free.remove(member)
            member.ringing = True
            caller.member = member
            self.emit("AgentCalled", "agent,all", [*self._channel_block(caller),
                                                   *self._dest_block(caller, member, ("0", "Down")),
                                                   ("Queue", self.config.queue), ("Interface", member.interface),
                                                   ("MemberName", member.name)])
            self.emit("QueueMemberStatus", "agent,all", self._member_block(member))
            if self.rng.random() < self.config.agent_no_answer:
                self.later(15.0, self._ring_no_answer, caller, member)
            else:
                self.later(RING_SECONDS, self._connect, caller, member)

    def _ring_no_answer(self, caller: SimCaller, member: SimMember) -> None:
        member.ringing = False
        if caller.member is not member or caller not in self.waiting:
            return
        caller.member = None
        self.queue_log(caller, member.name, "RINGNOANSWER", 15000)
        self.emit("AgentRingNoAnswer", "agent,all", [*self._channel_block(caller),
                                                     *self._dest_block(caller, member, ("5", "Ringing")),
                                                     ("Queue", self.config.queue), ("Interface", member.interface),
                                                     ("MemberName", member.name), ("RingTime", "15000")])
        self._dispatch()

    def _leave(self, caller: SimCaller) -> bool:
        """QueueCallerLeave; says whether a listening session saw it."""
        position = self.waiting.index(caller) + 1
        self.waiting.remove(caller)
        if caller.patience_timer is not None:
            caller.patience_timer.cancel()
        return self.emit("QueueCallerLeave", "agent,all", [
            *self._channel_block(caller), ("Queue", self.config.queue), ("Position", str(position)),
            ("Count", str(len(self.waiting)))])

    def _observe(self, caller: SimCaller, outcome: str, seen: bool) -> None:
        day = self.daily.setdefault(datetime.fromtimestamp(caller.joined_at, self.zone).date().isoformat(),
                                    Counter())
        day[outcome] += 1
        day["offered"] += 1
        if seen:
            self.observed[outcome] += 1
            day[f"observed_{outcome}"] += 1
        if seen or caller.seen:
            self.observed["offered"] += 1
            day["observed_offered"] += 1

    def _connect(self, caller: SimCaller, member: SimMember) -> None:
        member.ringing = False
        if caller not in self.waiting or caller.member is not member:
            self._dispatch()
            return
        self._leave(caller)
        hold = int(self.now() - caller.joined_at)
        member.in_call = True
        caller.answered_at = self.now()
        self.answered += caller.originate is None
        self.in_call[member.interface] = caller
        self.queue_log(caller, member.name, "CONNECT", hold, f"{caller.uniqueid}-{member.name}", int(RING_SECONDS))
        seen = self.emit("AgentConnect", "agent,all", [*self._channel_block(caller),
                                                       *self._dest_block(caller, member, ("6", "Up")),
                                                       ("Queue", self.config.queue), ("Interface", member.interface),
                                                       ("MemberName", member.name), ("HoldTime", str(hold)),
                                                       ("RingTime", str(int(RING_SECONDS)))])
        if caller.originate is None:
            self._observe(caller, "answered", seen)
        if caller.originate is not None and "@callback-resident-first" in (caller.originate.get("Channel") or ""):
            # Resident first: the resident (already on the line) talks; its queue half's hangup handler then
            # reports ANSWER, as [cc-callback-result] queued does.
            self.later(caller.handle, self._callback_over, caller, member, "ANSWER")
            return
        if caller.originate is not None:
            # The placeholder is answered by the queue: its Originate succeeds, the resident is dialled.
            self._originate_answered(caller.originate, caller.channel.replace(";2", ";1"))
            if "@video-placeholder" in (caller.originate.get("Channel") or ""):
                return  # [video-operator]: the operator stays on until the service hangs up
            self.later(RING_SECONDS * 3, self._resident_answers, caller, member)
            return
        self.later(caller.handle, self._complete, caller, member, "agent")

    def _resident_outcome(self, phone: str) -> str:
        script = self.originate_script.get(phone)
        if script:
            return script.popleft()
        return "answer" if self.rng.random() < self.config.resident_answer_probability else "noanswer"

    def _resident_answers(self, caller: SimCaller, member: SimMember) -> None:
        """[callback-dial]: Dial() the resident, then UserEvent CallbackResult with DIALSTATUS."""
        assert caller.originate is not None
        outcome = self._resident_outcome(caller.originate.get("Exten") or "")
        if outcome == "answer":
            variables = _variables(caller.originate)
            self.emit("UserEvent", "user,all", [("UserEvent", "CallbackAnswered"),
                                                ("CallbackId", variables.get("CC_CALLBACK_ID", "")),
                                                ("Attempt", variables.get("CC_ATTEMPT", ""))])
            self._callback_logged(variables, "CALLBACKANSWERED")
            self.later(caller.handle, self._callback_over, caller, member, "ANSWER")
        else:
            self._callback_over(caller, member, DIALSTATUS[outcome])

    def _callback_over(self, caller: SimCaller, member: SimMember, dial_status: str) -> None:
        assert caller.originate is not None
        variables = _variables(caller.originate)
        self.emit("UserEvent", "user,all", [*self._channel_block(caller, context="callback-dial"),
                                            ("UserEvent", "CallbackResult"),
                                            ("CallbackId", variables.get("CC_CALLBACK_ID", "")),
                                            ("Attempt", variables.get("CC_ATTEMPT", "")),
                                            ("DialStatus", dial_status)])
        self._callback_logged(variables, "CALLBACKRESULT", dial_status)
        self._complete(caller, member, "agent")

    def _complete(self, caller: SimCaller, member: SimMember, reason: str) -> None:
        if self.in_call.get(member.interface) is not caller:
            return
        del self.in_call[member.interface]
        member.in_call = False
        member.calls_taken += 1
        member.last_call = self.now()
        self.completed += 1
        hold = int(caller.answered_at - caller.joined_at)
        talk = int(self.now() - caller.answered_at)
        self.queue_log(caller, member.name, "COMPLETECALLER" if reason == "caller" else "COMPLETEAGENT", hold, talk,
                       caller.original_position)
        self.emit("AgentComplete", "agent,all", [*self._channel_block(caller),
                                                 *self._dest_block(caller, member, ("6", "Up")),
                                                 ("Queue", self.config.queue), ("Interface", member.interface),
                                                 ("MemberName", member.name), ("HoldTime", str(hold)),
                                                 ("TalkTime", str(talk)), ("Reason", reason)])
        self.emit("Hangup", "call,all", [*self._channel_block(caller), ("Cause", "16"),
                                         ("Cause-txt", "Normal Clearing")])
        if self.members.get(member.interface) is member:  # no status for a member removed during the call
            self.emit("QueueMemberStatus", "agent,all", self._member_block(member))
        self._dispatch()

    def _abandon(self, caller: SimCaller) -> None:
        if caller not in self.waiting:
            return
        if caller.member is not None:
            caller.member.ringing = False
        self.abandoned += 1
        position = self.waiting.index(caller) + 1
        self.queue_log(caller, "NONE", "ABANDON", position, caller.original_position,
                       int(self.now() - caller.joined_at))
        self.emit("Hangup", "call,all", [*self._channel_block(caller), ("Cause", "16"),
                                         ("Cause-txt", "Normal Clearing")])
        seen = self.emit("QueueCallerAbandon", "agent,all", [
            *self._channel_block(caller), ("Queue", self.config.queue), ("Position", str(position)),
            ("OriginalPosition", str(caller.original_position)),
            ("HoldTime", str(int(self.now() - caller.joined_at)))])
        if caller.originate is None:
            # The service counts an abandon from QueueCallerAbandon and QueueCallerLeave together.
            seen = self._leave(caller) and seen
            self._observe(caller, "abandoned", seen)
        else:
            self._leave(caller)
        self._dispatch()

    def _schedule_arrival(self) -> None:
        # Arrivals follow their own (simulated) timeline, not the moment the last one was handled: a busy loop
        # firing each timer a few milliseconds late would otherwise stretch every gap, and at 32x and a
        # hundred times the traffic the simulator made less than half of the day's calls.
        at = max(self._next_arrival_at or self.now(), self.now() - 60)
        local = datetime.fromtimestamp(at, self.zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        gap = self.config.traffic.next_arrival(self.rng, hour)
        if gap != float("inf") and (not self.config.traffic_until or at + gap < self.config.traffic_until):
            self._next_arrival_at = at + gap
            self._traffic_timer = self.later(max(0.0, self._next_arrival_at - self.now()), self._arrival)

    def _arrival(self) -> None:
        self.caller_arrives()
        self._schedule_arrival()

    # -- AMI sessions --------------------------------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(writer)
        self.sessions.append(session)
        writer.write(BANNER)
        splitter = FrameSplitter(expect_banner=False)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for frame in splitter.feed(data):
                    if not self._handle_frame(session, frame):
                        await writer.drain()
                        writer.close()
                        return
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(ValueError):
                self.sessions.remove(session)
            writer.close()

    def _respond(self, session: Session, action: Message, status: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        if self.stalled:
            return
        action_id = action.get("ActionID")
        out = [("ActionID", action_id)] if action_id else []
        self._write(session, encode_message(("Response", status), [*out, *headers]))

    def _handle_frame(self, session: Session, frame: bytes) -> bool:
        """Handle one action; False closes the session."""
        text = frame.decode("utf-8", "replace")
        try:
            headers = [(k, v) for k, _, v in (line.partition(": ") for line in text.split("\r\n") if line)]
            action = Message("action", headers[0][1], headers) if headers and headers[0][0] == "Action" \
                else parse_frame(frame)
        except (MalformedFrame, IndexError):
            self._write(session, encode_message(("Response", "Error"), [("Message", "Missing action in request")]))
            return True
        name = action.name.lower()
        self.actions.append(action)
        if name == "challenge":
            session.challenge = str(self.rng.randrange(10**8, 10**9))
            self._respond(session, action, "Success", [("Challenge", session.challenge)])
            return True
        if name == "login":
            return self._login(session, action)
        if not session.authenticated:
            self._respond(session, action, "Error", [("Message", "Permission denied")])
            return True
        handler = getattr(self, f"_action_{name}", None)
        if handler is None:
            self._respond(session, action, "Error", [("Message", "Invalid/unknown command")])
            return True
        return handler(session, action) is not False

    def _login(self, session: Session, action: Message) -> bool:
        expected = self.config.secret
        if (action.get("AuthType") or "").lower() == "md5":
            digest = hashlib.md5((session.challenge + expected).encode()).hexdigest()  # noqa: S324 - AMI defines it
            ok = bool(session.challenge) and secrets.compare_digest(action.get("Key") or "", digest)
        else:
            ok = secrets.compare_digest(action.get("Secret") or "", expected)
        ok = ok and action.get("Username") == self.config.username
        if not ok:
            self._respond(session, action, "Error", [("Message", "Authentication failed")])
            return False
        session.authenticated = True
        session.events = (action.get("Events") or "on").lower() != "off"
        self._respond(session, action, "Success", [("Message", "Authentication accepted")])
        if session.events:
            self._write(session, encode_message(("Event", "FullyBooted"), [
                ("Privilege", "system,all"), ("Uptime", str(int(self.now() - self.boot))),
                ("LastReload", str(int(self.now() - self.boot))), ("Status", "Fully Booted")]))
        return True

    def _action_logoff(self, session: Session, action: Message) -> bool:
        self._respond(session, action, "Goodbye", [("Message", "Thanks for all the fish.")])
        return False

    def _action_ping(self, session: Session, action: Message) -> None:
        self._respond(session, action, "Success", [("Ping", "Pong"), ("Timestamp", f"{self.now():.6f}")])

    def _list(self, session: Session, action: Message, message: str, items: list[tuple[str, list[tuple[str, str]]]],
              complete: str) -> None:
        if self.stalled:
            return
        action_id = action.get("ActionID") or ""
        self._respond(session, action, "Success", [("EventList", "start"), ("Message", message)])
        for name, headers in items:
            self._write(session, encode_message(("Event", name), [*headers, ("ActionID", action_id)]))
        self._write(session, encode_message(("Event", complete), [("ActionID", action_id), ("EventList", "Complete"),
                                                                  ("ListItems", str(len(items)))]))

    def _action_queuestatus(self, session: Session, action: Message) -> None:
        wanted = action.get("Queue")
        items: list[tuple[str, list[tuple[str, str]]]] = []
        if wanted in (None, "", self.config.queue):
            q = self.config.queue
            items.append(("QueueParams", [
                ("Queue", q), ("Max", "0"), ("Strategy", "rrmemory"), ("Calls", str(len(self.waiting))),
                ("Holdtime", "0"), ("TalkTime", "0"), ("Completed", str(self.completed)),
                ("Abandoned", str(self.abandoned)), ("ServiceLevel", "20"), ("ServicelevelPerf", "0.0"),
                ("ServicelevelPerf2", "0.0"), ("Weight", "0")]))
            only = action.get("Member")  # as app_queue: members matching the filter, every waiting caller
            for member in self.members.values():
                if only and only not in (member.interface, member.name):
                    continue
                block = dict(self._member_block(member))
                items.append(("QueueMember", [
                    ("Queue", q), ("Name", member.name), ("Location", member.interface),
                    ("StateInterface", member.device), ("Membership", "dynamic"), ("Penalty", str(member.penalty)),
                    ("CallsTaken", block["CallsTaken"]), ("LastCall", block["LastCall"]),
                    ("LastPause", block["LastPause"]), ("LoginTime", block["LoginTime"]),
                    ("InCall", block["InCall"]), ("Status", block["Status"]), ("Paused", block["Paused"]),
                    ("PausedReason", member.paused_reason), ("Wrapuptime", "0")]))
            for position, caller in enumerate(self.waiting, start=1):
                items.append(("QueueEntry", [
                    ("Queue", q), ("Position", str(position)), ("Channel", caller.channel),
                    ("Uniqueid", caller.uniqueid), ("CallerIDNum", caller.number), ("CallerIDName", caller.name),
                    ("ConnectedLineNum", caller.number), ("ConnectedLineName", caller.name),
                    ("Wait", str(int(self.now() - caller.joined_at))), ("Priority", str(caller.priority))]))
        self._list(session, action, "Queue status will follow", items, "QueueStatusComplete")

    def _action_queuesummary(self, session: Session, action: Message) -> None:
        items: list[tuple[str, list[tuple[str, str]]]] = []
        if action.get("Queue") in (None, "", self.config.queue):
            longest = max((self.now() - c.joined_at for c in self.waiting), default=0)
            items.append(("QueueSummary", [
                ("Queue", self.config.queue), ("LoggedIn", str(len(self.members))),
                ("Available", str(len(self._free_members()))), ("Callers", str(len(self.waiting))),
                ("HoldTime", "0"), ("TalkTime", "0"), ("LongestHoldTime", str(int(longest)))]))
        self._list(session, action, "Queue summary will follow", items, "QueueSummaryComplete")

    def _action_coreshowchannels(self, session: Session, action: Message) -> None:
        items = [("CoreShowChannel", [*self._channel_block(c), ("Application", "Queue"),
                                      ("ApplicationData", self.config.queue),
                                      ("Duration", str(int(self.now() - c.joined_at))), ("BridgeId", "")])
                 for c in [*self.waiting, *self.in_call.values()]]
        self._list(session, action, "Channels will follow", items, "CoreShowChannelsComplete")

    def _queue_matches(self, session: Session, action: Message) -> bool:
        queue = action.get("Queue")
        if queue and queue != self.config.queue:
            self._respond(session, action, "Error", [("Message", "Unable to add interface to queue: No such queue")])
            return False
        return True

    def _action_queueadd(self, session: Session, action: Message) -> None:
        if not self._queue_matches(session, action):
            return
        interface = action.get("Interface") or ""
        if interface in self.members:
            self._respond(session, action, "Error", [("Message", "Unable to add interface: Already there")])
            return
        self._respond(session, action, "Success", [("Message", "Added interface to queue")])
        self._add_member(interface, action.get("MemberName") or interface,
                         paused=(action.get("Paused") or "").lower() in ("true", "1", "yes"),
                         penalty=int(action.get("Penalty") or 0), state_interface=action.get("StateInterface") or "")

    def _action_queueremove(self, session: Session, action: Message) -> None:
        member = self.members.get(action.get("Interface") or "")
        if member is None:
            self._respond(session, action, "Error", [("Message", "Unable to remove interface: Not there")])
            return
        self._respond(session, action, "Success", [("Message", "Removed interface from queue")])
        self.remove_member(member.interface)

    def add_member(self, interface: str, name: str) -> None:
        """A member logs in (QueueAdd, unpaused): a trace replay's agent starting a shift."""
        self._add_member(interface, name, paused=False)

    def remove_member(self, interface: str) -> None:
        """A member logs out (QueueRemove): a trace replay's agent ending a shift."""
        member = self.members.pop(interface, None)
        if member is None:
            return
        self.emit("QueueMemberRemoved", "agent,all", self._member_block(member))
        # As Asterisk 22 does (recorded): a phone that rings goes on ringing after the removal, and its ring ends as
        # it would have: AgentRingNoAnswer at the ring timeout, or QueueCallerLeave + AgentConnect if it answers,
        # both AFTER QueueMemberRemoved. A call goes on too. Its timers already do that; it is just never rung again.

    def _action_queuepause(self, session: Session, action: Message) -> None:
        member = self.members.get(action.get("Interface") or "")
        if member is None:
            self._respond(session, action, "Error", [("Message", "Interface not found")])
            return
        paused = (action.get("Paused") or "").lower() in ("true", "1", "yes")
        self._respond(session, action, "Success",
                      [("Message", "Interface paused successfully" if paused else "Interface unpaused successfully")])
        self.pause_member(member.interface, paused, action.get("Reason") or "")

    def pause_member(self, interface: str, paused: bool, reason: str = "") -> None:
        """QueuePause: a trace replay's agent away from the phone mid-shift, or back."""
        member = self.members.get(interface)
        if member is None:
            return
        member.paused = paused
        member.paused_reason = reason if paused else ""
        member.last_pause = self.now() if paused else member.last_pause
        self.emit("QueueMemberPause", "agent,all", self._member_block(member))
        if not paused:
            self._dispatch()

    def _action_userevent(self, session: Session, action: Message) -> None:
        self._respond(session, action, "Success", [("Message", "Event Sent")])
        custom = [(k, v) for k, v in action.headers if k not in ("Action", "ActionID", "UserEvent")]
        self.emit("UserEvent", "user,all", [("UserEvent", action.get("UserEvent") or ""),
                                            ("ActionID", action.get("ActionID") or ""), *custom])

    def _action_originate(self, session: Session, action: Message) -> None:
        record = OriginateRecord(self.now(), action.to_dict())
        record.headers["Variable"] = ",".join(action.get_all("Variable"))
        self.originates.append(record)
        if self.config.originate_log:
            with open(self.config.originate_log, "a", encoding="utf-8") as log_file:
                log_file.write(json.dumps({"at": record.at, **record.headers}, ensure_ascii=False) + "\n")
        for hook in self.on_originate:
            hook(record)
        if (action.get("Async") or "").lower() not in ("true", "yes", "1"):
            self._respond(session, action, "Error", [("Message", "Originate failed")])
            return
        self._respond(session, action, "Success", [("Message", "Originate successfully queued")])
        channel = local_dial_string(action.get("Channel") or "")
        refused = self._refused_ids(action)
        if refused:
            # As Asterisk 22's channel.c: a new channel's Uniqueid may not be a prefix of a live one's (any case).
            log.error("Channel Unique ID %r already in use", refused)
            self._originate_result(action, "failed")
            return
        if "@callback-placeholder" in channel or "@video-placeholder" in channel:
            self._placeholder(action)
            return
        if channel.endswith("@agents") and action.get("Context") == "callback-operator-first":
            self.later(RING_SECONDS, self._call_now, action)
            return
        target = action.get("Exten") if "@callback-resident-first" in channel else channel
        outcome = self._resident_outcome(channel.split("@")[0].removeprefix("Local/")) \
            if "@callback-resident-first" in channel else self._scripted(target or channel)
        record.outcome = outcome
        self.later(2.0 if outcome != "noanswer" else 30.0, self._originate_result, action, outcome)

    def _live_ids(self) -> list[str]:
        ids = []
        for caller in [*self.waiting, *self.in_call.values()]:
            ids.append(caller.uniqueid)
            if caller.originate is not None and caller.originate.get("ChannelId"):
                ids.append(caller.originate.get("ChannelId") or "")
        return ids

    def _refused_ids(self, action: Message) -> str:
        """The first assigned id Asterisk would refuse: one that prefixes a live channel's id or its pair's."""
        first, second = action.get("ChannelId") or "", action.get("OtherChannelId") or ""
        live = self._live_ids()
        if first:
            if any(other.lower().startswith(first.lower()) for other in live):
                return first
            live.append(first)
        if second and any(other.lower().startswith(second.lower()) for other in live):
            return second
        return ""

    def _scripted(self, key: str) -> str:
        script = self.originate_script.get(key)
        if script:
            return script.popleft()
        return "answer" if self.rng.random() < self.config.originate_answer_probability else "noanswer"

    def _placeholder(self, action: Message) -> None:
        """A callback holds its place: a silent caller in the queue at CC_POSITION, never giving up."""
        variables = _variables(action)
        position = int(variables.get("CC_POSITION", "0") or 0) or len(self.waiting) + 1
        linkedid = self._uniqueid()
        uniqueid = action.get("OtherChannelId") or self._uniqueid()
        exten, _, context = local_dial_string(action.get("Channel") or "").removeprefix("Local/").partition("@")
        label = "VIDEO" if context == "video-placeholder" else "CALLBACK"
        # Asterisk gives the queued half the Originate's CallerID (a video session's is "VIDEO v…" <video>).
        name, number = parseaddr(action.get("CallerID") or "")
        caller = SimCaller(uniqueid, linkedid, self._local_pair(exten, context) + ";2",
                           number or action.get("Exten") or "", name or f"{label} {exten}", self.now(), position,
                           self.config.traffic.handle_time(self.rng), originate=action)
        index = min(position - 1, len(self.waiting))
        self.waiting.insert(index, caller)
        self.queue_log(caller, "NONE", "ENTERQUEUE", "", caller.number, index + 1)
        self.emit("QueueCallerJoin", "agent,all", [*self._channel_block(caller, context=context),
                                                   ("Queue", self.config.queue), ("Position", str(index + 1)),
                                                   ("Count", str(len(self.waiting)))])
        self._dispatch()

    def _resident_waits(self, action: Message, channel: str) -> None:
        """[callback-resident-first] answered: the resident waits in the queue ahead of everyone (QUEUE_PRIO)."""
        caller = SimCaller(action.get("ChannelId") or self._uniqueid(), self._uniqueid(), channel,
                           action.get("Exten") or "", "CALLBACK", self.now(), 1,
                           self.config.traffic.handle_time(self.rng), originate=action)
        self.waiting.insert(0, caller)
        self.queue_log(caller, "NONE", "ENTERQUEUE", "", caller.number, 1)
        self.emit("QueueCallerJoin", "agent,all", [*self._channel_block(caller, context="callback-resident-first"),
                                                   ("Queue", self.config.queue), ("Position", "1"),
                                                   ("Count", str(len(self.waiting)))])
        self._dispatch()

    def _call_now(self, action: Message) -> None:
        """Operator first by hand: the operator's phone rings, then the resident's."""
        member = self.members.get(action.get("Channel") or "")
        if member is None or member.in_call:
            self._originate_result(action, "noanswer")
            return
        member.in_call = True
        self._originate_answered(action, self._local_pair(member.interface.split("@")[0][6:], "agents") + ";1")
        outcome = self._resident_outcome(action.get("Exten") or "")
        variables = _variables(action)

        def over() -> None:
            member.in_call = False
            member.calls_taken += 1
            member.last_call = self.now()
            self.emit("UserEvent", "user,all", [("UserEvent", "CallbackResult"),
                                                ("CallbackId", variables.get("CC_CALLBACK_ID", "")),
                                                ("Attempt", variables.get("CC_ATTEMPT", "")),
                                                ("DialStatus", DIALSTATUS[outcome])])
            self._callback_logged(variables, "CALLBACKRESULT", DIALSTATUS[outcome])
            self._dispatch()

        self.later(self.config.traffic.handle_time(self.rng) if outcome == "answer" else RING_SECONDS * 3, over)

    def _originate_answered(self, action: Message, channel: str) -> None:
        target = [("Context", action.get("Context") or ""), ("Exten", action.get("Exten") or "")] \
            if action.get("Context") else [("Application", action.get("Application") or ""),
                                           ("Data", action.get("Data") or "")]
        self.emit("OriginateResponse", "call,all", [
            ("ActionID", action.get("ActionID") or ""), ("Response", "Success"), ("Channel", channel), *target,
            ("Reason", "4"), ("Uniqueid", action.get("ChannelId") or self._uniqueid()),
            ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")])

    def _action_hangup(self, session: Session, action: Message) -> None:
        wanted = action.get("Channel") or ""
        caller = next((c for c in self.waiting if wanted in (c.channel, c.uniqueid)), None)
        if caller is None:
            # Asterisk finds a channel by name or by uniqueid: a caller already talking hangs up too.
            talking = next(((c, interface) for interface, c in self.in_call.items()
                            if wanted in (c.channel, c.uniqueid)), None)
            if talking is None:
                self._respond(session, action, "Error", [("Message", "No such channel")])
                return
            self._respond(session, action, "Success", [("Message", "Channel Hungup")])
            caller, interface = talking
            # The member may have left the queue mid-call: the call still ends (Asterisk keeps the channel).
            member = self.members.get(interface) or caller.member or SimMember(interface, interface, in_call=True)
            self._complete(caller, member, "agent")
            return
        self._respond(session, action, "Success", [("Message", "Channel Hungup")])
        self._abandon(caller)
        if caller.originate is not None and "@callback-resident-first" in (caller.originate.get("Channel") or ""):
            variables = _variables(caller.originate)  # the resident gave up in the queue: its hangup handler
            self.emit("UserEvent", "user,all", [("UserEvent", "CallbackResult"),
                                                ("CallbackId", variables.get("CC_CALLBACK_ID", "")),
                                                ("Attempt", variables.get("CC_ATTEMPT", "")),
                                                ("DialStatus", "ABANDON")])
            self._callback_logged(variables, "CALLBACKRESULT", "ABANDON")
        elif caller.originate is not None:
            self._originate_result(caller.originate, "hangup")

    def _originate_result(self, action: Message, outcome: str) -> None:
        channel = local_dial_string(action.get("Channel") or "")
        answered = outcome == "answer"
        if answered:
            # As Asterisk does: the created channel's name, the dial string plus its counter and half.
            exten, _, context = channel.removeprefix("Local/").partition("@")
            pair = self._local_pair(exten, context)
            self._originate_answered(action, pair + ";1")
            if context == "callback-resident-first":
                self._resident_waits(action, pair + ";1")
            return
        target = [("Context", action.get("Context") or ""), ("Exten", action.get("Exten") or "")] \
            if action.get("Context") else [("Application", action.get("Application") or ""),
                                           ("Data", action.get("Data") or "")]
        self.emit("OriginateResponse", "call,all", [
            ("ActionID", action.get("ActionID") or ""), ("Response", "Failure"), ("Channel", channel), *target,
            ("Reason", str(ORIGINATE_REASONS[outcome])), ("Uniqueid", "<unknown>"),
            ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")])


DIALSTATUS = {"answer": "ANSWER", "noanswer": "NOANSWER", "busy": "BUSY", "congestion": "CONGESTION",
              "failed": "CHANUNAVAIL", "hangup": "CANCEL"}


def local_dial_string(channel: str) -> str:
    """`Local/exten@context/n` -> `Local/exten@context`: the options (here `n`, no optimisation) are not part of
    the channel's name, which Asterisk builds from the dial string alone."""
    if channel.startswith("Local/") and "@" in channel:
        head, _, tail = channel.partition("@")
        return f"{head}@{tail.split('/', 1)[0]}"
    return channel


def _variables(action: Message) -> dict[str, str]:
    """Originate `Variable:` headers (repeated, or comma-separated), names without the inheritance prefix."""
    found: dict[str, str] = {}
    for header in action.get_all("Variable"):
        for item in header.split(","):
            name, _, value = item.partition("=")
            found[name.strip().lstrip("_")] = value
    return found
