"""A video session's life and who sees and hears whom: pure, so that every rule is tested without a network.

States: waiting_interpreter -> with_interpreter -> with_operator -> ended for a sign-language session, and
waiting_operator -> with_operator -> ended for a video consultation. A participant who drops for good moves
the session back one step (the interpreter or operator is sought again); the resident leaving ends it.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

MODES = ("sign", "operator")
ROLES = ("resident", "interpreter", "operator")
STATES = ("waiting_interpreter", "with_interpreter", "waiting_operator", "with_operator", "ended")
WAITING = ("waiting_interpreter", "waiting_operator")
# Video slots each participant's connection receives: a large picture, a small one, and a voice.
SLOTS = ("main", "side", "audio")


class VideoProblem(Exception):
    """A refusal with a machine-readable code (the web layer turns it into a 4xx or a signalling error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidTransition(VideoProblem):
    """A message out of order (an operator before the interpreter, anything after the end)."""


@dataclass
class VideoSession:
    id: str
    mode: str
    state: str
    created_at: float
    record: bool = False
    interpreter: str | None = None
    operator: str | None = None
    operator_requested: bool = False
    ended_reason: str | None = None
    history: list[tuple[str, float, str]] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, mode: str, now: float, record: bool = False, session_id: str | None = None) -> VideoSession:
        if mode not in MODES:
            raise InvalidTransition("bad_mode", f"mode must be one of {', '.join(MODES)}")
        state = "waiting_interpreter" if mode == "sign" else "waiting_operator"
        session = cls(session_id or new_session_id(), mode, state, now, record)
        session.history.append((state, now, "started"))
        return session

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    def entered(self, state: str) -> float | None:
        """When the session first entered `state`."""
        return next((at for name, at, _ in self.history if name == state), None)

    def present(self) -> set[str]:
        people = {"resident"}
        if self.interpreter and self.state in ("with_interpreter", "with_operator"):
            people.add("interpreter")
        if self.operator and self.state == "with_operator":
            people.add("operator")
        return people

    def needs_operator(self) -> bool:
        """Whether an operator should be sought now (the session waits in the hotline queue meanwhile)."""
        if self.ended or self.operator:
            return False
        return self.state == "waiting_operator" or (self.state == "with_interpreter" and self.operator_requested)

    # -- transitions ---------------------------------------------------------------------------------------

    def _move(self, state: str, now: float, note: str) -> None:
        self.state = state
        self.history.append((state, now, note))

    def _alive(self) -> None:
        if self.ended:
            raise InvalidTransition("session_ended", "the session has ended")

    def interpreter_joins(self, username: str, now: float) -> None:
        self._alive()
        if self.mode != "sign":
            raise InvalidTransition("no_interpreter_here", "this session is a video consultation without "
                                    "an interpreter")
        if self.interpreter and self.interpreter != username:
            raise InvalidTransition("taken", "another interpreter has this session")
        if self.state != "waiting_interpreter":
            raise InvalidTransition("not_waiting", f"the session is {self.state}, not waiting for an interpreter")
        self.interpreter = username
        self._move("with_operator" if self.operator else "with_interpreter", now, f"interpreter {username}")

    def request_operator(self, now: float) -> None:
        self._alive()
        if self.state != "with_interpreter":
            raise InvalidTransition("not_with_interpreter", "an operator is asked for once the interpreter "
                                    "has joined")
        if not self.operator_requested:
            self.operator_requested = True
            self.history.append((self.state, now, "operator requested"))

    def operator_joins(self, username: str, now: float) -> None:
        self._alive()
        if self.operator and self.operator != username:
            raise InvalidTransition("taken", "another operator has this session")
        if self.state not in ("with_interpreter", "waiting_operator"):
            raise InvalidTransition("not_ready", "the interpreter has not joined yet" if
                                    self.state == "waiting_interpreter" else f"the session is {self.state}")
        self.operator = username
        self._move("with_operator", now, f"operator {username}")

    def participant_left(self, role: str, now: float) -> None:
        """A participant gone for good (left, or dropped past the grace period)."""
        if self.ended:
            return
        if role == "resident":
            self.end("resident_left", now)
        elif role == "interpreter" and self.interpreter:
            self.interpreter = None
            self._move("waiting_interpreter", now, "interpreter left")
        elif role == "operator" and self.operator:
            self.operator = None
            self.operator_requested = True
            self._move("with_interpreter" if self.mode == "sign" and self.interpreter else
                       "waiting_operator" if self.mode == "operator" else "waiting_interpreter",
                       now, "operator left")

    def decline(self, username: str, now: float) -> None:
        if username not in self.declined:
            self.declined.append(username)
        self.history.append((self.state, now, f"declined by {username}"))

    def end(self, reason: str, now: float) -> None:
        if self.ended:
            return
        self.ended_reason = reason
        self._move("ended", now, reason)

    # -- storage -------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["history"] = [list(item) for item in self.history]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoSession:
        values = dict(data)
        values["history"] = [tuple(item) for item in values.get("history", [])]
        return cls(**values)

    def public(self, staff: bool = False) -> dict[str, Any]:
        """What the resident's page and the dashboards see (staff names are shown to staff only)."""
        def note(text: str) -> str:
            return text if staff or not text.startswith(("interpreter ", "operator ", "declined")) else ""

        return {"id": self.id, "mode": self.mode, "state": self.state, "created_at": self.created_at,
                "record": self.record, "ended_reason": self.ended_reason,
                "interpreter_present": "interpreter" in self.present(),
                "operator_present": "operator" in self.present(),
                "history": [{"state": s, "at": at, "note": note(text)} for s, at, text in self.history]}


def new_session_id() -> str:
    return "v" + secrets.token_hex(6)


def routes(mode: str, present: set[str]) -> dict[tuple[str, str], tuple[str, str] | None]:
    """For each participant's slot, whose track it plays (role, kind), or None.

    Sign language: the resident sees the interpreter large and the operator small and hears the operator (for
    the hard of hearing); the interpreter sees the resident and hears the operator; the operator hears the
    interpreter and sees the resident. Consultation: resident and operator see and hear each other.
    """
    def who(role: str, kind: str) -> tuple[str, str] | None:
        return (role, kind) if role in present else None

    if mode == "sign":
        table = {
            ("resident", "main"): who("interpreter", "video"),
            ("resident", "side"): who("operator", "video"),
            ("resident", "audio"): who("operator", "audio"),
            ("interpreter", "main"): who("resident", "video"),
            ("interpreter", "side"): who("operator", "video"),
            ("interpreter", "audio"): who("operator", "audio"),
            ("operator", "main"): who("resident", "video"),
            ("operator", "side"): who("interpreter", "video"),
            ("operator", "audio"): who("interpreter", "audio"),
        }
    else:
        table = {
            ("resident", "main"): who("operator", "video"),
            ("resident", "side"): None,
            ("resident", "audio"): who("operator", "audio"),
            ("operator", "main"): who("resident", "video"),
            ("operator", "side"): None,
            ("operator", "audio"): who("resident", "audio"),
        }
    return {slot: source for slot, source in table.items() if slot[0] in present}
