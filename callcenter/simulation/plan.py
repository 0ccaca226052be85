"""What a simulated day holds besides the voice calls the PBX simulator makes: pure and seeded.

Web callback requests, IVR and web case look-ups (a share with a wrong date of birth) and a few video
sessions arrive by the same daily shape as the calls (the morning and afternoon peaks); the voice calls, and
the callers among them who press 2 for a callback, come from the PBX simulator with the same seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.cases.model import Case
from callcenter.pbx.traffic import TrafficModel

# Shares of a day's requests (3,000 at scale 1).
VOICE, WEB_CALLBACK, IVR_LOOKUP, WEB_LOOKUP = 0.80, 0.06, 0.07, 0.07
WRONG_FACTOR = 0.2
MAX_VIDEO = 12


@dataclass(frozen=True)
class Request:
    at: float
    kind: str  # web_callback | ivr_lookup | web_lookup | video
    case: str = ""
    factor: str = ""
    phone: str = ""


@dataclass(frozen=True)
class DayPlan:
    day: date
    opens_at: float
    closes_at: float
    voice_calls: int
    requests: list[Request]
    cases: list[Case]

    def count(self, kind: str) -> int:
        return sum(1 for request in self.requests if request.kind == kind)


def make_cases(rng: random.Random, count: int) -> list[Case]:
    cases = []
    for index in range(count):
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 60 * 365))
        phone = "+7916" + f"{rng.randrange(10**7):07d}"
        cases.append(Case(f"{700000000 + index}", "Ежемесячная денежная выплата", "Иванова А. П.",
                          born.isoformat(), [phone], rng.choice(["received", "in_review", "approved"]),
                          "2026-11-10"))
    return cases


def arrival_times(rng: random.Random, count: int, opens_at: float) -> list[float]:
    """`count` moments in the working day, drawn from the calls' daily shape."""
    model = TrafficModel(calls_per_day=max(1, count))
    times: list[float] = []
    now = opens_at
    hour = 8.0
    while len(times) < count:
        gap = model.next_arrival(rng, hour)
        now += gap
        hour = (hour + gap / 3600) % 24
        if hour < 8.0 or gap == float("inf"):  # past closing: start again in the morning
            now, hour = opens_at, 8.0
            continue
        times.append(now)
    return sorted(times)


def plan_day(day: date, timezone: str, requests: int, seed: int, video_sessions: int | None = None) -> DayPlan:
    rng = random.Random(seed)
    zone = ZoneInfo(timezone)
    opens_at = datetime(day.year, day.month, day.day, 8, tzinfo=zone).timestamp()
    closes_at = datetime(day.year, day.month, day.day, 20, tzinfo=zone).timestamp()
    cases = make_cases(rng, max(50, requests // 10))
    videos = video_sessions if video_sessions is not None else min(MAX_VIDEO, max(1, requests // 600))
    planned: list[Request] = []
    for kind, share in (("web_callback", WEB_CALLBACK), ("ivr_lookup", IVR_LOOKUP), ("web_lookup", WEB_LOOKUP)):
        for at in arrival_times(rng, round(requests * share), opens_at):
            case = rng.choice(cases)
            right = rng.random() >= WRONG_FACTOR
            born = date.fromisoformat(case.birth_date)
            factor = born.strftime("%d%m%Y") if kind == "ivr_lookup" else born.isoformat()
            if not right:
                factor = (born + timedelta(days=1)).strftime("%d%m%Y") if kind == "ivr_lookup" \
                    else (born + timedelta(days=1)).isoformat()
            phone = "+7926" + f"{rng.randrange(10**7):07d}"
            planned.append(Request(at, kind, case.number, factor, phone))
    # Video sessions: spread over the day, none in the last hour (a session needs time to be served).
    for index in range(videos):
        at = opens_at + (closes_at - opens_at - 3600) * (index + 0.5) / max(1, videos)
        planned.append(Request(at, "video"))
    voice = requests - len(planned)
    return DayPlan(day, opens_at, closes_at, max(0, voice), sorted(planned, key=lambda r: r.at), cases)
