"""Redis side of the softphone: the one-registration-per-operator lock and the saved wrap-ups."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis

# The page renews its claim every LINE_RENEW_SECONDS; a tab that closed without releasing it (a crash, a lost
# network) frees the line after LINE_TTL_SECONDS.
LINE_TTL_SECONDS = 20
LINE_RENEW_SECONDS = 8
WRAPUPS = "softphone:wrapups"
WRAPUP_RETENTION_SECONDS = 400 * 86400

# Claim or renew: free, or already this tab's -> this tab's for another TTL. Atomic, so two tabs that open at
# once cannot both win.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _line_key(username: str) -> str:
    return f"softphone:line:{username}"


@dataclass(frozen=True)
class Wrapup:
    id: str
    username: str
    extension: str
    caller: str
    caller_name: str
    disposition: str
    note: str
    queue_uniqueid: str
    callback_id: str
    sip_call_id: str
    answered: bool
    started_at: float
    ended_at: float
    saved_at: float


class SoftphoneStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def claim_line(self, username: str, tab: str) -> bool:
        return bool(await self.redis.eval(_CLAIM, 1, _line_key(username), tab, LINE_TTL_SECONDS))

    async def release_line(self, username: str, tab: str) -> bool:
        return bool(await self.redis.eval(_RELEASE, 1, _line_key(username), tab))

    async def save_wrapup(self, username: str, extension: str, fields: dict[str, Any]) -> Wrapup:
        now = time.time()
        wrapup = Wrapup(id=secrets.token_hex(8), username=username, extension=extension, saved_at=now, **fields)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(WRAPUPS, {json.dumps(asdict(wrapup), ensure_ascii=False): now})
            pipe.zremrangebyscore(WRAPUPS, "-inf", now - WRAPUP_RETENTION_SECONDS)
            await pipe.execute()
        return wrapup

    async def wrapups(self, since: float, limit: int) -> list[dict[str, Any]]:
        """Newest first, saved at or after `since`."""
        texts = await self.redis.zrevrangebyscore(WRAPUPS, "+inf", since, start=0, num=limit)
        return [json.loads(text) for text in texts if isinstance(text, str | bytes)]
