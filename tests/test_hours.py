from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from callcenter.config import HoursSettings
from callcenter.hours import DailyHours, WorkingHours, local_to_utc

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)  # type: ignore[misc]


@pytest.fixture
def hotline() -> WorkingHours:
    return WorkingHours.from_settings(
        HoursSettings(closed_dates=["2027-01-01"], changed=["2026-12-31 08:00-16:00"]), "Europe/Moscow"
    )


def test_open_and_closed_edges_at_eight_and_twenty(hotline: WorkingHours) -> None:
    assert not hotline.is_open(msk(2026, 11, 23, 7, 59, 59))
    assert hotline.is_open(msk(2026, 11, 23, 8, 0))
    assert hotline.is_open(msk(2026, 11, 23, 19, 59, 59))
    assert not hotline.is_open(msk(2026, 11, 23, 20, 0))


def test_closing_time(hotline: WorkingHours) -> None:
    assert hotline.closing_time(msk(2026, 11, 23, 12, 0)) == msk(2026, 11, 23, 20, 0)
    assert hotline.closing_time(msk(2026, 11, 23, 21, 0)) is None


def test_an_instant_in_another_zone_is_judged_in_the_hotline_zone(hotline: WorkingHours) -> None:
    # 05:30 UTC is 08:30 in Moscow.
    assert hotline.is_open(datetime(2026, 11, 23, 5, 30, tzinfo=UTC))
    assert not hotline.is_open(datetime(2026, 11, 23, 4, 30, tzinfo=UTC))


def test_next_opening_across_midnight(hotline: WorkingHours) -> None:
    assert hotline.next_opening(msk(2026, 11, 23, 20, 0)) == msk(2026, 11, 24, 8, 0)
    assert hotline.next_opening(msk(2026, 11, 24, 0, 30)) == msk(2026, 11, 24, 8, 0)
    # At the opening instant itself the next opening is that instant.
    assert hotline.next_opening(msk(2026, 11, 24, 8, 0)) == msk(2026, 11, 24, 8, 0)
    # While open, the next opening is tomorrow's.
    assert hotline.next_opening(msk(2026, 11, 24, 9, 0)) == msk(2026, 11, 25, 8, 0)


def test_closed_date_and_changed_hours(hotline: WorkingHours) -> None:
    assert hotline.closing_time(msk(2026, 12, 31, 10, 0)) == msk(2026, 12, 31, 16, 0)
    assert not hotline.is_open(msk(2026, 12, 31, 17, 0))
    assert not hotline.is_open(msk(2027, 1, 1, 12, 0))
    # From New Year's Eve evening, across the closed 1 January, to 2 January.
    assert hotline.next_opening(msk(2026, 12, 31, 16, 0)) == msk(2027, 1, 2, 8, 0)


def test_open_at_or_after(hotline: WorkingHours) -> None:
    at = msk(2026, 11, 23, 12, 0)
    assert hotline.open_at_or_after(at) == at
    assert hotline.open_at_or_after(msk(2026, 11, 23, 22, 0)) == msk(2026, 11, 24, 8, 0)


def test_weekdays_only() -> None:
    weekdays = WorkingHours.from_settings(HoursSettings(days=["mon", "tue", "wed", "thu", "fri"]),
                                          "Europe/Moscow")
    friday_evening = msk(2026, 11, 27, 20, 0)
    assert weekdays.next_opening(friday_evening) == msk(2026, 11, 30, 8, 0)
    assert not weekdays.is_open(msk(2026, 11, 28, 12, 0))


def test_never_open_gives_none() -> None:
    never = WorkingHours(MSK, {})
    assert never.next_opening(msk(2026, 11, 23, 12, 0)) is None
    assert never.open_at_or_after(msk(2026, 11, 23, 12, 0)) is None


def test_naive_datetimes_are_refused(hotline: WorkingHours) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        hotline.is_open(datetime(2026, 11, 23, 12, 0))


def test_dst_spring_forward_keeps_local_opening_times() -> None:
    berlin = WorkingHours.from_settings(HoursSettings(), "Europe/Berlin")
    # Clocks go forward on 2026-03-29 at 02:00 CET -> 03:00 CEST.
    saturday_close = berlin.closing_time(datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN))
    assert saturday_close == datetime(2026, 3, 28, 19, 0, tzinfo=UTC)
    sunday_open = berlin.next_opening(saturday_close)  # type: ignore[arg-type]
    assert sunday_open == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST, 11 hours later, not 12
    assert sunday_open - saturday_close == (datetime(2026, 3, 29, 6, tzinfo=UTC)
                                            - datetime(2026, 3, 28, 19, tzinfo=UTC))
    assert berlin.is_open(datetime(2026, 3, 29, 6, 0, tzinfo=UTC))
    assert not berlin.is_open(datetime(2026, 3, 29, 5, 59, tzinfo=UTC))


def test_dst_fall_back() -> None:
    berlin = WorkingHours.from_settings(HoursSettings(), "Europe/Berlin")
    # Clocks go back on 2026-10-25 at 03:00 CEST -> 02:00 CET: 08:00 that day is 07:00 UTC.
    assert berlin.next_opening(datetime(2026, 10, 25, 0, 0, tzinfo=UTC)) == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    assert berlin.closing_time(datetime(2026, 10, 25, 12, 0, tzinfo=UTC)) == datetime(2026, 10, 25, 19, 0,
                                                                                      tzinfo=UTC)


def test_wall_time_in_the_gap_resolves_to_the_jump_and_repeated_time_to_its_first_occurrence() -> None:
    assert local_to_utc(date(2026, 3, 29), time(2, 30), BERLIN) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert local_to_utc(date(2026, 10, 25), time(2, 30), BERLIN) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    night = WorkingHours(BERLIN, {6: DailyHours(time(2, 30), time(4, 0))})
    assert night.next_opening(datetime(2026, 3, 28, 23, 0, tzinfo=UTC)) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
