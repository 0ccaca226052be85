"""Typed application keys (aiohttp's AppKey), one place for everything the handlers share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

from callcenter.config import Settings
from callcenter.hours import WorkingHours


class LinkStatus(Protocol):
    """What readiness needs to know about the PBX link."""

    @property
    def connected(self) -> bool: ...

    def describe(self) -> str: ...


Clock = Callable[[], float]

SETTINGS = web.AppKey("settings", Settings)
# The time as the service sees it; tests put in a fixed or advancing clock.
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
HOURS = web.AppKey("hours", WorkingHours)
REDIS = web.AppKey("redis", aioredis.Redis)
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
PBX_STATUS = web.AppKey("pbx_status", LinkStatus)
