"""How much one address may start and one participant may write (pure).

A resident needs one session at a time, maybe two (a family behind one router); thirty in a row from one
address filled the interpreters' list. Chat is for sentences typed by people: a burst of ten lines, then a line
every half second, each at most `MAX_CHAT_CHARS`, and a session's stored history stops growing at
`MAX_CHAT_LINES` (refused beyond, never trimmed: what was said is the session's record).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_CHAT_CHARS = 1000
MAX_CHAT_LINES = 500


@dataclass
class TokenBucket:
    """`capacity` actions at once, refilled at `rate` per second."""

    capacity: float = 10.0
    rate: float = 2.0
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.updated = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass(frozen=True)
class StartLimits:
    live_per_address: int = 2
    starts_per_address_hour: int = 5

    def refusal(self, live: int, started_this_hour: int) -> str | None:
        """Why a new session from an address with `live` sessions going and `started_this_hour` started is
        refused (None: it is not)."""
        if live >= self.live_per_address:
            return "live"
        if started_this_hour >= self.starts_per_address_hour:
            return "hourly"
        return None
