"""The service's "now": real time, or a simulated day that runs faster than real time.

`callcenter simulate-day` runs the whole deployment (service, worker, PBX simulator) a working day in minutes.
Every process must then agree on the time, or a callback would fall due in one process's day and another's
night. CALLCENTER_TIMEBASE="SIM_START,REAL_ORIGIN,RATE" says: at real epoch REAL_ORIGIN the simulated epoch is
SIM_START, and simulated time runs RATE times faster. Without it, now() is time.time(). Code that takes "now"
for business rules (hours, due times, lockouts, reports) reads it here; code that waits converts simulated
seconds to real ones with real_seconds().
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

ENV = "CALLCENTER_TIMEBASE"


@dataclass(frozen=True)
class Timebase:
    start: float = 0.0
    origin: float = 0.0
    rate: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Timebase:
        try:
            start, origin, rate = (float(part) for part in text.split(","))
        except ValueError:
            raise ValueError(f"{ENV} must be 'SIM_START,REAL_ORIGIN,RATE', got '{text[:60]}'") from None
        if rate <= 0:
            raise ValueError(f"{ENV}: the rate must be positive")
        return cls(start, origin, rate)

    @property
    def simulated(self) -> bool:
        return self.rate != 1.0 or self.start != self.origin

    def now(self) -> float:
        return self.start + (time.time() - self.origin) * self.rate

    def to_real(self, epoch: float) -> float:
        """The real epoch at which simulated `epoch` comes."""
        return self.origin + (epoch - self.start) / self.rate

    def real_seconds(self, seconds: float) -> float:
        return seconds / self.rate

    def env_value(self) -> str:
        return f"{self.start!r},{self.origin!r},{self.rate!r}"


_current = Timebase.parse(os.environ[ENV]) if os.environ.get(ENV) else Timebase()


def current() -> Timebase:
    return _current


def now() -> float:
    return _current.now() if _current.simulated else time.time()


def real_seconds(seconds: float) -> float:
    return _current.real_seconds(seconds)


def to_real(epoch: float) -> float:
    return _current.to_real(epoch) if _current.simulated else epoch
