"""`callcenter serve`: the web service and its background tasks in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from redis.exceptions import RedisError

from callcenter.callbacks.dialer import AmiActions, Dialer
from callcenter.callbacks.jobs import PreciseScheduler, RqScheduler
from callcenter.callbacks.model import parse_attempt
from callcenter.callbacks.monitor import CallbackMonitor
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks.store import CallbackStore
from callcenter.cases.model import Case
from callcenter.config import Settings
from callcenter.hotline.view import ESTIMATE_FRESH_SECONDS, position_estimate
from callcenter.pbx.ami import AmiClient, AmiError
from callcenter.pbx.link import PbxLink
from callcenter.pbx.tracker import Change
from callcenter.reports.facts import FactRecorder
from callcenter.reports.source import stored_day_record
from callcenter.tasks import stop_if_cancelled
from callcenter.video.service import session_of_placeholder
from callcenter.web import callbacks, cases, hotline, video
from callcenter.web.accesslog import MaskedAccessLogger
from callcenter.web.app import create_app
from callcenter.web.keys import CLOCK, HOURS, REDIS, SETTINGS

log = logging.getLogger(__name__)
CALLBACK_MONITOR = web.AppKey("callback_monitor", CallbackMonitor)


def build_service(settings: Settings) -> web.Application:
    """The full service: web app plus every background part, wired by configuration."""
    if not settings.redis.url:
        raise SystemExit("serve needs a Redis URL (REDIS_URL or redis.url); `callcenter run` starts an "
                         "embedded server for you")
    if not settings.ami.host:
        raise SystemExit("serve needs a PBX: set ami.host (or CALLCENTER_AMI_HOST); `callcenter run` starts the "
                         "built-in simulator for you")
    link = PbxLink(settings)

    async def pbx_context(app: web.Application) -> AsyncIterator[None]:
        await link.start()
        yield
        await link.stop()

    async def callbacks_context(app: web.Application) -> AsyncIterator[None]:
        service, monitor = wire_callbacks(app, link)
        app[callbacks.CALLBACKS] = service
        app[CALLBACK_MONITOR] = monitor
        async def link_client() -> AmiClient:
            return link.client

        app[callbacks.DIALER] = Dialer(service.store, app[SETTINGS], app[HOURS], AmiActions(link_client),
                                       service.scheduler, owner="serve")
        # The operator sees on the dashboard which callback app_queue has just connected them to.
        monitor.listeners.append(lambda change: link.feed.publish([change]))
        app[callbacks.HANGUP] = monitor.hang_up
        link.client.on_event(monitor.on_event)
        link.sinks.append(monitor.on_changes)
        if link.connected:  # the first resync went by while this part started: read what the link missed
            monitor.on_changes([{"type": "resync"}], link.now())
        task = asyncio.create_task(monitor.run(), name="callback-monitor")
        yield
        link.sinks.remove(monitor.on_changes)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def screen_pop_context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(screen_pops(app, link), name="screen-pop")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def facts_context(app: web.Application) -> AsyncIterator[None]:
        # Today's figures continue from the facts already written today (a restarted service), read before the
        # link starts: its first resync then knows who was counted already.
        try:
            now = app[CLOCK]()
            link.tracker.restore_today(link.queue_name, await stored_day_record(app[REDIS], settings, now), now)
        except RedisError as exc:
            log.warning("today's counters not restored; they start from zero", extra={"error": str(exc)})
        recorder = FactRecorder(app[REDIS], link.tracker, link.queue_name, settings.hotline.timezone,
                                settings.reports.retention_days, app[CLOCK], settings.reports.queue_log)
        link.sinks.append(recorder.on_changes)
        task = asyncio.create_task(recorder.run(), name="report-facts")
        yield
        link.sinks.remove(recorder.on_changes)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # The facts recorder starts before the link, so that it hears of the first connect (and reads the queue_log
    # for the time the service was down).
    app = create_app(settings, redis_url=settings.redis.url, pbx_status=link,
                     extra_contexts=[facts_context, pbx_context, callbacks_context, screen_pop_context])
    app[hotline.PBX_LINK] = link
    wire_video(app, link)
    return app


class VideoPlaceholders:
    """A video session's place in the hotline queue, over the PBX link."""

    def __init__(self, link: PbxLink) -> None:
        self.link = link

    async def originate(self, headers: list[tuple[str, str]]) -> None:
        await self.link.client.send_action("Originate", headers)

    async def hangup(self, uniqueid: str) -> None:
        # Asterisk finds a channel by name or by uniqueid; the placeholder's uniqueid is ours (OtherChannelId).
        with contextlib.suppress(AmiError):
            await self.link.client.send_action("Hangup", [("Channel", uniqueid)])


def wire_video(app: web.Application, link: PbxLink) -> None:
    """Video sessions wait for an operator in the hotline queue and report to the dashboards' feed."""

    def queue_wait(uniqueid: str) -> tuple[int, float | None] | None:
        now = link.now()
        state = link.tracker.queue(link.queue_name, now)
        caller = state.caller(uniqueid)
        if caller is None:
            return None
        return caller.position, position_estimate(state, now, caller.position, fresh_for=ESTIMATE_FRESH_SECONDS)

    def assign_video_operators(changes: list[Change], now: float) -> None:
        """app_queue's choice of operator for a placeholder, taken in line with the PBX events. On the
        dashboards' bounded feed it was lost whenever the screen pops fell 1,000 changes behind (a simulated
        day at 64x): the operator's phone then sat on a silent placeholder and the resident waited an hour."""
        service = app.get(video.VIDEO)
        if service is None:
            return
        for change in changes:
            if change.get("type") == "call_connected":
                session_id = session_of_placeholder(str(change.get("uniqueid") or ""))
                if session_id is not None:
                    service.placeholder_connected(session_id, str(change["interface"]))

    link.sinks.append(assign_video_operators)
    app[video.VIDEO_PBX] = VideoPlaceholders(link)
    app[video.VIDEO_NOTIFY] = lambda change: link.feed.publish([change])
    app[video.QUEUE_WAIT] = queue_wait


# Connects waiting for their screen pop. A simulated day at 64x has about 450 a second; the dashboards' feed,
# which the pops first listened on, drops a listener's backlog at 1,000 changes (a single read off the AMI
# socket can bring that many), so pops were lost while the look-ups were keeping up.
SCREEN_POP_BACKLOG = 10_000


async def screen_pops(app: web.Application, link: PbxLink) -> None:
    """When an operator is connected to a caller, the cases whose phones match the caller ID go to the
    operator's dashboard, marked "not verified" (caller ID can be forged); each such view is audited."""
    connects: asyncio.Queue[Change] = asyncio.Queue(SCREEN_POP_BACKLOG)
    store = app[cases.CASES]
    dropped = 0

    def take(changes: list[Change], now: float) -> None:
        nonlocal dropped
        for change in changes:
            if _wants_screen_pop(change):
                if connects.full():  # the oldest pop is the least use: its call has gone on longest
                    connects.get_nowait()
                    dropped += 1
                connects.put_nowait(change)

    async def look_up(change: Change) -> list[Case] | None:
        try:
            found = await store.by_phone(str(change["callerid"]))
            for case in found:
                await store.audit("screen_pop", f"interface:{change['interface']}", case.number, "shown")
            return found
        except RedisError as exc:
            stop_if_cancelled()
            log.warning("screen-pop look-up failed", extra={"error": str(exc)})
            return None

    link.sinks.append(take)
    try:
        while True:
            stop_if_cancelled()
            # All that waits, looked up side by side: one at a time, each waiting its turn on a busy loop, they
            # fell behind.
            batch = [await connects.get()]
            while not connects.empty():
                batch.append(connects.get_nowait())
            if dropped:
                log.warning("screen pops fell behind the PBX events; the oldest were dropped",
                            extra={"dropped": dropped})
                dropped = 0
            results = await asyncio.gather(*(look_up(change) for change in batch))
            for change, found in zip(batch, results, strict=True):
                if found is not None:
                    link.feed.publish([cases.screen_pop(found, str(change["callerid"]), str(change["interface"]),
                                                        app[cases.VOCABULARY])])
    finally:
        link.sinks.remove(take)


def _wants_screen_pop(change: Change) -> bool:
    if change.get("type") != "call_connected" or not change.get("callerid"):
        return False
    uniqueid = str(change.get("uniqueid") or "")
    # A callback's placeholder shows the callback itself; a video session's is told by the video sink.
    return parse_attempt(uniqueid) is None and session_of_placeholder(uniqueid) is None


def wire_callbacks(app: web.Application, link: PbxLink) -> tuple[CallbackService, CallbackMonitor]:
    """The callback service (web side) and monitor (PBX events, sweep) over the app's Redis and PBX link."""
    settings = app[SETTINGS]
    store = CallbackStore(app[REDIS])
    clock = app[CLOCK]
    scheduler = app.get(callbacks.SCHEDULER) or PreciseScheduler(RqScheduler(settings.redis.url), clock)

    def live_queue(order_key: float) -> tuple[int, Callable[[int], float | None]]:
        now = link.now()
        state = link.tracker.queue(link.queue_name, now)
        ahead = sum(1 for caller in state.waiting if caller.kind == "call" and caller.joined_at <= order_key)

        def wait_for(position: int) -> float | None:
            return position_estimate(state, now, position, fresh_for=ESTIMATE_FRESH_SECONDS)

        return ahead, wait_for

    def placeholder(uniqueid: str) -> str | None:
        state = link.tracker.queues.get(link.queue_name)
        caller = state.caller(uniqueid) if state else None
        return caller.channel if caller else None

    def in_call(uniqueid: str) -> bool:
        state = link.tracker.queues.get(link.queue_name)
        return state is not None and any(call.uniqueid == uniqueid for call in state.calls.values())

    def hangup(uniqueid: str) -> asyncio.Future[None] | None:
        channel = placeholder(uniqueid)
        if channel is None:
            return None

        async def send() -> None:
            with contextlib.suppress(AmiError):
                await link.client.send_action("Hangup", [("Channel", channel)])

        return asyncio.ensure_future(send())

    service = CallbackService(store, settings, app[HOURS], scheduler, live_queue=live_queue, clock=clock)
    monitor = CallbackMonitor(store, settings, app[HOURS], scheduler, hangup=hangup, clock=clock,
                              sweep_interval=settings.callbacks.sweep_seconds,
                              placeholder_waiting=lambda uniqueid: placeholder(uniqueid) is not None
                              or in_call(uniqueid),
                              queue_log=settings.reports.queue_log, link_up=lambda: link.connected)
    return service, monitor


async def serve(settings: Settings, app: web.Application | None = None) -> None:
    app = app or build_service(settings)
    runner = web.AppRunner(app, access_log_class=MaskedAccessLogger, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.http.host, settings.http.port, shutdown_timeout=5.0)
    await site.start()
    log.info("serving", extra={"url": f"http://{settings.http.host}:{settings.http.port}/"})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await runner.cleanup()
        log.info("stopped")
