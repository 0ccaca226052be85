"""In `callcenter serve`: PBX events become callback outcomes, and a sweep finds work nobody is doing.

Events (in order, one consumer): OriginateResponse (by the attempt's ActionID), the dialplan's UserEvent
CallbackResult (DIALSTATUS of the resident's leg), AgentConnect on a placeholder (an operator has the callback).
Sweep (every few seconds): attempts whose outcome never came are closed as timed out and retried; overdue
scheduled callbacks whose job was lost are enqueued again; at closing time, placeholders still in the queue are
hung up and carried over to the next opening (keeping their order) or expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callcenter import timebase
from callcenter.callbacks import policy
from callcenter.callbacks.dialer import Scheduler
from callcenter.callbacks.model import (
    DIALSTATUS_OUTCOME,
    NOT_CHARGED,
    REASON_OUTCOME,
    Callback,
    Outcome,
    Status,
    attempt_uniqueid,
    parse_attempt,
)
from callcenter.callbacks.store import CallbackStore, Conflict, NotFound
from callcenter.config import Settings
from callcenter.hours import WorkingHours
from callcenter.pbx.protocol import Message
from callcenter.pbx.queuelog import QueueLogEntry, read_queue_log
from callcenter.tasks import stop_if_cancelled

log = logging.getLogger(__name__)
IN_FLIGHT = frozenset({Status.DIALLING, Status.QUEUED, Status.CONNECTED})
ACTOR = "pbx"


LANES = 16
EVENT_ATTEMPTS = 3
# A placeholder joins the queue within a second of its Originate; one missing from Asterisk's own list for
# longer than this is gone (Asterisk restarted, the channel was hung up while the link was down).
PLACEMENT_GRACE_SECONDS = 30.0
# Outcomes not counted against the resident still end a callback that keeps failing this often: a PBX that
# refuses every placeholder (a broken dialplan) must not be retried for ever.
NOT_CHARGED_LIMIT = 3


# The queue_log events the dialplan writes beside its callback UserEvents (extensions.conf).
QUEUE_LOG_ANSWERED = "CALLBACKANSWERED"
QUEUE_LOG_RESULT = "CALLBACKRESULT"
QUEUE_LOG_MARGIN = 60.0  # seconds read before the oldest attempt in flight: the PBX's clock and ours differ


def queue_log_message(entry: QueueLogEntry) -> Message | None:
    """The UserEvent a callback's queue_log line stands for, or None (pure)."""
    ref = parse_attempt(entry.callid)
    if ref is None or entry.event not in (QUEUE_LOG_ANSWERED, QUEUE_LOG_RESULT):
        return None
    callback_id, attempt = ref
    headers = [("CallbackId", callback_id), ("Attempt", str(attempt))]
    if entry.event == QUEUE_LOG_ANSWERED:
        return Message("event", "UserEvent", [("Event", "UserEvent"), ("UserEvent", "CallbackAnswered"), *headers])
    return Message("event", "UserEvent", [("Event", "UserEvent"), ("UserEvent", "CallbackResult"), *headers,
                                          ("DialStatus", entry.field(0))])


def callback_key(message: Message) -> str:
    """Which callback an event is about (events of one callback keep their order)."""
    if message.name == "UserEvent":
        return message.get("CallbackId") or ""
    ref = parse_attempt(message.get("ActionID") or "") or parse_attempt(message.get("Uniqueid") or "")
    return ref[0] if ref else ""


class CallbackMonitor:
    def __init__(self, store: CallbackStore, settings: Settings, hours: WorkingHours, scheduler: Scheduler,
                 hangup: Callable[[str], asyncio.Future[None] | None] | None = None,
                 placeholder_waiting: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = timebase.now, sweep_interval: float = 5.0,
                 queue_log: str = "", link_up: Callable[[], bool] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.hours = hours
        self.scheduler = scheduler
        # hangup(uniqueid) drops a placeholder; placeholder_waiting(uniqueid) asks the tracker.
        self.hangup = hangup
        self.placeholder_waiting = placeholder_waiting or (lambda uniqueid: False)
        # Whether the PBX link is up and its queue view current: only then is a missing placeholder really gone.
        self.link_up = link_up or (lambda: placeholder_waiting is not None)
        self.clock = clock
        self.sweep_interval = sweep_interval
        # Events of one callback are handled in order, different callbacks side by side: one sequential
        # consumer fell 17 minutes behind at a hundred times the traffic (each event waits on Redis).
        self.lanes: list[asyncio.Queue[Message]] = [asyncio.Queue() for _ in range(LANES)]
        self.handled = 0
        self.listeners: list[Callable[[dict[str, object]], None]] = []
        # Asterisk's queue_log, read after each (re)connect for the outcomes whose UserEvents the link lost.
        self.queue_log = Path(queue_log) if queue_log else None
        self._queue_log_due = False
        self._reconcile_due = False

    # -- events --------------------------------------------------------------------------------------------

    def on_event(self, message: Message) -> None:
        """The PBX link's hook (sync, in its reader): keep only what concerns callbacks, handle it in order."""
        if self.concerns_callbacks(message):
            key = callback_key(message)
            self.lanes[zlib.crc32(key.encode()) % LANES].put_nowait(message)

    def on_changes(self, changes: list[dict[str, Any]], now: float) -> None:
        """The PBX link's sink: after each (re)connect, the next sweep reads the queue_log."""
        if any(change.get("type") == "resync" for change in changes):
            self._queue_log_due = self.queue_log is not None
            self._reconcile_due = True

    async def read_missed_outcomes(self) -> int:
        """Hand the queue_log's outcomes of the attempts in flight to the event lanes; returns how many.

        An attempt's outcome is written after it started, so the read starts at the oldest attempt in flight.
        An outcome the live link did deliver is harmless twice: an attempt already settled ignores it."""
        assert self.queue_log is not None
        self._queue_log_due = False
        in_flight = await self.store.find(sorted(IN_FLIGHT), limit=100_000)
        if not in_flight:
            return 0
        wanted = {attempt_uniqueid(callback.id, callback.attempts) for callback in in_flight}
        since = min(callback.attempt_started_at or callback.created_at for callback in in_flight) - QUEUE_LOG_MARGIN
        entries = await asyncio.to_thread(read_queue_log, self.queue_log, since)
        found = 0
        for entry in entries:
            if entry.callid in wanted and (message := queue_log_message(entry)) is not None:
                self.on_event(message)
                found += 1
        if found:
            log.info("callback outcomes read from the queue_log", extra={"outcomes": found, "since": since})
        return found

    @staticmethod
    def concerns_callbacks(message: Message) -> bool:
        if message.name == "OriginateResponse":
            return (message.get("ActionID") or "").startswith("cb-")
        if message.name == "UserEvent":
            return message.get("UserEvent") in ("CallbackResult", "CallbackAnswered")
        if message.name == "AgentConnect":
            return parse_attempt(message.get("Uniqueid") or "") is not None
        return False

    async def run(self) -> None:
        consumers = [asyncio.create_task(self._consume(lane)) for lane in self.lanes]
        try:
            while True:
                stop_if_cancelled()
                await asyncio.sleep(self.sweep_interval)
                try:
                    if self._queue_log_due:
                        await self.read_missed_outcomes()
                    if self._reconcile_due:
                        await self.reconcile()
                    await self.sweep()
                except Exception:
                    stop_if_cancelled()
                    log.exception("callback sweep failed")
        finally:
            for consumer in consumers:
                consumer.cancel()
            for consumer in consumers:
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer

    @property
    def backlog(self) -> int:
        return sum(lane.qsize() for lane in self.lanes)

    async def _consume(self, lane: asyncio.Queue[Message]) -> None:
        while True:
            stop_if_cancelled()
            message = await lane.get()
            for attempt in range(1, EVENT_ATTEMPTS + 1):
                try:
                    await self.handle(message)
                    break
                except Exception:
                    stop_if_cancelled()
                    if attempt == EVENT_ATTEMPTS:
                        # The sweep still closes the attempt when its outcome never comes.
                        log.exception("callback event failed", extra={"event": message.name})
                    else:
                        # A blip in the store: every handler is a compare-and-set, so trying again is safe.
                        await asyncio.sleep(0.2 * attempt)
            self.handled += 1

    async def handle(self, message: Message) -> None:
        now = self.clock()
        if message.name == "OriginateResponse":
            await self._originate_response(message, now)
        elif message.name == "UserEvent" and message.get("UserEvent") == "CallbackAnswered":
            await self._answered(message, now)
        elif message.name == "UserEvent":
            await self._dial_result(message, now)
        elif message.name == "AgentConnect":
            await self._operator_connected(message, now)

    async def _current(self, attempt_ref: tuple[str, int] | None) -> Callback | None:
        if attempt_ref is None:
            return None
        try:
            callback = await self.store.get(attempt_ref[0])
        except NotFound:
            return None
        # An event of an older attempt (or of one already closed) changes nothing.
        if callback.attempts != attempt_ref[1] or callback.status not in IN_FLIGHT:
            return None
        return callback

    async def _originate_response(self, message: Message, now: float) -> None:
        ref = parse_attempt(message.get("ActionID") or "")
        callback = await self._current(ref)
        if callback is None:
            return
        success = message.get("Response") == "Success"
        channel = message.get("Channel") or ""
        if "@callback-placeholder" in channel or (callback.status == Status.QUEUED and not success):
            if success:  # app_queue connected an operator to the placeholder: the resident is being dialled
                await self._move(callback, Status.DIALLING, "an operator took the callback; dialling the resident",
                                 now)
            else:
                # The resident's leg starts only once an operator has the placeholder, so a failed placeholder
                # never rang the resident (a stopped PBX, a hang-up): retried at their place, not charged.
                await self._attempt_over(callback, Outcome.LOST, now)
            return
        if "@callback-resident-first" in channel:
            if success:  # answered: now waiting in the queue; done only once an operator has talked to them
                await self._move(callback, Status.CONNECTED, "the resident answered; waiting for an operator", now)
            else:
                await self._attempt_over(callback, REASON_OUTCOME.get(message.get("Reason") or "0", Outcome.FAILED),
                                         now)
            return
        # "Call now": the operator's phone rang first.
        if success:
            await self._move(callback, Status.DIALLING, "the operator answered; dialling the resident", now)
        else:
            await self._attempt_over(callback, Outcome.FAILED, now, "the operator did not answer")

    async def _answered(self, message: Message, now: float) -> None:
        callback = await self._current(self._user_event_attempt(message))
        if callback is not None:
            await self._move(callback, Status.CONNECTED, "the resident answered", now)

    @staticmethod
    def _user_event_attempt(message: Message) -> tuple[str, int] | None:
        attempt = message.get("Attempt") or ""
        return (message.get("CallbackId") or "", int(attempt)) if attempt.isdigit() else None

    async def _dial_result(self, message: Message, now: float) -> None:
        callback_id = message.get("CallbackId") or ""
        attempt = message.get("Attempt") or ""
        ref = (callback_id, int(attempt)) if attempt.isdigit() else None
        if ref is None:
            try:
                current = await self.store.get(callback_id)
            except NotFound:
                return
            ref = (callback_id, current.attempts)
        callback = await self._current(ref)
        if callback is None:
            return
        outcome = DIALSTATUS_OUTCOME.get((message.get("DialStatus") or "").upper(), Outcome.FAILED)
        await self._attempt_over(callback, outcome, now)

    async def _operator_connected(self, message: Message, now: float) -> None:
        callback = await self._current(parse_attempt(message.get("Uniqueid") or ""))
        if callback is None:
            return
        operator = message.get("MemberName") or message.get("Interface") or ""

        def assign(record: Callback) -> str:
            record.operator = operator
            return f"connected to operator {operator}"

        with contextlib.suppress(Conflict):
            await self.store.update(callback.id, assign, actor=ACTOR, allowed=IN_FLIGHT, now=now)
        for listener in self.listeners:
            listener({"type": "callback_connected", "callback": callback.public(), "operator": operator,
                      "interface": message.get("Interface")})

    async def _move(self, callback: Callback, status: str, reason: str, now: float) -> None:
        def move(record: Callback) -> str:
            record.status = status
            record.attempt_started_at = now
            return reason

        with contextlib.suppress(Conflict):
            await self.store.update(callback.id, move, actor=ACTOR, allowed=IN_FLIGHT, now=now)

    async def _attempt_over(self, callback: Callback, outcome: Outcome, now: float, detail: str = "") -> None:
        uncharged = callback.attempts - callback.rings
        charged = outcome not in NOT_CHARGED or uncharged >= NOT_CHARGED_LIMIT
        if not charged and outcome in NOT_CHARGED:
            decision = policy.next_slot(now, self.hours, callback.not_after)
            if decision.due_at is None:
                decision = policy.after_attempt(outcome, callback.rings + 1, now, self.hours, self.settings.callbacks,
                                                callback.not_after)
        else:
            decision = policy.after_attempt(outcome, callback.rings + 1, now, self.hours, self.settings.callbacks,
                                            callback.not_after)
        attempt = callback.attempts
        # A retry that cannot happen before closing waits for the next opening: carried over, and counted so.
        closing = self.hours.closing_time(_utc(now))
        carried = decision.due_at is not None and (closing is None or decision.due_at >= closing.timestamp())

        def settle(record: Callback) -> str:
            record.last_outcome = outcome.value
            record.rings += charged
            if decision.due_at is not None:
                record.status = Status.SCHEDULED
                record.due_at = decision.due_at
                record.carried_over += carried
                return f"attempt {attempt}: {detail or policy.FAILURE_TEXT.get(outcome, outcome.value)}; " + \
                    ("retry at the next opening" if carried else "retry")
            record.status = decision.status
            record.reason = detail or decision.reason
            return f"attempt {attempt}: {outcome.value}" + (f"; {record.reason}" if record.reason else "")

        try:
            await self.store.update(callback.id, settle, actor=ACTOR, now=now,
                                    allowed=frozenset({callback.status}))
        except Conflict:
            return
        if decision.due_at is not None:
            await self.scheduler.schedule(callback.id, decision.due_at)
        log.info("callback attempt over", extra={"callback": callback.id, "attempt": attempt,
                                                 "outcome": outcome.value, "retry": decision.due_at is not None})

    async def hang_up(self, uniqueid: str) -> None:
        """Drop a placeholder from the queue (its callback was cancelled, called by hand, or carried over)."""
        if self.hangup is not None:
            await _maybe(self.hangup(uniqueid))

    # -- sweep ---------------------------------------------------------------------------------------------

    async def sweep(self) -> None:
        now = self.clock()
        cb = self.settings.callbacks
        is_open = self.hours.is_open(_utc(now))
        for callback in await self.store.find([Status.DIALLING, Status.QUEUED, Status.CONNECTED], limit=100_000):
            age = now - callback.attempt_started_at
            placeholder = attempt_uniqueid(callback.id, callback.attempts)
            if callback.status == Status.QUEUED:
                if not is_open:
                    await self._carry_over(callback, now)
                elif age > cb.placeholder_hours * 3600:
                    await self._close_attempt(callback, now)
                elif timebase.real_seconds(age) > PLACEMENT_GRACE_SECONDS and self.link_up() \
                        and not self.placeholder_waiting(placeholder):
                    # Claimed and marked, but its Originate never went out (a worker killed in between, a PBX
                    # going down as it was sent), or its placeholder vanished: the resident was never rung.
                    await self._attempt_over(callback, Outcome.LOST, now, "no placeholder in the queue")
            elif callback.status == Status.CONNECTED:
                if age > cb.placeholder_hours * 3600:
                    # The resident answered; the end of the call was never seen (a long gap in the PBX link).
                    await self._attempt_over(callback, Outcome.ANSWERED, now, "answered; end of call not seen")
            elif age > cb.attempt_timeout_minutes * 60:
                if callback.status == Status.DIALLING and self.placeholder_waiting(placeholder):
                    # The Originate went out but the worker died before saying so: the place is held.
                    await self._move(callback, Status.QUEUED, "placeholder found waiting in the queue", now)
                else:
                    await self._close_attempt(callback, now)
        if not is_open:
            # Due today and not reached by closing (a backlog of calls, a busy worker): tomorrow, counted as
            # carried over like the callbacks whose place in the queue closed.
            for callback_id in await self.store.overdue(now):
                with contextlib.suppress(NotFound):
                    await self._carry_over(await self.store.get(callback_id), now)
        for callback_id in await self.store.overdue(now - 60):
            # Overdue by a minute: its job was lost (a worker killed). Dialling is claimed per attempt, so a
            # second job is harmless.
            await self.scheduler.schedule(callback_id, now)

    async def reconcile(self) -> int:
        """After a (re)connect: placeholders Asterisk no longer has are lost places, retried at once.

        The tracker's resync has just replaced the queue with Asterisk's own list, so a queued callback whose
        placeholder is neither waiting nor talking there died with the PBX or during the link gap."""
        self._reconcile_due = False
        now = self.clock()
        lost = 0
        for callback in await self.store.find([Status.QUEUED], limit=100_000):
            if timebase.real_seconds(now - callback.attempt_started_at) < PLACEMENT_GRACE_SECONDS:
                continue
            if not self.placeholder_waiting(attempt_uniqueid(callback.id, callback.attempts)):
                await self._attempt_over(callback, Outcome.LOST, now, "its placeholder was gone after a reconnect")
                lost += 1
        if lost:
            log.warning("callback placeholders lost with the PBX; retried at their place", extra={"callbacks": lost})
        return lost

    async def _close_attempt(self, callback: Callback, now: float) -> None:
        if self.hangup is not None:
            await _maybe(self.hangup(attempt_uniqueid(callback.id, callback.attempts)))
        await self._attempt_over(callback, Outcome.TIMEOUT, now)

    async def _carry_over(self, callback: Callback, now: float) -> None:
        decision = policy.at_closing(now, self.hours, self.settings.callbacks, callback.not_after)

        def carry(record: Callback) -> str:
            if record.status == Status.SCHEDULED and record.due_at > now:
                raise Conflict("already moved on")
            if decision.due_at is None:
                record.status = decision.status
                record.reason = decision.reason
                return decision.reason
            record.status = Status.SCHEDULED
            record.due_at = decision.due_at
            record.carried_over += 1
            return "carried over to the next working day"

        try:
            await self.store.update(callback.id, carry, actor="closing",
                                    allowed=frozenset({Status.QUEUED, Status.SCHEDULED}), now=now)
        except Conflict:
            return
        if self.hangup is not None and callback.status == Status.QUEUED:
            await _maybe(self.hangup(attempt_uniqueid(callback.id, callback.attempts)))
        if decision.due_at is not None:
            await self.scheduler.schedule(callback.id, decision.due_at)


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


async def _maybe(result: asyncio.Future[None] | None) -> None:
    if result is not None:
        await result
