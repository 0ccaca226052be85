"""When to dial, when to try again, what happens at closing: pure decisions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from callcenter.callbacks.model import Outcome
from callcenter.config import CallbackSettings
from callcenter.hours import WorkingHours


@dataclass(frozen=True)
class Decision:
    """`due_at` set: try (again) then. `due_at` None: stop, with `status` and `reason`."""

    due_at: float | None
    status: str = ""
    reason: str = ""


def first_due(now: float, hours: WorkingHours, settings: CallbackSettings, not_before: float | None = None,
              not_after: float | None = None) -> Decision:
    """When a new request may first be dialled: after the initial delay, inside its window and the hours."""
    return next_slot(max(now + settings.initial_delay_seconds, not_before or 0.0), hours, not_after)


def next_slot(earliest: float, hours: WorkingHours, not_after: float | None) -> Decision:
    """The first moment at or after `earliest` inside working hours, unless that is past `not_after`."""
    moment = hours.open_at_or_after(datetime.fromtimestamp(earliest, UTC))
    if moment is None:
        return Decision(None, "expired", "the hotline has no working hours ahead")
    due = moment.timestamp()
    if not_after is not None and due > not_after:
        return Decision(None, "expired", "the hotline is closed for the whole of the requested window")
    return Decision(due)


RETRYABLE = {Outcome.NO_ANSWER, Outcome.BUSY, Outcome.CONGESTION, Outcome.FAILED, Outcome.TIMEOUT, Outcome.LOST,
             Outcome.OPERATOR_LEFT, Outcome.ABANDONED}
FAILURE_TEXT = {Outcome.NO_ANSWER: "no answer", Outcome.BUSY: "busy", Outcome.CONGESTION: "network congestion",
                Outcome.FAILED: "call could not be placed", Outcome.TIMEOUT: "no outcome from the PBX",
                Outcome.LOST: "the place in the queue was lost before the resident's phone rang",
                Outcome.OPERATOR_LEFT: "the operator hung up while the resident's phone rang",
                Outcome.ABANDONED: "the resident hung up before an operator answered"}


def after_attempt(outcome: Outcome, attempts: int, now: float, hours: WorkingHours, settings: CallbackSettings,
                  not_after: float | None = None) -> Decision:
    """After an attempt that did not reach the resident: the next try, or the end with the last reason."""
    if outcome == Outcome.ANSWERED:
        return Decision(None, "done", "")
    if attempts >= settings.max_attempts:
        return Decision(None, "failed", f"{FAILURE_TEXT[outcome]} after {attempts} attempts")
    minutes = {Outcome.BUSY: settings.retry_minutes_busy, Outcome.NO_ANSWER: settings.retry_minutes_no_answer,
               # Not the resident's doing: back in the queue at their place right away.
               Outcome.LOST: 0.0, Outcome.OPERATOR_LEFT: 0.0}.get(outcome, settings.retry_minutes_failed)
    decision = next_slot(now + minutes * 60, hours, not_after)
    if decision.due_at is None:
        return Decision(None, "failed", f"{FAILURE_TEXT[outcome]}; {decision.reason}")
    return decision


def at_closing(now: float, hours: WorkingHours, settings: CallbackSettings, not_after: float | None) -> Decision:
    """A callback still waiting when the hotline closes: carried to the next opening, or expired."""
    if not settings.carry_over:
        return Decision(None, "expired", "not reached before closing time")
    return next_slot(now, hours, not_after)
