"""A real day played through the PBX simulator: the log's callers arrive when they did, with the service time
they had, wait as long as their patience lets them, and the agents are on the floor when the log says, pausing
after calls as long as the log shows them off the phone while callers waited (`WrapUp`, trace.wrapups).

`schedule_day` puts a day on a simulator's clock (the `simulate` process does it for `simulate-day --trace`);
`play_day` runs it on a virtual clock with the service's tracker listening, every event going through the AMI
wire format and the parser as from Asterisk, and records at each caller's join what they would be told: the
service's estimate, the queue-length formula and app_queue's hold-time average.

Patience: a caller who hung up after w seconds had patience w. A served caller's patience is only known to
exceed their wait (censored); in the replay they may have to wait longer than they did, so their patience is
drawn from the day's patience curve (the censoring-aware hazard of hotline/hazard.py) given that it exceeds
the wait they had.

Priority customers (priority 2) are moved ahead of the others, as app_queue does with QUEUE_PRIO: the
simulator puts them behind the waiting callers of their own priority and ahead of the rest, and the
QueueCallerJoin position says so.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from callcenter.hotline.hazard import HazardCurve
from callcenter.hotline.view import caller_estimate, position_estimates, serving_and_free
from callcenter.pbx.clock import Clock, VirtualClock
from callcenter.pbx.protocol import FrameSplitter, Message, encode_message, parse_frame
from callcenter.pbx.simulator import PbxSimulator, SimConfig
from callcenter.pbx.tracker import QueueTracker
from callcenter.simulation.trace import Call, Shift, shifts, wrapups

PRIORITY = 2  # the log's priority customers; 0 and 1 are served in turn
DRAIN_SECONDS = 4 * 3600.0
DEFAULT_TALK = 120.0


def patience_of(calls: Iterable[Call], seed: int = 0) -> dict[str, float]:
    """Each caller's patience for the replay: observed for those who hung up (and the phantoms, who left
    then), drawn beyond their wait for those served."""
    calls = list(calls)
    curve = HazardCurve()
    for call in calls:
        if call.outcome != "phantom":
            curve.add(call.wait, ended=call.patience_observed)
    sampler = curve.sampler()
    rng = random.Random(seed)
    return {call.call_id: call.wait if call.outcome != "served" else call.wait + sampler.remaining(rng, call.wait)
            for call in calls}


def day_origin(day: date, timezone: str) -> float:
    """The epoch second of the service day's midnight, on the hotline's clock."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).timestamp()


def interface_of(shift: Shift, index: int) -> str:
    # One interface per shift: a call of the previous shift may still be going on when the next one starts.
    return f"Local/{shift.server.lower()}-{index}@agents"


def schedule_day(sim: PbxSimulator, clock: Clock, calls: list[Call], origin: float, seed: int = 0,
                 until: float | None = None, floor: list[Call] | None = None,
                 patience: dict[str, float] | None = None) -> int:
    """Put the day's agents and callers on the clock (agents first at equal times, so that an agent starting
    their shift with a call finds the caller). `until` (seconds from the day's midnight) cuts the day short.
    `floor` (default: `calls`) is the log whose agents' shifts and after-call pauses are played, and
    `patience` (default: from the calls' fates) each caller's: a model's callers can be played on a real
    floor. Returns the callers scheduled."""
    now = clock.now()
    floor = calls if floor is None else floor
    for index, shift in enumerate(shifts(floor)):
        if until is not None and shift.start >= until:
            continue
        interface = interface_of(shift, index)
        clock.later(origin + shift.start - now, sim.add_member, interface, shift.server)
        clock.later(origin + shift.end - now, sim.remove_member, interface)
    sim.event_hooks.append(WrapUp(sim, clock, wrapups(floor) or [0.0], seed).after)
    patience = patience_of(calls, seed) if patience is None else patience
    # A caller who hung up (or vanished) but is served in the replay talks for the day's median service time.
    talk = statistics.median([c.service for c in calls if c.outcome == "served"] or [DEFAULT_TALK])
    scheduled = 0
    for call in calls:
        if until is not None and call.arrival >= until:
            continue
        handle = call.service if call.outcome == "served" else talk
        clock.later(origin + call.arrival - now, _arrive, sim, call, patience[call.call_id], handle)
        scheduled += 1
    return scheduled


class WrapUp:
    """After each call the agent pauses for an after-call time drawn from the day's (see trace.wrapups), as an
    agent who presses "not ready" for the wrap-up does; the pause comes in the call's AgentComplete, before
    the simulator offers the next caller."""

    def __init__(self, sim: PbxSimulator, clock: Clock, durations: list[float], seed: int) -> None:
        self.sim, self.clock, self.durations = sim, clock, durations
        self.rng = random.Random(seed + 1)

    def after(self, message: Message) -> None:
        if message.name != "AgentComplete":
            return
        interface = message.get("Interface") or ""
        seconds = self.rng.choice(self.durations)
        if interface in self.sim.members and seconds > 0:
            self.sim.pause_member(interface, True, "wrap-up")
            self.clock.later(seconds, self.sim.pause_member, interface, False)


def _arrive(sim: PbxSimulator, call: Call, patience: float, handle: float) -> None:
    sim.caller_arrives(call.call_id, f"{call.kind} P{call.priority}", patience=patience, handle=handle,
                       priority=PRIORITY if call.priority == PRIORITY else 0)


@dataclass
class Told:
    """What one caller was told on joining, and what became of them in the replay."""

    call: Call
    position: int
    ours: float | None
    formula: float | None
    app_queue: float
    cost: float  # seconds of CPU the service's estimates for everyone waiting took
    waiting: int  # how many were waiting then (this caller included)
    replay_wait: float | None = None  # None: not served in the replay
    replay_outcome: str = "waiting"


@dataclass
class Played:
    told: list[Told]
    offered: int
    answered: int
    abandoned: int


def wire(message: Message) -> Message:
    """The event as the service receives it from Asterisk: encoded to AMI bytes and parsed back."""
    data = encode_message(message.headers[0], message.headers[1:])
    frames = FrameSplitter(expect_banner=False).feed(data)
    return parse_frame(frames[0])


def play_day(calls: list[Call], day: date, *, timezone: str = "Europe/Moscow", seed: int = 0,
             until: float | None = None, tracker: QueueTracker | None = None,
             estimate: Callable[..., list[float | None]] = position_estimates, floor: list[Call] | None = None,
             patience: dict[str, float] | None = None) -> Played:
    """The day on a virtual clock, the tracker fed over the wire format, each join's estimates recorded."""
    origin = day_origin(day, timezone)
    first = min((c.arrival for c in [*calls, *(floor or [])]), default=0.0)
    start = origin + first - 60
    clock = VirtualClock(start)
    sim = PbxSimulator(SimConfig(agents=0, seed=seed, timezone=timezone, agent_no_answer=0.0,
                                 generate_traffic=False), start_time=start, clock=clock)
    tracker = tracker or QueueTracker(timezone)
    by_id = {c.call_id: c for c in calls}
    told: dict[str, Told] = {}

    def observe(message: Message) -> None:
        received = wire(message)
        tracker.apply(received, clock.now())
        if received.name == "QueueCallerJoin":
            queue = tracker.queues[sim.config.queue]
            caller = queue.caller(received["Uniqueid"])
            call = by_id.get(received.get("CallerIDNum") or "")
            if caller is None or call is None:
                return
            serving, free = serving_and_free(queue)
            # A whole snapshot, as the dashboard's: every waiting caller's estimate at once.
            began = time.process_time()
            ours = estimate(queue, clock.now(), len(queue.waiting))[caller.position - 1]
            cost = time.process_time() - began
            formula = caller_estimate(caller.position, serving, free, queue.stats.handle.value,
                                      queue.stats.abandon.theta)
            told[caller.uniqueid] = Told(call, caller.position, ours, formula, queue.stats.app_queue.holdtime, cost,
                                         len(queue.waiting))
        elif received.name == "AgentConnect" and received.get("Uniqueid") in told:
            entry = told[received["Uniqueid"]]
            entry.replay_wait, entry.replay_outcome = float(received["HoldTime"]), "served"
        elif received.name == "QueueCallerAbandon" and received.get("Uniqueid") in told:
            told[received["Uniqueid"]].replay_outcome = "abandoned"

    sim.event_hooks.append(observe)
    schedule_day(sim, clock, calls, origin, seed, until, floor, patience)
    last = max((c.arrival for c in calls if until is None or c.arrival < until), default=first)
    clock.run_until(origin + last + DRAIN_SECONDS)
    return Played(list(told.values()), sim.offered, sim.answered, sim.abandoned)
