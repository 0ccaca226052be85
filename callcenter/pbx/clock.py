"""Clocks for the simulator: real time on the asyncio loop (optionally accelerated), or a virtual
discrete-event clock that runs a whole simulated day as fast as the CPU allows (benchmarks, simulations)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class Handle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def later(self, seconds: float, callback: Callable[..., None], *args: object) -> Handle: ...


class LoopClock:
    """Simulated epoch seconds = origin + loop time elapsed x acceleration."""

    def __init__(self, origin: float, acceleration: float = 1.0) -> None:
        self.origin = origin
        self.acceleration = acceleration
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_origin = 0.0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_origin = loop.time()

    def now(self) -> float:
        if self._loop is None:
            return self.origin
        return self.origin + (self._loop.time() - self._loop_origin) * self.acceleration

    def later(self, seconds: float, callback: Callable[..., None], *args: object) -> Handle:
        assert self._loop is not None, "attach the clock to a running loop first"
        return self._loop.call_later(max(0.0, seconds) / self.acceleration, callback, *args)


class _Timer:
    __slots__ = ("args", "callback", "cancelled")

    def __init__(self, callback: Callable[..., None], args: tuple[object, ...]) -> None:
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Time moves only when `run_until` takes the next timer: no sleeping, exact and repeatable."""

    def __init__(self, origin: float) -> None:
        self._now = origin
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def later(self, seconds: float, callback: Callable[..., None], *args: object) -> Handle:
        timer = _Timer(callback, args)
        heapq.heappush(self._heap, (self._now + max(0.0, seconds), next(self._seq), timer))
        return timer

    def run_until(self, deadline: float) -> None:
        while self._heap and self._heap[0][0] <= deadline:
            at, _, timer = heapq.heappop(self._heap)
            self._now = at
            if not timer.cancelled:
                timer.callback(*timer.args)
        self._now = max(self._now, deadline)

    @property
    def pending(self) -> int:
        return sum(1 for _, _, timer in self._heap if not timer.cancelled)
