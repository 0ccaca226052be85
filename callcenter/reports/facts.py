"""The raw facts the day reports are computed from, kept in Redis for the retention period.

Calls: one stream per local day (`facts:calls:YYYY-MM-DD`) of what happened to each caller — joined, answered
(with the wait), abandoned or exited (with the wait), completed (with the talk time) — keyed by Asterisk's
Uniqueid, so that a fact written twice (a resync, a restarted service) counts once. Staffing: one sample per
simulated minute of how many operators were logged in and available. Callbacks, case look-ups and video
sessions keep their own records (their stores); the report reads those directly.

The recorder sees the tracker's changes synchronously (no queue that could drop a fact when it is slow) and
writes them in batches a few times a second.

AMI keeps no history: what happens while the link is down (a network cut, a restarting service) never reaches
the tracker. Asterisk's queue_log does record it, so after every (re)connect the recorder reads the queue_log
from shortly before the last event it had seen and writes the fact each line makes, the same fact the live link
would have written; merging by Uniqueid counts the lines the link did see once. Not recovered: the talk time of
a call answered in a gap that ends after it (its completion is neither seen live nor read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from callcenter.callbacks.model import parse_attempt
from callcenter.pbx.queuelog import QueueLogEntry, read_queue_log
from callcenter.pbx.tracker import Counters, DayRecord, QueueTracker
from callcenter.reports.day import day_bounds, merge_calls
from callcenter.tasks import stop_if_cancelled

log = logging.getLogger(__name__)
CALLS = "facts:calls:"
STAFF = "facts:staff:"
# The time of the last live event written: where the next queue_log read starts (it survives a restart).
LAST_EVENT = "facts:last-event"
FLUSH_SECONDS = 0.25
FLUSH_CHUNK = 5000
# Read this far before the last event seen: a quiet line is not a gap, and a few duplicates are free.
QUEUE_LOG_MARGIN = 60.0
# Which data field holds the wait, per way of leaving the queue without an operator.
_WAIT_FIELD = {"ABANDON": 2, "EXITWITHKEY": 3, "EXITWITHTIMEOUT": 2, "EXITEMPTY": 2}


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


def day_record(facts: list[dict[str, str]], day: str, zone: ZoneInfo, threshold: float) -> DayRecord:
    """The tracker's counters for `day` from that day's facts (pure): what a service that ran all day would
    show, so that a restarted one continues from it. Merged per Uniqueid as the report merges them (a fact
    written twice counts once); counted as the tracker counts: an outcome on the day it happened, an offer on
    the day the caller joined (a caller answered today who joined yesterday was offered yesterday)."""
    record = DayRecord(Counters(day=day))
    counters = record.counters
    for uniqueid, call in merge_calls(facts).items():
        record.seen.add(uniqueid)
        if call.joined_at is not None and local_day(call.joined_at, zone) == day:
            counters.offered += 1
            record.joins.append(call.joined_at)
            if not call.outcome:
                record.unsettled.add(uniqueid)
        hold = call.hold or 0.0
        if call.outcome == "answered":
            counters.answered += 1
            counters.wait_seconds_answered += hold
            counters.longest_wait_answered = max(counters.longest_wait_answered, hold)
            counters.answered_within_threshold += hold <= threshold
            record.waits.append((hold, False))
        elif call.outcome == "abandoned":
            counters.abandoned += 1
            counters.wait_seconds_abandoned += hold
            record.waits.append((hold, True))
        elif call.outcome == "exited":
            counters.exited += 1
        if call.talk is not None:
            counters.completed += 1
            counters.talk_seconds += call.talk
            record.talk_seconds.append(call.talk)
    record.joins.sort()
    return record


def _whole(text: str) -> str:
    try:
        return str(int(float(text)))
    except ValueError:
        return "0"


def queue_log_fact(entry: QueueLogEntry, queue: str) -> dict[str, str] | None:
    """The fact a queue_log line makes, as `call_facts` makes from the live link (pure)."""
    if entry.queue != queue or entry.callid in ("", "NONE", "REALTIME") or is_placeholder(entry.callid):
        return None
    base = {"u": entry.callid, "t": f"{entry.time:.3f}"}
    event = entry.event
    if event == "ENTERQUEUE":
        return {"e": "j", **base}
    if event == "CONNECT":
        return {"e": "a", **base, "h": _whole(entry.field(0)), "i": entry.agent}
    if event in _WAIT_FIELD:
        return {"e": "x" if event == "ABANDON" else "e", **base, "h": _whole(entry.field(_WAIT_FIELD[event]))}
    if event in ("COMPLETECALLER", "COMPLETEAGENT"):
        return {"e": "c", **base, "k": _whole(entry.field(1)), "i": entry.agent}
    return None


class FactRecorder:
    def __init__(self, redis: aioredis.Redis, tracker: QueueTracker, queue: str, timezone: str,
                 retention_days: float, clock: Callable[[], float], queue_log: str = "") -> None:
        self.redis = redis
        self.tracker = tracker
        self.queue = queue
        self.zone = ZoneInfo(timezone)
        self.retention = int(retention_days * 86400)
        self.clock = clock
        self.queue_log = Path(queue_log) if queue_log else None
        self.written = 0
        self._pending: list[tuple[str, dict[str, str]]] = []
        self._last_sample_minute: int | None = None
        self._last_event: float | None = None
        # The last event seen before the link was lost: where the queue_log read starts after the reconnect
        # (later events, from the new connection, may arrive before the read).
        self._gap_since: float | None = None
        self._backfill_due = False

    def _add(self, fact: dict[str, str]) -> None:
        self._pending.append((CALLS + local_day(float(fact["t"]), self.zone), fact))

    def on_changes(self, changes: list[dict[str, Any]], now: float) -> None:
        for change in changes:
            if change.get("type") == "link_lost":
                if self._gap_since is None:
                    self._gap_since = self._last_event
                continue
            if change.get("type") == "resync":
                self._backfill_due = self.queue_log is not None  # the link is back: read what it missed
                continue
            fact = call_facts(change, now)
            if fact is not None:
                self._add(fact)
                self._last_event = max(self._last_event or now, now)

    async def backfill(self) -> int:
        """Write the facts of the queue_log's lines since shortly before the last event seen before the link
        was lost (or, in a new process, the last one written; or the start of the day); returns how many."""
        assert self.queue_log is not None
        stored = None if self._gap_since is not None else await self.redis.get(LAST_EVENT)
        last_seen = self._gap_since if self._gap_since is not None else float(stored) if stored else None
        if last_seen is not None:
            since = last_seen - QUEUE_LOG_MARGIN
        else:
            since, _ = day_bounds(datetime.fromtimestamp(self.clock(), self.zone).date(), self.zone)
        entries = await asyncio.to_thread(read_queue_log, self.queue_log, since)
        facts = [fact for entry in entries if (fact := queue_log_fact(entry, self.queue)) is not None]
        for fact in facts:
            self._add(fact)
        self._backfill_due = False
        self._gap_since = None
        if facts:
            log.info("report facts read from the queue_log", extra={"facts": len(facts), "since": since})
        return len(facts)

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
        while self._pending:
            await self._flush_chunk()

    async def _flush_chunk(self) -> None:
        # Chunked: a queue_log read after a long outage can add a day's facts at once.
        batch, self._pending = self._pending[:FLUSH_CHUNK], self._pending[FLUSH_CHUNK:]
        last_event = max((float(fields["t"]) for key, fields in batch if key.startswith(CALLS)), default=None)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, fields in batch:
                    pipe.xadd(key, fields)  # type: ignore[arg-type]
                for key in {key for key, _ in batch}:
                    pipe.expire(key, self.retention)
                if last_event is not None and self._last_event is not None:
                    # Never past the last live event: a later read must start before anything the link missed.
                    pipe.set(LAST_EVENT, f"{min(last_event, self._last_event):.3f}")
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
                    if self._backfill_due:
                        await self.backfill()
                    await self.flush()
                except Exception as exc:
                    stop_if_cancelled()
                    log.warning("report facts not written yet; retrying", extra={"error": str(exc),
                                                                                 "pending": len(self._pending)})
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())
