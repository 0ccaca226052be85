"""The day report, computed from the raw facts: pure, so every figure is tested without Redis.

Calls are counted in the hour they arrived. A caller's facts are merged by Uniqueid: a fact seen twice (a
resync, a restarted service) counts once. Service level = answered within the threshold / (answered +
abandoned), the usual contact-centre definition in which every abandon counts against it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.callbacks.model import Callback
from callcenter.hotline.estimate import agents_needed
from callcenter.video.model import VideoSession

DEFAULT_HANDLE_SECONDS = 180.0


@dataclass
class CallRecord:
    joined_at: float | None = None
    answered_at: float | None = None
    hold: float | None = None
    outcome: str = ""  # answered | abandoned | exited | "" (still waiting, or not seen)
    talk: float | None = None

    @property
    def arrived_at(self) -> float | None:
        return self.joined_at if self.joined_at is not None else self.answered_at


def merge_calls(facts: list[dict[str, str]]) -> dict[str, CallRecord]:
    calls: dict[str, CallRecord] = defaultdict(CallRecord)
    for fact in facts:
        record = calls[fact["u"]]
        at = float(fact["t"])
        event = fact["e"]
        if event == "j" and record.joined_at is None:
            record.joined_at = at
        elif event == "a" and record.outcome != "answered":
            record.outcome, record.answered_at, record.hold = "answered", at, float(fact.get("h", 0))
            if record.joined_at is None:
                record.joined_at = at - record.hold
        elif event in ("x", "e") and not record.outcome:
            record.outcome = "abandoned" if event == "x" else "exited"
            record.hold = float(fact.get("h", 0))
            if record.joined_at is None:
                record.joined_at = at - record.hold
        elif event == "c" and record.talk is None:
            record.talk = float(fact.get("k", 0))
    return dict(calls)


@dataclass
class HourFigures:
    hour: int
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    exited: int = 0
    answered_within: int = 0
    wait_answered: float = 0.0
    longest_wait: float = 0.0
    talk: list[float] = field(default_factory=list)
    staffing_samples: list[int] = field(default_factory=list)

    def to_json(self, threshold_target: tuple[float, float], day_handle: float) -> dict[str, Any]:
        threshold, target = threshold_target
        handled = self.answered + self.abandoned
        handle = sum(self.talk) / len(self.talk) if self.talk else day_handle
        return {
            "hour": self.hour, "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "exited": self.exited,
            "service_level": round(self.answered_within / handled, 4) if handled else None,
            "average_speed_of_answer": round(self.wait_answered / self.answered, 1) if self.answered else None,
            "longest_wait": round(self.longest_wait, 1),
            "average_handle_time": round(sum(self.talk) / len(self.talk), 1) if self.talk else None,
            "operators_logged_in": round(sum(self.staffing_samples) / len(self.staffing_samples), 1)
            if self.staffing_samples else None,
            "operators_needed": agents_needed(self.offered / 3600, handle, threshold, target),
        }


def _hour(epoch: float, zone: ZoneInfo) -> int:
    return datetime.fromtimestamp(epoch, UTC).astimezone(zone).hour


def build_day_report(day: date, zone: ZoneInfo, threshold: float, target: float, call_facts: list[dict[str, str]],
                     staff_samples: list[dict[str, str]], callbacks: list[Callback], lookups: list[dict[str, str]],
                     videos: list[VideoSession], open_hours: range = range(8, 20)) -> dict[str, Any]:
    calls = merge_calls(call_facts)
    hours: dict[int, HourFigures] = {}

    def hour_of(epoch: float) -> HourFigures:
        hour = _hour(epoch, zone)
        return hours.setdefault(hour, HourFigures(hour))

    for record in calls.values():
        arrived = record.arrived_at
        if arrived is None:
            continue  # only a "completed" seen (the call began before the facts did): nothing to count it by
        figures = hour_of(arrived)
        figures.offered += 1
        if record.outcome == "answered":
            hold = record.hold or 0.0
            figures.answered += 1
            figures.wait_answered += hold
            figures.answered_within += hold <= threshold
            figures.longest_wait = max(figures.longest_wait, hold)
            if record.talk is not None:
                figures.talk.append(record.talk)
        elif record.outcome == "abandoned":
            figures.abandoned += 1
            figures.longest_wait = max(figures.longest_wait, record.hold or 0.0)
        elif record.outcome == "exited":
            figures.exited += 1
    for sample in staff_samples:
        hour_of(float(sample["t"])).staffing_samples.append(int(sample["in"]))
    for hour in open_hours:
        hours.setdefault(hour, HourFigures(hour))

    all_talk = [t for h in hours.values() for t in h.talk]
    day_handle = sum(all_talk) / len(all_talk) if all_talk else DEFAULT_HANDLE_SECONDS
    by_hour = [hours[h].to_json((threshold, target), day_handle) for h in sorted(hours)]
    answered = sum(h.answered for h in hours.values())
    abandoned = sum(h.abandoned for h in hours.values())
    within = sum(h.answered_within for h in hours.values())
    totals = {
        "offered": sum(h.offered for h in hours.values()), "answered": answered, "abandoned": abandoned,
        "exited": sum(h.exited for h in hours.values()),
        "still_waiting_or_unknown": sum(1 for r in calls.values() if r.arrived_at is not None and not r.outcome),
        "service_level": round(within / (answered + abandoned), 4) if answered + abandoned else None,
        "service_level_target": target, "service_level_seconds": threshold,
        "average_speed_of_answer": round(sum(h.wait_answered for h in hours.values()) / answered, 1)
        if answered else None,
        "longest_wait": round(max((h.longest_wait for h in hours.values()), default=0.0), 1),
        "average_handle_time": round(day_handle, 1) if all_talk else None,
    }
    return {"date": day.isoformat(), "timezone": zone.key, "calls": totals, "by_hour": by_hour,
            "callbacks": callback_figures(callbacks, zone), "case_lookups": lookup_figures(lookups, zone),
            "video": video_figures(videos, zone)}


def callback_figures(callbacks: list[Callback], zone: ZoneInfo) -> dict[str, Any]:
    by_channel = Counter(cb.channel for cb in callbacks)
    status = Counter(cb.status for cb in callbacks)
    done = [cb for cb in callbacks if cb.status == "done"]
    failed = Counter(cb.reason or "unknown" for cb in callbacks if cb.status == "failed")
    by_hour = Counter(_hour(cb.created_at, zone) for cb in callbacks)
    return {
        "requested": len(callbacks), "requested_by_channel": dict(sorted(by_channel.items())),
        "completed_first_attempt": sum(1 for cb in done if cb.rings <= 1),
        "completed_later_attempt": sum(1 for cb in done if cb.rings > 1),
        "failed": sum(failed.values()), "failed_by_reason": dict(sorted(failed.items())),
        "carried_over": sum(1 for cb in callbacks if cb.carried_over),
        "cancelled": status.get("cancelled", 0), "expired": status.get("expired", 0),
        "pending": sum(status.get(s, 0) for s in ("scheduled", "queued", "dialling", "connected")),
        "by_status": dict(sorted(status.items())),
        "by_hour": [{"hour": h, "requested": n} for h, n in sorted(by_hour.items())],
    }


LOOKUP_RESULTS = {"ok": "verified", "not_verified": "refused", "locked": "locked"}


def lookup_figures(lookups: list[dict[str, str]], zone: ZoneInfo) -> dict[str, Any]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    by_hour: Counter[int] = Counter()
    for entry in lookups:
        channel = entry.get("channel", "")
        if channel == "screen_pop":
            continue  # shown to an operator, not asked for
        result = LOOKUP_RESULTS.get(entry.get("result", ""), entry.get("result", ""))
        table[channel][result] += 1
        by_hour[_hour(float(entry.get("at", 0)), zone)] += 1
    return {"total": sum(sum(c.values()) for c in table.values()),
            "by_channel": {channel: dict(sorted(counts.items())) for channel, counts in sorted(table.items())},
            "by_hour": [{"hour": h, "lookups": n} for h, n in sorted(by_hour.items())]}


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"average": None, "longest": None}
    return {"average": round(sum(values) / len(values), 1), "longest": round(max(values), 1)}


def video_figures(sessions: list[VideoSession], zone: ZoneInfo) -> dict[str, Any]:
    interpreter_waits, operator_waits = [], []
    for session in sessions:
        joined = session.entered("with_interpreter")
        if session.mode == "sign" and joined is not None:
            interpreter_waits.append(joined - session.created_at)
        operator = session.entered("with_operator")
        if operator is not None:
            start = joined if session.mode == "sign" and joined is not None else session.created_at
            operator_waits.append(operator - start)
    by_hour = Counter(_hour(s.created_at, zone) for s in sessions)
    return {"sessions": len(sessions), "by_mode": dict(Counter(s.mode for s in sessions)),
            "ended_by_reason": dict(Counter(s.ended_reason or "ongoing" for s in sessions)),
            "wait_for_interpreter": _stats(interpreter_waits), "wait_for_operator": _stats(operator_waits),
            "by_hour": [{"hour": h, "sessions": n} for h, n in sorted(by_hour.items())]}


def csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The hourly table of a report, for the CSV export (numbers as numbers, empty where unknown)."""
    columns = ["hour", "offered", "answered", "abandoned", "exited", "service_level", "average_speed_of_answer",
               "longest_wait", "average_handle_time", "operators_logged_in", "operators_needed"]
    callbacks = {row["hour"]: row["requested"] for row in report["callbacks"]["by_hour"]}
    lookups = {row["hour"]: row["lookups"] for row in report["case_lookups"]["by_hour"]}
    videos = {row["hour"]: row["sessions"] for row in report["video"]["by_hour"]}
    rows: list[list[Any]] = [["date", *columns, "callbacks_requested", "case_lookups", "video_sessions"]]
    for row in report["by_hour"]:
        hour = row["hour"]
        rows.append([report["date"], *("" if row[c] is None else row[c] for c in columns),
                     callbacks.get(hour, 0), lookups.get(hour, 0), videos.get(hour, 0)])
    totals = report["calls"]
    rows.append([report["date"], "total", totals["offered"], totals["answered"], totals["abandoned"],
                 totals["exited"], "" if totals["service_level"] is None else totals["service_level"],
                 "" if totals["average_speed_of_answer"] is None else totals["average_speed_of_answer"],
                 totals["longest_wait"], "" if totals["average_handle_time"] is None else totals["average_handle_time"],
                 "", "", report["callbacks"]["requested"], report["case_lookups"]["total"],
                 report["video"]["sessions"]])
    return rows


def day_bounds(day: date, zone: ZoneInfo) -> tuple[float, float]:
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.fromordinal(day.toordinal() + 1).replace(tzinfo=zone)
    return start.timestamp(), end.timestamp()

