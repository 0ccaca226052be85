"""Waiting-time estimates and staffing, pure math.

Told wait (per caller, by position): the queue-length predictor of Ibrahim and Whitt ("Real-time delay
estimation based on delay history", and "Wait-time predictors for customer service systems with time-varying
demand and capacity", Operations Research 2011), refined for callers who give up. A caller at position k
(1 = next) enters service after k departures from the line ahead of them. While every operator is busy,
departures happen at rate s*mu (s operators serving, mu = 1/AHT) plus j*theta (j callers still ahead, each
abandoning at rate theta). Summing the expected time to each departure:

    E[W_k] = sum_{j=0}^{k-1} 1 / (s*mu + j*theta)

With theta = 0 this is k*AHT/s, the plain (n+1)*AHT/s for n callers ahead. Operators already free (ringing)
take the first callers at once, so k is counted beyond them. theta is estimated the standard way for
exponential patience: abandons divided by the total time all callers spent waiting.

The service tells the median of `simulated_waits`, which plays the queue forward from what the tracker knows:
how long each call in progress has lasted, each caller ahead's patience given how long they have waited (a
learnt curve, hotline/hazard.py), and the operators off the phone (`Breaks`): those paused come back after a
learnt pause length given their time away, and operators pause after a learnt share of calls. On a real
centre's log (benchmarks/wait_estimate_real.py) the pauses were what an estimate counting only the operators
on the phone missed most.

Asterisk's own estimate (app_queue, `announce-holdtime`) is one number for everyone: an exponential moving
average of answered callers' holds, new = (3*old + hold)/4. `AppQueueEstimate` reproduces it so the benchmark
can compare both on the same day.

Erlang C (M/M/s) gives the chance to wait and the mean wait for a new caller from the arrival rate, and the
operators needed to meet a service level.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from callcenter.hotline.hazard import DurationSampler

DEFAULT_HANDLE_SECONDS = 240.0
# Time for a free operator's phone to be rung and answered when a caller is handed over.
RING_SECONDS = 5.0


@dataclass
class RunningMean:
    """An exponentially weighted mean that starts from a prior (so the first calls do not swing it wildly)."""

    value: float
    weight: float = 0.05

    def add(self, sample: float) -> None:
        self.value += self.weight * (sample - self.value)


@dataclass
class AbandonRate:
    """theta-hat = abandons / total time spent waiting (maximum likelihood for exponential patience)."""

    abandons: int = 0
    waiting_seconds: float = 0.0

    def add_wait(self, seconds: float, abandoned: bool) -> None:
        self.waiting_seconds += max(0.0, seconds)
        self.abandons += int(abandoned)

    @property
    def theta(self) -> float:
        if self.abandons == 0 or self.waiting_seconds <= 0:
            return 0.0
        return self.abandons / self.waiting_seconds


def queue_length_wait(position: int, serving: int, handle_seconds: float, theta: float = 0.0,
                      free_operators: int = 0) -> float | None:
    """Expected remaining wait (seconds) for the caller at `position`; None when no operator serves."""
    if position < 1:
        raise ValueError("positions start at 1")
    ahead_of_free = position - max(0, free_operators)
    if ahead_of_free <= 0:
        return RING_SECONDS
    if serving <= 0:
        return None
    service_rate = serving / max(handle_seconds, 1.0)
    return sum(1.0 / (service_rate + j * theta) for j in range(ahead_of_free))


def erlang_c(agents: int, offered_load: float) -> float:
    """Probability that a caller waits (M/M/s), with load A = arrival rate * handle time (Erlangs)."""
    if agents <= 0:
        return 1.0
    if offered_load <= 0:
        return 0.0
    if offered_load >= agents:
        return 1.0
    # Erlang B by the stable recurrence, then C from B.
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    rho = offered_load / agents
    return blocking / (1 - rho + rho * blocking)


def erlang_c_wait(agents: int, arrivals_per_second: float, handle_seconds: float) -> float:
    """Mean wait of a new caller (seconds); infinity when the operators cannot keep up."""
    load = arrivals_per_second * handle_seconds
    if agents <= 0 or load >= agents:
        return math.inf
    return erlang_c(agents, load) * handle_seconds / (agents - load)


def service_level(agents: int, arrivals_per_second: float, handle_seconds: float, threshold: float) -> float:
    """Share of callers answered within `threshold` seconds (M/M/s)."""
    load = arrivals_per_second * handle_seconds
    if agents <= 0 or load >= agents:
        return 0.0
    waits = erlang_c(agents, load)
    return 1.0 - waits * math.exp(-(agents - load) * threshold / handle_seconds)


def agents_needed(arrivals_per_second: float, handle_seconds: float, threshold: float, target: float,
                  limit: int = 1000) -> int:
    """The fewest operators for the service-level target (0 when no calls are expected)."""
    if arrivals_per_second <= 0:
        return 0
    agents = max(1, math.ceil(arrivals_per_second * handle_seconds))
    while agents < limit and service_level(agents, arrivals_per_second, handle_seconds, threshold) < target:
        agents += 1
    return agents


@dataclass
class AppQueueEstimate:
    """Asterisk app_queue's hold-time average: the same figure for the caller at position 1 and 12."""

    holdtime: float = 0.0

    def answered(self, hold_seconds: float) -> None:
        self.holdtime = (3 * self.holdtime + hold_seconds) / 4

    def estimate(self, position: int) -> float:
        return self.holdtime


@dataclass
class LogNormalFit:
    """Running fit of call lengths on a log scale (Welford), starting from a prior worth `prior_weight` calls."""

    mu: float = math.log(DEFAULT_HANDLE_SECONDS) - 0.18
    sigma: float = 0.6
    count: float = 20.0
    _m2: float = 20.0 * 0.36

    def add(self, seconds: float, window: float = 500.0) -> None:
        value = math.log(max(seconds, 1.0))
        # A bounded effective count keeps the fit following the day (forgetting old calls slowly).
        self.count = min(self.count + 1, window)
        delta = value - self.mu
        self.mu += delta / self.count
        self._m2 = self._m2 * (1 - 1 / self.count) + delta * (value - self.mu)
        self.sigma = max(0.05, math.sqrt(self._m2 / max(self.count - 1, 1)))


@dataclass
class EstimateMemo:
    """The last estimates, reused for a moment: every callback request and snapshot asks for them, and on a
    floor of hundreds of operators one set costs tens of milliseconds of the event loop."""

    at: float  # the queue's clock when they were computed
    computed_at: float  # the real (monotonic) time they were computed
    waits: list[float]


_NORMAL = NormalDist()


def _floor(fit: LogNormalFit, elapsed: float) -> float:
    """Where a call that has lasted `elapsed` seconds is on the fitted distribution (0: just begun)."""
    return _NORMAL.cdf((math.log(elapsed) - fit.mu) / fit.sigma) if elapsed > 0 else 0.0


def _residual(rng: random.Random, fit: LogNormalFit, elapsed: float, floor: float | None = None) -> float:
    """A remaining call time, given the call has lasted `elapsed` seconds already (`floor`: its `_floor`,
    computed once per call rather than once per draw)."""
    if elapsed <= 0:
        return rng.lognormvariate(fit.mu, fit.sigma)
    floor = _floor(fit, elapsed) if floor is None else floor
    if floor >= 0.999999:
        return rng.expovariate(1 / max(1.0, elapsed * 0.1))  # far in the tail: ends "soon", roughly
    quantile = floor + (1 - floor) * rng.random()
    return max(0.0, math.exp(fit.mu + fit.sigma * _NORMAL.inv_cdf(min(quantile, 0.999999))) - elapsed)


MAX_DRAWS = 20_000
# Positions played forward one by one; those further back are extrapolated by the closed form. A callback
# request at a hundred times the traffic asked for position 3,000 (the callbacks ahead count too), and playing
# that many forward on the event loop stalled the PBX link past its keep-alive.
MAX_SIMULATED_POSITIONS = 300


@dataclass(frozen=True)
class Breaks:
    """Operators off the phone: how long each paused one has been away, how long pauses last, and the share
    of calls an operator follows with a pause (after-call work). A real floor's operators step away after
    many calls and come back: a forward play that counted only those on the phone, each taking the next
    caller the moment a call ends, told the first callers much too little."""

    paused: Sequence[float] = ()
    durations: DurationSampler | None = None
    after_call_share: float = 0.0
    mean_seconds: float = 0.0

    def back_in(self, rng: random.Random, elapsed: float) -> float:
        return self.durations.remaining(rng, elapsed) if self.durations is not None else math.inf

    def after_call(self, rng: random.Random) -> float:
        if self.durations is None or self.after_call_share <= 0 or rng.random() >= self.after_call_share:
            return 0.0
        return self.durations.remaining(rng, 0.0)


def simulated_waits(busy_elapsed: list[float], free_operators: int, waiting: int, fit: LogNormalFit,
                    theta: float, ring_seconds: float, samples: int = 200, seed: int = 0,
                    patience: DurationSampler | None = None, waited: Sequence[float] = (),
                    breaks: Breaks | None = None) -> list[float]:
    """Median remaining wait for positions 1..waiting.

    Each sample plays the queue forward: busy operators finish after a remaining time drawn given how long
    their call has lasted (log-normal, conditioned), free ones at once; callers in order take the first
    operator free, each caller ahead may give up first and then takes no operator. Their patience is
    exponential (rate theta), or, with `patience`, drawn from the learnt curve given how long each has
    already waited (`waited[i]` for position i+1; those beyond it have just come): a real centre's patience
    is far from exponential, a caller who has held on for minutes is unlikely to go now. With `breaks`,
    paused operators come back after a remaining pause given how long they have been away, and an operator
    ending a call may pause before the next. The median over samples is the estimate (it minimises the
    absolute error).
    """
    breaks = breaks or Breaks()
    if waiting <= 0:
        return []
    operators = len(busy_elapsed) + free_operators
    if operators == 0 and not breaks.paused:
        return [math.inf] * waiting
    if free_operators >= waiting:
        return [ring_seconds] * waiting  # every caller has a free operator: only the ringing is left
    # Each sample draws a remaining time per busy operator: bound the draws per estimate. On a large floor
    # (hundreds of operators) the queue is close to deterministic and few samples do: with 1,000 operators
    # busy and 300 waiting, 9 samples are within 3.5 s of 400 samples' medians (waits of 3-58 s) at 64 ms an
    # estimate, against 146 ms for 25. At scale 100 the unbounded estimate took 90 % of the service's CPU.
    samples = min(samples, max(9, MAX_DRAWS // max(1, len(busy_elapsed))))
    played = min(waiting, MAX_SIMULATED_POSITIONS)
    rng = random.Random(seed)
    draws: list[list[float]] = [[] for _ in range(played)]
    floors = [_floor(fit, e) for e in busy_elapsed]
    for _ in range(samples):
        free_at = [_residual(rng, fit, e, f) + breaks.after_call(rng) for e, f in zip(busy_elapsed, floors,
                                                                                         strict=True)] + \
            [0.0] * free_operators + [breaks.back_in(rng, e) for e in breaks.paused]
        heapq.heapify(free_at)
        for position in range(played):
            start = free_at[0]
            draws[position].append(start + ring_seconds)
            if position == played - 1:
                break  # nobody behind: whether this caller stays and how long they talk changes nothing
            if patience is not None:
                gives_up_at = patience.remaining(rng, waited[position] if position < len(waited) else 0.0)
            else:
                gives_up_at = rng.expovariate(theta) if theta > 0 else math.inf
            if gives_up_at >= start:
                heapq.heapreplace(free_at, start + ring_seconds + rng.lognormvariate(fit.mu, fit.sigma) +
                                  breaks.after_call(rng))
    waits = [statistics.median(values) for values in draws]
    # Further back: each caller ahead leaves at the floor's completion rate plus the abandonment rate, as in
    # `queue_length_wait` (whose terms from position `played` on are these).
    cycle = math.exp(fit.mu + fit.sigma ** 2 / 2) + breaks.after_call_share * breaks.mean_seconds
    service_rate = (operators + len(breaks.paused)) / max(1.0, cycle)
    for ahead in range(played, waiting):
        waits.append(waits[-1] + 1.0 / (service_rate + ahead * theta))
    return waits
