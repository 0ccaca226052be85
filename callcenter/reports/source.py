"""Reads a day's facts from Redis and builds its report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from callcenter.callbacks.store import CallbackStore
from callcenter.cases.store import CaseStore
from callcenter.config import Settings
from callcenter.pbx.tracker import DayRecord
from callcenter.reports.day import build_day_report, day_bounds
from callcenter.reports.facts import CALLS, STAFF, day_record
from callcenter.video.store import VideoStore


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def stream(redis: aioredis.Redis, key: str, chunk: int = 10_000) -> list[dict[str, str]]:
    """A whole stream in chunks (a busy day at scale has hundreds of thousands of facts)."""
    found: list[dict[str, str]] = []
    start = "-"
    while True:
        entries: list[tuple[Any, dict[Any, Any]]] = await redis.xrange(  # type: ignore[assignment]
            key, min=start, count=chunk)
        found.extend({_text(k): _text(v) for k, v in fields.items()} for _, fields in entries)
        if len(entries) < chunk:
            return found
        start = "(" + _text(entries[-1][0])


async def day_report(redis: aioredis.Redis, settings: Settings, cases: CaseStore, day: date) -> dict[str, Any]:
    zone = ZoneInfo(settings.hotline.timezone)
    start, end = day_bounds(day, zone)
    iso = day.isoformat()
    return build_day_report(
        day, zone, settings.hotline.service_level_seconds, settings.hotline.service_level_target,
        await stream(redis, CALLS + iso), await stream(redis, STAFF + iso),
        await CallbackStore(redis).created_between(start, end), await cases.audit_between(start, end),
        await VideoStore(redis).between(start, end))


async def stored_day_record(redis: aioredis.Redis, settings: Settings, now: float) -> DayRecord:
    """The hotline's counters for the local day of `now`, from the facts written so far: where a restarted
    service's `/api/queue` figures continue from."""
    zone = ZoneInfo(settings.hotline.timezone)
    day = datetime.fromtimestamp(now, zone).date().isoformat()
    return day_record(await stream(redis, CALLS + day), day, zone, settings.hotline.service_level_seconds)
