from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.callbacks.model import Outcome, parse_attempt
from callcenter.callbacks.phone import PhoneError, mask, normalise
from callcenter.callbacks.policy import after_attempt, at_closing, first_due
from callcenter.config import CallbackSettings, HoursSettings
from callcenter.hours import WorkingHours

MSK = ZoneInfo("Europe/Moscow")
HOURS = WorkingHours.from_settings(HoursSettings(), "Europe/Moscow")


def msk(hour: int, minute: int = 0, day: int = 24) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=MSK).timestamp()


def test_first_due_respects_the_initial_delay_the_window_and_the_hours() -> None:
    delayed = CallbackSettings(initial_delay_seconds=120)
    assert first_due(msk(10), HOURS, delayed).due_at == msk(10, 2)
    assert first_due(msk(19, 59), HOURS, delayed).due_at == msk(8, day=25)
    assert first_due(msk(10), HOURS, CallbackSettings(), not_before=msk(14)).due_at == msk(14)
    closed_window = first_due(msk(19), HOURS, CallbackSettings(), not_before=msk(21), not_after=msk(23))
    assert (closed_window.due_at, closed_window.status) == (None, "expired")


def test_retries_by_outcome_then_the_last_reason() -> None:
    settings = CallbackSettings(max_attempts=3, retry_minutes_busy=5, retry_minutes_no_answer=10)
    assert after_attempt(Outcome.BUSY, 1, msk(10), HOURS, settings).due_at == msk(10, 5)
    assert after_attempt(Outcome.NO_ANSWER, 2, msk(10), HOURS, settings).due_at == msk(10, 10)
    assert after_attempt(Outcome.CONGESTION, 1, msk(10), HOURS, settings).due_at == msk(10, 10)
    # A retry that would fall after closing waits for the next opening.
    assert after_attempt(Outcome.NO_ANSWER, 1, msk(19, 55), HOURS, settings).due_at == msk(8, day=25)
    last = after_attempt(Outcome.NO_ANSWER, 3, msk(10), HOURS, settings)
    assert (last.due_at, last.status, last.reason) == (None, "failed", "no answer after 3 attempts")
    assert after_attempt(Outcome.ANSWERED, 1, msk(10), HOURS, settings).status == "done"
    past_window = after_attempt(Outcome.BUSY, 1, msk(10), HOURS, settings, not_after=msk(10, 3))
    assert past_window.status == "failed" and "busy" in past_window.reason


def test_closing_carries_over_or_expires() -> None:
    assert at_closing(msk(20), HOURS, CallbackSettings(), None).due_at == msk(8, day=25)
    expired = at_closing(msk(20), HOURS, CallbackSettings(carry_over=False), None)
    assert (expired.status, expired.reason) == ("expired", "not reached before closing time")


@pytest.mark.parametrize("raw", ["8 495 123-45-67", "+7 (495) 123-45-67", "74951234567", "8-495-123-45-67",
                                 " +74951234567 "])
def test_russian_formats_normalise_to_e164(raw: str) -> None:
    assert normalise(raw) == "+74951234567"
    assert mask("+74951234567") == "+7 *** ***-45-67"


@pytest.mark.parametrize(("raw", "code"), [("", "phone_invalid"), ("abc", "phone_invalid"),
                                           ("+7 495 12", "phone_invalid"), ("+1 202 555 0143", "phone_not_allowed"),
                                           ("8 809 505 1234", "phone_not_dialable"), ("9" * 40, "phone_invalid")])
def test_numbers_that_cannot_be_called_back(raw: str, code: str) -> None:
    with pytest.raises(PhoneError) as caught:
        normalise(raw)
    assert caught.value.code == code


def test_attempt_references() -> None:
    assert parse_attempt("cb-cb0123abcd-2") == ("cb0123abcd", 2)
    assert parse_attempt("cb0123abcd-12") == ("cb0123abcd", 12)
    assert parse_attempt("1795398714.1") is None
