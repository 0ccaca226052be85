"""An asyncio AMI client: login, actions with ActionID futures, event lists, an event stream, reconnects.

Why not the `asterisk-ami` package the design card names: it runs a reader thread per connection, appends each
1 KiB recv to a bytes buffer and re-scans the whole buffer with a regex (quadratic on a busy PBX), keeps an
event's headers in a dict (repeated headers such as ChanVariable are lost), has no event-list aggregation, no
MD5 challenge login and no dead-link detection. This client reads with asyncio streams, frames incrementally
(protocol.FrameSplitter) and never blocks its reader on a consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from callcenter.logs import mask_headers, mask_text
from callcenter.pbx.protocol import (
    BANNER,
    FrameSplitter,
    MalformedFrame,
    Message,
    encode_action,
    event_name,
    frame_selector,
    parse_frame,
)

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024


class AmiError(Exception):
    pass


class AmiAuthError(AmiError):
    """Login refused: wrong user or secret, or the user is not allowed from this address."""


class AmiDisconnected(AmiError):
    pass


class AmiActionError(AmiError):
    def __init__(self, action: str, response: Message) -> None:
        self.response = response
        super().__init__(f"{action} failed: {response.get('Message') or response.name}")


@dataclass
class ActionResult:
    """A response, and for event-list actions (QueueStatus, CoreShowChannels...) the listed events."""

    response: Message
    events: list[Message] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.response.name in ("Success", "Goodbye", "Follows")


@dataclass
class _Pending:
    action: str
    future: asyncio.Future[ActionResult]
    is_list: bool = False
    response: Message | None = None
    events: list[Message] = field(default_factory=list)


class Subscription:
    """A bounded queue of events for one consumer. When the consumer falls behind, the oldest events are
    dropped and counted in `dropped` (the consumer should resync), instead of slowing the reader."""

    def __init__(self, client: AmiClient, names: frozenset[str] | None, maxsize: int) -> None:
        self._client = client
        self.names = names
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, message: Message) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        return await self.queue.get()

    def close(self) -> None:
        self._client.unsubscribe(self)


ConnectHook = Callable[["AmiClient"], Awaitable[None]]
EventHook = Callable[[Message], None]


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        auth: str = "plain",
        events: str = "on",
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        ping_interval: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        wanted_events: Iterable[bytes] | None = None,
    ) -> None:
        if auth not in ("plain", "md5"):
            raise ValueError("auth is plain or md5")
        self.host, self.port, self.username, self._secret = host, port, username, secret
        self.auth, self.events = auth, events
        self.connect_timeout, self.action_timeout, self.ping_interval = connect_timeout, action_timeout, ping_interval
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        # Events the synchronous hooks and subscribers care about; others are skipped unparsed.
        self.wanted_events = frozenset(wanted_events) if wanted_events is not None else None
        self.version: str | None = None
        self.connected = False
        self.last_error = "not connected yet"
        self.connections = 0
        self.malformed_frames = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._prefix = f"cc{random.randrange(16**6):06x}-"
        self._subscriptions: list[Subscription] = []
        self._event_hooks: list[EventHook] = []
        self._connect_hooks: list[ConnectHook] = []
        self._disconnect_hooks: list[Callable[[str], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._run_task: asyncio.Task[None] | None = None
        self._closing = False
        self._lost = asyncio.Event()
        self._up = asyncio.Event()
        self._state_changed = asyncio.Condition()

    # -- status for readiness ------------------------------------------------------------------------------

    def describe(self) -> str:
        if self.connected:
            return f"connected to {self.host}:{self.port}"
        return f"AMI {self.host}:{self.port} not connected: {self.last_error}"

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._up.wait()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Wait until `predicate()` holds, re-checked at every connect and disconnect."""
        async with asyncio.timeout(timeout), self._state_changed:
            await self._state_changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._state_changed:
            self._state_changed.notify_all()

    # -- consumers -----------------------------------------------------------------------------------------

    def on_event(self, hook: EventHook) -> None:
        """Run `hook` for every wanted event, inside the reader: it must be quick and never block."""
        self._event_hooks.append(hook)

    def on_connect(self, hook: ConnectHook) -> None:
        """Run after every successful login (a resync goes here)."""
        self._connect_hooks.append(hook)

    def on_disconnect(self, hook: Callable[[str], None]) -> None:
        """Run (with the reason) when a working connection is lost, before any reconnect."""
        self._disconnect_hooks.append(hook)

    def subscribe(self, names: Iterable[str] | None = None, maxsize: int = 10_000) -> Subscription:
        subscription = Subscription(self, frozenset(names) if names is not None else None, maxsize)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    # -- connection ----------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """One connection and login; raises on failure (AmiAuthError for a refused login)."""
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=READ_CHUNK)
            try:
                banner_line = await reader.readuntil(b"\r\n")
            except BaseException:
                writer.close()
                raise
        banner = banner_line.decode("utf-8", "replace").strip()
        match = BANNER.match(banner)
        if not match:
            writer.close()
            raise AmiError(f"not an AMI server: banner {mask_text(banner[:80])!r}")
        self.version = match.group("version")
        self._reader, self._writer = reader, writer
        self._lost = asyncio.Event()
        reader_task = asyncio.create_task(self._read_loop(reader), name="ami-reader")
        self._tasks = [reader_task]
        try:
            await self._login()
        except BaseException:
            await self._drop_connection("login failed")
            raise
        self.connected = True
        self.connections += 1
        self.last_error = ""
        self._tasks.append(asyncio.create_task(self._ping_loop(), name="ami-ping"))
        log.info("AMI connected", extra={"host": self.host, "port": self.port, "ami_version": self.version})
        for hook in self._connect_hooks:
            await hook(self)
        self._up.set()
        await self._notify()

    async def _login(self) -> None:
        headers = [("Username", self.username)]
        if self.auth == "md5":
            challenge = await self.send_action("Challenge", [("AuthType", "MD5")], check=False)
            if not challenge.ok:
                raise AmiAuthError(f"MD5 challenge refused: {challenge.response.get('Message')}")
            digest = hashlib.md5(  # noqa: S324 - AMI's challenge-response is defined with MD5
                ((challenge.response.get("Challenge") or "") + self._secret).encode()).hexdigest()
            headers += [("AuthType", "MD5"), ("Key", digest)]
        else:
            headers.append(("Secret", self._secret))
        headers.append(("Events", self.events))
        result = await self.send_action("Login", headers, check=False)
        if not result.ok:
            raise AmiAuthError(f"AMI login as {self.username!r} refused: {result.response.get('Message')}")

    async def run(self) -> None:
        """Stay connected until close(): reconnect with exponential backoff and full jitter."""
        attempt = 0
        while not self._closing:
            try:
                await self.connect()
                attempt = 0
                await self._lost.wait()
            except asyncio.CancelledError:
                raise
            except AmiAuthError as exc:
                self.last_error = str(exc)
                log.error("AMI login refused; will retry", extra={"error": str(exc)})
            except (OSError, TimeoutError, AmiError, asyncio.IncompleteReadError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.warning("AMI connection failed", extra={"error": mask_text(self.last_error)})
            if self._closing:
                break
            attempt += 1
            delay = random.uniform(0, min(self.backoff_max, self.backoff_initial * 2 ** min(attempt, 16)))
            await asyncio.sleep(delay)

    def start(self) -> asyncio.Task[None]:
        self._run_task = asyncio.create_task(self.run(), name="ami-run")
        return self._run_task

    async def close(self) -> None:
        """Logoff politely, then stop reconnecting and drop the connection."""
        self._closing = True
        if self.connected:
            with contextlib.suppress(AmiError, OSError, TimeoutError):
                await self.send_action("Logoff", timeout=2.0, check=False)
        await self._drop_connection("closed")
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task

    async def _drop_connection(self, reason: str) -> None:
        was_connected = self.connected
        self.connected = False
        self._up.clear()
        if reason and reason != "closed":
            self.last_error = reason
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks = []
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
        self._writer = self._reader = None
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(AmiDisconnected(f"connection lost ({reason})"))
        self._pending.clear()
        if was_connected:
            level = logging.INFO if reason == "closed" else logging.WARNING
            log.log(level, "AMI disconnected", extra={"reason": reason})
            for hook in self._disconnect_hooks:
                hook(reason)
        self._lost.set()
        await self._notify()

    def _lose(self, reason: str) -> None:
        """Called from the reader/ping tasks: schedule the teardown without awaiting ourselves."""
        if not self._lost.is_set():
            asyncio.get_running_loop().create_task(self._drop_connection(reason))

    # -- actions -------------------------------------------------------------------------------------------

    async def send_action(self, name: str, headers: Iterable[tuple[str, str]] = (), *,
                          timeout: float | None = None, check: bool = True,
                          action_id: str | None = None) -> ActionResult:
        """Send an action and await its response (and its event list, for list actions). `action_id` names
        the action when its later events must be recognised by others (a callback attempt's Originate)."""
        writer = self._writer
        if writer is None:
            raise AmiDisconnected(f"cannot send {name}: {self.last_error or 'not connected'}")
        action_id = action_id or f"{self._prefix}{next(self._ids)}"
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(name, future)
        try:
            writer.write(encode_action(name, [("ActionID", action_id), *headers]))
            async with asyncio.timeout(timeout or self.action_timeout):
                result = await future
        except TimeoutError:
            raise AmiError(f"{name}: no response within {timeout or self.action_timeout:.1f} s") from None
        finally:
            self._pending.pop(action_id, None)
        if check and not result.ok:
            raise AmiActionError(name, result.response)
        return result

    async def ping(self) -> float:
        started = time.monotonic()
        await self.send_action("Ping", timeout=max(1.0, self.ping_interval))
        return time.monotonic() - started

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.ping()
            except (AmiError, OSError):
                self._lose("keep-alive Ping got no answer")
                return

    # -- reading -------------------------------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        splitter = FrameSplitter(expect_banner=False)
        # Noise events are skipped inside the regex engine; while an action is pending, every frame is looked
        # at, since list items (QueueStatus...) are recognised by their ActionID, not by name.
        selector = frame_selector(self.wanted_events) if self.wanted_events is not None else None
        reason = "connection closed by the PBX"
        try:
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    break
                oversized = splitter.oversized
                if selector is None or self._pending:
                    frames = splitter.feed(data)
                else:
                    frames = splitter.feed_selected(data, selector)
                for frame in frames:
                    self._dispatch(frame)
                if splitter.oversized != oversized:
                    self.malformed_frames += 1
                    log.warning("AMI: dropped over 1 MiB of bytes with no frame end")
        except (ConnectionError, OSError) as exc:
            reason = f"read failed: {exc}"
        except Exception:
            # A bug here must not leave a silent, dead reader with every action hanging: log it, reconnect.
            log.exception("AMI reader failed")
            reason = "reader failed"
        self._lose(reason)

    def _dispatch(self, frame: bytes) -> None:
        wanted = self.wanted_events
        if wanted is not None:
            name = event_name(frame)
            # Noise events are skipped unparsed, unless they belong to a list action we await.
            if name is not None and name not in wanted and (not self._pending or b"ActionID: " not in frame):
                return
        try:
            message = parse_frame(frame)
        except MalformedFrame as exc:
            self.malformed_frames += 1
            shown = mask_text(frame[:200].decode("utf-8", "replace"))
            log.warning("AMI: skipped a malformed frame", extra={"reason": mask_text(exc.reason), "frame": shown})
            return
        action_id = message.action_id
        pending = self._pending.get(action_id) if action_id else None
        if pending is not None:
            self._on_action_message(pending, message)
            return
        if message.kind != "event":
            return
        if wanted is not None and message.name.encode() not in wanted:
            return
        for hook in self._event_hooks:
            try:
                hook(message)
            except Exception:
                log.exception("AMI event hook failed", extra={"event": message.name,
                                                               "headers": mask_headers(message.headers[:12])})
        for subscription in self._subscriptions:
            if subscription.names is None or message.name in subscription.names:
                subscription.offer(message)

    @staticmethod
    def _on_action_message(pending: _Pending, message: Message) -> None:
        if pending.future.done():
            return
        if message.kind == "response":
            if (message.get("EventList") or "").lower() == "start":
                pending.is_list = True
                pending.response = message
                return
            pending.future.set_result(ActionResult(message))
            return
        # An event carrying our ActionID: a list item, or the list's end.
        if (message.get("EventList") or "").lower() == "complete":
            response = pending.response or message
            pending.future.set_result(ActionResult(response, [*pending.events, message]))
        elif pending.is_list:
            pending.events.append(message)
        else:
            # An action's own event that is not a list (OriginateResponse of a sync Originate, UserEvent).
            pending.events.append(message)
