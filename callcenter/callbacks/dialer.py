"""Placing an attempt: claim it, mark it, then Originate. Runs in `callcenter worker` (RQ job) and in tests.

The order is what makes "never dialled twice, never lost" hold when a process is killed at any point:
  1. claim attempt n with SET NX (only one process ever gets it);
  2. record the attempt as under way (status dialling, attempts = n, attempt_started_at = now);
  3. send the Originate.
Killed before 1: the callback is still scheduled; the sweeper re-enqueues it. Killed between 1 and 3: attempt n
is claimed but was never dialled; the sweeper closes it as timed out after `attempt_timeout_minutes` and the
retry is attempt n+1 (a new claim). Killed after 3: the placeholder is in the queue and its outcome events are
matched by ActionID / Uniqueid to attempt n, whichever process receives them.

Operator first with the placeholder (the default): the Originate puts a silent Local channel into the hotline
queue at the resident's place; its other half runs [callback-dial] only once app_queue has connected an
operator to it, so the operator is on the line when the resident's phone rings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from callcenter import timebase
from callcenter.callbacks import policy
from callcenter.callbacks.model import (
    Callback,
    Status,
    attempt_action_id,
    attempt_dial_channel_id,
    attempt_uniqueid,
    parse_attempt,
)
from callcenter.callbacks.store import CallbackStore, Conflict, NotFound
from callcenter.config import Settings
from callcenter.hours import WorkingHours
from callcenter.pbx.ami import AmiClient
from callcenter.pbx.protocol import Message

log = logging.getLogger(__name__)

# Fault injection for the crash tests: CALLCENTER_FAULT_PAUSE=after_claim|after_originate makes the dialler
# write CALLCENTER_FAULT_FILE and wait there, so a test can kill the process at exactly that point.
FAULT_POINT = "CALLCENTER_FAULT_PAUSE"
WAIT_RESOLUTION = 1.0
EARLY_WAIT = 2.0
FAULT_FILE = "CALLCENTER_FAULT_FILE"


class PbxActions(Protocol):
    async def originate(self, headers: list[tuple[str, str]]) -> None: ...

    async def queue_entries(self, queue: str) -> list[Message]: ...


class AmiActions:
    """The dialler's PBX actions over an AMI client, wherever it comes from (the service's link, a worker's own
    connection): `client()` returns one that is connected."""

    def __init__(self, client: Callable[[], Awaitable[AmiClient]]) -> None:
        self._client = client

    async def originate(self, headers: list[tuple[str, str]]) -> None:
        # The ActionID names the attempt: the PBX link matches the OriginateResponse to it.
        action_id = dict(headers).get("ActionID")
        body = [header for header in headers if header[0] != "ActionID"]
        await (await self._client()).send_action("Originate", body, action_id=action_id)

    async def queue_entries(self, queue: str) -> list[Message]:
        # app_queue lists only the members matching `Member:` but every waiting caller: a filter no member
        # matches keeps out a floor of a thousand members (at scale 100 the simulator spent a third of its
        # time listing them for every callback dialled).
        result = await (await self._client()).send_action("QueueStatus", [("Queue", queue),
                                                                          ("Member", NO_MEMBER)])
        return [event for event in result.events if event.name == "QueueEntry"]


NO_MEMBER = "callcenter/waiting-callers-only"


class Scheduler(Protocol):
    async def schedule(self, callback_id: str, at: float) -> None: ...


async def fault_point(name: str) -> None:
    if os.environ.get(FAULT_POINT) != name:
        return
    marker = os.environ.get(FAULT_FILE)
    if marker:
        await asyncio.to_thread(Path(marker).write_text, name, encoding="utf-8")
    log.warning("fault injection: pausing", extra={"point": name})
    await asyncio.sleep(3600)


class Dialer:
    def __init__(self, store: CallbackStore, settings: Settings, hours: WorkingHours, pbx: PbxActions,
                 scheduler: Scheduler, owner: str) -> None:
        self.store = store
        self.settings = settings
        self.hours = hours
        self.pbx = pbx
        self.scheduler = scheduler
        self.owner = owner

    async def place(self, callback_id: str, now: float | None = None) -> str:
        """Try to start the next attempt of a callback; returns what happened, for logs and tests."""
        now = timebase.now() if now is None else now
        try:
            callback = await self.store.get(callback_id)
        except NotFound:
            return "unknown callback"
        if callback.status != Status.SCHEDULED:
            return f"not scheduled ({callback.status})"
        # A job may run late (a busy worker) or find the hours changed: check the slot again now.
        slot = policy.next_slot(max(now, callback.due_at), self.hours, callback.not_after)
        if slot.due_at is None:
            await self._end(callback_id, slot.status, slot.reason, now)
            return slot.status
        early = slot.due_at - now
        if timebase.real_seconds(early) > EARLY_WAIT:
            # Due already, but the line has closed meanwhile (its job ran late): carried over to the next day.
            carried = callback.due_at <= now and not self.hours.is_open(datetime.fromtimestamp(now, UTC))
            await self._reschedule(callback_id, slot.due_at, "carried over to the next working day" if carried
                                   else "waiting for working hours or the window", now, carried=carried)
            return "rescheduled"
        if early > 0:
            # RQ keeps due times in whole seconds, so its job can start up to a second early: wait for the moment
            # rather than ring before the resident's window or the opening.
            await asyncio.sleep(timebase.real_seconds(early))
            now = slot.due_at
        attempt = callback.attempts + 1
        if not await self.store.claim_attempt(callback_id, attempt, self.owner):
            return f"attempt {attempt} already claimed"

        placeholder = self.settings.callbacks.mode == "operator_first" and self.settings.callbacks.placeholder

        def start(record: Callback) -> str:
            # With a placeholder the attempt is "queued" before the Originate goes out: Asterisk's failure report
            # can arrive before this process writes anything more, and it must find the state it settles.
            record.status = Status.QUEUED if placeholder else Status.DIALLING
            record.attempts = attempt
            record.attempt_started_at = now
            return f"attempt {attempt}: placeholder holds the place in the queue" if placeholder \
                else f"attempt {attempt} started"

        try:
            callback = await self.store.update(callback_id, start, actor=self.owner,
                                               allowed=frozenset({Status.SCHEDULED}), now=now)
        except Conflict:
            return "changed meanwhile"
        await fault_point("after_claim")
        headers = await self._originate_headers(callback, attempt, now)
        await self.pbx.originate(headers)
        log.info("callback attempt sent", extra={"callback": callback_id, "attempt": attempt,
                                                 "mode": self.settings.callbacks.mode})
        await fault_point("after_originate")
        return "dialled"

    async def call_now(self, callback_id: str, interface: str, operator: str,
                       hangup: Callable[[str], Awaitable[None]] | None = None, now: float | None = None) -> Callback:
        """Preview dialling: the operator's own phone rings first, then the resident's. Takes the next attempt
        claim like any dial, so it cannot double an attempt a worker is making."""
        now = timebase.now() if now is None else now
        callback = await self.store.get(callback_id)
        if callback.status not in (Status.SCHEDULED, Status.QUEUED):
            raise Conflict(f"callback is {callback.status}")
        if callback.status == Status.QUEUED and hangup is not None:
            await hangup(attempt_uniqueid(callback.id, callback.attempts))  # its placeholder is no longer needed
        attempt = callback.attempts + 1
        if not await self.store.claim_attempt(callback_id, attempt, f"{self.owner}:{operator}"):
            raise Conflict(f"attempt {attempt} is under way already")

        def start(record: Callback) -> str:
            record.status = Status.DIALLING
            record.attempts = attempt
            record.attempt_started_at = now
            record.operator = operator
            return f"call now by {operator}: attempt {attempt}"

        callback = await self.store.update(callback_id, start, actor=operator, now=now,
                                           allowed=frozenset({Status.SCHEDULED, Status.QUEUED}))
        await self.pbx.originate([
            ("ActionID", attempt_action_id(callback.id, attempt)), ("Channel", interface),
            ("Context", "callback-operator-first"), ("Exten", callback.phone), ("Priority", "1"),
            ("Timeout", "30000"), ("CallerID", f'"Callback" <{callback.phone}>'), ("Async", "true"),
            ("Variable", f"__CC_CALLBACK_ID={callback.id}"), ("Variable", f"__CC_ATTEMPT={attempt}")])
        return callback

    async def _originate_headers(self, callback: Callback, attempt: int, now: float) -> list[tuple[str, str]]:
        cb = self.settings.callbacks
        common = [("ActionID", attempt_action_id(callback.id, attempt)), ("Async", "true"),
                  # "__" makes both halves of the Local channel inherit them.
                  ("Variable", f"__CC_CALLBACK_ID={callback.id}"), ("Variable", f"__CC_ATTEMPT={attempt}")]
        if cb.mode == "resident_first":
            # /n: no Local optimisation. Optimised away once bridged, the pair hung up as the operator answered,
            # and its hangup handler reported the outcome before the talk (seen on Asterisk 22).
            return [("Channel", f"Local/{callback.phone}@callback-resident-first/n"),
                    ("Context", "callback-resident-first"), ("Exten", "answered"), ("Priority", "1"),
                    ("Timeout", "45000"), ("CallerID", f"<{self.settings.hotline.number}>"),
                    # The half that waits in the queue once the resident answered: the monitor knows its
                    # AgentConnect by this id. Asterisk names the other half `<id>;2`, which cannot collide.
                    ("ChannelId", attempt_uniqueid(callback.id, attempt)), *common]
        position = await self.position_for(callback, now)
        return [("Channel", f"Local/{callback.id}@callback-placeholder/n"), ("Context", "callback-dial"),
                ("Exten", callback.phone), ("Priority", "1"), ("Timeout", str(int(cb.placeholder_hours * 3600_000))),
                ("CallerID", f'"CALLBACK {callback.id}" <{callback.phone}>'),
                ("ChannelId", attempt_dial_channel_id(callback.id, attempt)),
                ("OtherChannelId", attempt_uniqueid(callback.id, attempt)),
                ("Variable", f"__CC_POSITION={position}"), *common]

    async def position_for(self, callback: Callback, now: float) -> int:
        """1 + the entries now in the queue that first joined no later than this resident: live callers by
        their time in the queue, other placeholders by their resident's order key."""
        entries = await self.pbx.queue_entries(self.settings.hotline.queue)
        placeholders = {entry.get("Uniqueid") or "": parse_attempt(entry.get("Uniqueid") or "") for entry in entries}
        others = await self.store.get_many(sorted({ref[0] for ref in placeholders.values() if ref is not None}))
        ahead = 0
        for entry in entries:
            attempt = placeholders[entry.get("Uniqueid") or ""]
            if attempt is not None:
                other = others.get(attempt[0])
                if other is None:
                    continue
                key = other.order_key
            else:
                key = now - float(entry.get("Wait") or 0)
            # Wait is in whole seconds, so a live caller's join time is known to a second: a tie goes to the
            # caller already waiting (a callback never jumps ahead of someone who may have been first).
            if key <= callback.order_key + WAIT_RESOLUTION:
                ahead += 1
        return ahead + 1

    async def _reschedule(self, callback_id: str, due_at: float, reason: str, now: float,
                          carried: bool = False) -> None:
        def move(record: Callback) -> str:
            record.due_at = due_at
            record.carried_over += carried
            return reason

        try:
            await self.store.update(callback_id, move, actor=self.owner, allowed=frozenset({Status.SCHEDULED}),
                                    now=now)
        except Conflict:
            return
        await self.scheduler.schedule(callback_id, due_at)

    async def _end(self, callback_id: str, status: str, reason: str, now: float) -> None:
        def end(record: Callback) -> str:
            record.status = status
            record.reason = reason
            return reason

        with contextlib.suppress(Conflict):
            await self.store.update(callback_id, end, actor=self.owner, now=now,
                                    allowed=frozenset({Status.SCHEDULED}))
