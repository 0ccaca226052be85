"""Cases in Redis, caller verification with lockout, and the look-up audit log.

Keys: case:{number} (JSON), case:phone:{digits} (set of case numbers, for search and screen-pop),
case:fail:{kind}:{key} (failure times, a sorted set), case:lock:{kind}:{key} (a lock with a TTL),
audit:cases (a stream, trimmed by age).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from callcenter import timebase
from callcenter.cases.model import Case, phone_key, pin_digest
from callcenter.config import CaseSettings
from callcenter.logs import mask_digits

# Fails the same amount of work when the case does not exist, so that timing tells nothing.
_DUMMY = Case("0", "", "", "1900-01-01", [], "", "1900-01-01", pin_salt="0" * 16, pin_hash="0" * 64)

RECORD_FAILURE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local lock_seconds = tonumber(ARGV[3])
local locked = 0
for i = 1, #KEYS, 2 do
  local limit = tonumber(ARGV[4 + (i + 1) / 2])
  redis.call('ZADD', KEYS[i], now, ARGV[4] .. ':' .. i)
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  redis.call('EXPIRE', KEYS[i], math.ceil(window))
  if redis.call('ZCARD', KEYS[i]) >= limit then
    -- The value is the unlock time (the caller's clock decides); the TTL only cleans up.
    redis.call('SET', KEYS[i + 1], tostring(now + lock_seconds), 'EX', lock_seconds + 60)
    locked = 1
  end
end
return locked
"""
# Callers' failures in the window: whether this caller has guessed wrong lately (on any case).
FAILURES_SINCE = """
local total = 0
for i = 1, #KEYS do
  total = total + redis.call('ZCOUNT', KEYS[i], ARGV[1], '+inf')
end
return total
"""


AUDIT = "audit:cases"


@dataclass(frozen=True)
class Verdict:
    result: str  # ok | not_verified | locked
    case: Case | None = None


def normalise_factor(factor: str) -> tuple[str, str]:
    """('date', 'YYYY-MM-DD') for a date of birth (DDMMYYYY as typed on a phone, or ISO), else ('pin', digits)."""
    text = factor.strip()
    if re.fullmatch(r"\d{8}", text):
        try:
            return "date", date(int(text[4:]), int(text[2:4]), int(text[:2])).isoformat()
        except ValueError:
            pass
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return "date", date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    return "pin", text


class CaseStore:
    def __init__(self, redis: aioredis.Redis, settings: CaseSettings) -> None:
        self.redis = redis
        self.settings = settings
        self._record_failure = redis.register_script(RECORD_FAILURE)
        self._failures_since = redis.register_script(FAILURES_SINCE)

    # -- registry ------------------------------------------------------------------------------------------

    async def get(self, number: str) -> Case | None:
        text = await self.redis.get(f"case:{number}")
        return Case.from_json(str(text)) if text else None

    async def upsert_all(self, cases: list[Case], chunk: int = 5000) -> None:
        """Write every case in one MULTI/EXEC (all or nothing), moving phone index entries of changed cases."""
        old: dict[str, Case] = {}
        numbers = [c.number for c in cases]
        for start in range(0, len(numbers), chunk):
            texts = await self.redis.mget([f"case:{n}" for n in numbers[start:start + chunk]])
            old.update({n: Case.from_json(str(t)) for n, t in zip(numbers[start:start + chunk], texts, strict=True)
                        if t})
        async with self.redis.pipeline(transaction=True) as pipe:
            for case in cases:
                previous = old.get(case.number)
                for phone in previous.phones if previous else []:
                    pipe.srem(f"case:phone:{phone_key(phone)}", case.number)
                pipe.set(f"case:{case.number}", case.to_json())
                for phone in case.phones:
                    pipe.sadd(f"case:phone:{phone_key(phone)}", case.number)
            await pipe.execute()

    async def by_phone(self, raw: str) -> list[Case]:
        numbers = sorted(str(n) for n in await self.redis.smembers(f"case:phone:{phone_key(raw)}"))
        if not numbers:
            return []
        texts = await self.redis.mget([f"case:{n}" for n in numbers])
        return [Case.from_json(str(t)) for t in texts if t]

    # -- verification --------------------------------------------------------------------------------------

    def valid_number(self, number: str) -> bool:
        return re.fullmatch(self.settings.number_pattern, number) is not None

    @staticmethod
    def _keys(number: str, caller: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        hashed = [("case", number), *((kind, hashlib.sha256(key.encode()).hexdigest()[:24]) for kind, key in caller)]
        return [(f"case:fail:{kind}:{key}", f"case:lock:{kind}:{key}") for kind, key in hashed]

    def _limit(self, kind: str) -> int:
        # A telephone line that carries every withheld-number caller is shared: it gets a larger allowance.
        return self.settings.anonymous_line_max_failures if kind == "line" else self.settings.max_failures

    async def verify(self, number: str, factor: str, caller: list[tuple[str, str]],
                     now: float | None = None) -> Verdict:
        """Case number + date of birth or PIN. `caller`: [("phone", callerid)], [("line", trunk)] or
        [("addr", ip)], as known. Failures are counted for the case and for each caller key.

        A locked caller is refused at once. A locked case still lets a caller through who has not guessed wrong
        within the window (the resident at home, after someone else tried their case), up to `max_failures`
        such tries per lock; a wrong answer there counts against that caller too and is told as "locked", so
        fresh addresses buy a guesser one try each, and only a few."""
        now = timebase.now() if now is None else now
        keys = self._keys(number, caller)
        case_lock, caller_keys = keys[0][1], keys[1:]
        locks = await self.redis.mget([lock for _, lock in keys])
        if any(until and float(until) > now for until in locks[1:]):
            return Verdict("locked")
        case_until = locks[0]
        case_locked = case_until is not None and float(case_until) > now
        if case_locked:
            window = self.settings.failure_window_minutes * 60
            failed_before = int(await self._failures_since(keys=[fail for fail, _ in caller_keys],
                                                           args=[now - window])) if caller_keys else 1
            if failed_before:
                return Verdict("locked")  # and spends none of the fresh callers' tries
            tries_key = case_lock + ":tries"
            tries = int(await self.redis.incr(tries_key))
            await self.redis.expire(tries_key, int(self.settings.lock_minutes * 60) + 60)
            if tries > self.settings.max_failures:
                return Verdict("locked")
        case = await self.get(number)
        kind, value = normalise_factor(factor)
        subject = case or _DUMMY
        # Both comparisons always run, in constant time: no answer or timing tells a missing case apart.
        date_ok = hmac.compare_digest(subject.birth_date.encode(), value.encode()) and kind == "date"
        pin_ok = bool(subject.pin_hash) and hmac.compare_digest(
            subject.pin_hash.encode(), pin_digest(subject.pin_salt, value).encode()) and kind == "pin"
        if case is not None and (date_ok or pin_ok):
            return Verdict("ok", case)
        window = self.settings.failure_window_minutes * 60
        locked = await self._record_failure(
            keys=[k for pair in keys for k in pair],
            args=[now, window, int(self.settings.lock_minutes * 60), f"{now:.6f}",
                  *(self._limit(fail.split(":")[2]) for fail, _ in keys)])
        return Verdict("locked" if locked or case_locked else "not_verified")

    # -- audit ---------------------------------------------------------------------------------------------

    async def audit(self, channel: str, who: str, number: str, result: str, now: float | None = None) -> None:
        """Append-only: who looked, at which case, and what came of it. `who` is masked or an operator id."""
        now = timebase.now() if now is None else now
        minimum = int((now - self.settings.audit_retention_days * 86400) * 1000)
        fields: dict[Any, Any] = {"at": f"{now:.3f}", "channel": channel, "who": who, "case": number,
                                  "result": result}
        try:
            # The entry's id carries its time, so a day's look-ups are one XRANGE (the day report).
            await self.redis.xadd(AUDIT, fields, id=f"{int(now * 1000)}-*", minid=minimum, approximate=True)
        except ResponseError:  # the clock went back behind the last entry: Redis picks the id
            await self.redis.xadd(AUDIT, fields, minid=minimum, approximate=True)

    async def audit_between(self, start: float, end: float) -> list[dict[str, str]]:
        entries: list[tuple[Any, dict[Any, Any]]] = await self.redis.xrange(  # type: ignore[assignment]
            AUDIT, min=str(int(start * 1000)), max=f"({int(end * 1000)}")
        return [{_text(k): _text(v) for k, v in fields.items()} for _, fields in entries]

    async def audit_records(self, count: int = 100) -> list[dict[str, Any]]:
        entries: list[tuple[str, dict[str, str]]] = await self.redis.xrevrange(AUDIT, count=count)  # type: ignore[assignment]
        return [dict(fields) for _, fields in entries]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def masked_caller(raw: str) -> str:
    return mask_digits(raw) if raw else ""


def audit_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, ensure_ascii=False)
