"""Callback requests as the web, the IVR and operators make them: validated, persisted, scheduled."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callcenter import timebase
from callcenter.callbacks import policy
from callcenter.callbacks.dialer import Scheduler
from callcenter.callbacks.model import ACTIVE, Callback, Channel, Status
from callcenter.callbacks.phone import DialPolicy
from callcenter.callbacks.store import CallbackStore, Conflict, Created, new_id
from callcenter.config import Settings
from callcenter.hours import WorkingHours


class RequestError(ValueError):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


# What anyone who types a number that already has an active callback is told: nothing about that callback.
EXISTING_MESSAGE = ("this number already has an active callback request; the hotline will call it. To see or "
                    "cancel the request, send its cancel_token")


@dataclass
class Accepted:
    callback: Callback
    created: bool
    position: int
    estimated_call_at: float
    cancel_token: str | None = None
    # Whether the requester proved the callback is theirs: they created it, or showed its cancel token. The IVR
    # asks from the caller's own line, and operators are staff: for them it is always true.
    owner: bool = True

    def to_json(self) -> dict[str, Any]:
        """The residents' answer. An existing callback is described only to its owner: the number alone is no
        proof (anyone can type it), and the record holds the topic, free text that may be a diagnosis."""
        if not self.created and not self.owner:
            return {"existing": True, "message": EXISTING_MESSAGE}
        body = self.callback.public()
        body.update({"existing": not self.created, "position": self.position,
                     "estimated_call_at": round(self.estimated_call_at)})
        if self.cancel_token:
            body["cancel_token"] = self.cancel_token
        return body


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Live callers ahead of an order key and the wait for a queue position, from the PBX link (absent: no link).
LiveQueue = Callable[[float], tuple[int, Callable[[int], float | None]]]


class CallbackService:
    def __init__(self, store: CallbackStore, settings: Settings, hours: WorkingHours, scheduler: Scheduler,
                 live_queue: LiveQueue | None = None, clock: Callable[[], float] = timebase.now) -> None:
        self.store = store
        self.settings = settings
        self.hours = hours
        self.scheduler = scheduler
        self.live_queue = live_queue
        self.clock = clock
        self.dial_policy = DialPolicy.from_settings(settings)

    async def request(self, raw_phone: str, channel: Channel, *, actor: str, order_key: float | None = None,
                      not_before: float | None = None, not_after: float | None = None, topic: str = "",
                      client_address: str | None = None, uniqueid: str = "",
                      presented_token: str | None = None) -> Accepted:
        """Accept a callback request, or answer with the number's active one.

        On the web the active one is the requester's only if `presented_token` is its cancel token
        (`Accepted.owner`); the IVR (the caller's own line) and operators are trusted."""
        cb = self.settings.callbacks
        now = self.clock()
        phone = self.dial_policy.normalise(raw_phone)
        if not_before is not None and not_after is not None and not_after <= not_before:
            raise RequestError(422, "window_reversed", "not_after must be later than not_before")
        if not_after is not None and not_after <= now:
            raise RequestError(422, "window_in_the_past", "not_after is already past")
        if not_before is not None and not_before > now + 30 * 86400:
            raise RequestError(422, "window_too_far", "not_before is more than 30 days ahead")
        first = policy.first_due(now, self.hours, cb, not_before, not_after)
        if first.due_at is None:
            raise RequestError(422, "no_working_hours", first.reason)
        # The place in line: when the resident first joined the queue (IVR), else when they asked, or when their
        # window opens, whichever is later.
        key = order_key if order_key is not None and order_key <= now else max(now, not_before or now)
        token = secrets.token_urlsafe(24) if channel == Channel.WEB else None
        callback = Callback(id=new_id(), phone=phone, channel=channel, status=Status.SCHEDULED, order_key=key,
                            created_at=now, due_at=first.due_at, not_before=not_before, not_after=not_after,
                            topic=topic[:200], uniqueid=uniqueid[:64],
                            cancel_token_hash=token_hash(token) if token else "")
        created: Created = await self.store.create(
            callback, actor=actor, client_address=client_address if channel == Channel.WEB else None,
            number_limit=cb.per_number_daily_limit, address_limit=cb.per_address_daily_limit, now=now,
            count_existing=channel == Channel.WEB)
        if created.outcome == "limited":
            what = "this number" if created.limited_by == "number" else "requests from your address"
            raise RequestError(429, "too_many_requests", f"too many callback requests today for {what}; "
                                                         "try again tomorrow or call the hotline")
        assert created.callback is not None
        if created.outcome == "existing":
            existing = created.callback
            owner = channel != Channel.WEB or self.token_matches(existing, presented_token)
            if not owner:
                return Accepted(existing, False, 0, 0.0, owner=False)
            return await self.describe(existing, created=False)
        await self.scheduler.schedule(callback.id, callback.due_at)
        return await self.describe(callback, created=True, token=token)

    async def describe(self, callback: Callback, created: bool = False, token: str | None = None) -> Accepted:
        """Position among everyone waiting (live callers and callbacks) and when the call should come."""
        now = self.clock()
        callbacks_ahead = await self.store.ahead_of(callback)
        live_ahead, wait_for = self.live_queue(callback.order_key) if self.live_queue else (0, lambda _: None)
        position = live_ahead + callbacks_ahead + 1
        start = max(now, callback.due_at)
        wait = wait_for(position) if start <= now + 1 else None
        return Accepted(callback, created, position, start + (wait or 0.0), token)

    @staticmethod
    def token_matches(callback: Callback, token: str | None) -> bool:
        return bool(token) and bool(callback.cancel_token_hash) and hmac.compare_digest(
            callback.cancel_token_hash, token_hash(token or ""))

    async def cancel(self, callback_id: str, *, actor: str, token: str | None = None, reason: str = "") -> Callback:
        if token is not None:
            current = await self.store.get(callback_id)
            if not self.token_matches(current, token):
                raise RequestError(403, "bad_token", "the cancel token does not match this callback")

        def cancel(record: Callback) -> str:
            record.status = Status.CANCELLED
            record.reason = reason or f"cancelled by {actor}"
            return record.reason

        try:
            return await self.store.update(callback_id, cancel, actor=actor, allowed=ACTIVE)
        except Conflict as exc:
            raise RequestError(409, "not_active", f"the callback cannot be cancelled: {exc}") from exc

    async def reschedule(self, callback_id: str, at: float, *, actor: str) -> Callback:
        decision = policy.next_slot(at, self.hours, None)
        if decision.due_at is None:
            raise RequestError(422, "no_working_hours", decision.reason)
        due = decision.due_at

        def move(record: Callback) -> str:
            record.due_at = due
            return "rescheduled"

        try:
            callback = await self.store.update(callback_id, move, actor=actor, allowed=frozenset({Status.SCHEDULED}))
        except Conflict as exc:
            raise RequestError(409, "not_scheduled", f"only a scheduled callback can be moved: {exc}") from exc
        await self.scheduler.schedule(callback_id, due)
        return callback
