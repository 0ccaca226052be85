"""The simulated hotline's traffic, pure and seeded: when callers arrive, how long they wait before giving up,
how long their calls take.

Arrivals are a non-homogeneous Poisson process (drawn by thinning) whose intensity follows a day with a
morning peak around 10:30 and an afternoon peak around 15:00, scaled so that the working day holds
`calls_per_day` calls on average. Patience is exponential (the model behind the abandonment estimator);
handle times are log-normal, the usual shape for call-centre service times (Brown et al., "Statistical
analysis of a telephone call center", JASA 2005).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

OPEN_HOUR, CLOSE_HOUR = 8.0, 20.0


def day_shape(hour: float) -> float:
    """Relative call intensity at a local hour of the day (not normalised)."""
    if not OPEN_HOUR <= hour < CLOSE_HOUR:
        return 0.0
    return 0.45 + math.exp(-(((hour - 10.5) / 1.3) ** 2)) + 0.8 * math.exp(-(((hour - 15.0) / 1.5) ** 2))


def _shape_mean(steps: int = 1200) -> float:
    width = (CLOSE_HOUR - OPEN_HOUR) / steps
    return sum(day_shape(OPEN_HOUR + (i + 0.5) * width) for i in range(steps)) / steps


SHAPE_MEAN = _shape_mean()
SHAPE_MAX = max(day_shape(OPEN_HOUR + i / 100) for i in range(int((CLOSE_HOUR - OPEN_HOUR) * 100)))


@dataclass(frozen=True)
class TrafficModel:
    calls_per_day: int = 3000
    mean_patience: float = 240.0
    mean_handle: float = 180.0
    handle_sigma: float = 0.6
    # When set, the simulated PBX takes calls around the clock at the day's mean rate outside the hours,
    # so that a demo at night is not an empty queue.
    any_hour: bool = False

    @property
    def mean_rate(self) -> float:
        """Calls per second averaged over the working day."""
        return self.calls_per_day / ((CLOSE_HOUR - OPEN_HOUR) * 3600)

    def rate(self, hour: float) -> float:
        shape = day_shape(hour)
        if shape == 0.0:
            return self.mean_rate if self.any_hour else 0.0
        return self.mean_rate * shape / SHAPE_MEAN

    @property
    def max_rate(self) -> float:
        return self.mean_rate * max(SHAPE_MAX / SHAPE_MEAN, 1.0)

    def next_arrival(self, rng: random.Random, hour: float) -> float:
        """Seconds from `hour` (local, fractional) to the next arrival; inf when none today."""
        peak = self.max_rate
        if peak <= 0:
            return math.inf
        elapsed = 0.0
        for _ in range(1_000_000):
            elapsed += rng.expovariate(peak)
            at = (hour + elapsed / 3600) % 24
            if rng.random() * peak <= self.rate(at):
                return elapsed
        return math.inf

    def patience(self, rng: random.Random) -> float:
        return rng.expovariate(1 / self.mean_patience)

    def handle_time(self, rng: random.Random) -> float:
        # Log-normal with the requested mean: mu = ln(mean) - sigma^2/2.
        mu = math.log(self.mean_handle) - self.handle_sigma**2 / 2
        return max(15.0, rng.lognormvariate(mu, self.handle_sigma))


CYRILLIC_NAMES = ("Иванов Иван", "Петрова Анна", "Смирнов Олег", "Кузнецова Мария", "Попов Сергей",
                  "Соколова Елена", "Лебедев Павел", "Козлова Ольга")


def caller_identity(rng: random.Random) -> tuple[str, str]:
    """A Moscow-looking number and a name (Cyrillic, as real caller names are)."""
    number = "7495" + "".join(str(rng.randrange(10)) for _ in range(7))
    return number, rng.choice(CYRILLIC_NAMES)
