"""Callbacks in Redis. Every change is one atomic Lua script: a compare-and-set on the record's version, the
append to its history (a list that is never rewritten) and the moves between status indexes together, so a
crash between two writes cannot leave them disagreeing. Attempts are claimed with SET NX and never released.

Keys (prefix `cb:`):
  cb:{id}                 the record (JSON)            cb:{id}:history   its history (JSON entries, RPUSH only)
  cb:active:{phone}       the active callback's id     cb:order          active ids by order key (first joined)
  cb:status:{status}      ids by creation time (scheduled: by due time, so the overdue are one range query)
  cb:attempt:{id}:{n}     the claim of attempt n (never deleted)
  cb:limit:{kind}:{key}:{day}  requests counted per number / client address per day
  cb:created              every id by creation time (the day report)
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from callcenter import timebase
from callcenter.callbacks.model import ACTIVE, Callback

CREATE = """
local existing = redis.call('GET', KEYS[1])
if existing then
  -- Asking about a number that has a callback tells the asker that it has one: on the web, without the
  -- callback's token, that counts against the address like a request, so nobody can sweep numbers.
  if ARGV[9] == '1' and KEYS[6] ~= KEYS[5] then
    local probes = redis.call('INCR', KEYS[6])
    redis.call('EXPIRE', KEYS[6], 172800)
    if probes > tonumber(ARGV[6]) then return {'limited', 'address'} end
  end
  return {'existing', existing}
end
local phone_count = redis.call('INCR', KEYS[5])
redis.call('EXPIRE', KEYS[5], 172800)
if phone_count > tonumber(ARGV[5]) then return {'limited', 'number'} end
if KEYS[6] ~= KEYS[5] then
  local address_count = redis.call('INCR', KEYS[6])
  redis.call('EXPIRE', KEYS[6], 172800)
  if address_count > tonumber(ARGV[6]) then return {'limited', 'address'} end
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[7], ARGV[1])
redis.call('ZADD', KEYS[8], ARGV[8], ARGV[1])
return {'created', ARGV[1]}
"""

# KEYS: record, history, active-by-phone, order, old status index, new status index
# ARGV: expected version, new record, history entry, id, order score, created score, keep-active flag
TRANSITION = """
local current = redis.call('GET', KEYS[1])
if not current then return {'missing', ''} end
local record = cjson.decode(current)
if tostring(record['version']) ~= ARGV[1] then return {'conflict', current} end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
if KEYS[5] ~= KEYS[6] then
  redis.call('ZREM', KEYS[5], ARGV[4])
end
redis.call('ZADD', KEYS[6], ARGV[6], ARGV[4])
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4])
else
  redis.call('ZREM', KEYS[4], ARGV[4])
  if redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
end
return {'ok', ARGV[2]}
"""


class Conflict(Exception):
    """The change was refused: the callback is not in a state that allows it."""


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class Created:
    outcome: str  # created | existing | limited
    callback: Callback | None = None
    limited_by: str = ""


def new_id() -> str:
    # Letters and digits only: it becomes an Asterisk extension (Local/<id>@callback-placeholder).
    return "cb" + secrets.token_hex(8)


def day_key(now: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(now))


class CallbackStore:
    def __init__(self, redis: aioredis.Redis, prefix: str = "cb:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._create = redis.register_script(CREATE)
        self._transition = redis.register_script(TRANSITION)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def create(self, callback: Callback, *, actor: str, client_address: str | None,
                     number_limit: int, address_limit: int, now: float | None = None,
                     count_existing: bool = False) -> Created:
        """The new callback, or the number's active one (counted against `client_address` when
        `count_existing`), or the limit that refused it."""
        now = timebase.now() if now is None else now
        day = day_key(now)
        phone_limit_key = self._key("limit", "phone", callback.phone, day)
        address_limit_key = self._key("limit", "addr", client_address, day) if client_address else phone_limit_key
        entry = history_entry(now, actor, "", callback.status, "requested via " + callback.channel)
        outcome, value = await self._create(
            keys=[self._key("active", callback.phone), self._key(callback.id), self._key(callback.id, "history"),
                  self._key("order"), phone_limit_key, address_limit_key, self._key("status", callback.status),
                  self._key("created")],
            args=[callback.id, callback.to_json(), entry, callback.order_key, number_limit, address_limit,
                  status_score(callback), callback.created_at, "1" if count_existing else "0"],
        )
        if outcome == "existing":
            existing = await self.get(value)
            return Created("existing", existing)
        if outcome == "limited":
            return Created("limited", limited_by=value)
        return Created("created", callback)

    async def get(self, callback_id: str) -> Callback:
        text = await self.redis.get(self._key(callback_id))
        if text is None:
            raise NotFound(callback_id)
        return Callback.from_json(str(text))

    async def get_many(self, callback_ids: list[str]) -> dict[str, Callback]:
        """The records that exist among `callback_ids`, in one round trip."""
        if not callback_ids:
            return {}
        texts = await self.redis.mget([self._key(i) for i in callback_ids])
        return {i: Callback.from_json(str(t)) for i, t in zip(callback_ids, texts, strict=True) if t}

    async def created_between(self, start: float, end: float) -> list[Callback]:
        """Callbacks requested in [start, end): for the day report."""
        ids = [i.decode() if isinstance(i, bytes) else str(i)
               for i in await self.redis.zrangebyscore(self._key("created"), start, f"({end}")]
        found: list[Callback] = []
        for chunk in range(0, len(ids), 1000):
            found.extend((await self.get_many(ids[chunk:chunk + 1000])).values())
        return found

    async def history(self, callback_id: str) -> list[dict[str, Any]]:
        return [json.loads(item) for item in await self.redis.lrange(self._key(callback_id, "history"), 0, -1)]

    async def update(self, callback_id: str, change: Callable[[Callback], str | None], *, actor: str,
                     reason: str = "", allowed: frozenset[str] | None = None, now: float | None = None,
                     attempts: int = 8) -> Callback:
        """Read, apply `change` (which mutates the record; it may return a reason to put in the history),
        write back if nobody changed it meanwhile. Raises Conflict if the status is not in `allowed`."""
        for _ in range(attempts):
            current = await self.get(callback_id)
            if allowed is not None and current.status not in allowed:
                raise Conflict(f"callback is {current.status}")
            before = current.status
            updated = Callback.from_json(current.to_json())
            change_reason = change(updated)
            updated.version = current.version + 1
            entry = history_entry(timebase.now() if now is None else now, actor, before, updated.status,
                                  change_reason or reason)
            outcome, _ = await self._transition(
                keys=[self._key(callback_id), self._key(callback_id, "history"), self._key("active", current.phone),
                      self._key("order"), self._key("status", before), self._key("status", updated.status)],
                args=[str(current.version), updated.to_json(), entry, callback_id, updated.order_key,
                      status_score(updated), "1" if updated.status in ACTIVE else "0"],
            )
            if outcome == "ok":
                return updated
            if outcome == "missing":
                raise NotFound(callback_id)
        raise Conflict("the callback kept changing; try again")

    async def claim_attempt(self, callback_id: str, attempt: int, owner: str) -> bool:
        """True for exactly one caller per (callback, attempt), ever: the idempotency key of a dial."""
        return bool(await self.redis.set(self._key("attempt", callback_id, str(attempt)), owner, nx=True,
                                         ex=60 * 86400))

    async def attempt_owner(self, callback_id: str, attempt: int) -> str | None:
        value = await self.redis.get(self._key("attempt", callback_id, str(attempt)))
        return str(value) if value is not None else None

    async def ids_with_status(self, status: str, limit: int = 1000, offset: int = 0) -> list[str]:
        return [str(item) for item in await self.redis.zrange(self._key("status", status), offset, offset + limit - 1)]

    async def find(self, statuses: list[str], limit: int = 100, offset: int = 0) -> list[Callback]:
        ids: list[str] = []
        for status in statuses:
            ids += await self.ids_with_status(status, limit + offset)
        records = await self.redis.mget([self._key(i) for i in ids]) if ids else []
        callbacks = [Callback.from_json(str(text)) for text in records if text]
        callbacks.sort(key=lambda c: c.order_key)
        return callbacks[offset:offset + limit]

    async def overdue(self, before: float, limit: int = 10_000) -> list[str]:
        """Scheduled callbacks due before `before` (their job should have run)."""
        ids = await self.redis.zrangebyscore(self._key("status", "scheduled"), "-inf", before, start=0, num=limit)
        return [str(item) for item in ids]

    async def ahead_of(self, callback: Callback) -> int:
        """Active callbacks that first joined before this one."""
        return int(await self.redis.zcount(self._key("order"), "-inf", f"({callback.order_key}"))

    async def active_count(self) -> int:
        return int(await self.redis.zcard(self._key("order")))


def status_score(callback: Callback) -> float:
    return callback.due_at if callback.status == "scheduled" else callback.created_at


def history_entry(at: float, actor: str, before: str, after: str, reason: str) -> str:
    return json.dumps({"at": round(at, 3), "actor": actor, "from": before, "to": after, "reason": reason},
                      ensure_ascii=False, separators=(",", ":"))

