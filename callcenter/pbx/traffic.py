"""The simulated hotline's traffic, pure and seeded: when callers arrive, how long they wait before giving up,
how long their calls take.

The shapes are a real call centre's (the Technion "Anonymous Bank" log of February 1999, in benchmarks/data;
`python benchmarks/calibrate_traffic.py` fits them again and draws docs/traffic-real-vs-simulated.svg), the
scales are the settings':
- arrivals: a non-homogeneous Poisson process (drawn by thinning) whose intensity follows the log's weekdays
  half-hour by half-hour within the hotline's hours (a morning climb to 10:00, a lunchtime dip, a second peak
  at 16:00, a slow evening decline), scaled so that the working day holds `calls_per_day` calls on average;
- call lengths: the log's distribution (51 quantiles, log-interpolated) scaled to `mean_handle`. It is
  lopsided beyond a log-normal's reach: one call in ten under 25 s, one in a hundred over 18 minutes;
- patience: the log's survival curve (served callers' patience censored at their wait), scaled to
  `mean_patience`. It is not exponential: the hazard is highest in the first 20 seconds and falls by half
  after two minutes, so the callers who have held on keep holding on.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from dataclasses import dataclass

OPEN_HOUR, CLOSE_HOUR = 8.0, 20.0

# Calls joining the queue per half hour (00:00, 00:30, ... 23:30) on the log's weekdays (Sunday to Thursday),
# averaged over its 20 of them. Only the shape is used.
ARRIVALS = (0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.1, 15.7, 22.7, 35.3, 57.1, 48.2,
            58.4, 61.5, 60.1, 55.8, 52.5, 45.6, 45.3, 46.9, 54.1, 56.5, 56.6, 54.2, 56.2, 58.1, 55.8, 44.5,
            39.5, 39.3, 36.8, 32.6, 31.0, 26.6, 29.9, 26.8, 32.1, 27.4, 22.2, 23.0, 15.7)
# Service times (s) at the quantiles 0, 0.02, ... 1 of the log's 26,671 calls served by a named agent; the top
# one set so that the last fiftieth has the log's mean there (1,187 s; its longest call took 4,264 s).
TALK = (1.0, 3.0, 6.0, 11.0, 19.0, 25.0, 31.0, 35.0, 39.0, 43.0, 47.0, 50.0, 54.0, 58.0, 61.0, 65.0, 69.0, 73.0,
        77.0, 81.0, 85.0, 89.0, 94.0, 98.0, 104.0, 109.0, 114.0, 120.0, 127.0, 133.0, 141.0, 148.0, 156.0, 166.0,
        175.0, 186.0, 197.0, 210.0, 224.0, 240.0, 257.0, 279.0, 304.0, 334.0, 368.0, 412.0, 465.0, 538.0,
        650.0, 852.0, 1600.0)
# The share of callers still willing to wait after t seconds (the log's, censoring-aware), and beyond the last
# point a constant hazard per second (its tail).
PATIENCE = ((0.0, 1.0), (10.0, 0.9674), (20.0, 0.9273), (30.0, 0.8989), (45.0, 0.8635), (60.0, 0.8209),
            (90.0, 0.7543), (120.0, 0.708), (150.0, 0.6687), (180.0, 0.6061), (240.0, 0.5329), (300.0, 0.4794),
            (360.0, 0.4209), (420.0, 0.3602), (480.0, 0.315), (600.0, 0.2422))
PATIENCE_TAIL = 0.003


def _arrival_weight(hour: float) -> float:
    """The log's intensity at a (fractional) hour of the day, linear between half-hour centres."""
    slot = (hour * 2 - 0.5) % 48
    low = int(slot)
    share = slot - low
    return ARRIVALS[low] * (1 - share) + ARRIVALS[(low + 1) % 48] * share


def day_shape(hour: float, opens: float = OPEN_HOUR, closes: float = CLOSE_HOUR) -> float:
    """Relative call intensity at a local hour of the day (not normalised), nought outside the hours."""
    if not opens <= hour < closes:
        return 0.0
    return _arrival_weight(hour)


@functools.lru_cache(maxsize=16)
def _shape_mean(opens: float, closes: float, steps: int = 1200) -> float:
    width = (closes - opens) / steps
    return sum(day_shape(opens + (i + 0.5) * width, opens, closes) for i in range(steps)) / steps


@functools.lru_cache(maxsize=16)
def _shape_max(opens: float, closes: float) -> float:
    return max(day_shape(opens + i / 100, opens, closes) for i in range(int((closes - opens) * 100)))


def _talk_mean() -> float:
    """The mean of the log-interpolated quantile table: 179 s, the log's."""
    total = 0.0
    for low, high in itertools.pairwise(TALK):
        # The mean of exp-linear interpolation between two quantiles.
        total += (high - low) / math.log(high / low) if high > low else low
    return total / (len(TALK) - 1)


def _patience_mean() -> float:
    """The area under the survival curve: log-linear pieces, then the exponential tail."""
    total = 0.0
    for (t0, s0), (t1, s1) in itertools.pairwise(PATIENCE):
        total += (t1 - t0) * (s0 - s1) / math.log(s0 / s1) if s0 > s1 else (t1 - t0) * s0
    return total + PATIENCE[-1][1] / PATIENCE_TAIL


TALK_TABLE_MEAN = _talk_mean()
PATIENCE_MEAN = _patience_mean()  # about 370 s


def talk_quantile(u: float) -> float:
    """The log's service time at quantile u, interpolated on a log scale."""
    slot = min(max(u, 0.0), 1.0) * (len(TALK) - 1)
    low = min(int(slot), len(TALK) - 2)
    share = slot - low
    return float(TALK[low] * (TALK[low + 1] / TALK[low]) ** share)


def patience_quantile(survive: float) -> float:
    """The wait at which a share `survive` of callers is still willing to wait (log-linear between points)."""
    if survive <= PATIENCE[-1][1]:
        return PATIENCE[-1][0] + math.log(PATIENCE[-1][1] / max(survive, 1e-12)) / PATIENCE_TAIL
    index = bisect.bisect_left([-s for _, s in PATIENCE], -survive)
    (t0, s0), (t1, s1) = PATIENCE[max(0, index - 1)], PATIENCE[index]
    if s0 == s1:
        return t0
    return t0 + (t1 - t0) * math.log(s0 / survive) / math.log(s0 / s1)


@dataclass(frozen=True)
class TrafficModel:
    calls_per_day: int = 3000
    mean_patience: float = PATIENCE_MEAN
    mean_handle: float = 180.0
    # When set, the simulated PBX takes calls around the clock at the day's mean rate outside the hours,
    # so that a demo at night is not an empty queue.
    any_hour: bool = False
    opens: float = OPEN_HOUR
    closes: float = CLOSE_HOUR

    @property
    def mean_rate(self) -> float:
        """Calls per second averaged over the working day."""
        return self.calls_per_day / ((self.closes - self.opens) * 3600)

    def rate(self, hour: float) -> float:
        shape = day_shape(hour, self.opens, self.closes)
        if shape == 0.0:
            return self.mean_rate if self.any_hour and not self.opens <= hour < self.closes else 0.0
        return self.mean_rate * shape / _shape_mean(self.opens, self.closes)

    @property
    def max_rate(self) -> float:
        return self.mean_rate * max(_shape_max(self.opens, self.closes) / _shape_mean(self.opens, self.closes), 1.0)

    def next_arrival(self, rng: random.Random, hour: float) -> float:
        """Seconds from `hour` (local, fractional) to the next arrival; inf when none today."""
        peak = self.max_rate
        if peak <= 0:
            return math.inf
        scale = _shape_mean(self.opens, self.closes)
        elapsed = 0.0
        for _ in range(1_000_000):
            elapsed += rng.expovariate(peak)
            at = (hour + elapsed / 3600) % 24
            shape = day_shape(at, self.opens, self.closes)
            rate = self.mean_rate * shape / scale if shape else (self.mean_rate if self.any_hour and not
                                                                  self.opens <= at < self.closes else 0.0)
            if rng.random() * peak <= rate:
                return elapsed
        return math.inf

    def patience(self, rng: random.Random) -> float:
        return patience_quantile(1.0 - rng.random()) * self.mean_patience / PATIENCE_MEAN

    def handle_time(self, rng: random.Random) -> float:
        return max(1.0, talk_quantile(rng.random()) * self.mean_handle / TALK_TABLE_MEAN)


CYRILLIC_NAMES = ("Иванов Иван", "Петрова Анна", "Смирнов Олег", "Кузнецова Мария", "Попов Сергей",
                  "Соколова Елена", "Лебедев Павел", "Козлова Ольга")


def caller_identity(rng: random.Random) -> tuple[str, str]:
    """A Moscow-looking number and a name (Cyrillic, as real caller names are)."""
    number = "7495" + "".join(str(rng.randrange(10)) for _ in range(7))
    return number, rng.choice(CYRILLIC_NAMES)
