"""The sign-language interpreters' pool: who gets the next session. Pure; the service drives its clock.

First come, first served for sessions; the longest-idle available interpreter for each. An offer is accepted
or declined; one left unanswered past its deadline counts as declined and pauses that interpreter (as
app_queue's autopause does for an operator who does not pick up), so the next session is not offered to an
empty chair. A session is not offered again to an interpreter who declined it while others could take it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STATUSES = ("available", "paused", "busy")


@dataclass
class Interpreter:
    username: str
    status: str = "paused"
    reason: str = ""
    idle_since: float = 0.0
    session: str | None = None
    offered: str | None = None


@dataclass(frozen=True)
class Offer:
    session: str
    username: str
    deadline: float


@dataclass
class InterpreterPool:
    offer_seconds: float = 30.0
    interpreters: dict[str, Interpreter] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)
    offers: dict[str, Offer] = field(default_factory=dict)
    declined: dict[str, set[str]] = field(default_factory=dict)

    def set_status(self, username: str, status: str, now: float, reason: str = "") -> Interpreter:
        if status not in ("available", "paused"):
            raise ValueError("status must be available or paused")
        person = self.interpreters.setdefault(username, Interpreter(username, idle_since=now))
        if person.status == "busy":
            raise ValueError("an interpreter in a session cannot change status until it ends")
        if status == "available" and person.status != "available":
            person.idle_since = now
        if status == "paused" and person.offered:
            self._withdraw(person.offered)
        person.status, person.reason = status, reason if status == "paused" else ""
        return person

    def add_session(self, session_id: str) -> None:
        if session_id not in self.waiting:
            self.waiting.append(session_id)

    def remove_session(self, session_id: str) -> None:
        """The session ended or no longer needs an interpreter."""
        if session_id in self.waiting:
            self.waiting.remove(session_id)
        self._withdraw(session_id)
        self.declined.pop(session_id, None)

    def position(self, session_id: str) -> int | None:
        return self.waiting.index(session_id) + 1 if session_id in self.waiting else None

    def available(self) -> list[Interpreter]:
        return [p for p in self.interpreters.values() if p.status == "available" and p.offered is None]

    def on_duty(self) -> int:
        return sum(1 for p in self.interpreters.values() if p.status in ("available", "busy"))

    def assign(self, now: float) -> list[Offer]:
        """New offers: the earliest waiting sessions not on offer, each to the longest-idle free interpreter
        who has not declined it (or to anyone, once everyone free has)."""
        made: list[Offer] = []
        for session_id in self.waiting:
            if session_id in self.offers:
                continue
            free = sorted(self.available(), key=lambda p: (p.idle_since, p.username))
            if not free:
                break
            refused = self.declined.get(session_id, set())
            willing = [p for p in free if p.username not in refused] or free
            person = willing[0]
            offer = Offer(session_id, person.username, now + self.offer_seconds)
            person.offered = session_id
            self.offers[session_id] = offer
            made.append(offer)
        return made

    def accept(self, session_id: str, username: str) -> None:
        offer = self.offers.get(session_id)
        if offer is None or offer.username != username:
            raise LookupError("this session is not on offer to you")
        person = self.interpreters[username]
        del self.offers[session_id]
        person.offered, person.status, person.session = None, "busy", session_id
        self.waiting.remove(session_id)
        self.declined.pop(session_id, None)

    def decline(self, session_id: str, username: str) -> None:
        offer = self.offers.get(session_id)
        if offer is None or offer.username != username:
            raise LookupError("this session is not on offer to you")
        self.declined.setdefault(session_id, set()).add(username)
        self._withdraw(session_id)

    def expire(self, now: float) -> list[Offer]:
        """Offers past their deadline: declined, and their interpreters paused as not answering."""
        late = [offer for offer in self.offers.values() if offer.deadline <= now]
        for offer in late:
            self.declined.setdefault(offer.session, set()).add(offer.username)
            self._withdraw(offer.session)
            person = self.interpreters[offer.username]
            person.status, person.reason = "paused", "no answer"
        return late

    def release(self, username: str, now: float) -> None:
        """The interpreter's session is over (or they left it): free again, idle from now."""
        person = self.interpreters.get(username)
        if person is None:
            return
        person.session = None
        if person.status == "busy":
            person.status, person.idle_since = "available", now

    def next_deadline(self) -> float | None:
        return min((offer.deadline for offer in self.offers.values()), default=None)

    def _withdraw(self, session_id: str) -> None:
        offer = self.offers.pop(session_id, None)
        if offer is not None:
            self.interpreters[offer.username].offered = None
