"""The hotline as supervisors and callers see it: derived figures and each waiting caller's estimate.

Pure: built from the tracker's state and a clock. The method is in hotline/estimate.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from callcenter.hotline.estimate import (
    Breaks,
    EstimateMemo,
    agents_needed,
    erlang_c_wait,
    queue_length_wait,
    simulated_waits,
)
from callcenter.pbx.tracker import QueueState

# How long (real seconds) a set of estimates is reused by the service: a wait estimate in minutes does not
# change in a second, and recomputing it for every request was the service's top cost at scale.
ESTIMATE_FRESH_SECONDS = 1.0
# Samples of the queue played forward per estimate. On the real log's replay 60 samples were as good as 200
# (MAE 14.9 s against 14.8 s on days 1-3), at a third of the cost; 100 keep a margin.
ESTIMATE_SAMPLES = 100
# Pauses seen before paused operators are expected back (a pause for the day must not count as a break).
MIN_PAUSES_SEEN = 10


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def serving_and_free(q: QueueState) -> tuple[int, int]:
    """Operators taking calls (not paused, not unavailable) and those of them free right now."""
    members = q.members.values()
    serving = sum(1 for m in members if not m.paused and m.state != "unavailable")
    return serving, sum(1 for m in members if m.state == "free")


def caller_estimate(position: int, serving: int, free: int, handle: float, theta: float) -> float | None:
    """The closed-form queue-length estimate. Free operators take the first callers at once; those behind
    wait for completions by every serving operator, since all of them are busy by then."""
    return queue_length_wait(position, serving, handle, theta, free_operators=free)


def breaks(q: QueueState, paused: list[float]) -> Breaks:
    """The operators' pauses as the estimate plays them: learnt once the floor has shown a few."""
    if q.stats.pauses.count < MIN_PAUSES_SEEN:
        return Breaks()  # nothing known yet about when paused operators come back: they do not count
    return Breaks(paused, q.stats.pauses.sampler(), q.stats.after_call_share, q.stats.pauses.mean())


def _estimates(q: QueueState, now: float, positions: int, fresh_for: float,
               clock: Callable[[], float]) -> EstimateMemo | None:
    """Estimates covering `positions`: the memo when it is fresh, else computed (None: nobody serves)."""
    memo = q.stats.estimate_memo
    if fresh_for > 0 and memo is not None and len(memo.waits) >= positions and \
            clock() - memo.computed_at < fresh_for and now >= memo.at:
        return memo  # no walk over the members either: a floor of 1,400 made that a cost of its own
    serving, _ = serving_and_free(q)
    # Paused operators still logged in come back; a floor of paused ones only is still a floor.
    paused = [now - m.paused_at if m.paused_at is not None else 0.0
              for m in q.members.values() if m.paused and m.status not in (4, 5)]
    if serving == 0 and not paused:
        return None
    busy = [max(0.0, now - call.answered_at) for call in q.calls.values()]
    # A caller whose operator's phone is ringing has that operator: only the ring is left for them, and the
    # operator is not free for the others. Counting every ringing operator as free for the first callers
    # told a priority customer who joined ahead of a caller being rung "3 s" (the real log's priority
    # customers jump ahead: 132 callers on days 1-14, who waited 27 s on average).
    rung = [caller.uniqueid in q.ringing for caller in q.waiting]
    available = max(0, serving - len(busy) - sum(rung))  # free, or ringing for the same caller as another
    # Everyone waiting, and room to grow (each callback request asks for one more position than the one
    # before it): the next requests then reuse them. Positions far back cost an addition each.
    wanted = max(2 * positions, len(q.waiting) + 1) if fresh_for > 0 else positions
    waited = [max(0.0, now - caller.joined_at) for caller, ringing in zip(q.waiting, rung, strict=True)
              if not ringing]
    # The rung callers' operators are as busy as one whose call has just begun.
    line = simulated_waits(busy + [0.0] * sum(rung), available, max(0, wanted - sum(rung[:wanted])), q.stats.handle_fit,
                           q.stats.abandon.theta, q.stats.ring.value, patience=q.stats.patience.sampler(),
                           waited=waited, samples=ESTIMATE_SAMPLES, breaks=breaks(q, paused))
    rest = iter(line)
    waits = [q.stats.ring.value if position < len(rung) and rung[position] else next(rest)
             for position in range(wanted)]
    q.stats.estimate_memo = EstimateMemo(now, clock(), waits)
    return q.stats.estimate_memo


def _aged(wait: float, seconds: float) -> float | None:
    return None if math.isinf(wait) else max(0.0, wait - seconds)


def position_estimates(q: QueueState, now: float, positions: int, *, fresh_for: float = 0.0,
                       clock: Callable[[], float] = time.monotonic) -> list[float | None]:
    """Estimated remaining wait for positions 1..positions, from the calls in progress (how long each has
    lasted), the fitted call-length distribution, the abandonment rate and the learnt ring time.

    With `fresh_for` (real seconds), estimates computed that recently are reused, less the time since."""
    memo = _estimates(q, now, positions, fresh_for, clock)
    if memo is None:
        return [None] * positions
    return [_aged(wait, now - memo.at) for wait in memo.waits[:positions]]


def position_estimate(q: QueueState, now: float, position: int, *, fresh_for: float = 0.0,
                      clock: Callable[[], float] = time.monotonic) -> float | None:
    """The estimate for one position (a callback request, a video session), without building the list."""
    memo = _estimates(q, now, position, fresh_for, clock)
    return None if memo is None else _aged(memo.waits[position - 1], now - memo.at)


def queue_view(q: QueueState, now: float, service_level_target: float,
               service_level_seconds: float = 20.0, fresh_for: float = 0.0) -> dict[str, Any]:
    counters = q.counters
    members = list(q.members.values())
    serving, free = serving_and_free(q)
    handle = q.stats.handle.value
    theta = q.stats.abandon.theta
    waiting = []
    estimates = position_estimates(q, now, len(q.waiting) + 1, fresh_for=fresh_for)
    for caller, estimate in zip(q.waiting, estimates, strict=False):
        waiting.append({
            **asdict(caller),
            "waited_seconds": max(0.0, round(now - caller.joined_at, 1)),
            "estimated_wait_seconds": None if estimate is None else round(estimate, 1),
            "app_queue_estimate_seconds": round(q.stats.app_queue.holdtime, 1),
        })
    settled = counters.answered + counters.abandoned
    new_caller = estimates[-1]
    erlang = erlang_c_wait(serving, q.stats.arrival_rate(now), handle)
    return {
        "name": q.name,
        "waiting": waiting,
        "members": [m.to_json() for m in members],
        "calls": [asdict(c) for c in q.calls.values()],
        "counters": asdict(counters),
        "figures": {
            "waiting": len(q.waiting),
            "longest_wait_seconds": round(max((now - c.joined_at for c in q.waiting), default=0.0), 1),
            "operators_logged_in": len(members),
            "operators_serving": serving,
            "operators_free": free,
            "operators_talking": sum(1 for m in members if m.in_call),
            "operators_paused": sum(1 for m in members if m.paused),
            "service_level": _ratio(counters.answered_within_threshold, settled),
            "service_level_target": service_level_target,
            "average_speed_of_answer_seconds": _ratio(counters.wait_seconds_answered, counters.answered),
            "abandonment_rate": _ratio(counters.abandoned, settled),
            "average_handle_seconds": round(handle, 1),
            "abandon_rate_per_second": round(theta, 6),
            "arrivals_per_hour": round(q.stats.arrival_rate(now) * 3600, 1),
            "new_caller_estimate_seconds": None if new_caller is None else round(new_caller, 1),
            "new_caller_queue_length_estimate_seconds": _round(caller_estimate(len(q.waiting) + 1, serving, free,
                                                                               handle, theta)),
            "erlang_c_wait_seconds": None if math.isinf(erlang) else round(erlang, 1),
            # Erlang C staffing for the last 15 minutes' arrivals and the current handle time.
            "operators_needed": agents_needed(q.stats.arrival_rate(now), handle, service_level_seconds,
                                              service_level_target),
        },
    }
