"""The service's link to the PBX: an AMI client feeding the queue tracker, resynced after every (re)connect,
with the tracker's changes fanned out to live dashboards."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from callcenter import timebase
from callcenter.config import Settings
from callcenter.pbx.ami import AmiClient, AmiError
from callcenter.pbx.protocol import Message
from callcenter.pbx.tracker import TRACKED_EVENTS, Change, QueueTracker

log = logging.getLogger(__name__)

# The tracker's events and those the callback dialler awaits. Every name here is parsed on a busy PBX, so
# add one only with a consumer for it (Hangup alone is a third of a real stream's call events).
LINK_EVENTS = TRACKED_EVENTS | {b"OriginateResponse", b"UserEvent"}


class ChangeFeed:
    """Fan-out of tracker changes to listeners, each with a bounded queue: a slow dashboard loses its backlog
    and is told to reload the snapshot; it never slows the PBX link."""

    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._listeners: set[asyncio.Queue[Change]] = set()

    def listen(self) -> asyncio.Queue[Change]:
        queue: asyncio.Queue[Change] = asyncio.Queue(self.maxsize)
        self._listeners.add(queue)
        return queue

    def forget(self, queue: asyncio.Queue[Change]) -> None:
        self._listeners.discard(queue)

    def publish(self, changes: list[Change]) -> None:
        for queue in self._listeners:
            for change in changes:
                if queue.full():
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait({"type": "resync", "reason": "fell behind"})
                    break
                queue.put_nowait(change)

    def __len__(self) -> int:
        return len(self._listeners)


class PbxLink:
    def __init__(self, settings: Settings, client: AmiClient | None = None) -> None:
        ami = settings.ami
        self.settings = settings
        self.queue_name = settings.hotline.queue
        self.client = client or AmiClient(
            ami.host, ami.port, ami.username, ami.secret, connect_timeout=ami.connect_timeout,
            action_timeout=ami.action_timeout, ping_interval=ami.ping_interval, wanted_events=LINK_EVENTS)
        self.tracker = QueueTracker(settings.hotline.timezone, settings.hotline.service_level_seconds,
                                    queues=[self.queue_name])
        self.feed = ChangeFeed()
        # Consumers that must see every change (the report's facts), called in line: no queue to overflow;
        # they are also told when the link is lost ("link_lost") and back ("resync").
        self.sinks: list[Callable[[list[Change], float], None]] = []
        self.resyncs = 0
        self._resyncing = False
        self._held: list[Message] = []
        # The PBX clock: events may carry their own time (timestampevents, or the simulator's accelerated time).
        self._pbx_time: float | None = None
        self._local_at_pbx_time = 0.0
        self.client.on_event(self._on_event)
        self.client.on_connect(self._resync)
        self.client.on_disconnect(self._lost)

    # readiness
    @property
    def connected(self) -> bool:
        return self.client.connected

    def describe(self) -> str:
        return self.client.describe()

    def now(self) -> float:
        """The PBX's current time: its last event time advanced by local time since, or local time."""
        if self._pbx_time is None:
            return timebase.now()
        return self._pbx_time + (time.monotonic() - self._local_at_pbx_time)

    def _clock(self, message: Message) -> float:
        stamp = message.get("Timestamp")
        if stamp:
            with contextlib.suppress(ValueError):
                self._pbx_time = float(stamp)
                self._local_at_pbx_time = time.monotonic()
                return self._pbx_time
        return self.now()

    def _on_event(self, message: Message) -> None:
        if self._resyncing:
            self._held.append(message)
            return
        at = self._clock(message)
        changes = self.tracker.apply(message, at)
        if changes:
            self.feed.publish(changes)
            for sink in self.sinks:
                sink(changes, at)

    def _lost(self, reason: str) -> None:
        for sink in self.sinks:
            sink([{"type": "link_lost", "reason": reason}], self.now())

    async def _resync(self, client: AmiClient) -> None:
        """Replace the state with QueueStatus; events that arrive meanwhile are applied after it."""
        self._resyncing = True
        try:
            result = await client.send_action("QueueStatus", [("Queue", self.queue_name)])
            self.tracker.resync(result.events, self.now())
            self.resyncs += 1
        except AmiError as exc:
            log.warning("queue resync failed", extra={"error": str(exc)})
        finally:
            self._resyncing = False
            held, self._held = self._held, []
            for message in held:
                self._on_event(message)
        self.feed.publish([{"type": "resync"}])
        for sink in self.sinks:
            sink([{"type": "resync"}], self.now())  # the link is back: the report reads what it missed

    async def start(self) -> None:
        self.client.start()

    async def stop(self) -> None:
        await self.client.close()

    # actions the dashboard and callbacks use
    async def action(self, name: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
        result = await self.client.send_action(name, headers)
        return result.response.to_dict()
