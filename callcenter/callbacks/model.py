"""A callback request and its life."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    SCHEDULED = "scheduled"      # accepted, waits for its time (opening, window, retry interval)
    QUEUED = "queued"            # its placeholder holds the resident's place in the Asterisk queue
    DIALLING = "dialling"        # an attempt is under way (Originate sent)
    CONNECTED = "connected"      # the resident answered and talks to an operator
    DONE = "done"                # answered and talked
    FAILED = "failed"            # no attempts left; `reason` says why
    EXPIRED = "expired"          # not reached before its window or the day ended (carry-over off)
    CANCELLED = "cancelled"      # by the resident or an operator


ACTIVE = frozenset({Status.SCHEDULED, Status.QUEUED, Status.DIALLING, Status.CONNECTED})
TERMINAL = frozenset({Status.DONE, Status.FAILED, Status.EXPIRED, Status.CANCELLED})


class Channel(StrEnum):
    IVR = "ivr"
    WEB = "web"
    OPERATOR = "operator"


def attempt_uniqueid(callback_id: str, attempt: int) -> str:
    """The Asterisk Uniqueid given to an attempt's queue placeholder (Originate OtherChannelId)."""
    return f"{callback_id}-{attempt}"


def attempt_dial_channel_id(callback_id: str, attempt: int) -> str:
    """The Uniqueid of the placeholder's other half (Originate ChannelId), the one that dials the resident.

    Asterisk refuses a new channel whose Uniqueid is a prefix of a live channel's (channel.c do_ids_conflict
    matches by prefix, ignoring case), so the two halves must not extend each other: `<id>-1` beside
    `<id>-1-1` made every operator-first Originate fail on a real Asterisk 22."""
    return f"dial-{attempt_uniqueid(callback_id, attempt)}"


def ids_collide(first: str, second: str) -> bool:
    """Whether Asterisk would refuse one of two channel Uniqueids alive at once (a prefix match, any case)."""
    a, b = first.lower(), second.lower()
    return a.startswith(b) or b.startswith(a)


def attempt_action_id(callback_id: str, attempt: int) -> str:
    return f"cb-{callback_id}-{attempt}"


def parse_attempt(text: str) -> tuple[str, int] | None:
    """'cb-cb0123abcd-2' or 'cb0123abcd-2' -> ('cb0123abcd', 2)."""
    text = text.removeprefix("cb-")
    callback_id, _, attempt = text.rpartition("-")
    if not callback_id.startswith("cb") or not attempt.isdigit():
        return None
    return callback_id, int(attempt)


class Outcome(StrEnum):
    """How an attempt ended (from OriginateResponse's Reason and the dialplan's DIALSTATUS)."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CONGESTION = "congestion"
    FAILED = "failed"
    TIMEOUT = "timeout"  # no outcome arrived in time
    # Not the resident's doing, so not counted against their attempts:
    LOST = "lost"  # the place in the queue was lost before the resident's phone rang (the PBX stopped, a hang-up)
    OPERATOR_LEFT = "operator_left"  # the operator hung up while the resident's phone was ringing
    # Resident first: the resident answered, then hung up in the queue before an operator took the call.
    ABANDONED = "abandoned"


# Outcomes that say nothing about the resident: retried at once, not counted as one of their attempts.
NOT_CHARGED = frozenset({Outcome.LOST, Outcome.OPERATOR_LEFT})


# OriginateResponse Reason codes (Asterisk's AST_CONTROL_*): 4 answered, 3 ringing but no answer, 5 busy,
# 8 congestion, 1 hung up, 0 failed to create the channel.
REASON_OUTCOME = {"4": Outcome.ANSWERED, "3": Outcome.NO_ANSWER, "5": Outcome.BUSY, "8": Outcome.CONGESTION,
                  "1": Outcome.NO_ANSWER, "0": Outcome.FAILED}
DIALSTATUS_OUTCOME = {"ANSWER": Outcome.ANSWERED, "NOANSWER": Outcome.NO_ANSWER, "BUSY": Outcome.BUSY,
                      "CONGESTION": Outcome.CONGESTION, "CHANUNAVAIL": Outcome.FAILED,
                      # The dialling channel hung up while the resident's phone rang: the operator left.
                      "CANCEL": Outcome.OPERATOR_LEFT, "ABANDON": Outcome.ABANDONED,
                      "DONTCALL": Outcome.FAILED, "TORTURE": Outcome.FAILED, "INVALIDARGS": Outcome.FAILED}


@dataclass
class Callback:
    id: str
    phone: str  # E.164
    channel: str
    status: str
    # The order among callers: when the resident first joined the queue (IVR), or asked (web/operator).
    order_key: float
    created_at: float
    due_at: float
    not_before: float | None = None
    not_after: float | None = None
    topic: str = ""
    # `attempts` numbers the claims (the idempotency keys) and only grows; `rings` counts the attempts that
    # count against the resident's limit (a placeholder carried over at closing never rang them).
    attempts: int = 0
    rings: int = 0
    reason: str = ""
    operator: str = ""
    uniqueid: str = ""  # the Asterisk call that asked (IVR)
    cancel_token_hash: str = ""
    last_outcome: str = ""
    carried_over: int = 0
    notes: list[str] = field(default_factory=list)
    # When the current phase of the current attempt began (for closing attempts whose outcome never came).
    attempt_started_at: float = 0.0
    version: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Callback:
        return cls(**json.loads(text))

    def public(self) -> dict[str, Any]:
        """What the resident may see: no token hash, the number masked."""
        from callcenter.callbacks.phone import mask

        return {"id": self.id, "phone": mask(self.phone), "status": self.status, "channel": self.channel,
                "due_at": self.due_at, "attempts": self.attempts, "reason": self.reason or None,
                "not_before": self.not_before, "not_after": self.not_after, "topic": self.topic}
