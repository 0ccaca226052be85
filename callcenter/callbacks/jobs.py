"""RQ jobs (run by `callcenter worker`) and the scheduler that enqueues them.

A job only says "look at this callback now"; all decisions are made again inside it from what Redis holds, so
a job that runs late, twice, or after the callback changed is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from callcenter import timebase
from callcenter.callbacks.dialer import AmiActions, Dialer
from callcenter.callbacks.store import CallbackStore
from callcenter.config import Settings, load_settings
from callcenter.hours import WorkingHours
from callcenter.pbx.ami import AmiClient
from callcenter.storage import connect

log = logging.getLogger(__name__)

QUEUE = "callbacks"
PENDING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED}


class AmiPbx(AmiActions):
    """A worker's own AMI connection (a worker holds no PBX link), logged in on first use: a job that finds
    nothing to do (a duplicate, a cancelled callback) costs no login."""

    def __init__(self, settings: Settings) -> None:
        ami = settings.ami
        self.client = AmiClient(ami.host, ami.port, ami.username, ami.secret, events="off",
                                connect_timeout=ami.connect_timeout, action_timeout=ami.action_timeout,
                                ping_interval=3600)
        super().__init__(self._connected)

    async def __aenter__(self) -> AmiPbx:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client.connected:
            await self.client.close()

    async def _connected(self) -> AmiClient:
        if not self.client.connected:
            await self.client.connect()
        return self.client


class RqScheduler:
    """`schedule(id, at)` = an RQ job at that time; one pending job per callback and due time."""

    def __init__(self, redis_url: str) -> None:
        self.connection = redis.Redis.from_url(redis_url)
        self.queue = Queue(QUEUE, connection=self.connection)

    def schedule_sync(self, callback_id: str, at: float) -> None:
        job_id = _job_id(callback_id, at)
        try:
            if Job.fetch(job_id, connection=self.connection).get_status() in PENDING:
                return
        except Exception:  # noqa: S110 - no such job (rq raises NoSuchJobError): enqueue it below
            pass
        when = datetime.fromtimestamp(timebase.to_real(at), UTC)
        kwargs = {"job_id": job_id, "result_ttl": 0, "failure_ttl": 86400, "job_timeout": 120}
        if when <= datetime.now(UTC):
            self.queue.enqueue(place_callback, callback_id, **kwargs)
        else:
            self.queue.enqueue_at(when, place_callback, callback_id, **kwargs)

    async def schedule(self, callback_id: str, at: float) -> None:
        await asyncio.to_thread(self.schedule_sync, callback_id, at)

    def enqueue_now(self, callback_id: str, at: float) -> None:
        job_id = _job_id(callback_id, at)
        self.queue.enqueue(place_callback, callback_id, job_id=f"{job_id}-now", result_ttl=0, failure_ttl=86400,
                           job_timeout=120)
        # The queued job is as durable as the scheduled one, which would only cost the worker a second job that
        # does nothing (the worker is the first part to fall behind, at 64x). Should RQ's scheduler move the
        # scheduled job first, the duplicate runs and finds the callback taken, as before.
        with contextlib.suppress(NoSuchJobError):
            scheduled = Job.fetch(job_id, connection=self.connection)
            if scheduled.get_status() == JobStatus.SCHEDULED:
                scheduled.delete()


def _job_id(callback_id: str, at: float) -> str:
    """One job per callback and due time: scheduling the same due time twice is a no-op."""
    return f"place-{callback_id}-{int(at)}"


class PreciseScheduler:
    """RQ's scheduler moves due jobs once a second, which alone can make a callback a second late. The durable
    RQ job stays (it survives any restart); this service also keeps a timer per due time and enqueues the job
    at that moment, which takes the scheduled one's place."""

    def __init__(self, rq: RqScheduler, clock: Callable[[], float]) -> None:
        self.rq = rq
        self.clock = clock
        self._timers: set[asyncio.TimerHandle] = set()

    async def schedule(self, callback_id: str, at: float) -> None:
        await self.rq.schedule(callback_id, at)
        delay = timebase.real_seconds(at - self.clock())
        if delay > 0:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(delay, self._fire, callback_id, at)
            self._timers.add(timer)

    def _fire(self, callback_id: str, at: float) -> None:
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.rq.enqueue_now, callback_id, at))
        task.add_done_callback(_log_failure)
        self._timers = {t for t in self._timers if not t.cancelled() and t.when() > asyncio.get_running_loop().time()}

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # RQ's own scheduled job is still there: the callback is late by up to a second, not lost.
        log.warning("prompt enqueue failed", extra={"error": str(task.exception())})


@lru_cache(maxsize=1)
def worker_settings() -> Settings:
    return load_settings()


class _Runtime:
    """One event loop for the worker's whole life, in a thread: jobs reuse its Redis client and AMI login
    instead of paying a new loop, connection and login each (the difference between ~50 and ~5 ms a job)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="callback-jobs", daemon=True).start()
        self._dialer: Dialer | None = None

    def run(self, coroutine: Coroutine[Any, Any, str]) -> str:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def dialer(self) -> Dialer:
        """Built once, in the runtime's loop (jobs run there one at a time), and kept for every job."""
        if self._dialer is None:
            settings = self.settings
            self._dialer = Dialer(CallbackStore(connect(settings.redis.url)), settings,
                                  WorkingHours.from_settings(settings.hours, settings.hotline.timezone),
                                  AmiPbx(settings), RqScheduler(settings.redis.url),
                                  owner=f"worker:{socket.gethostname()}:{os.getpid()}")
        return self._dialer


_runtime: _Runtime | None = None


def place_callback(callback_id: str) -> str:
    """The RQ job: start the callback's next attempt if it is due."""
    global _runtime
    if _runtime is None:
        _runtime = _Runtime(worker_settings())
    return _runtime.run(_place(_runtime, callback_id))


async def _place(runtime: _Runtime, callback_id: str) -> str:
    outcome = await runtime.dialer().place(callback_id)
    log.info("callback job", extra={"callback": callback_id, "outcome": outcome})
    return outcome
