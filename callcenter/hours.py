"""The hotline's working-hours calendar: open weekdays, closed dates, changed hours for given dates.

Pure logic, no I/O. Every instant taken or returned is a timezone-aware datetime; comparisons are made in UTC
because Python compares two datetimes that share a tzinfo by wall time, which is wrong across a DST change.
Wall times that do not exist (the hour skipped when clocks go forward) resolve to the moment the clock jumps;
wall times that occur twice (clocks go back) resolve to the first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcenter.config import WEEKDAYS, HoursSettings, parse_changed_hours, parse_hhmm

# Look this far ahead for the next opening before deciding the hotline never opens.
SEARCH_DAYS = 400


@dataclass(frozen=True)
class DailyHours:
    opens: time
    closes: time


@dataclass(frozen=True)
class Period:
    """One open stretch, as UTC instants: open for start <= t < end."""

    start: datetime
    end: datetime

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at.astimezone(UTC) < self.end


def local_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant when clocks in `zone` show `wall` on `day` (see the module note for DST edges)."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # `naive` falls in a gap. fold=1 maps it with the offset after the jump, which lands before the jump;
    # the jump itself is the first instant whose wall time is not earlier than `naive`.
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


class WorkingHours:
    def __init__(
        self,
        zone: ZoneInfo,
        weekly: Mapping[int, DailyHours | None],
        closed_dates: Iterable[date] = (),
        changed: Mapping[date, DailyHours] | None = None,
    ) -> None:
        self.zone = zone
        self.weekly = dict(weekly)
        self.closed_dates = frozenset(closed_dates)
        self.changed = dict(changed or {})

    @classmethod
    def from_settings(cls, hours: HoursSettings, timezone: str) -> WorkingHours:
        daily = DailyHours(parse_hhmm(hours.open), parse_hhmm(hours.close))
        weekly = {index: (daily if name in hours.days else None) for index, name in enumerate(WEEKDAYS)}
        changed = {}
        for text in hours.changed:
            day, opens, closes = parse_changed_hours(text)
            changed[day] = DailyHours(opens, closes)
        return cls(ZoneInfo(timezone), weekly, (date.fromisoformat(d) for d in hours.closed_dates), changed)

    def hours_on(self, day: date) -> DailyHours | None:
        """The local opening hours on a calendar day, None when closed all day."""
        if day in self.closed_dates:
            return None
        if day in self.changed:
            return self.changed[day]
        return self.weekly.get(day.weekday())

    def period_on(self, day: date) -> Period | None:
        hours = self.hours_on(day)
        if hours is None:
            return None
        return Period(local_to_utc(day, hours.opens, self.zone), local_to_utc(day, hours.closes, self.zone))

    def local_date(self, at: datetime) -> date:
        if at.tzinfo is None:
            raise ValueError("a timezone-aware datetime is required")
        return at.astimezone(self.zone).date()

    def current_period(self, at: datetime) -> Period | None:
        period = self.period_on(self.local_date(at))
        return period if period is not None and at in period else None

    def is_open(self, at: datetime) -> bool:
        return self.current_period(at) is not None

    def closing_time(self, at: datetime) -> datetime | None:
        """When the open stretch containing `at` ends; None when closed at `at`."""
        period = self.current_period(at)
        return period.end if period else None

    def next_opening(self, at: datetime) -> datetime | None:
        """The first opening (the start of an open stretch) at or after `at`; None if none within a year."""
        moment = at.astimezone(UTC)
        day = self.local_date(at)
        for offset in range(SEARCH_DAYS):
            period = self.period_on(day + timedelta(days=offset))
            if period is not None and period.start >= moment:
                return period.start
        return None

    def open_at_or_after(self, at: datetime) -> datetime | None:
        """`at` itself when open then, else the next opening: the earliest moment work may happen."""
        return at.astimezone(UTC) if self.is_open(at) else self.next_opening(at)
