"""The raw facts the day reports are computed from, kept in Redis for the retention period.

Calls: one stream per local day (`facts:calls:YYYY-MM-DD`) of what happened to each caller — joined, answered
(with the wait), abandoned or exited (with the wait), completed (with the talk time) — keyed by Asterisk's
Uniqueid, so that a fact written twice (a resync, a restarted service) counts once. Staffing: one sample per
simulated minute of how many operators were logged in and available. Callbacks, case look-ups and video
sessions keep their own records (their stores); the report reads those directly.

The recorder sees the tracker's changes synchronously (no queue that could drop a fact when it is slow) and
writes them in batches a few times a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from callcenter.callbacks.model import parse_attempt
from callcenter.pbx.tracker import QueueTracker
from callcenter.tasks import stop_if_cancelled

log = logging.getLogger(__name__)
CALLS = "facts:calls:"
STAFF = "facts:staff:"
FLUSH_SECONDS = 0.25


def local_day(epoch: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, UTC).astimezone(zone).date().isoformat()


def is_placeholder(uniqueid: str) -> bool:
    """Callbacks' and video sessions' places in the queue are not calls."""
    return parse_attempt(uniqueid) is not None or uniqueid.startswith("video-")


def call_facts(change: dict[str, Any], now: float) -> dict[str, str] | None:
    """The fact a tracker change makes, if any (pure)."""
    kind = change.get("type")
    if kind == "caller_joined":
        caller = change["caller"]
        if caller.get("kind") != "call":
            return None
        return {"e": "j", "u": str(caller["uniqueid"]), "t": f"{caller['joined_at']:.3f}"}
    uniqueid = str(change.get("uniqueid") or "")
    if not uniqueid or is_placeholder(uniqueid):
        return None
    if kind == "call_connected":
        return {"e": "a", "u": uniqueid, "t": f"{now:.3f}", "h": str(change.get("hold_seconds", 0)),
                "i": str(change.get("interface", ""))}
    if kind == "caller_left" and change.get("reason") in ("abandoned", "exited"):
        return {"e": "x" if change["reason"] == "abandoned" else "e", "u": uniqueid, "t": f"{now:.3f}",
                "h": str(change.get("hold_seconds", 0))}
    if kind == "call_completed":
        return {"e": "c", "u": uniqueid, "t": f"{now:.3f}", "k": str(change.get("talk_seconds", 0)),
                "i": str(change.get("interface", ""))}
    return None


class FactRecorder:
    def __init__(self, redis: aioredis.Redis, tracker: QueueTracker, queue: str, timezone: str,
                 retention_days: float, clock: Callable[[], float]) -> None:
        self.redis = redis
        self.tracker = tracker
        self.queue = queue
        self.zone = ZoneInfo(timezone)
        self.retention = int(retention_days * 86400)
        self.clock = clock
        self.written = 0
        self._pending: list[tuple[str, dict[str, str]]] = []
        self._last_sample_minute: int | None = None

    def on_changes(self, changes: list[dict[str, Any]], now: float) -> None:
        for change in changes:
            fact = call_facts(change, now)
            if fact is not None:
                self._pending.append((CALLS + local_day(float(fact["t"]), self.zone), fact))

    def sample_staffing(self) -> None:
        """Once a (simulated) minute: operators logged in, available, and talking."""
        now = self.clock()
        minute = int(now // 60)
        if minute == self._last_sample_minute:
            return
        self._last_sample_minute = minute
        state = self.tracker.queues.get(self.queue)
        if state is None:
            return
        members = list(state.members.values())
        available = sum(1 for m in members if not m.paused)
        talking = sum(1 for m in members if m.in_call)
        self._pending.append((STAFF + local_day(now, self.zone),
                              {"t": f"{minute * 60}", "in": str(len(members)), "av": str(available),
                               "talk": str(talking)}))

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, fields in batch:
                    pipe.xadd(key, fields)  # type: ignore[arg-type]
                for key in {key for key, _ in batch}:
                    pipe.expire(key, self.retention)
                await pipe.execute()
            self.written += len(batch)
        except Exception:
            stop_if_cancelled()
            self._pending = batch + self._pending  # kept for the next flush: a fact is not dropped for a blip
            raise

    async def run(self) -> None:
        try:
            while True:
                stop_if_cancelled()
                await asyncio.sleep(FLUSH_SECONDS)
                self.sample_staffing()
                try:
                    await self.flush()
                except Exception as exc:
                    stop_if_cancelled()
                    log.warning("report facts not written yet; retrying", extra={"error": str(exc),
                                                                                 "pending": len(self._pending)})
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())
